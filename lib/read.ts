/**
 * What a site imports to read the mirror: no Notion call ever happens here.
 *
 *   const post = await getPageBundle("posts", "hello-world");
 *   const latest = await getSectionIndex("posts", { offset: 0, limit: 20 }); // reads one chunk
 *   const all = await getSectionIndex("posts");                                // every chunk
 *
 * Notion-hosted file URLs (signed, an hour) come back as `/api/files/<ref>`
 * URLs that never expire (lib/files; README "Files"); KV keeps Notion's own.
 * `files: false` returns them raw, `files: {base, secret}` overrides
 * FILES_BASE_URL and FILES_REF_SECRET / CRON_SECRET.
 */
import { readSyncSettings } from "./config";
import {
  type FileLinkSettings,
  type FileLinker,
  linkerFromSettings,
  rewriteBundleFiles,
  rewriteEntryFiles,
} from "./files";
import type { Section } from "./core/sections";
import { createKeys } from "./kv/keys";
import { readLarge, writeLarge } from "./kv/large-value";
import type { KvStore } from "./kv/store";
import { type SectionIndex, type SectionIndexPage, readIndexPage, readManifest } from "./mirror/section-index";
import type { PageBundle } from "./mirror/shapes";
import { sharedKvStore } from "./runtime";

export type { IndexEntry, PageBundle } from "./mirror/shapes";
export type { IndexManifest, SectionIndex, SectionIndexPage } from "./mirror/section-index";
/** Flattened property values of index entries (README, "Flattened property values"); dateStart gives a date's start. */
export { dateStart } from "./mirror/properties";
export type { FlatDate, FlatFile, FlatPlace, FlatUser, FlatVerification, SimpleValue } from "./mirror/properties";
/**
 * Cache tags (README, "Revalidation"): tag a cached read with these and the
 * sync revalidates exactly the pages that changed, e.g.
 *   unstable_cache(() => getPageBundle("posts", slug), ["notion", "posts", slug], { tags: pageTags("posts", slug) })()
 * or, in a `"use cache"` function, `cacheTag(...pageTags("posts", slug))`; an index read: `sectionTag("posts")`.
 */
export { pageTag, pageTags, sectionTag } from "./mirror/cache-tags";

interface ReadOptions {
  kv?: KvStore;
  prefix?: string;
  /** How Notion-hosted file URLs are returned: through the file route (default, from the environment), or raw (`false`). */
  files?: FileLinkSettings | false;
}

/** The file linker of a read, built on first use: a read without hosted files needs no key. */
function lazyLinker(options: ReadOptions): FileLinker | null {
  if (options.files === false) return null;
  let linker: FileLinker | undefined;
  return (target, page, url) => (linker ??= linkerFromSettings(options.files || {}))(target, page, url);
}

function reader(options: ReadOptions) {
  const kv = options.kv ?? sharedKvStore();
  const keys = createKeys(options.prefix ?? readSyncSettings().kvPrefix);
  return { kv, keys };
}

/** A page bundle by slug (bundles over 1 MB are stored in parts and put back together here). */
export async function getPageBundle(
  section: Section,
  slug: string,
  options: ReadOptions = {},
): Promise<PageBundle | null> {
  const { kv, keys } = reader(options);
  const bundle = (await readLarge<PageBundle>(kv, keys, keys.page(section, slug)))?.value ?? null;
  const linker = lazyLinker(options);
  return bundle && linker ? rewriteBundleFiles(bundle, linker) : bundle;
}

/**
 * A section's index in public order (pages/posts newest first, children
 * breadth first). With `offset`/`limit` only the chunks holding that range
 * are read (500 entries a chunk); without them, every chunk.
 */
export function getSectionIndex(
  section: Section,
  options: ReadOptions & { offset: number; limit: number },
): Promise<SectionIndexPage | null>;
export function getSectionIndex(section: Section, options?: ReadOptions): Promise<SectionIndex | null>;
export async function getSectionIndex(
  section: Section,
  options: ReadOptions & { offset?: number; limit?: number } = {},
): Promise<SectionIndex | null> {
  const { kv, keys } = reader(options);
  const index = await readIndexPage(kv, keys, section, { offset: options.offset, limit: options.limit });
  const linker = lazyLinker(options);
  if (!index || !linker) return index;
  return { ...index, entries: index.entries.map((entry) => rewriteEntryFiles(entry, section, linker)) };
}

/** How many entries the section index holds, without reading any chunk. */
export async function getSectionSize(section: Section, options: ReadOptions = {}): Promise<number> {
  const { kv, keys } = reader(options);
  return (await readManifest(kv, keys, section))?.total ?? 0;
}

/** Writes a bundle as the sync does (for sites that patch content themselves, and for tests). */
export async function setPageBundle(slug: string, bundle: PageBundle, options: ReadOptions = {}): Promise<void> {
  const { kv, keys } = reader(options);
  const key = keys.page(bundle.section, slug);
  const current = await readLarge<PageBundle>(kv, keys, key);
  await kv.atomic(writeLarge(keys, key, bundle, current?.shape).ops);
}
