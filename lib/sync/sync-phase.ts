/**
 * The sync phase: go through the work pieces in order and fetch the content
 * of each page that needs it, up to SYNC_CONCURRENCY at once. Each finished
 * page is one atomic write (bundle, ledger entry, done mark, its counts and
 * the record of the slugs it changed: changed-pages.ts); the cursor only
 * moves past a piece once all of it is finished, and a killed invocation's
 * successor skips the pages the done set already holds (a page kept without a
 * request or a write has its mark written later, skipFreely). A page that does not
 * finish before the deadline is checkpointed block by block and resumed.
 */
import pLimit from "p-limit";
import { type StoredShape, PLAIN, deleteLarge, readLarge, writeLarge } from "../kv/large-value";
import * as shardedSet from "../kv/sharded-set";
import type { KvOp } from "../kv/store";
import type { IndexEntry } from "../mirror/shapes";
import type { BlockFetchCheckpoint, FetchedContent } from "../notion/block-tree";
import { type PropertyCheckpoint, completeProperties } from "../notion/property-items";
import { NotionSyncError } from "../notion/errors";
import { type NotionPage, isTrashed } from "../notion/types";
import { unchangedEntry, unclaimedSlug } from "./bundle";
import { changedPageOps } from "./changed-pages";
import type { RunContext, Tally } from "./context";
import { MAX_ITEM_ATTEMPTS } from "./cursor";
import { decideFailure } from "./failure-policy";
import { isSameEntry } from "./ledger";
import { type ChildCheckState, createChildCheckState, prefetchSweptPages, sweptPage, unchangedBySearch } from "./child-check";
import { needsFetch } from "./list-phase";
import { inRanges, mergeRanges, sameRanges, toRanges } from "./piece-ranges";
import { pageWriteOps } from "./page-write";
import { MissingWorkError, RunStoppedError } from "./errors";

// Until engine.ts imports it from errors.ts (it waits for another branch's merge).
export { RunStoppedError } from "./errors";
import { type ItemOutcome, type LedgerEntry, type PieceRow, type StoredPiece, fetchedInOtherMode, packPiece, rowsToProcess, unpackPiece } from "./worklist";

interface PartialPage {
  page: NotionPage;
  slug: string;
  /** Relations/people past 25 references still being read (then `page` is the page object as Notion cut it). */
  properties?: PropertyCheckpoint;
  /** Blocks read so far; set once the properties are complete. */
  checkpoint?: BlockFetchCheckpoint;
}

/**
 * Pieces are pipelined: the next piece is loaded and its rows queued while the
 * last rows of the one before are still in flight, so the workers never idle
 * on a piece boundary. (Before, each piece waited for its slowest page; a
 * children piece holds the child pages of one page, often just one, so the
 * children section ran one request at a time and left Notion's rate unused.)
 * Rows queued ahead stay under PIECE_LOOKAHEAD × SYNC_CONCURRENCY, plus one piece.
 */
