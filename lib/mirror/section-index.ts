/**
 * A section index as it lands in KV: a small manifest under keys.index()
 * and the entries in chunks of at most INDEX_CHUNK_ENTRIES entries and
 * INDEX_CHUNK_BYTES bytes, each under a key named by a hash of its content.
 * A run writes only the chunks that changed (a run with no edits writes
 * none), then swaps the manifest in one atomic write; the chunks no manifest
 * refers to any more stay readable for RETIRED_CHUNK_TTL_MS, so a walk over the
 * manifest it started on (the children listing) reads one consistent snapshot.
 * A reader that read the old manifest and finds a chunk gone reads the
 * manifest again.
 *
 * Stored order: database sections by created_time ascending (the order Notion
 * lists them in, so new pages only touch the last chunk), children breadth
 * first, a section with a `sort` of its own in that order (index-sort.ts).
 * Public order (what readers get): database sections newest first (reversed),
 * the others as stored.
 */
import { createHash } from "node:crypto";
import type { Section } from "../core/sections";
import type { KeyBuilder } from "../kv/keys";
import type { KvOp, KvStore } from "../kv/store";
import { type SectionSort, entryComparator, isDefaultSort } from "./index-sort";
import type { IndexEntry } from "./shapes";

export const INDEX_MANIFEST_VERSION = 2;
export const INDEX_CHUNK_ENTRIES = 500;
export const INDEX_CHUNK_BYTES = 256 * 1024;
/** How long a replaced chunk stays readable: longer than a walk of the index takes, short enough not to pile up. */
export const RETIRED_CHUNK_TTL_MS = 15 * 60_000;

export interface IndexChunkRef {
  key: string;
  count: number;
  bytes: number;
}

export interface IndexManifest {
  version: typeof INDEX_MANIFEST_VERSION;
  section: Section;
  runId: string;
  updatedAt: string;
  total: number;
  /**
   * "newest_first": the chunks hold entries oldest first and readers get them reversed;
   * "breadth_first" (children) and "sorted" (a section's own `sort`, named below): as stored.
   */
  order: "newest_first" | "breadth_first" | "sorted";
  /** The order of a "sorted" index (absent otherwise). */
  sort?: SectionSort;
  chunks: IndexChunkRef[];
  /** Set of the page ids the index was built from (the next run's deletion check reads it). */
  idsKey: string | null;
}

/** The whole index in public order (the shape getSectionIndex has always returned). */
export interface SectionIndex {
  section: Section;
  runId: string;
  updatedAt: string;
  total: number;
  entries: IndexEntry[];
}

/** One page of the index in public order. */
export interface SectionIndexPage extends SectionIndex {
  offset: number;
  limit: number;
}

export function isManifest(value: unknown): value is IndexManifest {
  const v = value as Partial<IndexManifest> | null;
  return typeof v === "object" && v !== null && v.version === INDEX_MANIFEST_VERSION && Array.isArray(v.chunks);
}

export function publicOrder(kind: "database" | "children", sort?: SectionSort): IndexManifest["order"] {
  if (kind === "children") return "breadth_first";
  return isDefaultSort(sort) ? "newest_first" : "sorted";
}

