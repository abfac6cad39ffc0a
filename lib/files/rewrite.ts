/**
 * Read-time rewriting: every Notion-hosted URL of a bundle or an index entry
 * becomes `{base}/api/files/<ref>`, a URL that never expires (the route
 * answers 302 to a freshly signed Notion URL). Pure: the input is not
 * modified, unchanged parts are shared, external URLs stay as they are. KV
 * keeps Notion's raw URLs; this runs on what a reader gets. Files the sync
 * copied to the files store (`mirrored`, FILES_MIRROR) are served from there
 * as they are: their URLs never expire.
 *
 * A rewritten file object keeps its shape (`type: "file"`, caption, name)
 * with `file: {url}` and no `expiry_time`. A bundle's `files_expire_at`
 * is then recomputed over what is left raw: unmirrored files no ref names
 * and a markdown bundle's signed URLs (null when nothing is left that expires).
 */
import type { Section } from "../core/sections";
import type { IndexEntry, PageBundle } from "../mirror/shapes";
import type { BlockTree } from "../notion/block-tree";
import { filesExpireAt } from "./expiry";
import { markdownFilesExpireAt } from "../notion/markdown-fetcher";
import { type HostedFile, isMirrored, isNotionHosted, looksNotionHosted } from "./locate";
import { type FileRefTarget, encodeFileRef, fileTag } from "./refs";

export const FILES_PATH = "/api/files";

/** Turns one hosted file of one page into the URL a reader gets; null leaves it raw. */
export type FileLinker = (
  target: FileRefTarget,
  page: { section: Section; pageId: string },
  url: string,
) => string | null;

const NOTION_ID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

/**
 * The linker behind getPageBundle/getSectionIndex: `{base}/api/files/<ref>`,
 * `base` being "" (origin-relative: the site serves the route itself) or an
 * origin such as https://example.com (FILES_BASE_URL).
 */