export async function runSyncPhase(ctx: RunContext): Promise<void> {
  const state = createSyncPhaseState();
  const limit = pLimit(ctx.settings.concurrency);
  const lookahead = PIECE_LOOKAHEAD * ctx.settings.concurrency;
  let fatal: NotionSyncError | null = null;
  let failure: unknown = null;
  let lowestOpen = ctx.cursor.syncPiece;
  let allFinishedSoFar = true;
  let outstanding = 0;
  const rowSettled = createSignal();
  const open: OpenPiece[] = [];
  // Pieces past syncPiece an earlier invocation finished, and those this one finishes.
  const finishedBefore = ctx.cursor.finishedAhead;
  const finishedNow = new Set<number>();

  const startPiece = async (n: number): Promise<OpenPiece> => {
    const piece = unpackPiece(await ctx.kv.get<StoredPiece>(ctx.keys.workPiece(ctx.section, ctx.cursor.runId, n)));
    if (!piece) throw new MissingWorkError(`work piece ${n} of run ${ctx.cursor.runId} is missing`);
    const rows = rowsToProcess(piece, ctx.section);
    const ids = rows.map((r) => r.id);
    // Child page objects a forced or first run's search sweep stored: one read for the piece.
    prefetchSweptPages(ctx, state.childCheck, ids);
    const none = () => Promise.resolve(ids.map(() => false));
    const [done, stale, ledgers] = await Promise.all([
      // Done marks of earlier invocations exist only when the sync phase began before this one.
      ctx.startPhase === "sync" ? shardedSet.smismember(ctx.kv, ctx.keys.doneIds(ctx.section, ctx.cursor.runId), ids) : none(),
      ctx.section === "children" ? refetchMarks(ctx, state, ids) : none(),
      ctx.kv.mget<LedgerEntry>(ids.map((id) => ctx.keys.entry(ctx.section, id))),
    ]);
    const here = state.finished;
    const finished = new Set(ids.filter((id, i) => done[i] || here.has(id)));
    const task = async (row: PieceRow, i: number) => {
      try {
        if (ctx.shouldStop() || fatal || failure) return;
        try {
          await processItem(ctx, state, { ...row, refetch: row.refetch || stale[i] }, ledgers[i]);
          // A page checkpointed for the next invocation (cursor.partials) is not finished.
          if (!ctx.cursor.partials.includes(row.id)) finished.add(row.id);
        } catch (error) {
          const outcome = await handleItemError(ctx, state, row, ledgers[i], error);
          if (outcome === "finished") finished.add(row.id);
          else if (outcome instanceof NotionSyncError) fatal = outcome;
        }
      } finally {
        outstanding--;
        rowSettled.notify();
      }
    };
    const pending = rows.flatMap((row, i) => (finished.has(row.id) ? [] : [[row, i] as const]));
    outstanding += pending.length;
    const entry: OpenPiece = { n, settled: false, complete: false, result: Promise.resolve() };
    // Every worker settles before the phase goes on (or fails): none may still be writing
    // once the invocation answers and releases its lease.
    entry.result = Promise.allSettled(pending.map(([row, i]) => limit(() => task(row, i)))).then((settled) => {
      const rejected = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
      if (rejected && !failure) failure = rejected.reason;
      entry.complete = rows.every((r) => finished.has(r.id));
      entry.settled = true;
    });
    return entry;
  };
  // Settled pieces leave in order: the cursor only moves past pieces that all finished.
  const retireSettled = () => {
    while (open[0]?.settled) {
      const piece = open.shift()!;
      if (piece.complete) finishedNow.add(piece.n);
      if (piece.complete && allFinishedSoFar) lowestOpen = piece.n + 1;
      else allFinishedSoFar = false;
    }
  };

  // Children discover more pieces as they go: the bound is read again each time.
  let next = ctx.cursor.syncPiece;
  try {
    for (;;) {
      retireSettled();
      const stopping = ctx.shouldStop() || fatal !== null || failure !== null;
      if (!stopping && next < ctx.cursor.list.pieces && inRanges(finishedBefore, next)) {
        open.push({ n: next++, settled: true, complete: true, result: Promise.resolve() });
        continue;
      }
      if (!stopping && next < ctx.cursor.list.pieces && outstanding < lookahead) {
        open.push(await startPiece(next++));
        continue;
      }
      // Child pages found by free skips become pieces once a worker has no piece left (or many wait).
      if (!stopping && foundWaiting(state, next >= ctx.cursor.list.pieces && outstanding < ctx.settings.concurrency)) {
        await listFound(ctx, state);
        continue;
      }
      if (open.length === 0) break;
      if (stopping) {
        await Promise.all(open.map((p) => p.result));
        continue;
      }
      // A row settling frees a worker (and may have discovered a piece).
      await Promise.race([rowSettled.wait(), open[0].result]);
    }
  } finally {
    await Promise.all(open.map((p) => p.result));
  }
  if (failure) throw failure;
  if (foundWaiting(state, true)) await listFound(ctx, state);
  const unwritten = state.unwritten.splice(0);
  // From lowestOpen itself: a piece finished earlier that this invocation stopped before reaching may be lowestOpen.
  const finishedAhead = mergeRanges(finishedBefore, toRanges(finishedNow), lowestOpen);
  if (unwritten.length > 0 || lowestOpen !== ctx.cursor.syncPiece || lowestOpen >= ctx.cursor.list.pieces || !sameRanges(finishedAhead, finishedBefore)) {
    await ctx.commit((c) => {
      c.syncPiece = lowestOpen;
      c.finishedAhead = lowestOpen >= c.list.pieces ? [] : finishedAhead;
      c.counts.skipped += unwritten.length;
      // Every piece done: the cursor says so, the unwritten done marks are not needed.
      if (lowestOpen >= c.list.pieces) c.phase = "finalize";
      else return doneMarkOps(ctx, unwritten);
    });
    ctx.processed += unwritten.length;
  }
  if (fatal) throw new RunStoppedError(fatal);
}