/** Cuts entries (stored order) into chunks by count and by bytes; an entry is never split. */
export function chunkEntries(
  entries: IndexEntry[],
  maxEntries = INDEX_CHUNK_ENTRIES,
  maxBytes = INDEX_CHUNK_BYTES,
): IndexEntry[][] {
  const chunks: IndexEntry[][] = [];
  let current: IndexEntry[] = [];
  let bytes = 2;
  for (const entry of entries) {
    const size = Buffer.byteLength(JSON.stringify(entry)) + 1;
    if (current.length > 0 && (current.length >= maxEntries || bytes + size > maxBytes)) {
      chunks.push(current);
      current = [];
      bytes = 2;
    }
    current.push(entry);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

export function chunkRef(
  keys: KeyBuilder,
  section: Section,
  entries: IndexEntry[],
): IndexChunkRef & { value: IndexEntry[] } {
  const json = JSON.stringify(entries);
  const hash = createHash("sha256").update(json).digest("hex").slice(0, 24);
  return { key: keys.indexChunk(section, hash), count: entries.length, bytes: Buffer.byteLength(json), value: entries };
}

/** A chunk the current manifest refers to is not in KV (evicted, or deleted by hand): the index is damaged. */
export class IndexChunkMissingError extends Error {
  constructor(
    readonly key: string,
    section: string,
  ) {
    super(`kv: index chunk ${key} of the ${section} index is missing while the manifest still refers to it`);
    this.name = "IndexChunkMissingError";
  }
}

/** The ops that retire chunks no manifest refers to any more: they expire instead of going at once. */
export function retireChunkOps(chunkKeys: string[]): KvOp[] {
  return chunkKeys.map((key): KvOp => ({ op: "expire", key, pxMs: RETIRED_CHUNK_TTL_MS }));
}

export async function readManifest(kv: KvStore, keys: KeyBuilder, section: Section): Promise<IndexManifest | null> {
  const raw = await kv.get<unknown>(keys.index(section));
  return isManifest(raw) ? raw : null;
}

/** Which stored positions [from, to) hold public positions [offset, offset + limit). */
function storedRange(manifest: IndexManifest, offset: number, limit: number): { from: number; to: number } {
  const start = Math.max(0, Math.min(offset, manifest.total));
  const end = Math.max(start, Math.min(manifest.total, start + limit));
  if (manifest.order !== "newest_first") return { from: start, to: end };
  return { from: manifest.total - end, to: manifest.total - start };
}

/** Reads public positions [offset, offset + limit) of the index: only the chunks that hold them. */
export async function readIndexPage(
  kv: KvStore,
  keys: KeyBuilder,
  section: Section,
  options: { offset?: number; limit?: number } = {},
): Promise<SectionIndexPage | null> {
  const offset = Math.max(0, Math.floor(options.offset ?? 0));
  const limit = Math.max(0, Math.floor(options.limit ?? Number.MAX_SAFE_INTEGER));
  for (let attempt = 0; attempt < 5; attempt++) {
    const manifest = await readManifest(kv, keys, section);
    if (!manifest) return null;
    const { from, to } = storedRange(manifest, offset, limit);
    const wanted: { key: string; start: number }[] = [];
    let position = 0;
    for (const chunk of manifest.chunks) {
      if (position + chunk.count > from && position < to) wanted.push({ key: chunk.key, start: position });
      position += chunk.count;
    }
    const values = await kv.mget<IndexEntry[]>(wanted.map((w) => w.key));
    if (values.some((v) => !Array.isArray(v))) continue; // replaced meanwhile: read the new manifest
    const entries: IndexEntry[] = [];
    values.forEach((chunk, i) => {
      const start = wanted[i].start;
      entries.push(...chunk!.slice(Math.max(0, from - start), Math.max(0, to - start)));
    });
    if (manifest.order === "newest_first") entries.reverse();
    return {
      section,
      runId: manifest.runId,
      updatedAt: manifest.updatedAt,
      total: manifest.total,
      offset,
      limit,
      entries,
    };
  }
  throw new Error(`kv: the ${section} index kept changing while it was read`);
}

/** Every entry in stored order, one chunk at a time (flat memory for callers that stream). */
export async function* iterateStoredChunks(kv: KvStore, manifest: IndexManifest): AsyncGenerator<IndexEntry[]> {
  for (const chunk of manifest.chunks) {
    const entries = await kv.get<IndexEntry[]>(chunk.key);
    if (!Array.isArray(entries))
      throw new Error(`kv: index chunk ${chunk.key} is missing (the index changed while it was read)`);
    yield entries;
  }
}

// ------------------------------------------------------------------ one entry updated in place

/**
 * Chunks read by one lease holder's in-place updates, by key (each is read
 * once; an update replaces the chunk it rewrote). Only valid while the
 * section's lease is held and no full run of it is live: nothing else writes
 * the index then.
 */
export type ChunkCache = Map<string, IndexEntry[]>;

export type IndexEdit = { kind: "upsert"; entry: IndexEntry } | { kind: "remove"; id: string };

export interface InPlaceUpdate {
  manifest: IndexManifest;
  /** The new chunk(s), the new manifest and the retirement of the replaced chunk: for the page's atomic commit. */
  ops: KvOp[];
  /** False when the index already held exactly this (or, for a removal, did not hold the page). */
  changed: boolean;
  /** The chunk now holding the entry (null after a removal). */
  chunkKey: string | null;
}

const sameId = (a: string, b: string) => a.replace(/-/g, "").toLowerCase() === b.replace(/-/g, "").toLowerCase();

async function chunkEntriesAt(
  kv: KvStore,
  manifest: IndexManifest,
  i: number,
  cache: ChunkCache,
): Promise<IndexEntry[]> {
  const key = manifest.chunks[i].key;
  const cached = cache.get(key);
  if (cached) return cached;
  const entries = await kv.get<IndexEntry[]>(key);
  if (!Array.isArray(entries)) throw new Error(`kv: index chunk ${key} of the ${manifest.section} index is missing`);
  cache.set(key, entries);
  return entries;
}

/**
 * The position of the chunk holding `id`, or null. Tries the hint (the chunk
 * a previous update left it in), then, for database sections in their
 * default order (stored by created_time ascending), a binary search on `createdTime` and its
 * neighbours, then the last chunk (where new pages are appended), then every
 * chunk. A run with no hint reads about log2(chunks) chunks.
 */
export async function locateEntry(
  kv: KvStore,
  manifest: IndexManifest,
  id: string,
  options: { cache: ChunkCache; hint?: string | null; createdTime?: string | null },
): Promise<number | null> {
  const { cache } = options;
  const n = manifest.chunks.length;
  const tried = new Set<number>();
  const holds = async (i: number) => {
    if (i < 0 || i >= n || tried.has(i)) return false;
    tried.add(i);
    return (await chunkEntriesAt(kv, manifest, i, cache)).some((e) => sameId(e.id, id));
  };
  const hinted = options.hint ? manifest.chunks.findIndex((c) => c.key === options.hint) : -1;
  if (hinted >= 0 && (await holds(hinted))) return hinted;
  if (manifest.order === "newest_first" && options.createdTime) {
    const t = options.createdTime;
    let lo = 0;
    let hi = n - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const entries = await chunkEntriesAt(kv, manifest, mid, cache);
      if (await holds(mid)) return mid;
      const first = entries[0]?.created_time ?? "";
      const last = entries.at(-1)?.created_time ?? "";
      if (t < first) hi = mid - 1;
      else if (t > last) lo = mid + 1;
      else {
        // Equal created_time minutes may straddle a chunk boundary.
        for (const j of [mid - 1, mid + 1]) if (await holds(j)) return j;
        break;
      }
    }
  }
  if (await holds(n - 1)) return n - 1;
  for (let i = n - 2; i >= 0; i--) if (await holds(i)) return i;
  return null;
}

/** The first chunk whose last entry was created after `createdTime` (stored order is created_time ascending), else the last chunk. */
async function insertionChunk(
  kv: KvStore,
  manifest: IndexManifest,
  createdTime: string,
  cache: ChunkCache,
): Promise<number> {
  let lo = 0;
  let hi = manifest.chunks.length - 1;
  let found = manifest.chunks.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const last = (await chunkEntriesAt(kv, manifest, mid, cache)).at(-1)?.created_time ?? "";
    if (last > createdTime) {
      found = mid;
      hi = mid - 1;
    } else lo = mid + 1;
  }
  return found;
}

