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
  // Fix (found by tests/qstash.e2e.test.ts): a step that already ran, and whose successor was
  // published, is no failure of the run. A duplicate delivery can run step N while the original's
  // retries all meet the lease (409) and end in the DLQ; the chain went on, and marking the run
  // failed would be wrong. A first look without the lease answers that common case at once
  // instead of 409 (and a retried callback) while the live chain holds the lease; the decision is
  // made again under the lease. A run already marked failed keeps the reason it has (the
  // engine's own, e.g. Notion's 401, is the useful one).
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