/** Rows queued ahead of the workers, in units of SYNC_CONCURRENCY. */
const PIECE_LOOKAHEAD = 2;

interface OpenPiece {
  n: number;
  /** Resolves once every queued row of the piece has settled (never rejects). */
  result: Promise<void>;
  settled: boolean;
  /** Every row of the piece finished (done, given up or gone). */
  complete: boolean;
}

/** Wakes every waiter on notify(); a wait() begun after a notify() waits for the next one. */
function createSignal(): { notify(): void; wait(): Promise<void> } {
  let waiters: (() => void)[] = [];
  return {
    notify() {
      const woken = waiters;
      waiters = [];
      for (const wake of woken) wake();
    },
    wait: () => new Promise<void>((resolve) => waiters.push(resolve)),
  };
}

/** What an item's failure means: finished (given up or gone), left for later, or fatal for the run. */
async function handleItemError(ctx: RunContext, state: SyncPhaseState, row: PieceRow, ledger: LedgerEntry | null, error: unknown): Promise<"finished" | "later" | NotionSyncError> {
  const attempts = (ctx.cursor.attempts[row.id] ?? 0) + 1;
  const decision = decideFailure(error, { attempts, maxAttempts: MAX_ITEM_ATTEMPTS, stopping: ctx.shouldStop() });
  switch (decision.kind) {
    case "later":
      return "later";
    case "rate_limited":
      ctx.noteRateLimit(decision.error);
      return "later";
    case "fatal":
      return decision.error;
    case "retry":
      ctx.lastError = { code: decision.code, message: `page ${row.id}: ${decision.message}` };
      await ctx.commit((c) => void (c.attempts = { ...c.attempts, [row.id]: attempts }));
      return "later";
    case "give_up":
      if (decision.counted) ctx.lastError = { code: decision.code, message: `page ${row.id}: ${decision.message}` };
      await giveUp(ctx, state, row, ledger, decision.message);
      return "finished";
  }
}

