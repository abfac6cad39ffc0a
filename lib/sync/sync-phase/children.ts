/**
 * Child pages found in a child page: queued once per run as a new piece,
 * breadth first, to SYNC_CHILD_DEPTH.
 */
import * as shardedSet from "../../kv/sharded-set";
import type { IndexEntry } from "../../mirror/shapes";
import { prefetchSweptPages } from "../child-check";
import type { RunContext } from "../context";
import { type PieceRow, packPiece } from "../worklist";
import { type SyncPhaseState, claim } from "./state";

export async function discoverChildren(
  ctx: RunContext,
  state: SyncPhaseState,
  row: PieceRow,
  childIds: string[],
): Promise<void> {
  const depth = (row.depth ?? 1) + 1;
  if (childIds.length === 0 || depth > ctx.settings.childDepth) return;
  const listedKey = ctx.keys.listedIds(ctx.section, ctx.cursor.runId);
  const seen = await shardedSet.smismember(ctx.kv, listedKey, childIds);
  const fresh = claim(
    state,
    childIds.filter((_, i) => !seen[i]),
  );
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

/**
 * A run that swept (child-check.ts): the sweep's objects of the child pages `row` holds are read in one
 * MGET now, ahead of the piece discoverChildren makes of them, instead of one GET each later. Returns `childIds`.
 */
export function prefetchChildren(ctx: RunContext, state: SyncPhaseState, row: PieceRow, childIds: string[]): string[] {
  if (childIds.length > 0 && (row.depth ?? 1) + 1 <= ctx.settings.childDepth)
    prefetchSweptPages(ctx, state.childCheck, childIds);
  return childIds;
}

/** Where a child page sits (its parent and depth), as this run found it. */
export function childPlacement(row: PieceRow): Pick<IndexEntry, "parentId" | "depth"> {
  return row.depth ? { parentId: row.parentId ?? undefined, depth: row.depth } : {};
}
