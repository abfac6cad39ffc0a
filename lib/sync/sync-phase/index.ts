/**
 * The sync phase: go through the work pieces in order and fetch the content
 * of each page that needs it, up to SYNC_CONCURRENCY at once (pipeline.ts).
 * Each finished page is one atomic write (bundle, ledger entry, done mark, its
 * counts and the record of the slugs it changed: finish.ts); the cursor only
 * moves past a piece once all of it is finished, and a killed invocation's
 * successor skips the pages the done set already holds (a page kept without a
 * request or a write has its mark written later: free-skips.ts). A page that
 * does not finish before the deadline is checkpointed block by block and
 * resumed (page.ts).
 */
import type { RunContext } from "../context";
import { RunStoppedError } from "../errors";
import { mergeRanges, sameRanges, toRanges } from "../piece-ranges";
import { foundWaiting, listFound } from "./free-skips";
import { PiecePipeline } from "./pipeline";
import { type SyncPhaseState, createSyncPhaseState, doneMarkOps } from "./state";

export async function runSyncPhase(ctx: RunContext): Promise<void> {
  const state = createSyncPhaseState();
  const pipeline = new PiecePipeline(ctx, state);
  await pipeline.run();
  if (pipeline.failure) throw pipeline.failure;
  if (foundWaiting(state, true)) await listFound(ctx, state);
  await commitPhaseEnd(ctx, state, pipeline);
  if (pipeline.fatal) throw new RunStoppedError(pipeline.fatal);
}

/**
 * Moves the cursor past the pieces that all finished, records those finished
 * beyond, and counts the free skips whose marks are still unwritten (writing
 * the marks, unless every piece is done: then the phase ends).
 */
async function commitPhaseEnd(ctx: RunContext, state: SyncPhaseState, pipeline: PiecePipeline): Promise<void> {
  const unwritten = state.unwritten.splice(0);
  const { lowestOpen, finishedBefore } = pipeline;
  // From lowestOpen itself: a piece finished earlier that this invocation stopped before reaching may be lowestOpen.
  const finishedAhead = mergeRanges(finishedBefore, toRanges(pipeline.finishedNow), lowestOpen);
  const allDone = lowestOpen >= ctx.cursor.list.pieces;
  const cursorMoves = lowestOpen !== ctx.cursor.syncPiece || !sameRanges(finishedAhead, finishedBefore);
  if (unwritten.length === 0 && !cursorMoves && !allDone) return;
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