async function processItem(ctx: RunContext, state: SyncPhaseState, row: PieceRow, ledger: LedgerEntry | null): Promise<void> {
  const partialKey = ctx.keys.partialPage(ctx.section, row.id);
  const partial = ctx.cursor.partials.includes(row.id) ? (await readLarge<PartialPage>(ctx.kv, ctx.keys, partialKey))?.value ?? null : null;
  const previous = ledger?.entry ?? null;

  let page: NotionPage;
  if (partial) page = partial.page;
  else if (row.page) page = row.page;
  // A known child page that the run's search did not find edited: no request (child-check.ts).
  else if (previous && ledger && !row.refetch && !fetchedInOtherMode(ledger, ctx.content.mode) && (await unchangedBySearch(ctx, state.childCheck, row.id))) return keepUnretrieved(ctx, state, row, ledger, previous);
  else {
    // Forced and first runs: the object the run's search sweep returned, without a request (child-check.ts).
    const swept = await sweptPage(ctx, state.childCheck, row.id);
    try {
      page = swept ?? (await ctx.notion.retrievePage(row.id));
    } catch (error) {
      if (NotionSyncError.is(error, "gone")) return finishGone(ctx, state, row, ledger);
      throw error;
    }
  }
  if (isTrashed(page)) return finishGone(ctx, state, row, ledger);

  // Database rows claimed theirs at listing; a child's is its title and id (unique without claims).
  const slug = partial?.slug ?? row.slug ?? unclaimedSlug(page, ctx.section, previous);
  const placement = childPlacement(row);
  // Database rows were compared at listing; a child is checked here, after retrieving it.
  const unchanged = !row.page && !partial && previous && !row.refetch && !needsFetch(page, previous, slug, ctx.cursor) && !fetchedInOtherMode(ledger, ctx.content.mode) ? unchangedEntry(page, slug, previous, placement) : null;
  if (unchanged && previous) {
    const entry = unchanged;
    const ops: KvOp[] = [];
    if (!isSameEntry(entry, previous)) ops.push({ op: "set", key: ctx.keys.entry(ctx.section, row.id), value: { ...ledger!, entry } satisfies LedgerEntry });
    // Unchanged, but its child pages still have to be checked in this run.
    if (ctx.section === "children") await discoverChildren(ctx, state, row, prefetchChildren(ctx, state, row, previous.childPages));
    return finishItem(ctx, state, row, "skipped", ops);
  }

  // Relations and people past 25 references, before the content: checkpointed like the blocks.
  if (!partial?.checkpoint) {
    let reached: PropertyCheckpoint | undefined = partial?.properties;
    try {
      const result = await completeProperties(ctx.notion, page, { resume: partial?.properties, shouldStop: ctx.shouldStop, onProgress: (c) => (reached = c) });
      if (!result.done) return checkpointItem(ctx, row, page, slug, undefined, result.checkpoint);
      page = result.page;
    } catch (error) {
      if (reached && reached.requests > (partial?.properties?.requests ?? 0)) await checkpointItem(ctx, row, page, slug, undefined, reached);
      throw error;
    }
  }

  let latest: BlockFetchCheckpoint | undefined = partial?.checkpoint;
  let content: FetchedContent;
  try {
    const result = await ctx.content.fetch(page.id, {
      resume: partial?.checkpoint,
      shouldStop: ctx.shouldStop,
      onProgress: (c) => (latest = c),
    });
    if (!result.done) return checkpointItem(ctx, row, page, slug, result.checkpoint);
    content = result.content;
  } catch (error) {
    if (NotionSyncError.is(error, "gone")) return finishGone(ctx, state, row, ledger);
    // Keep what was read: the next invocation continues from the last good list.
    if (latest && latest.fetched.length > (partial?.checkpoint?.fetched.length ?? 0)) await checkpointItem(ctx, row, page, slug, latest);
    throw error;
  }

  const { ops, childIds } = pageWriteOps(ctx.keys, {
    section: ctx.section,
    page,
    slug,
    content,
    placement,
    ledger,
    runId: ctx.cursor.runId,
    mode: ctx.content.mode,
    now: ctx.now(),
    clearRefetch: Boolean(row.refetch),
    claimSlug: false,
  });
  if (ctx.section === "children") await discoverChildren(ctx, state, row, prefetchChildren(ctx, state, row, childIds));
  await finishItem(ctx, state, row, "fetched", ops, content.blockCount);
}

/** Child pages found in a child page: queued once per run, breadth first, to SYNC_CHILD_DEPTH. */
async function discoverChildren(ctx: RunContext, state: SyncPhaseState, row: PieceRow, childIds: string[]): Promise<void> {
  const depth = (row.depth ?? 1) + 1;
  if (childIds.length === 0 || depth > ctx.settings.childDepth) return;
  const listedKey = ctx.keys.listedIds(ctx.section, ctx.cursor.runId);
  const seen = await shardedSet.smismember(ctx.kv, listedKey, childIds);
  const fresh = claim(state, childIds.filter((_, i) => !seen[i]));
  if (fresh.length === 0) return;
  const rows: PieceRow[] = fresh.map((id) => ({ id, depth, parentId: row.id }));
  await ctx.commit((c) => {
    const n = c.list.pieces++;
    c.counts.listed += rows.length;
    c.counts.toSync += rows.length;
    return [
      { op: "set", key: ctx.keys.workPiece(ctx.section, c.runId, n), value: packPiece({ rows }) },
      ...shardedSet.saddOps(listedKey, fresh),
    ];
  });
}

