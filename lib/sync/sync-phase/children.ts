/**
 * Child pages found in a child page: queued once per run as a new piece,
 * breadth first, to the child depth of the section the walk found them under.
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
  if (childIds.length === 0 || depth > maxDepthOf(ctx, row)) return;
  const listedKey = ctx.keys.listedIds(ctx.section, ctx.cursor.runId);
  const seen = await shardedSet.smismember(ctx.kv, listedKey, childIds);
  const fresh = claim(
    state,
    childIds.filter((_, i) => !seen[i]),
  );
  if (fresh.length === 0) return;
  const rows: PieceRow[] = fresh.map((id) => childRow(id, depth, row));
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
  if (childIds.length > 0 && (row.depth ?? 1) + 1 <= maxDepthOf(ctx, row))
    prefetchSweptPages(ctx, state.childCheck, childIds);
  return childIds;
}

/** How deep the child pages under `row` are followed: its parent section's depth, else the section's. */
export function maxDepthOf(ctx: RunContext, row: PieceRow): number {
  return row.maxDepth ?? ctx.spec.childDepth;
}

/** The row of a child page `parent` holds, at `depth`, keeping the parent's depth limit. */
export function childRow(id: string, depth: number, parent: PieceRow): PieceRow {
  return { id, depth, parentId: parent.id, ...(parent.maxDepth !== undefined ? { maxDepth: parent.maxDepth } : {}) };
}

/** Where a child page sits (its parent and depth), as this run found it. */
export function childPlacement(row: PieceRow): Pick<IndexEntry, "parentId" | "depth"> {
  return row.depth ? { parentId: row.parentId ?? undefined, depth: row.depth } : {};
}
