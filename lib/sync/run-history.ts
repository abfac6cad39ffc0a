/**
 * The last RUN_HISTORY_LENGTH run summaries of a section (keys.runs), newest
 * first: what /api/sync/status and the operator show.
 */
import type { Section } from "../core/sections";
import type { KeyBuilder } from "../kv/keys";
import type { KvOp, KvStore } from "../kv/store";
import type { Cursor } from "./cursor";

export const RUN_HISTORY_LENGTH = 20;

export interface RunSummary {
  runId: string;
  section: Section;
  status: Cursor["status"];
  force: boolean;
  startedAt: string;
  finishedAt: string | null;
  invocations: number;
  counts: Cursor["counts"];
  removed: number;
  error: Cursor["error"];
  /** Set when the run was held instead of removing too much of the index. */
  held: Cursor["held"];
  /** Pages given up on after repeated transient failures (first 20). */
  failedPages: { id: string; error: string }[];
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
    held: cursor.held,
    failedPages: failedPages.slice(0, 20),
  };
}

export async function readHistory(kv: KvStore, keys: KeyBuilder, section: Section): Promise<RunSummary[]> {
  return (await kv.get<RunSummary[]>(keys.runs(section))) ?? [];
}

/** The op that puts `summary` first in `history` (replacing an older summary of the same run). */
export function historyOp(keys: KeyBuilder, summary: RunSummary, history: RunSummary[]): KvOp {
  const others = history.filter((h) => h.runId !== summary.runId);
  return { op: "set", key: keys.runs(summary.section), value: [summary, ...others].slice(0, RUN_HISTORY_LENGTH) };
}