/** Concurrent workers may find the same page: the first one here claims it (no await in between). */
function claim(state: SyncPhaseState, ids: string[]): string[] {
  const { claimed } = state;
  const fresh = [...new Set(ids.filter((id) => !claimed.has(id)))];
  for (const id of fresh) claimed.add(id);
  return fresh;
}

/** Rows of a piece made of found child pages at most (like a listed query page). */
const FOUND_PIECE_ROWS = 100;

/** Child pages found by free skips wait to be listed: when the workers are out of pieces, or enough wait. */
function foundWaiting(state: SyncPhaseState, outOfPieces: boolean): boolean {
  const { found, foundBy } = state;
  return foundBy.length > 0 && (outOfPieces || found.length >= FOUND_PIECE_ROWS || foundBy.length >= UNWRITTEN_MAX);
}

/**
 * The child pages free skips found, in pieces, with those skips' done marks:
 * one commit, so a page is never done before the pages it holds are listed.
 */
async function listFound(ctx: RunContext, state: SyncPhaseState): Promise<void> {
  const rows = state.found.splice(0);
  const parents = state.foundBy.splice(0);
  const listedKey = ctx.keys.listedIds(ctx.section, ctx.cursor.runId);
  const seen = await shardedSet.smismember(ctx.kv, listedKey, rows.map((r) => r.id));
  const fresh = rows.filter((_, i) => !seen[i]);
  await ctx.commit((c) => {
    const ops: KvOp[] = [];
    for (let i = 0; i < fresh.length; i += FOUND_PIECE_ROWS) {
      ops.push({ op: "set", key: ctx.keys.workPiece(ctx.section, c.runId, c.list.pieces++), value: packPiece({ rows: fresh.slice(i, i + FOUND_PIECE_ROWS) }) });
    }
    c.counts.listed += fresh.length;
    c.counts.toSync += fresh.length;
    c.counts.skipped += parents.length;
    return [...ops, ...shardedSet.saddOps(listedKey, fresh.map((r) => r.id)), ...doneMarkOps(ctx, parents)];
  });
  ctx.processed += parents.length;
}

/** Kept as the ledger has it, placed where this run found it; its own child pages are still walked. */
async function keepUnretrieved(ctx: RunContext, state: SyncPhaseState, row: PieceRow, ledger: LedgerEntry, previous: IndexEntry): Promise<void> {
  const entry: IndexEntry = { ...previous, ...childPlacement(row) };
  const ops: KvOp[] = isSameEntry(entry, previous) ? [] : [{ op: "set", key: ctx.keys.entry(ctx.section, row.id), value: { ...ledger, entry } satisfies LedgerEntry }];
  if (ops.length === 0 && !leavesCursorState(ctx, row)) return skipFreely(ctx, state, row, previous.childPages);
  await discoverChildren(ctx, state, row, previous.childPages);
  return finishItem(ctx, state, row, "skipped", ops);
}

/**
 * A page kept without a Notion request and without a write: its done mark is
 * not written at once. Without child pages to list it goes with the next write
 * of finishItem, a batch of UNWRITTEN_MAX, or the phase's last commit (none
 * when the phase is over); with some, with their piece (listFound). A kill
 * repeats only such skips, which cost no request; their counts wait for their marks.
 */
async function skipFreely(ctx: RunContext, state: SyncPhaseState, row: PieceRow, childIds: string[]): Promise<void> {
  state.finished.add(row.id);
  const depth = (row.depth ?? 1) + 1;
  const found = depth > ctx.settings.childDepth ? [] : claim(state, childIds);
  if (found.length > 0) {
    state.found.push(...found.map((id) => ({ id, depth, parentId: row.id })));
    state.foundBy.push(row.id);
    return;
  }
  state.unwritten.push(row.id);
  if (state.unwritten.length >= UNWRITTEN_MAX) await writeUnwritten(ctx, state, state.unwritten.splice(0));
}

