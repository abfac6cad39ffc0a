/**
 * The finalize phase, in steps that each fit an invocation and each commit:
 * 1. index: a few work pieces at a time, the pages' ledger entries become
 *    index chunks (written only when their content is new: a run with no
 *    edits writes none); a section with a `sort` of its own reads every
 *    piece's entries in one step instead ("sort"), sorted before chunking;
 * 2. removals: the previously indexed pages this run did not list lose their
 *    bundle, ledger entry and slug, a batch at a time;
 * 3. commit: one atomic write swaps the manifest, retires the old chunks (they
 *    expire: a children walk may still read them), deletes the old id set and
 *    the run's scratch keys,
 *    records the run summary and marks the cursor done.
 * An incremental run (listing-mode.ts) merges its rows into the previous index
 * instead (finalize-merge.ts), then commits: no removals, no files gc.
 * Memory stays flat: no step holds more than a few pieces' entries.
 */
import { deleteLarge } from "../kv/large-value";
import * as shardedSet from "../kv/sharded-set";
import type { KvOp } from "../kv/store";
import {
  type IndexManifest,
  INDEX_MANIFEST_VERSION,
  chunkEntries,
  chunkRef,
  publicOrder,
  readManifest,
  retireChunkOps,
} from "../mirror/section-index";
import { type SectionSort, isDefaultSort, sortEntries } from "../mirror/index-sort";
import type { IndexEntry } from "../mirror/shapes";
import type { RunContext } from "./context";
import type { Cursor } from "./cursor";
import { holdsForRemovals } from "./brake";
import { changedPageOps, indexChangedOp } from "./changed-pages";
import { dropSweptPages } from "./child-check";
import { MissingWorkError } from "./errors";
import { isIncremental } from "./listing-mode";
import { mergeStart, mergeStep, mergedManifest } from "./finalize-merge";
import { scratchKeys } from "./scratch";
import { historyOp, readHistory, summarize } from "./run-history";
import type { LedgerEntry } from "./ledger";
import { afterRemovals, gcStep, liveFilesOps, liveIdentities } from "./files-gc";
import { type StoredPiece, unpackPiece } from "./worklist";

/** Pieces (≤ 100 rows each) read per index step: one step makes about one 500-entry chunk. */
const PIECES_PER_STEP = 5;
const REMOVALS_PER_STEP = 100;

export async function runFinalizePhase(ctx: RunContext): Promise<void> {
  // Nothing else writes the index while a run is live (targeted runs wait): read once.
  const previous = await readManifest(ctx.kv, ctx.keys, ctx.section);
  if (!ctx.cursor.finalize) {
    // The sync phase is over: a sweep's page objects are no longer needed (child-check.ts).
    await dropSweptPages(ctx);
    // Children find most of their pages while syncing: only now is their listing complete.
    if (ctx.spec.kind === "children" && (await holdsForRemovals(ctx))) return;
    const stage = ownSort(ctx) ? "sort" : "index";
    // An incremental listing was decided on a usable index (listing-mode.ts): it is merged into.
    const start: Cursor["finalize"] = isIncremental(ctx.cursor)
      ? mergeStart(ctx, previous)
      : { stage, piece: 0, chunks: [], total: 0, failedPages: [] };
    await ctx.commit((c) => void (c.finalize = start));
  }
  const known = new Set(previous?.chunks.map((c) => c.key) ?? []);
  while (ctx.cursor.phase === "finalize" && !ctx.shouldStop()) {
    const stage = ctx.cursor.finalize!.stage;
    if (stage === "index") await indexStep(ctx, known);
    else if (stage === "sort") await sortStep(ctx, ownSort(ctx)!, known);
    else if (stage === "merge") await mergeStep(ctx, previous);
    else if (stage === "removals") await removalsStep(ctx);
    else if (stage === "gc") await gcStep(ctx);
    else await commitStep(ctx, previous);
  }
}

/** The section's own index order, when it is not the default (newest first). */
function ownSort(ctx: RunContext): SectionSort | null {
  return ctx.spec.kind === "database" && !isDefaultSort(ctx.spec.sort) ? ctx.spec.sort : null;
}

