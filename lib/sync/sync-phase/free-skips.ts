/**
 * Free skips: a page kept without a Notion request and without a write. Its
 * done mark is not written at once. Without child pages to list it goes with
 * the next write of finishItem, a batch of UNWRITTEN_MAX, or the phase's last
 * commit (none when the phase is over); with some, with their piece
 * (listFound). A kill repeats only such skips, which cost no request; their
 * counts wait for their marks.
 */
import * as shardedSet from "../../kv/sharded-set";
import type { KvOp } from "../../kv/store";
import type { IndexEntry } from "../../mirror/shapes";
import type { RunContext } from "../context";
import { isSameEntry } from "../ledger";
import type { LedgerEntry } from "../ledger";
import { type PieceRow, packPiece } from "../worklist";
import { childPlacement, childRow, discoverChildren, maxDepthOf } from "./children";
import { finishItem } from "./finish";
import { type SyncPhaseState, claim, doneMarkOps, leavesCursorState } from "./state";

/** Free skips an invocation holds unwritten at most (a kill repeats up to this many, plus the pages in flight). */
const UNWRITTEN_MAX = 500;
/** Rows of a piece made of found child pages at most (like a listed query page). */
const FOUND_PIECE_ROWS = 100;

/** Kept as the ledger has it, placed where this run found it; its own child pages are still walked. */
export async function keepUnretrieved(
  ctx: RunContext,
  state: SyncPhaseState,
  row: PieceRow,
  ledger: LedgerEntry,
  previous: IndexEntry,
): Promise<void> {
  const entry: IndexEntry = { ...previous, ...childPlacement(row) };
  const ops: KvOp[] = isSameEntry(entry, previous)
    ? []
    : [{ op: "set", key: ctx.keys.entry(ctx.section, row.id), value: { ...ledger, entry } satisfies LedgerEntry }];
  if (ops.length === 0 && !leavesCursorState(ctx, row)) return skipFreely(ctx, state, row, previous.childPages);
  await discoverChildren(ctx, state, row, previous.childPages);
  return finishItem(ctx, state, row, "skipped", ops);
}

/** Finished with its mark unwritten: held back, or waiting with the child pages it found. */
async function skipFreely(ctx: RunContext, state: SyncPhaseState, row: PieceRow, childIds: string[]): Promise<void> {
  state.finished.add(row.id);
  const depth = (row.depth ?? 1) + 1;
  const found = depth > maxDepthOf(ctx, row) ? [] : claim(state, childIds);
  if (found.length > 0) {
    state.found.push(...found.map((id) => childRow(id, depth, row)));
    state.foundBy.push(row.id);
    return;
  }
  state.unwritten.push(row.id);
  if (state.unwritten.length >= UNWRITTEN_MAX) await writeUnwritten(ctx, state, state.unwritten.splice(0));
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

/** Child pages found by free skips wait to be listed: when the workers are out of pieces, or enough wait. */
export function foundWaiting(state: SyncPhaseState, outOfPieces: boolean): boolean {
  const { found, foundBy } = state;
  return foundBy.length > 0 && (outOfPieces || found.length >= FOUND_PIECE_ROWS || foundBy.length >= UNWRITTEN_MAX);
}

/**
 * The child pages free skips found, in pieces, with those skips' done marks:
 * one commit, so a page is never done before the pages it holds are listed.
 */
export async function listFound(ctx: RunContext, state: SyncPhaseState): Promise<void> {
  const rows = state.found.splice(0);
  const parents = state.foundBy.splice(0);
  const listedKey = ctx.keys.listedIds(ctx.section, ctx.cursor.runId);
  const seen = await shardedSet.smismember(
    ctx.kv,
    listedKey,
    rows.map((r) => r.id),
  );
  const fresh = rows.filter((_, i) => !seen[i]);
  await ctx.commit((c) => {
    const ops: KvOp[] = [];
    for (let i = 0; i < fresh.length; i += FOUND_PIECE_ROWS) {
      ops.push({
        op: "set",
        key: ctx.keys.workPiece(ctx.section, c.runId, c.list.pieces++),
        value: packPiece({ rows: fresh.slice(i, i + FOUND_PIECE_ROWS) }),
      });
    }
    c.counts.listed += fresh.length;
    c.counts.toSync += fresh.length;
    c.counts.skipped += parents.length;
    return [
      ...ops,
      ...shardedSet.saddOps(
        listedKey,
        fresh.map((r) => r.id),
      ),
      ...doneMarkOps(ctx, parents),
    ];
  });
  ctx.processed += parents.length;
}
