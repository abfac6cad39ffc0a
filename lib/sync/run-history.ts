/**
 * A section's history: the last RUN_HISTORY_LENGTH run summaries (keys.runs)
 * and the last operator actions (keys.actions), newest first. What
 * /api/sync/status, the dashboard and the inspection script show.
 */
import type { Section } from "../core/sections";
import type { KeyBuilder } from "../kv/keys";
import type { KvOp, KvStore } from "../kv/store";
import type { Cursor } from "./cursor";

export const RUN_HISTORY_LENGTH = 20;
export const ACTION_HISTORY_LENGTH = 20;

export interface RunSummary {
  runId: string;
  section: Section;
  /** done, partial (pages given up), failed, held; running/stalled only for a run recorded before it ended. */
  status: Cursor["status"];
  force: boolean;
  startedAt: string;
  finishedAt: string | null;
  invocations: number;
  counts: Cursor["counts"];
  removed: number;
  error: Cursor["error"];
  /** The last error the run met and got past. */
  lastError: Cursor["lastError"];
  /** Set when the run was held instead of removing too much of the index. */
  held: Cursor["held"];
  /** Pages given up on after repeated failures (first 20). */
  failedPages: { id: string; error: string }[];
  /** A section with scheduled rows: the earliest publish date to come (cursor.nextPublishAt); absent when none. */
  nextPublishAt?: string;
  /**
   * Children: how the run checked the child pages it knew ("search" or "full", why, search requests, edited found),
   * and for a forced or first run the search sweep that gave the child page objects (child pages found, read to the end, why it stopped).
   */
  childCheck?: {
    mode: "search" | "full";
    reason: string;
    requests: number;
    found: number;
    sweep?: { found: number; complete: boolean; stopped: string | null } | null;
  } | null;
  /** Database sections: how the run listed (listing-mode.ts). */
  listing?: ListingSummary;
}

/** Database sections: how the run listed: every row ("full") or those edited since `editedSince` ("incremental"), and why. */
export interface ListingSummary {
  mode: "full" | "incremental";
  reason: string;
  editedSince: string | null;
}

export type OperatorActionName = "reset" | "retry-failed" | "release-lease";

export interface OperatorAction {
  action: OperatorActionName;
  section: Section;
  at: string;
  /** Who asked: the inspection script, the dashboard. */
  by: "script" | "dashboard";
  /** The run the action concerned, when there was one. */
  runId: string | null;
  detail: string;
}

export function summarize(cursor: Cursor, failedPages: RunSummary["failedPages"] = []): RunSummary {
  return {
    runId: cursor.runId,
    section: cursor.section,
    status: cursor.status,
    force: cursor.force,
    startedAt: cursor.startedAt,
    finishedAt: cursor.finishedAt,
    invocations: cursor.seq,
    counts: cursor.counts,
    removed: cursor.counts.removed,
    error: cursor.error,
    lastError: cursor.lastError,
    held: cursor.held,
    failedPages: failedPages.slice(0, 20),
    ...(cursor.nextPublishAt ? { nextPublishAt: cursor.nextPublishAt } : {}),
    ...(cursor.childCheck ? { childCheck: childCheckSummary(cursor.childCheck) } : {}),
    ...(cursor.listing ? { listing: listingSummary(cursor.listing) } : {}),
  };
}

export function listingSummary(listing: NonNullable<Cursor["listing"]>): ListingSummary {
  return { mode: listing.mode, reason: listing.reason, editedSince: listing.editedSince };
}

export function childCheckSummary(check: NonNullable<Cursor["childCheck"]>): NonNullable<RunSummary["childCheck"]> {
  return {
    mode: check.mode,
    reason: check.reason,
    requests: check.requests,
    found: check.found,
    ...(check.sweep ? { sweep: check.sweep } : {}),
  };
}

export async function readHistory(kv: KvStore, keys: KeyBuilder, section: Section): Promise<RunSummary[]> {
  const history = await kv.get<RunSummary[]>(keys.runs(section));
  return Array.isArray(history) ? history : [];
}

/** The op that puts `summary` first in `history` (replacing an older summary of the same run). */
export function historyOp(keys: KeyBuilder, summary: RunSummary, history: RunSummary[]): KvOp {
  const others = history.filter((h) => h.runId !== summary.runId);
  return { op: "set", key: keys.runs(summary.section), value: [summary, ...others].slice(0, RUN_HISTORY_LENGTH) };
}

export async function readActions(kv: KvStore, keys: KeyBuilder, section: Section): Promise<OperatorAction[]> {
  const actions = await kv.get<OperatorAction[]>(keys.actions(section));
  return Array.isArray(actions) ? actions : [];
}

/** The op that records `action` first in the section's action history. */
export function actionOp(keys: KeyBuilder, action: OperatorAction, previous: OperatorAction[]): KvOp {
  return { op: "set", key: keys.actions(action.section), value: [action, ...previous].slice(0, ACTION_HISTORY_LENGTH) };
}