interface PieceEntries {
  entries: IndexEntry[];
  failed: { id: string; error: string }[];
  /** FILES_MIRROR: the stored objects these entries reference. */
  files: string[];
}

/** The index entries of pieces [from, to), and the pages this run gave up among them. */
async function readEntries(ctx: RunContext, from: number, to: number): Promise<PieceEntries> {
  const { kv, keys, section } = ctx;
  const pieces = (
    await kv.mget<StoredPiece>(
      Array.from({ length: to - from }, (_, i) => keys.workPiece(section, ctx.cursor.runId, from + i)),
    )
  ).map(unpackPiece);
  // A piece gone missing would silently drop its pages from the index: list again instead.
  if (pieces.some((p) => p === null)) throw new MissingWorkError(`a work piece of run ${ctx.cursor.runId} is missing`);
  const ids = pieces.flatMap((p) => p!.rows.map((r) => r.id));
  const ledgers = await kv.mget<LedgerEntry>(ids.map((id) => keys.entry(section, id)));
  const entries: IndexEntry[] = [];
  const failed: { id: string; error: string }[] = [];
  ledgers.forEach((ledger, i) => {
    if (ledger?.run?.id === ctx.cursor.runId && ledger.run.outcome === "failed")
      failed.push({ id: ids[i], error: ledger.run.error ?? "failed" });
    if (ledger?.entry) entries.push(ledger.entry);
  });
  return { entries, failed, files: liveIdentities(ledgers) };
}

async function indexStep(ctx: RunContext, known: Set<string>): Promise<void> {
  const { keys, section } = ctx;
  const from = ctx.cursor.finalize!.piece;
  const to = Math.min(ctx.cursor.list.pieces, from + PIECES_PER_STEP);
  const { entries, failed, files } = await readEntries(ctx, from, to);
  const refs = chunkEntries(entries).map((chunk) => chunkRef(keys, section, chunk));
  const ops: KvOp[] = [];
  for (const ref of refs) {
    if (!known.has(ref.key)) ops.push({ op: "set", key: ref.key, value: ref.value });
    known.add(ref.key);
  }
  await ctx.commit((c) => {
    const f = c.finalize!;
    f.piece = to;
    f.chunks.push(...refs.map(({ key, count, bytes }) => ({ key, count, bytes })));
    f.total += entries.length;
    f.failedPages = [...f.failedPages, ...failed].slice(0, 20);
    // The brake counted the removals set (cursor.removals): an empty one is not read at all.
    if (to >= c.list.pieces) f.stage = c.removals > 0 ? "removals" : afterRemovals(ctx);
    return [...ops, ...liveFilesOps(ctx, files)];
  });
}

/** A section with its own sort: every piece's entries, sorted, in chunks (one step: nothing is kept between invocations). */
async function sortStep(ctx: RunContext, sort: SectionSort, known: Set<string>): Promise<void> {
  const all: PieceEntries = { entries: [], failed: [], files: [] };
  for (let from = 0; from < ctx.cursor.list.pieces; from += PIECES_PER_STEP) {
    const read = await readEntries(ctx, from, Math.min(ctx.cursor.list.pieces, from + PIECES_PER_STEP));
    all.entries.push(...read.entries);
    all.failed.push(...read.failed);
    all.files.push(...read.files);
  }
  const refs = chunkEntries(sortEntries(all.entries, sort)).map((chunk) => chunkRef(ctx.keys, ctx.section, chunk));
  const ops: KvOp[] = refs.filter((r) => !known.has(r.key)).map((r) => ({ op: "set", key: r.key, value: r.value }));
  await ctx.commit((c) => {
    c.finalize = {
      stage: c.removals > 0 ? "removals" : afterRemovals(ctx),
      piece: c.list.pieces,
      chunks: refs.map(({ key, count, bytes }) => ({ key, count, bytes })),
      total: all.entries.length,
      failedPages: all.failed.slice(0, 20),
    };
    return [...ops, ...liveFilesOps(ctx, all.files)];
  });
}

