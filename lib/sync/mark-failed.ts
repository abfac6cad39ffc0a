/**
 * Records that a run's chain died (QStash gave up delivering a step), so the
 * status shows it and the next cron or manual call resumes it from its cursor.
 */
import type { KeyBuilder } from "../kv/keys";
import type { KvStore } from "../kv/store";
import { parseCursor } from "./cursor";
import { RUN_HISTORY_LENGTH, type RunSummary, summarize } from "./finalize-phase";
import { acquireLease } from "./lease";
import type { Section } from "./sections";

export type MarkFailedOutcome = "marked" | "busy" | "not_active";

export async function markRunFailed(
  kv: KvStore,
  keys: KeyBuilder,
  section: Section,
  runId: string,
  error: { code: string; message: string },
  now: Date = new Date(),
): Promise<MarkFailedOutcome> {
  const lease = await acquireLease(kv, keys.lease(section), 10_000);
  if (!lease) return "busy";
  try {
    const loaded = parseCursor(await kv.get(keys.cursor(section)));
    if (loaded.kind !== "ok" || loaded.cursor.runId !== runId || loaded.cursor.status === "done") return "not_active";
    const cursor = { ...loaded.cursor, status: "failed" as const, error: { ...error, at: now.toISOString() } };
    const history = ((await kv.get<RunSummary[]>(keys.runs(section))) ?? []).filter((h) => h.runId !== runId);
    await kv.atomic([
      { op: "set", key: keys.cursor(section), value: cursor },
      { op: "set", key: keys.runs(section), value: [summarize(cursor), ...history].slice(0, RUN_HISTORY_LENGTH) },
    ]);
    return "marked";
  } finally {
    await lease.release().catch(() => {});
  }
}
