/**
 * What a site imports to read the mirror: no Notion call ever happens here.
 *
 *   const post = await getPageBundle("posts", "hello-world");
 *   const latest = await getSectionIndex("posts", { offset: 0, limit: 20 }); // reads one chunk
 *   const all = await getSectionIndex("posts");                                // every chunk
 *
 * Notion-hosted file URLs (signed, an hour) come back as `/api/files/<ref>`
 * URLs that never expire (lib/files; README "Files"); KV keeps Notion's own.
 * Files the sync copied to the files store (FILES_MIRROR) come back as their
 * store URLs, as KV holds them. `files: false` returns every URL as stored,
 * `files: {base, secret}` overrides FILES_BASE_URL and FILES_REF_SECRET / CRON_SECRET.
 *
 * Typed reads: `npm run typegen` writes a declarations file augmenting
 * NotionKvSyncSections, so `getSectionIndex("blog")` entries have
 * `properties` typed by name; other sections keep Record<string, SimpleValue>.
 */
import type { PageObjectResponse } from "@notionhq/client";
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
import type { FlatDate, FlatFile, FlatPlace, FlatUser, FlatVerification, SimpleValue } from "./mirror/properties";
import type { IndexEntry, PageBundle } from "./mirror/shapes";
import { sharedKvStore } from "./runtime";
import { workspaceConfig } from "./workspace/load";

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

/** The file linker of a read, built on first use: a read without unmirrored hosted files needs no key. */
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

/**
 * Filled in by the declarations file `npm run typegen` writes: per database
 * section, each property the index keeps and its Notion type, e.g.
 * `blog: { Name: "title"; Published: "checkbox" }`.
 */
export interface NotionKvSyncSections {}

/** A Notion property type as typegen writes it ("unknown": one this release does not know). */
export type NotionPropertyType = PageProperty["type"] | "unknown";

type PageProperty = PageObjectResponse["properties"][string];

/** The flattened value each Notion property type has in an index entry (README, "Flattened property values"). */
export interface FlatValueByType {
  title: string;
  rich_text: string;
  number: number | null;
  checkbox: boolean;
  url: string | null;
  email: string | null;
  phone_number: string | null;
  select: string | null;
  status: string | null;
  multi_select: string[];
  date: FlatDate | null;
  people: FlatUser[];
  files: FlatFile[];
  relation: string[];
  formula: string | number | boolean | FlatDate | null;
  rollup: number | FlatDate | SimpleValue[] | null;
  unique_id: string | null;
  created_by: FlatUser;
  last_edited_by: FlatUser;
  created_time: string;
  last_edited_time: string;
  verification: FlatVerification | null;
  place: FlatPlace | null;
  button: null;
  unknown: SimpleValue;
}

type Schema = Record<string, NotionPropertyType>;
type SchemaOf<S extends string> = S extends keyof NotionKvSyncSections
  ? NotionKvSyncSections[S] extends Schema
    ? NotionKvSyncSections[S]
    : never
  : never;
type Known<S extends string> = [SchemaOf<S>] extends [never] ? false : true;

/** An index entry of section S: `properties` typed when typegen knows S. */
export type SectionEntry<S extends string = Section> =
  Known<S> extends true
    ? Omit<IndexEntry, "properties"> & {
        properties: { [P in keyof SchemaOf<S>]: FlatValueByType[SchemaOf<S>[P] & keyof FlatValueByType] };
      }
    : IndexEntry;

/** Notion's raw property value of a type, as a bundle keeps it. */
export type RawProperty<T> = T extends PageProperty["type"]
  ? Extract<PageProperty, { type: T }>
  : PageBundle["properties"][string];

/** A bundle of section S: `properties` (Notion's raw values) typed when typegen knows S. */
export type SectionBundle<S extends string = Section> =
  Known<S> extends true
    ? PageBundle extends infer B
      ? B extends PageBundle
        ? Omit<B, "properties"> & { properties: { [P in keyof SchemaOf<S>]: RawProperty<SchemaOf<S>[P]> } }
        : never
      : never
    : PageBundle;

export type TypedSectionIndex<S extends string = Section> = Omit<SectionIndex, "entries"> & {
  entries: SectionEntry<S>[];
};
export type TypedSectionIndexPage<S extends string = Section> = Omit<SectionIndexPage, "entries"> & {
  entries: SectionEntry<S>[];
};

/** Whether a section keeps bundles: one whose config says `content: "none"` keeps only its index. */
function keepsBundles(section: Section): boolean {
  const sections = (workspaceConfig() as { sections?: Record<string, { content?: unknown } | undefined> } | undefined)
    ?.sections;
  return sections?.[section]?.content !== "none";
}

/**
 * A page bundle by slug (bundles over 1 MB are stored in parts and put back
 * together here); null for a section with `content: "none"`, which has none.
 */
export async function getPageBundle<S extends Section>(
  section: S,
  slug: string,
  options: ReadOptions = {},
): Promise<SectionBundle<S> | null> {
  if (!keepsBundles(section)) return null;
  const { kv, keys } = reader(options);
  const bundle = (await readLarge<PageBundle>(kv, keys, keys.page(section, slug)))?.value ?? null;
  const linker = lazyLinker(options);
  return (bundle && linker ? rewriteBundleFiles(bundle, linker) : bundle) as SectionBundle<S> | null;
}

/**
 * A section's index in public order (pages/posts newest first, children
 * breadth first). With `offset`/`limit` only the chunks holding that range
 * are read (500 entries a chunk); without them, every chunk.
 */
export function getSectionIndex<S extends Section>(
  section: S,
  options: ReadOptions & { offset: number; limit: number },
): Promise<TypedSectionIndexPage<S> | null>;
export function getSectionIndex<S extends Section>(
  section: S,
  options?: ReadOptions,
): Promise<TypedSectionIndex<S> | null>;
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