async function removalsStep(ctx: RunContext): Promise<void> {
  const { kv, keys, section } = ctx;
  const removalsKey = keys.removals(section, ctx.cursor.runId);
  const ids = await shardedSet.srandmember(kv, removalsKey, REMOVALS_PER_STEP);
  if (ids.length === 0) {
    await ctx.commit((c) => void (c.finalize!.stage = afterRemovals(ctx)));
    return;
  }
  const ledgers = await kv.mget<LedgerEntry>(ids.map((id) => keys.entry(section, id)));
  const ops: KvOp[] = shardedSet.sremOps(removalsKey, ids);
  let removed = 0;
  ledgers.forEach((ledger, i) => {
    ops.push({ op: "del", key: keys.entry(section, ids[i]) });
    if (ledger?.run?.outcome === "failed") ops.push({ op: "srem", key: keys.failedPages(section), members: [ids[i]] });
    // A re-read asked for a page that left the section: nothing left to re-read (it would keep listings full).
    ops.push({ op: "srem", key: keys.refetch(), members: [ids[i]] });
    if (!ledger?.entry) return;
    removed++;
    ops.push(...deleteLarge(keys, keys.page(section, ledger.entry.slug), ledger.bundle));
    if (ctx.spec.kind !== "children") ops.push({ op: "del", key: keys.slugOwner(section, ledger.entry.slug) });
  });
  await ctx.commit((c) => {
    c.counts.removed += removed;
    return [...ops, ...changedPageOps(keys, ops)];
  });
}

/** The manifest a full run builds: its chunks, and its listed set as the index's id set. */
function builtManifest(ctx: RunContext): IndexManifest {
  const f = ctx.cursor.finalize!;
  const sort = ownSort(ctx);
  return {
    version: INDEX_MANIFEST_VERSION,
    section: ctx.section,
    runId: ctx.cursor.runId,
    updatedAt: ctx.now().toISOString(),
    total: f.total,
    order: publicOrder(ctx.spec.kind, sort ?? undefined),
    ...(sort ? { sort } : {}),
    chunks: f.chunks,
    idsKey: ctx.keys.listedIds(ctx.section, ctx.cursor.runId),
  };
}

async function commitStep(ctx: RunContext, previous: IndexManifest | null): Promise<void> {
  const { keys, section } = ctx;
  const f = ctx.cursor.finalize!;
  // A merge that changed nothing leaves the manifest as it is (no write, nothing to revalidate).
  const merging = isIncremental(ctx.cursor) && previous !== null;
  const manifest = merging ? (mergedManifest(ctx, previous, f.chunks, f.total) ?? previous) : builtManifest(ctx);
  const live = new Set(f.chunks.map((c) => c.key));
  const history = await readHistory(ctx.kv, keys, section);
  await ctx.commit((c) => {
    c.phase = "done";
    // Pages given up this run keep their previous content: the run is complete, but not clean.
    c.status = f.failedPages.length > 0 || c.counts.failed > 0 ? "partial" : "done";
    c.finishedAt = ctx.now().toISOString();
    c.error = null;
    c.retryAt = null;
    const ops: KvOp[] = [
      ...(manifest === previous ? [] : [{ op: "set", key: keys.index(section), value: manifest } as KvOp]),
      ...retireChunkOps((previous?.chunks ?? []).filter((chunk) => !live.has(chunk.key)).map((chunk) => chunk.key)),
      ...(previous?.idsKey && previous.idsKey !== manifest.idsKey ? shardedSet.delOps(previous.idsKey) : []),
      // The run's scratch keys, except its id set: that is the new index's. An incremental run that
      // listed nothing to fetch wrote none (no piece, listed set, done set nor removals).
      ...(merging && c.list.pieces === 0 ? [] : scratchKeys(keys, c))
        .filter((key) => !shardedSet.shardKeys(manifest.idsKey!).includes(key))
        .map((key): KvOp => ({ op: "del", key })),
      historyOp(keys, summarize(c, f.failedPages), history),
      // Chunks are named by their content: other keys, another index (revalidated by whoever drains the record).
      ...(sameChunks(previous, f.chunks) ? [] : [indexChangedOp(keys, section)]),
    ];
    c.partials = [];
    c.partialShapes = {};
    c.finalize = null;
    return ops;
  });
}

function sameChunks(previous: IndexManifest | null, chunks: { key: string }[]): boolean {
  return (
    previous !== null &&
    previous.chunks.length === chunks.length &&
    previous.chunks.every((c, i) => c.key === chunks[i].key)
  );
}
