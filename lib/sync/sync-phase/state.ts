/**
 * What one invocation's sync phase carries besides the RunContext: created by
 * runSyncPhase and passed down, so nothing of it outlives the invocation.
 */
import * as shardedSet from "../../kv/sharded-set";
import type { KvOp } from "../../kv/store";
import { type ChildCheckState, createChildCheckState } from "../child-check";
import type { RunContext } from "../context";
import type { CopiesInFlight } from "../page-files";
import type { PieceRow } from "../worklist";

export interface SyncPhaseState {
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
  /** FILES_MIRROR: files being copied by this invocation's workers (page-files.ts). */
  copies: CopiesInFlight;
}

export function createSyncPhaseState(): SyncPhaseState {
  return {
    finished: new Set(),
    unwritten: [],
    found: [],
    foundBy: [],
    claimed: new Set(),
    refetchAny: null,
    childCheck: createChildCheckState(),
    copies: new Map(),
  };
}

/** Concurrent workers may find the same page: the first one here claims it (no await in between). */
export function claim(state: SyncPhaseState, ids: string[]): string[] {
  const { claimed } = state;
  const fresh = [...new Set(ids.filter((id) => !claimed.has(id)))];
  for (const id of fresh) claimed.add(id);
  return fresh;
}

export function doneMarkOps(ctx: RunContext, ids: string[]): KvOp[] {
  return ids.length > 0 ? shardedSet.saddOps(ctx.keys.doneIds(ctx.section, ctx.cursor.runId), ids) : [];
}

/** The item left state in the cursor (a partial, failed attempts): finishing it commits the cursor. */
export function leavesCursorState(ctx: RunContext, row: PieceRow): boolean {
  return ctx.cursor.partials.includes(row.id) || ctx.cursor.attempts[row.id] !== undefined;
}
