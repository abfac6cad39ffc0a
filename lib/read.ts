/**
 * What a site imports to read the mirror: no Notion call ever happens here.
 *
 *   const post = await getPageBundle("posts", "hello-world");
 *   const latest = await getSectionIndex("posts", { offset: 0, limit: 20 }); // reads one chunk
 *   const all = await getSectionIndex("posts");                                // every chunk
 */
import { readSyncSettings } from "./config";
import type { Section } from "./core/sections";
import { createKeys } from "./kv/keys";
import { readLarge, writeLarge } from "./kv/large-value";
import type { KvStore } from "./kv/store";
import { type SectionIndex, type SectionIndexPage, readIndexPage, readManifest } from "./mirror/section-index";
import type { PageBundle } from "./mirror/shapes";
import { sharedKvStore } from "./runtime";

export type { IndexEntry, PageBundle } from "./mirror/shapes";
export type { IndexManifest, SectionIndex, SectionIndexPage } from "./mirror/section-index";

interface ReadOptions {
  kv?: KvStore;
  prefix?: string;
}

function reader(options: ReadOptions) {
  const kv = options.kv ?? sharedKvStore();
  const keys = createKeys(options.prefix ?? readSyncSettings().kvPrefix);
  return { kv, keys };
}

/** A page bundle by slug (bundles over 1 MB are stored in parts and put back together here). */
export async function getPageBundle(section: Section, slug: string, options: ReadOptions = {}): Promise<PageBundle | null> {
  const { kv, keys } = reader(options);
  return (await readLarge<PageBundle>(kv, keys, keys.page(section, slug)))?.value ?? null;
}

/**
 * A section's index in public order (pages/posts newest first, children
 * breadth first). With `offset`/`limit` only the chunks holding that range
 * are read (500 entries a chunk); without them, every chunk.
 */
export function getSectionIndex(section: Section, options: ReadOptions & { offset: number; limit: number }): Promise<SectionIndexPage | null>;
export function getSectionIndex(section: Section, options?: ReadOptions): Promise<SectionIndex | null>;
export async function getSectionIndex(section: Section, options: ReadOptions & { offset?: number; limit?: number } = {}): Promise<SectionIndex | null> {
  const { kv, keys } = reader(options);
  return readIndexPage(kv, keys, section, { offset: options.offset, limit: options.limit });
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
