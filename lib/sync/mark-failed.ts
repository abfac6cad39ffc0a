/**
 * Records that a run's chain died (QStash gave up delivering a step), so the
 * status shows it and the next cron or manual call resumes it from its cursor.
 */
import type { KeyBuilder } from "../kv/keys";
import type { KvStore } from "../kv/store";
import { type Cursor, isLive, parseCursor, successorPublished } from "./cursor";
import { historyOp, readHistory, summarize } from "./run-history";
import { acquireLease } from "./lease";
import type { Section } from "../core/sections";

export type MarkFailedOutcome = "marked" | "busy" | "not_active";

export async function markRunFailed(
  kv: KvStore,
  keys: KeyBuilder,
  section: Section,
  runId: string,
  error: { code: string; message: string },
  now: Date = new Date(),
  /** The step (message seq) QStash gave up on, when known. */
  seq?: number,
): Promise<MarkFailedOutcome> {
  // A step whose successor was published is no failure of the run (docs/decisions.md 22). A first
  // look without the lease answers that at once while the live chain holds it; the decision is made
  // again under the lease. A run already failed keeps its reason (the engine's own is the useful one).
  const isThisLiveRun = (cursor: Cursor) =>
    cursor.runId === runId && isLive(cursor) && (seq === undefined || seq >= cursor.seq || !successorPublished(cursor));
  const peek = parseCursor(await kv.get(keys.cursor(section)));
  if (peek.kind !== "ok" || !isThisLiveRun(peek.cursor)) return "not_active";
  const lease = await acquireLease(kv, keys.lease(section), 10_000);
  if (!lease) return "busy";
  try {
    const loaded = parseCursor(await kv.get(keys.cursor(section)));
    if (loaded.kind !== "ok" || !isThisLiveRun(loaded.cursor)) return "not_active";
    const cursor = { ...loaded.cursor, status: "failed" as const, error: { ...error, at: now.toISOString() } };
    const history = await readHistory(kv, keys, section);
    await kv.atomic([
      { op: "require", key: keys.lease(section), equals: lease.token },
      { op: "set", key: keys.cursor(section), value: cursor },
      historyOp(keys, summarize(cursor), history),
    ]);
    return "marked";
  } finally {
    await lease.release().catch(() => {});
  }
}
