/**
 * The piece pipeline: the next piece is loaded and its rows queued while the
 * last rows of the one before are still in flight, so the workers never idle
 * on a piece boundary (a children piece often holds a single page). Rows
 * queued ahead stay under PIECE_LOOKAHEAD × SYNC_CONCURRENCY, plus one piece.
 */
import pLimit, { type LimitFunction } from "p-limit";
import * as shardedSet from "../../kv/sharded-set";
import { NotionSyncError } from "../../notion/errors";
import { prefetchSweptPages } from "../child-check";
import type { RunContext } from "../context";
import { MissingWorkError } from "../errors";
import { type PieceRanges, inRanges } from "../piece-ranges";
import type { LedgerEntry } from "../ledger";
import { type PieceRow, type StoredPiece, rowsToProcess, unpackPiece } from "../worklist";
import { foundWaiting, listFound } from "./free-skips";
import { handleItemError, processItem } from "./page";
import type { SyncPhaseState } from "./state";

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

/** What the workers need of a piece's rows, read together. */
interface PieceReads {
  /** Rows finished already (done marks, or by this invocation). */
  finished: Set<string>;
  /** Children: rows marked for refetch. */
  stale: boolean[];
  ledgers: (LedgerEntry | null)[];
}

export class PiecePipeline {
  /** A Notion error that ends the run: thrown (as RunStoppedError) once the phase has committed. */
  fatal: NotionSyncError | null = null;
  /** Anything else a worker threw: rethrown once every worker settled. */
  failure: unknown = null;
  /** The first piece not known finished: where the cursor moves to. */
  lowestOpen: number;
  /** Pieces past syncPiece an earlier invocation finished (cursor.finishedAhead). */
  readonly finishedBefore: PieceRanges;
  /** Pieces this invocation finished. */
  readonly finishedNow = new Set<number>();
  private allFinishedSoFar = true;
  private outstanding = 0;
  private next: number;
  private readonly open: OpenPiece[] = [];
  private readonly rowSettled = createSignal();
  private readonly limit: LimitFunction;
  private readonly lookahead: number;

  constructor(
    private readonly ctx: RunContext,
    private readonly state: SyncPhaseState,
  ) {
    this.limit = pLimit(ctx.settings.concurrency);
    this.lookahead = PIECE_LOOKAHEAD * ctx.settings.concurrency;
    this.lowestOpen = this.next = ctx.cursor.syncPiece;
    this.finishedBefore = ctx.cursor.finishedAhead;
  }

  /** Runs until no piece is open and none may start; returns (or throws) once no worker is left writing. */
  async run(): Promise<void> {
    try {
      while (await this.step());
    } finally {
      await Promise.all(this.open.map((p) => p.result));
    }
  }

  /** One turn: skip a finished piece, start one, list found child pages, or wait; false when all is settled. */
  private async step(): Promise<boolean> {
    const { ctx, state } = this;
    this.retireSettled();
    const stopping = ctx.shouldStop() || this.fatal !== null || this.failure !== null;
    // Children discover more pieces as they go: the bound is read again each time.
    const pieceLeft = !stopping && this.next < ctx.cursor.list.pieces;
    if (pieceLeft && inRanges(this.finishedBefore, this.next)) {
      this.open.push({ n: this.next++, settled: true, complete: true, result: Promise.resolve() });
      return true;
    }
    if (pieceLeft && this.outstanding < this.lookahead) {
      this.open.push(await this.startPiece(this.next++));
      return true;
    }
    // Child pages found by free skips become pieces once a worker has no piece left (or many wait).
    if (
      !stopping &&
      foundWaiting(state, this.next >= ctx.cursor.list.pieces && this.outstanding < ctx.settings.concurrency)
    ) {
      await listFound(ctx, state);
      return true;
    }
    if (this.open.length === 0) return false;
    if (stopping) await Promise.all(this.open.map((p) => p.result));
    // A row settling frees a worker (and may have discovered a piece).
    else await Promise.race([this.rowSettled.wait(), this.open[0].result]);
    return true;
  }

  /** Settled pieces leave in order: the cursor only moves past pieces that all finished. */
  private retireSettled(): void {
    while (this.open[0]?.settled) {
      const piece = this.open.shift()!;
      if (piece.complete) this.finishedNow.add(piece.n);
      if (piece.complete && this.allFinishedSoFar) this.lowestOpen = piece.n + 1;
      else this.allFinishedSoFar = false;
    }
  }

  /** Loads piece `n` and queues its unfinished rows on the workers. */
  private async startPiece(n: number): Promise<OpenPiece> {
    const { ctx } = this;
    const piece = unpackPiece(await ctx.kv.get<StoredPiece>(ctx.keys.workPiece(ctx.section, ctx.cursor.runId, n)));
    if (!piece) throw new MissingWorkError(`work piece ${n} of run ${ctx.cursor.runId} is missing`);
    const rows = rowsToProcess(piece, ctx.spec.kind);
    const { finished, stale, ledgers } = await this.readRows(rows.map((r) => r.id));
    const pending = rows.flatMap((row, i) => (finished.has(row.id) ? [] : [[row, i] as const]));
    this.outstanding += pending.length;
    const entry: OpenPiece = { n, settled: false, complete: false, result: Promise.resolve() };
    const work = pending.map(([row, i]) => this.limit(() => this.runRow(row, stale[i], ledgers[i], finished)));
    // Every worker settles before the phase goes on (or fails): none may still be writing
    // once the invocation answers and releases its lease.
    entry.result = Promise.allSettled(work).then((settled) => {
      const rejected = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
      if (rejected && !this.failure) this.failure = rejected.reason;
      entry.complete = rows.every((r) => finished.has(r.id));
      entry.settled = true;
    });
    return entry;
  }

  private async readRows(ids: string[]): Promise<PieceReads> {
    const { ctx, state } = this;
    // Child page objects a forced or first run's search sweep stored: one read for the piece.
    prefetchSweptPages(ctx, state.childCheck, ids);
    const none = () => Promise.resolve(ids.map(() => false));
    const [done, stale, ledgers] = await Promise.all([
      // Done marks of earlier invocations exist only when the sync phase began before this one.
      ctx.startPhase === "sync"
        ? shardedSet.smismember(ctx.kv, ctx.keys.doneIds(ctx.section, ctx.cursor.runId), ids)
        : none(),
      ctx.spec.kind === "children" ? refetchMarks(ctx, state, ids) : none(),
      ctx.kv.mget<LedgerEntry>(ids.map((id) => ctx.keys.entry(ctx.section, id))),
    ]);
    return { finished: new Set(ids.filter((id, i) => done[i] || state.finished.has(id))), stale, ledgers };
  }

  /** One row on a worker: processed, or its failure decided (a fatal one stops the phase). */
  private async runRow(
    row: PieceRow,
    stale: boolean,
    ledger: LedgerEntry | null,
    finished: Set<string>,
  ): Promise<void> {
    const { ctx, state } = this;
    try {
      if (ctx.shouldStop() || this.fatal || this.failure) return;
      try {
        await processItem(ctx, state, { ...row, refetch: row.refetch || stale }, ledger);
        // A page checkpointed for the next invocation (cursor.partials) is not finished.
        if (!ctx.cursor.partials.includes(row.id)) finished.add(row.id);
      } catch (error) {
        const outcome = await handleItemError(ctx, state, row, ledger, error);
        if (outcome === "finished") finished.add(row.id);
        else if (outcome instanceof NotionSyncError) this.fatal = outcome;
      }
    } finally {
      this.outstanding--;
      this.rowSettled.notify();
    }
  }
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
