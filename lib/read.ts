/**
 * What a site imports to read the mirror: no Notion call ever happens here.
 *
 *   const post = await getPageBundle("posts", "hello-world");
 *   const list = await getSectionIndex("posts");
 */
import { readSyncSettings } from "./config";
import { createKeys } from "./kv/keys";
import type { KvStore } from "./kv/store";
import { sharedKvStore } from "./runtime";
import type { PageBundle, SectionIndex } from "./sync/bundle";
import type { Section } from "./core/sections";

export type { IndexEntry, PageBundle, SectionIndex } from "./sync/bundle";

interface ReadOptions {
  kv?: KvStore;
  prefix?: string;
}

function reader(options: ReadOptions) {
  const kv = options.kv ?? sharedKvStore();
  const keys = createKeys(options.prefix ?? readSyncSettings().kvPrefix);
  return { kv, keys };
}

export async function getPageBundle(section: Section, slug: string, options: ReadOptions = {}): Promise<PageBundle | null> {
  const { kv, keys } = reader(options);
  return kv.get<PageBundle>(keys.page(section, slug));
}

export async function getSectionIndex(section: Section, options: ReadOptions = {}): Promise<SectionIndex | null> {
  const { kv, keys } = reader(options);
  return kv.get<SectionIndex>(keys.index(section));
}

/** Writes a bundle as the sync does (for sites that patch content themselves, and for tests). */
export async function setPageBundle(slug: string, bundle: PageBundle, options: ReadOptions = {}): Promise<void> {
  const { kv, keys } = reader(options);
  await kv.set(keys.page(bundle.section, slug), bundle);
}
