/**
 * What the preview page renders: a bundle as a site gets it (lib/read.ts, so
 * every Notion-hosted file is its files-store URL when mirrored, else an
 * `/api/files/<ref>` URL), and where the pages
 * it points at (child pages, links to pages, page mentions) are previewed,
 * from their ledger entries in one MGET. No Notion request.
 */
import type { Section } from "../core/sections";
import type { PageBundle } from "../mirror/shapes";
import type { BlockTree } from "../notion/block-tree";
import { normalizeId } from "../notion/types";
import { getPageBundle } from "../read";
import { loadStoreRuntime } from "../runtime";
import type { LedgerEntry } from "../sync/ledger";
import { previewPath } from "./session";

export interface PreviewData {
  bundle: PageBundle;
  /** Preview paths of the pages this one points at, by page id without dashes. */
  links: Record<string, string>;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null;

/** Page ids a bundle points at: child_page blocks, link_to_page blocks, page mentions in rich text. */
export function linkedPageIds(blocks: BlockTree[]): string[] {
  const ids = new Set<string>();
  const fromRichText = (items: unknown) => {
    if (!Array.isArray(items)) return;
    for (const item of items) {
      if (
        isObject(item) &&
        item.type === "mention" &&
        isObject(item.mention) &&
        item.mention.type === "page" &&
        isObject(item.mention.page)
      ) {
        const id = item.mention.page.id;
        if (typeof id === "string") ids.add(id);
      }
    }
  };
  const visit = (nodes: BlockTree[]) => {
    for (const node of nodes) {
      if (node.type === "child_page") ids.add(node.id);
      const body = node[node.type];
      if (isObject(body)) {
        if (node.type === "link_to_page" && body.type === "page_id" && typeof body.page_id === "string")
          ids.add(body.page_id);
        fromRichText(body.rich_text);
        fromRichText(body.caption);
        if (Array.isArray(body.cells)) for (const cell of body.cells) fromRichText(cell);
      }
      if (Array.isArray(node.children)) visit(node.children);
    }
  };
  visit(blocks);
  return [...ids];
}

/**
 * The images a markdown bundle shows, in order: `![alt](url)` and uploaded
 * callout icons (`<callout icon="url">`), http(s) only, as the site reading
 * the markdown gets them (the files store's URLs when mirrored).
 */
export function markdownImages(markdown: string): { src: string; alt: string }[] {
  const found: { at: number; src: string; alt: string }[] = [];
  for (const m of markdown.matchAll(/!\[((?:\\.|[^\]\\])*)\]\((\S+?)\)/g))
    found.push({ at: m.index, src: m[2], alt: m[1].replace(/\\(.)/g, "$1") });
  for (const m of markdown.matchAll(/<callout\b[^>]*\bicon="([^"]*)"/g))
    found.push({ at: m.index, src: m[1].replace(/&quot;/g, '"').replace(/&amp;/g, "&"), alt: "" });
  return found
    .filter((image) => /^https?:\/\//i.test(image.src))
    .sort((a, b) => a.at - b.at)
    .map(({ src, alt }) => ({ src, alt }));
}

/** Preview paths for page ids, looked up in every configured section's ledger (one MGET). Unknown ids are left out. */
async function previewLinks(ids: string[]): Promise<Record<string, string>> {
  if (ids.length === 0) return {};
  const { kv, keys, workspace } = loadStoreRuntime(process.env);
  const wanted = ids.slice(0, 500).flatMap((id) => workspace.names.map((section) => ({ id, section })));
  // Ledger keys carry the id as Notion sent it in the page object: dashed.
  const values = await kv.mget<LedgerEntry>(wanted.map((w) => keys.entry(w.section, dashed(w.id))));
  const links: Record<string, string> = {};
  values.forEach((ledger, i) => {
    const slug = ledger?.entry?.slug;
    const key = normalizeId(wanted[i].id);
    if (typeof slug === "string" && !(key in links)) links[key] = previewPath(wanted[i].section, slug);
  });
  return links;
}

function dashed(id: string): string {
  const hex = normalizeId(id);
  return /^[0-9a-f]{32}$/.test(hex)
    ? `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
    : id;
}

export async function loadPreview(section: Section, slug: string): Promise<PreviewData | null> {
  const bundle = await getPageBundle(section, slug);
  if (!bundle) return null;
  const links = await previewLinks(linkedPageIds(Array.isArray(bundle.blocks) ? bundle.blocks : []));
  return { bundle, links };
}