export function fileLinker(options: { key: Buffer; base?: string }): FileLinker {
  const base = (options.base ?? "").replace(/\/+$/, "");
  return (target, page, url) => {
    if (!NOTION_ID.test(page.pageId)) return null;
    if ((target.kind === "block" || target.kind === "block_icon") && !NOTION_ID.test(target.blockId)) return null;
    if (target.kind === "prop" && (Buffer.byteLength(target.key) > 200 || target.key === "" || target.index > 0xffff))
      return null;
    return `${base}${FILES_PATH}/${encodeFileRef({ ...target, ...page, tag: fileTag(url) }, options.key)}`;
  };
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

function proxied(file: HostedFile, url: string): HostedFile {
  return { ...file, file: { url } };
}

function rewriteBlocks(blocks: BlockTree[], swap: (file: unknown, target: FileRefTarget) => unknown): BlockTree[] {
  let changed = false;
  const out = blocks.map((node) => {
    let next: BlockTree = node;
    const body = typeof node.type === "string" ? node[node.type] : undefined;
    if (isObject(body)) {
      let newBody = swap(body, { kind: "block", blockId: node.id }) as Record<string, unknown>;
      if (isObject(newBody.icon)) {
        const icon = swap(newBody.icon, { kind: "block_icon", blockId: node.id });
        if (icon !== newBody.icon) newBody = { ...newBody, icon };
      }
      if (newBody !== body) next = { ...next, [node.type]: newBody };
    }
    if (Array.isArray(node.children)) {
      const children = rewriteBlocks(node.children, swap);
      if (children !== node.children) next = { ...next, children };
    }
    if (next !== node) changed = true;
    return next;
  });
  return changed ? out : blocks;
}

function rewriteFilesList(
  files: unknown[],
  target: (index: number) => FileRefTarget,
  swap: (file: unknown, target: FileRefTarget) => unknown,
): unknown[] {
  let changed = false;
  const out = files.map((file, i) => {
    const next = swap(file, target(i));
    if (next !== file) changed = true;
    return next;
  });
  return changed ? out : files;
}

/** What a bundle's files hold besides what was rewritten: a mirrored file was met. */
interface Seen {
  mirrored: boolean;
}

function swapper(link: FileLinker, page: { section: Section; pageId: string }, seen: Seen = { mirrored: false }) {
  return (file: unknown, target: FileRefTarget): unknown => {
    if (!isNotionHosted(file)) return file;
    if (isMirrored(file)) {
      seen.mirrored = true;
      return file;
    }
    const url = link(target, page, file.file.url);
    return url === null ? file : proxied(file, url);
  };
}

const earliest = (a: string | null, b: string | null): string | null =>
  a === null ? b : b === null ? a : Date.parse(b) < Date.parse(a) ? b : a;

/** The bundle a reader gets: every Notion-hosted URL through the file route, mirrored ones as they are. */
export function rewriteBundleFiles(bundle: PageBundle, link: FileLinker): PageBundle {
  const seen: Seen = { mirrored: false };
  const swap = swapper(link, { section: bundle.section, pageId: bundle.id }, seen);
  const blocks = Array.isArray(bundle.blocks) ? rewriteBlocks(bundle.blocks, swap) : bundle.blocks;
  const cover = swap(bundle.cover, { kind: "cover" });
  const icon = swap(bundle.icon, { kind: "icon" });
  let properties = bundle.properties;
  for (const [name, prop] of Object.entries(bundle.properties ?? {})) {
    if (!isObject(prop) || prop.type !== "files" || !Array.isArray(prop.files)) continue;
    // Bundles carry Notion's property ids: stable across renames.
    const by =
      typeof prop.id === "string" && prop.id !== ""
        ? { by: "id" as const, key: prop.id }
        : { by: "name" as const, key: name };
    const files = rewriteFilesList(prop.files, (index) => ({ kind: "prop", ...by, index }), swap);
    if (files !== prop.files) properties = { ...properties, [name]: { ...prop, files } };
  }
  const markdown = (bundle as { markdown?: unknown }).markdown;
  const unchanged =
    blocks === bundle.blocks && cover === bundle.cover && icon === bundle.icon && properties === bundle.properties;
  if (unchanged && !seen.mirrored && typeof markdown !== "string") return bundle;
  // What is left raw: unmirrored files no ref names (in rollups), and the signed URLs a markdown text still holds.
  const files_expire_at = earliest(
    filesExpireAt({ blocks, cover, icon, properties }),
    typeof markdown === "string" ? markdownFilesExpireAt(markdown) : null,
  );
  if (unchanged && files_expire_at === bundle.files_expire_at) return bundle;
  return {
    ...bundle,
    ...(blocks === bundle.blocks ? {} : { blocks }),
    cover,
    icon,
    properties,
    files_expire_at,
  } as PageBundle;
}

/**
 * An index entry a reader gets. Files properties are flattened in entries
 * (`[{name, url}]`, lib/mirror/properties.ts; `notionHosted` when present,
 * else told from the URL) and keyed by name, so their refs name the property
 * by name and the item by its position in that list; a `mirrored` one keeps
 * its store URL. An `icon` or `cover` is rewritten too if an entry carries them.
 */
export function rewriteEntryFiles(entry: IndexEntry, section: Section, link: FileLinker): IndexEntry {
  const page = { section, pageId: entry.id };
  const swap = swapper(link, page);
  const flat = (value: unknown, target: FileRefTarget): unknown => {
    if (!isObject(value) || typeof value.url !== "string" || value.type !== undefined) return swap(value, target);
    if (isMirrored(value)) return value;
    if (!looksNotionHosted(value as { url: string; notionHosted?: unknown })) return value;
    const url = link(target, page, value.url);
    return url === null ? value : { ...value, url };
  };
  let properties = entry.properties;
  for (const [name, value] of Object.entries((entry.properties ?? {}) as Record<string, unknown>)) {
    const target = (index: number): FileRefTarget => ({ kind: "prop", by: "name", key: name, index });
    const next = Array.isArray(value) ? rewriteFilesList(value, target, flat) : value;
    if (next !== value) properties = { ...properties, [name]: next as IndexEntry["properties"][string] };
  }
  const extra = entry as unknown as Record<string, unknown>;
  const cover = "cover" in extra ? swap(extra.cover, { kind: "cover" }) : undefined;
  const icon = "icon" in extra ? swap(extra.icon, { kind: "icon" }) : undefined;
  const coverChanged = "cover" in extra && cover !== extra.cover;
  const iconChanged = "icon" in extra && icon !== extra.icon;
  if (properties === entry.properties && !coverChanged && !iconChanged) return entry;
  return { ...entry, properties, ...(coverChanged ? { cover } : {}), ...(iconChanged ? { icon } : {}) } as IndexEntry;
}
