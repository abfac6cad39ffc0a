/**
 * A section index as it lands in KV: a small manifest under keys.index()
 * and the entries in chunks of at most INDEX_CHUNK_ENTRIES entries and
 * INDEX_CHUNK_BYTES bytes, each under a key named by a hash of its content.
 * A run writes only the chunks that changed (a run with no edits writes
 * none), then swaps the manifest in one atomic write and deletes the chunks no
 * manifest refers to any more. A reader that read the old manifest and finds a
 * chunk gone reads the manifest again.
 *
 * Stored order: pages/posts by created_time ascending (the order Notion lists
 * them in, so new pages only touch the last chunk), children breadth first.
 * Public order (what readers get): pages/posts newest first, children
 * breadth first.
 */
import { createHash } from "node:crypto";
import type { Section } from "../core/sections";
import type { KeyBuilder } from "../kv/keys";
import type { KvStore } from "../kv/store";
import type { IndexEntry } from "./shapes";

export const INDEX_MANIFEST_VERSION = 2;
export const INDEX_CHUNK_ENTRIES = 500;
export const INDEX_CHUNK_BYTES = 256 * 1024;

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
  /** "newest_first": the chunks hold entries oldest first and readers get them reversed. */
  order: "newest_first" | "breadth_first";
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

export function publicOrder(section: Section): IndexManifest["order"] {
  return section === "children" ? "breadth_first" : "newest_first";
}

/** Cuts entries (stored order) into chunks by count and by bytes; an entry is never split. */
export function chunkEntries(entries: IndexEntry[], maxEntries = INDEX_CHUNK_ENTRIES, maxBytes = INDEX_CHUNK_BYTES): IndexEntry[][] {
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

export function chunkRef(keys: KeyBuilder, section: Section, entries: IndexEntry[]): IndexChunkRef & { value: IndexEntry[] } {
  const json = JSON.stringify(entries);
  const hash = createHash("sha256").update(json).digest("hex").slice(0, 24);
  return { key: keys.indexChunk(section, hash), count: entries.length, bytes: Buffer.byteLength(json), value: entries };
}

export async function readManifest(kv: KvStore, keys: KeyBuilder, section: Section): Promise<IndexManifest | null> {
  const raw = await kv.get<unknown>(keys.index(section));
  return isManifest(raw) ? raw : null;
}

/** Which stored positions [from, to) hold public positions [offset, offset + limit). */
function storedRange(manifest: IndexManifest, offset: number, limit: number): { from: number; to: number } {
  const start = Math.max(0, Math.min(offset, manifest.total));
  const end = Math.max(start, Math.min(manifest.total, start + limit));
  if (manifest.order === "breadth_first") return { from: start, to: end };
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
    return { section, runId: manifest.runId, updatedAt: manifest.updatedAt, total: manifest.total, offset, limit, entries };
  }
  throw new Error(`kv: the ${section} index kept changing while it was read`);
}

/** Every entry in stored order, one chunk at a time (flat memory for callers that stream). */
export async function* iterateStoredChunks(kv: KvStore, manifest: IndexManifest): AsyncGenerator<IndexEntry[]> {
  for (const chunk of manifest.chunks) {
    const entries = await kv.get<IndexEntry[]>(chunk.key);
    if (!Array.isArray(entries)) throw new Error(`kv: index chunk ${chunk.key} is missing (the index changed while it was read)`);
    yield entries;
  }
}
