/**
 * What lands in KV for a site to read: a page bundle per slug and an index
 * per section. These shapes are the product's public contract (README, "What
 * lands in KV"); lib/read.ts is how a site reads them.
 */
import type { BlockTree, PageContent } from "../notion/block-tree";
import { type NotionPage, type NotionRichText, normalizeId, pageTitle, richTextProperty } from "../notion/types";
import type { Section } from "../core/sections";

export type { IndexEntry, PageBundle, SimpleValue } from "../mirror/shapes";
import type { IndexEntry, PageBundle, SimpleValue } from "../mirror/shapes";

export function slugify(text: string): string {
  return text
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+/, "")
    .slice(0, 80)
    .replace(/-+$/, ""); // after the cap: a cut on a separator must not leave a trailing dash
}

const shortId = (id: string) => normalizeId(id).slice(0, 8);

/** Database rows: the `Slug` property, else the title; children always carry an id suffix (titles repeat). */
export function baseSlug(page: NotionPage, section: Section): string {
  const title = slugify(pageTitle(page)) || "untitled";
  if (section === "children") return `${title}-${shortId(page.id)}`;
  return slugify(richTextProperty(page, "Slug") ?? "") || title;
}

/** The slug a page takes when another page holds its plain one. */
export function suffixedSlug(base: string, id: string): string {
  return `${base}-${shortId(id)}`;
}

/** A page keeps the slug it has while its title (or Slug property) still gives it, suffixed or not. */
export function keepsSlug(previous: string, base: string, id: string): boolean {
  return previous === base || previous === suffixedSlug(base, id) || previous.startsWith(`${suffixedSlug(base, id)}-`);
}

/**
 * Gives every page of a list a distinct slug. A page that already held its
 * slug keeps it (links stay stable); a newcomer with the same slug, or one in
 * `taken`, gets its id appended.
 */
export function assignSlugs(pages: NotionPage[], section: Section, previous: Map<string, string>, taken: Set<string> = new Set()): Map<string, string> {
  const slugs = new Map<string, string>();
  const used = new Set(taken);
  const keepers = pages.filter((p) => previous.get(p.id) === baseSlug(p, section) && !taken.has(baseSlug(p, section)));
  for (const page of keepers) {
    const slug = baseSlug(page, section);
    if (used.has(slug)) continue;
    used.add(slug);
    slugs.set(page.id, slug);
  }
  for (const page of pages) {
    if (slugs.has(page.id)) continue;
    const base = baseSlug(page, section);
    let slug = used.has(base) ? `${base}-${shortId(page.id)}` : base;
    // A Slug property may equal another page's suffixed slug: never hand out a slug twice.
    for (let n = 2; used.has(slug); n++) slug = `${base}-${shortId(page.id)}-${n}`;
    used.add(slug);
    slugs.set(page.id, slug);
  }
  return slugs;
}

/** Property values flattened to what a list view needs. */
export function simplifyProperties(properties: NotionPage["properties"]): Record<string, SimpleValue> {
  const out: Record<string, SimpleValue> = {};
  const text = (list: unknown) => (Array.isArray(list) ? (list as NotionRichText[]).map((t) => t.plain_text).join("") : "");
  for (const [name, prop] of Object.entries(properties ?? {})) {
    const v = prop[prop.type] as unknown;
    switch (prop.type) {
      case "title":
      case "rich_text":
        out[name] = text(v);
        break;
      case "number":
      case "checkbox":
      case "url":
      case "email":
      case "phone_number":
        out[name] = (v as SimpleValue) ?? null;
        break;
      case "select":
      case "status":
        out[name] = (v as { name?: string } | null)?.name ?? null;
        break;
      case "multi_select":
        out[name] = Array.isArray(v) ? (v as { name: string }[]).map((o) => o.name) : [];
        break;
      case "date":
        out[name] = (v as { start?: string } | null)?.start ?? null;
        break;
      default:
        break; // relations, rollups, formulas: read them from the bundle's raw properties
    }
  }
  return out;
}

export function indexEntryFor(page: NotionPage, slug: string, childPages: string[], extra: Pick<IndexEntry, "parentId" | "depth"> = {}): IndexEntry {
  return {
    id: page.id,
    slug,
    title: pageTitle(page),
    created_time: page.created_time,
    last_edited_time: page.last_edited_time,
    properties: simplifyProperties(page.properties),
    childPages,
    ...extra,
  };
}

function earliestFileExpiry(blocks: BlockTree[]): string | null {
  let earliest: string | null = null;
  const visit = (nodes: BlockTree[]) => {
    for (const node of nodes) {
      const body = node[node.type] as { type?: string; file?: { expiry_time?: string } } | undefined;
      const expiry = body?.type === "file" ? body.file?.expiry_time : undefined;
      if (expiry && (!earliest || expiry < earliest)) earliest = expiry;
      if (node.children) visit(node.children);
    }
  };
  visit(blocks);
  return earliest;
}

export function buildBundle(page: NotionPage, section: Section, slug: string, content: PageContent, now: Date): PageBundle {
  return {
    id: page.id,
    slug,
    title: pageTitle(page),
    section,
    parent: page.parent,
    properties: page.properties,
    created_time: page.created_time,
    last_edited_time: page.last_edited_time,
    url: page.url ?? null,
    icon: page.icon ?? null,
    cover: page.cover ?? null,
    blocks: content.blocks,
    childPages: content.childPages,
    blockCount: content.blockCount,
    files_expire_at: earliestFileExpiry(content.blocks),
    synced_at: now.toISOString(),
  };
}