/** The first chunk whose last entry sorts after `entry` in a "sorted" index, else the last chunk. */
async function sortedInsertionChunk(
  kv: KvStore,
  manifest: IndexManifest,
  entry: IndexEntry,
  cache: ChunkCache,
): Promise<number> {
  const compare = entryComparator(manifest.sort!);
  for (let i = 0; i < manifest.chunks.length; i++) {
    const last = (await chunkEntriesAt(kv, manifest, i, cache)).at(-1);
    if (last && compare(last, entry) > 0) return i;
  }
  return manifest.chunks.length - 1;
}

/** Where a new entry goes: its chunk and its position there (-1: at the end). */
async function insertionPoint(
  kv: KvStore,
  manifest: IndexManifest,
  entry: IndexEntry,
  cache: ChunkCache,
): Promise<{ index: number; before: IndexEntry[]; position: number }> {
  const sorted = manifest.order === "sorted" && manifest.sort !== undefined;
  const index =
    manifest.order === "newest_first"
      ? await insertionChunk(kv, manifest, entry.created_time, cache)
      : sorted
        ? await sortedInsertionChunk(kv, manifest, entry, cache)
        : manifest.chunks.length - 1;
  const before = index >= 0 ? await chunkEntriesAt(kv, manifest, index, cache) : [];
  const compare = sorted ? entryComparator(manifest.sort!) : null;
  const position =
    manifest.order === "newest_first"
      ? before.findIndex((e) => e.created_time > entry.created_time)
      : compare
        ? before.findIndex((e) => compare(e, entry) > 0)
        : -1;
  return { index, before, position };
}