function childPlacement(row: PieceRow): Pick<IndexEntry, "parentId" | "depth"> {
  return row.depth ? { parentId: row.parentId ?? undefined, depth: row.depth } : {};
}

async function checkpointItem(ctx: RunContext, row: PieceRow, page: NotionPage, slug: string, checkpoint: BlockFetchCheckpoint | undefined, properties?: PropertyCheckpoint): Promise<void> {
  const value: PartialPage = { page, slug, ...(properties ? { properties } : { checkpoint }) };
  const key = ctx.keys.partialPage(ctx.section, row.id);
  await ctx.commit((c) => {
    const written = writeLarge(ctx.keys, key, value, c.partialShapes[row.id]);
    if (!c.partials.includes(row.id)) c.partials.push(row.id);
    c.partialShapes = { ...c.partialShapes, [row.id]: written.shape };
    return written.ops;
  });
}

/** Trashed, unshared or deleted: its bundle, ledger entry and slug go now (finalize leaves it out of the index). */
async function finishGone(ctx: RunContext, state: SyncPhaseState, row: PieceRow, ledger: LedgerEntry | null): Promise<void> {
  const ops: KvOp[] = [{ op: "del", key: ctx.keys.entry(ctx.section, row.id) }];
  const slugs = new Set([ledger?.entry?.slug, row.slug].filter((s): s is string => Boolean(s)));
  if (ledger?.entry) ops.push(...deleteLarge(ctx.keys, ctx.keys.page(ctx.section, ledger.entry.slug), ledger.bundle));
  if (ctx.section !== "children") for (const slug of slugs) ops.push({ op: "del", key: ctx.keys.slugOwner(ctx.section, slug) });
  ops.push(...shardedSet.sremOps(ctx.keys.listedIds(ctx.section, ctx.cursor.runId), [row.id]));
  if (row.refetch) ops.push({ op: "srem", key: ctx.keys.refetch(), members: [row.id] });
  if (ledger?.run?.outcome === "failed") ops.push({ op: "srem", key: ctx.keys.failedPages(ctx.section), members: [row.id] });
  await finishItem(ctx, state, row, "gone", ops);
}

/** Given up for this run: the previous content and entry stay; the next run tries again (refetch set). */
async function giveUp(ctx: RunContext, state: SyncPhaseState, row: PieceRow, ledger: LedgerEntry | null, error: string): Promise<void> {
  const value: LedgerEntry = { entry: ledger?.entry ?? null, bundle: ledger?.bundle ?? (PLAIN as StoredShape), run: { id: ctx.cursor.runId, outcome: "failed", error } };
  await finishItem(ctx, state, row, "failed", [
    { op: "set", key: ctx.keys.entry(ctx.section, row.id), value },
    { op: "sadd", key: ctx.keys.refetch(), members: [row.id] },
    { op: "sadd", key: ctx.keys.failedPages(ctx.section), members: [row.id] },
  ]);
}

/**
 * Marks the item done, in the same atomic write as its data, its counts and
 * the record of the pages it changed (and the marks of free skips waiting,
 * skipFreely). Without the cursor, unless the item left state in it (a
 * partial, failed attempts).
 */
async function finishItem(ctx: RunContext, state: SyncPhaseState, row: PieceRow, outcome: ItemOutcome, ops: KvOp[], blocks = 0): Promise<void> {
  const carried = state.unwritten.splice(0);
  ops.push(...changedPageOps(ctx.keys, ops), ...doneMarkOps(ctx, [row.id, ...carried]));
  const counts: Partial<Tally> = { skipped: carried.length, blocks };
  counts[outcome] = (counts[outcome] ?? 0) + 1;
  try {
    await writeFinished(ctx, row, ops, leavesCursorState(ctx, row), counts);
  } catch (error) {
    state.unwritten.push(...carried);
    throw error;
  }
  state.finished.add(row.id);
  ctx.processed += 1 + carried.length;
}

