/**
 * Finalize of an incremental run (listing-mode.ts): the listed rows are merged
 * into the previous index instead of building a new one. Each step takes a few
 * work pieces: a row with an entry replaces its entry or is inserted where its
 * created_time (or the section's sort) puts it, a row gone while syncing
 * (trashed, unshared: no ledger entry) leaves; the chunks touched are rewritten
 * once a step (content-addressed, as always), and the merged chunk list so far
 * is kept in the cursor (finalize.chunks), with the new chunks, in the step's
 * commit. The previous index's id set stays the index's: the step adds the
 * listed ids to it and drops the gone ones. Nothing is removed otherwise, and
 * an unchanged row rewrites nothing: a run that changed nothing writes no chunk,
 * and its commit no manifest.
 */
import * as shardedSet from "../kv/sharded-set";
import type { KvOp } from "../kv/store";
import {
  type ChunkCache,
  type IndexEdit,
  type IndexManifest,
  retireChunkOps,
  updateEntryInPlace,
} from "../mirror/section-index";
import type { RunContext } from "./context";
import { MissingWorkError } from "./errors";
import type { LedgerEntry } from "./ledger";
import { type StoredPiece, unpackPiece } from "./worklist";

/** Pieces (≤ 100 rows each) merged per step. */
const PIECES_PER_STEP = 5;

/**
 * The index an incremental run merges into is gone (deleted by hand): the run lists again,
 * deciding its listing anew (a full one, without an index), rather than make an index of its edits alone.
 */
function mergeBase(ctx: RunContext, previous: IndexManifest | null): IndexManifest {
  if (previous?.idsKey) return previous;
  throw new MissingWorkError(`the ${ctx.section} index run ${ctx.cursor.runId} merges into is gone`);
}

/** The finalize state an incremental run starts from: the previous index as it is. */
export function mergeStart(ctx: RunContext, manifest: IndexManifest | null) {
  const previous = mergeBase(ctx, manifest);
  return {
    // Nothing listed needed a fetch: nothing to merge.
    stage: ctx.cursor.list.pieces > 0 ? ("merge" as const) : ("commit" as const),
    piece: 0,
    chunks: previous.chunks.map(({ key, count, bytes }) => ({ key, count, bytes })),
    total: previous.total,
    failedPages: [],
  };
}

/** The listed rows of pieces [from, to) as index edits, and those given up this run. */
async function readEdits(
  ctx: RunContext,
  from: number,
  to: number,
): Promise<{ edits: IndexEdit[]; kept: string[]; gone: string[]; failed: { id: string; error: string }[] }> {
  const { kv, keys, section } = ctx;
  const runId = ctx.cursor.runId;
  const pieces = (
    await kv.mget<StoredPiece>(Array.from({ length: to - from }, (_, i) => keys.workPiece(section, runId, from + i)))
  ).map(unpackPiece);
  if (pieces.some((p) => p === null)) throw new MissingWorkError(`a work piece of run ${runId} is missing`);
  const ids = pieces.flatMap((p) => p!.rows.map((r) => r.id));
  const ledgers = ids.length > 0 ? await kv.mget<LedgerEntry>(ids.map((id) => keys.entry(section, id))) : [];
  const out = {
    edits: [] as IndexEdit[],
    kept: [] as string[],
    gone: [] as string[],
    failed: [] as { id: string; error: string }[],
  };
  ledgers.forEach((ledger, i) => {
    const id = ids[i];
    if (!ledger) {
      out.gone.push(id);
      out.edits.push({ kind: "remove", id });
      return;
    }
    out.kept.push(id);
    if (ledger.run?.id === runId && ledger.run.outcome === "failed")
      out.failed.push({ id, error: ledger.run.error ?? "failed" });
    if (ledger.entry) out.edits.push({ kind: "upsert", entry: ledger.entry });
  });
  return out;
}

/** One merge step: a few pieces' rows into the merged index, its new chunks and id set changes in the cursor's commit. */
export async function mergeStep(ctx: RunContext, manifest: IndexManifest | null): Promise<void> {
  const previous = mergeBase(ctx, manifest);
  const f = ctx.cursor.finalize!;
  const from = f.piece;
  const to = Math.min(ctx.cursor.list.pieces, from + PIECES_PER_STEP);
  const { edits, kept, gone, failed } = await readEdits(ctx, from, to);
  const before = new Set(f.chunks.map((c) => c.key));
  const cache: ChunkCache = new Map();
  let merged: IndexManifest = { ...previous, chunks: f.chunks, total: f.total };
  for (const edit of edits) {
    merged = (await updateEntryInPlace(ctx.kv, ctx.keys, merged, edit, { cache, now: ctx.now() })).manifest;
  }
  const after = new Set(merged.chunks.map((c) => c.key));
  const ops: KvOp[] = merged.chunks
    .filter((c) => !before.has(c.key))
    .map((c): KvOp => ({ op: "set", key: c.key, value: cache.get(c.key)! }));
  // A chunk this run wrote and has replaced since: no manifest ever named it (the previous ones retire at commit).
  const previousKeys = new Set(previous.chunks.map((c) => c.key));
  ops.push(...retireChunkOps([...before].filter((key) => !after.has(key) && !previousKeys.has(key))));
  ops.push(...shardedSet.saddOps(previous.idsKey!, kept), ...shardedSet.sremOps(previous.idsKey!, gone));
  await ctx.commit((c) => {
    const fin = c.finalize!;
    fin.piece = to;
    fin.chunks = merged.chunks.map(({ key, count, bytes }) => ({ key, count, bytes }));
    fin.total = merged.total;
    fin.failedPages = [...fin.failedPages, ...failed].slice(0, 20);
    // No removals (the listing removes nothing) and no files gc (it needs every entry's files).
    if (to >= c.list.pieces) fin.stage = "commit";
    return ops;
  });
}

/** The manifest an incremental run commits: the previous one with the merged chunks, or null when they are the same. */
export function mergedManifest(
  ctx: RunContext,
  previous: IndexManifest,
  chunks: IndexManifest["chunks"],
  total: number,
): IndexManifest | null {
  const same = previous.chunks.length === chunks.length && previous.chunks.every((c, i) => c.key === chunks[i].key);
  if (same) return null;
  return { ...previous, runId: ctx.cursor.runId, updatedAt: ctx.now().toISOString(), total, chunks };
}