/** A "sorted" index entry whose sort key moved: it must leave its place for another. */
function movesInSortedIndex(manifest: IndexManifest, previous: IndexEntry | undefined, next: IndexEntry): boolean {
  if (manifest.order !== "sorted" || !manifest.sort || !previous) return false;
  const compare = entryComparator(manifest.sort);
  return compare(previous, next) !== 0;
}

/**
 * Replaces, inserts or removes one entry without a full run: rewrites only
 * the chunk holding it (re-cut by chunkEntries when it outgrows
 * INDEX_CHUNK_ENTRIES or INDEX_CHUNK_BYTES; dropped when it becomes empty),
 * content-addressed like every chunk, and the manifest. A new page of a
 * database section goes where its created_time (or the section's sort) puts
 * it, a new child page at the end. Returns the ops for the caller's atomic commit; the
 * caller keeps the returned manifest for its next update.
 */
export async function updateEntryInPlace(
  kv: KvStore,
  keys: KeyBuilder,
  manifest: IndexManifest,
  edit: IndexEdit,
  options: { cache: ChunkCache; hint?: string | null; now: Date },
): Promise<InPlaceUpdate> {
  const { cache } = options;
  const id = edit.kind === "upsert" ? edit.entry.id : edit.id;
  const at = await locateEntry(kv, manifest, id, {
    cache,
    hint: options.hint,
    createdTime: edit.kind === "upsert" ? edit.entry.created_time : null,
  });
  if (at === null && edit.kind === "remove") return { manifest, ops: [], changed: false, chunkKey: null };
  if (at !== null && edit.kind === "upsert") {
    const current = (await chunkEntriesAt(kv, manifest, at, cache)).find((e) => sameId(e.id, id));
    if (movesInSortedIndex(manifest, current, edit.entry)) {
      const removed = await updateEntryInPlace(kv, keys, manifest, { kind: "remove", id }, options);
      const placed = await updateEntryInPlace(kv, keys, removed.manifest, edit, { ...options, hint: null });
      return { ...placed, ops: [...removed.ops, ...placed.ops], changed: true };
    }
  }
  let index: number;
  let before: IndexEntry[];
  let after: IndexEntry[];
  if (at === null) {
    // A new page: a database section's where its created_time (or its section's sort) puts
    // it, after the entries of the same minute; children at the end (the next full run
    // restores breadth-first order).
    const entry = (edit as { entry: IndexEntry }).entry;
    const point = await insertionPoint(kv, manifest, entry, cache);
    index = point.index;
    before = point.before;
    const position = point.position;
    after = position < 0 ? [...before, entry] : [...before.slice(0, position), entry, ...before.slice(position)];
  } else {
    index = at;
    before = await chunkEntriesAt(kv, manifest, index, cache);
    after =
      edit.kind === "remove"
        ? before.filter((e) => !sameId(e.id, id))
        : before.map((e) => (sameId(e.id, id) ? edit.entry : e));
    if (edit.kind === "upsert" && JSON.stringify(after) === JSON.stringify(before)) {
      return { manifest, ops: [], changed: false, chunkKey: manifest.chunks[index].key };
    }
  }
  const refs = chunkEntries(after).map((chunk) => chunkRef(keys, manifest.section, chunk));
  const replaced = index >= 0 ? manifest.chunks[index] : null;
  const chunks = [
    ...manifest.chunks.slice(0, Math.max(0, index)),
    ...refs.map(({ key, count, bytes }) => ({ key, count, bytes })),
    ...(index >= 0 ? manifest.chunks.slice(index + 1) : []),
  ];
  const next: IndexManifest = {
    ...manifest,
    updatedAt: options.now.toISOString(),
    total: chunks.reduce((sum, c) => sum + c.count, 0),
    chunks,
  };
  const live = new Set(chunks.map((c) => c.key));
  const ops: KvOp[] = refs
    .filter((r) => r.key !== replaced?.key)
    .map((r): KvOp => ({ op: "set", key: r.key, value: r.value }));
  if (replaced && !live.has(replaced.key)) ops.push(...retireChunkOps([replaced.key]));
  ops.push({ op: "set", key: keys.index(manifest.section), value: next });
  if (replaced) cache.delete(replaced.key);
  for (const r of refs) cache.set(r.key, r.value);
  const holder = edit.kind === "upsert" ? (refs.find((r) => r.value.some((e) => sameId(e.id, id)))?.key ?? null) : null;
  return { manifest: next, ops, changed: true, chunkKey: holder };
}