/** Free skips' done marks, written by themselves (a batch of UNWRITTEN_MAX). */
async function writeUnwritten(ctx: RunContext, state: SyncPhaseState, ids: string[]): Promise<void> {
  try {
    await ctx.write(doneMarkOps(ctx, ids), { skipped: ids.length });
  } catch (error) {
    state.unwritten.push(...ids);
    throw error;
  }
  ctx.processed += ids.length;
}

function doneMarkOps(ctx: RunContext, ids: string[]): KvOp[] {
  return ids.length > 0 ? shardedSet.saddOps(ctx.keys.doneIds(ctx.section, ctx.cursor.runId), ids) : [];
}

/** Free skips an invocation holds unwritten at most (a kill repeats up to this many, plus the pages in flight). */
const UNWRITTEN_MAX = 500;

function leavesCursorState(ctx: RunContext, row: PieceRow): boolean {
  return ctx.cursor.partials.includes(row.id) || ctx.cursor.attempts[row.id] !== undefined;
}

/** What one invocation's sync phase carries besides the RunContext: created by runSyncPhase, passed down. */
interface SyncPhaseState {
  /** Ids this invocation finished (their marks written or not): startPiece skips them. */
  finished: Set<string>;
  /** Free skips without child pages to list whose done marks are not written yet (skipFreely). */
  unwritten: string[];
  /** Child pages free skips found (claimed, not listed yet), and those skips: listFound writes both. */
  found: PieceRow[];
  foundBy: string[];
  /** Child pages some worker of this invocation found already (claim). */
  claimed: Set<string>;
  /** Children: whether the refetch set holds anything, read once an invocation (null: not read yet). */
  refetchAny: Promise<boolean> | null;
  childCheck: ChildCheckState;
}

function createSyncPhaseState(): SyncPhaseState {
  return { finished: new Set(), unwritten: [], found: [], foundBy: [], claimed: new Set(), refetchAny: null, childCheck: createChildCheckState() };
}

/**
 * Children: which of `ids` are marked for refetch. The set is usually empty:
 * its size is read once an invocation, its members only when it has any. A mark
 * set meanwhile waits for the next run (only a refetch of the page removes it).
 */
async function refetchMarks(ctx: RunContext, state: SyncPhaseState, ids: string[]): Promise<boolean[]> {
  state.refetchAny ??= ctx.kv.scard(ctx.keys.refetch()).then((n) => n > 0);
  return (await state.refetchAny) ? ctx.kv.smismember(ctx.keys.refetch(), ids) : ids.map(() => false);
}

async function writeFinished(ctx: RunContext, row: PieceRow, ops: KvOp[], leavesCursorState: boolean, counts: Partial<Tally>): Promise<void> {
  if (leavesCursorState) {
    await ctx.commit((c) => {
      if (c.partials.includes(row.id)) {
        ops.push(...deleteLarge(ctx.keys, ctx.keys.partialPage(ctx.section, row.id), c.partialShapes[row.id]));
        c.partials = c.partials.filter((id) => id !== row.id);
        const { [row.id]: _shape, ...shapes } = c.partialShapes;
        c.partialShapes = shapes;
      }
      if (c.attempts[row.id]) {
        const { [row.id]: _done, ...rest } = c.attempts;
        c.attempts = rest;
      }
      return ops;
    }, counts);
  } else {
    await ctx.write(ops, counts);
  }
}

/**
 * A run that swept (child-check.ts): the sweep's objects of the child pages `row` holds are read in one
 * MGET now, ahead of the piece discoverChildren makes of them, instead of one GET each later. Returns `childIds`.
 */
function prefetchChildren(ctx: RunContext, state: SyncPhaseState, row: PieceRow, childIds: string[]): string[] {
  if (childIds.length > 0 && (row.depth ?? 1) + 1 <= ctx.settings.childDepth) prefetchSweptPages(ctx, state.childCheck, childIds);
  return childIds;
}
