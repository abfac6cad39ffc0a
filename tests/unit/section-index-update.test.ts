/**
 * updateEntryInPlace (lib/mirror/section-index.ts), the targeted run's index
 * write, on a many-chunk index: replacing an entry rewrites only its chunk and
 * the manifest; a new page lands where its created_time puts it; a removal
 * drops an emptied chunk; a grown entry re-cuts its chunk under the limits;
 * readers see the same entries as a full rebuild would give.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFileStore } from "../../lib/kv/file";
import { createKeys } from "../../lib/kv/keys";
import type { KvOp, KvStore } from "../../lib/kv/store";
import {
  type ChunkCache,
  type IndexManifest,
  INDEX_CHUNK_BYTES,
  INDEX_MANIFEST_VERSION,
  RETIRED_CHUNK_TTL_MS,
  chunkEntries,
  chunkRef,
  readIndexPage,
  readManifest,
  updateEntryInPlace,
} from "../../lib/mirror/section-index";
import type { IndexEntry } from "../../lib/mirror/shapes";

const keys = createKeys("unit");
let dir: string;
let kv: KvStore;

const entry = (n: number, extra: Partial<IndexEntry> = {}): IndexEntry => ({
  id: `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`,
  slug: `page-${n}`,
  title: `Page ${n}`,
  created_time: new Date(Date.UTC(2025, 0, 1) + n * 60_000).toISOString(),
  last_edited_time: "2025-06-01T00:00:00.000Z",
  properties: {},
  childPages: [],
  ...extra,
});

async function writeIndex(entries: IndexEntry[], maxEntries: number): Promise<IndexManifest> {
  const refs = chunkEntries(entries, maxEntries).map((c) => chunkRef(keys, "posts", c));
  const manifest: IndexManifest = {
    version: INDEX_MANIFEST_VERSION,
    section: "posts",
    runId: "r",
    updatedAt: "2025-06-01T00:00:00.000Z",
    total: entries.length,
    order: "newest_first",
    chunks: refs.map(({ key, count, bytes }) => ({ key, count, bytes })),
    idsKey: null,
  };
  await kv.atomic([
    ...refs.map((r): KvOp => ({ op: "set", key: r.key, value: r.value })),
    { op: "set", key: keys.index("posts"), value: manifest },
  ]);
  return manifest;
}

async function storedIds(): Promise<string[]> {
  return (await readIndexPage(kv, keys, "posts"))!.entries.map((e) => e.id).reverse();
}

/** Counts chunk reads, to show the search reads few of them. */
function counting(store: KvStore): { kv: KvStore; gets: () => number } {
  let gets = 0;
  return { kv: { ...store, get: (key) => (gets++, store.get(key)) } as KvStore, gets: () => gets };
}

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), "nks-index-update-"));
  kv = createFileStore({ dir });
});
afterAll(async () => {
  await kv.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("updateEntryInPlace", () => {
  it("replaces one entry by rewriting only its chunk and the manifest, reading about log2(chunks) chunks", async () => {
    const entries = Array.from({ length: 100 }, (_, i) => entry(i));
    const manifest = await writeIndex(entries, 10);
    const probe = counting(kv);
    const edited = { ...entries[57], title: "Edited" };
    const cache: ChunkCache = new Map();
    const result = await updateEntryInPlace(
      probe.kv,
      keys,
      manifest,
      { kind: "upsert", entry: edited },
      { cache, now: new Date() },
    );
    expect(probe.gets()).toBeLessThanOrEqual(5);
    expect(result.changed).toBe(true);
    const sets = result.ops.filter((o) => o.op === "set").map((o) => o.key);
    expect(sets).toHaveLength(2); // the new chunk and the manifest
    expect(result.ops.filter((o) => o.op === "del" || o.op === "expire")).toEqual([
      { op: "expire", key: manifest.chunks[5].key, pxMs: RETIRED_CHUNK_TTL_MS },
    ]);
    expect(result.manifest.chunks.filter((c, i) => c.key !== manifest.chunks[i].key)).toHaveLength(1);
    await kv.atomic(result.ops);
    expect(await storedIds()).toEqual(entries.map((e) => e.id));
    expect((await readIndexPage(kv, keys, "posts"))!.entries.find((e) => e.id === edited.id)?.title).toBe("Edited");
    // The same entry again: nothing to write.
    const again = await updateEntryInPlace(
      kv,
      keys,
      result.manifest,
      { kind: "upsert", entry: edited },
      { cache, now: new Date() },
    );
    expect(again).toMatchObject({ changed: false, ops: [] });
  });

  it("inserts a new page where its created_time puts it, and at the end when it is the newest", async () => {
    const entries = Array.from({ length: 40 }, (_, i) => entry(i * 2));
    let manifest = await writeIndex(entries, 10);
    const cache: ChunkCache = new Map();
    for (const n of [41, 999, -1]) {
      const result = await updateEntryInPlace(
        kv,
        keys,
        manifest,
        { kind: "upsert", entry: entry(n) },
        { cache, now: new Date() },
      );
      await kv.atomic(result.ops);
      manifest = result.manifest;
    }
    const expected = [...entries, entry(41), entry(999), entry(-1)]
      .sort((a, b) => a.created_time.localeCompare(b.created_time))
      .map((e) => e.id);
    expect(await storedIds()).toEqual(expected);
    expect((await readManifest(kv, keys, "posts"))!.total).toBe(43);
  });

  it("removes an entry, dropping a chunk it empties, and does nothing for an id it does not hold", async () => {
    const entries = [entry(1), entry(2), entry(3)];
    let manifest = await writeIndex(entries, 1);
    const cache: ChunkCache = new Map();
    const result = await updateEntryInPlace(
      kv,
      keys,
      manifest,
      { kind: "remove", id: entries[1].id },
      { cache, now: new Date() },
    );
    expect(result.manifest.chunks).toHaveLength(2);
    expect(result.ops).toContainEqual({ op: "expire", key: manifest.chunks[1].key, pxMs: RETIRED_CHUNK_TTL_MS });
    await kv.atomic(result.ops);
    manifest = result.manifest;
    expect(await storedIds()).toEqual([entries[0].id, entries[2].id]);
    const none = await updateEntryInPlace(
      kv,
      keys,
      manifest,
      { kind: "remove", id: entry(77).id },
      { cache, now: new Date() },
    );
    expect(none).toMatchObject({ changed: false, ops: [] });
  });

  it("re-cuts a chunk that outgrows the byte limit, keeping every chunk under it", async () => {
    const entries = Array.from({ length: 6 }, (_, i) => entry(i, { properties: { Notes: "x".repeat(40_000) } }));
    const manifest = await writeIndex(entries, 500);
    expect(manifest.chunks).toHaveLength(1);
    const grown = { ...entries[2], properties: { Notes: "y".repeat(120_000) } };
    const result = await updateEntryInPlace(
      kv,
      keys,
      manifest,
      { kind: "upsert", entry: grown },
      { cache: new Map(), now: new Date() },
    );
    expect(result.manifest.chunks.length).toBeGreaterThan(1);
    for (const c of result.manifest.chunks) expect(c.bytes).toBeLessThanOrEqual(INDEX_CHUNK_BYTES);
    await kv.atomic(result.ops);
    expect(await storedIds()).toEqual(entries.map((e) => e.id));
  });

  it("uses the hint, and finds an entry out of created_time order by scanning", async () => {
    const entries = Array.from({ length: 30 }, (_, i) => entry(i));
    // Entry 5 stored at the very end (as a moved page appended by an older release would be).
    const shuffled = [...entries.filter((_, i) => i !== 5), entries[5]];
    const manifest = await writeIndex(shuffled, 10);
    const edited = { ...entries[5], title: "Found" };
    const result = await updateEntryInPlace(
      kv,
      keys,
      manifest,
      { kind: "upsert", entry: edited },
      { cache: new Map(), now: new Date() },
    );
    expect(result.changed).toBe(true);
    expect(result.manifest.total).toBe(30);
    await kv.atomic(result.ops);
    const probe = counting(kv);
    const hinted = await updateEntryInPlace(
      probe.kv,
      keys,
      result.manifest,
      { kind: "upsert", entry: { ...edited, title: "Hinted" } },
      { cache: new Map(), hint: result.chunkKey, now: new Date() },
    );
    expect(probe.gets()).toBe(1);
    expect(hinted.changed).toBe(true);
  });
});
