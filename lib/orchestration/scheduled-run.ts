/**
 * Scheduled publishing: a completed run whose publish filter compares a date
 * with "now" records the earliest future publish date it saw
 * (`cursor.nextPublishAt`), and one run of that section is scheduled for it.
 * With QStash as the carrier: a message to the section's URL with
 * Upstash-Not-Before at that time, deduplicated by section and time, so it
 * runs within a minute of it. On the self-chain or without a carrier (or when
 * the publish failed, or the time is beyond QStash's delay limit): the due
 * time stays in KV, and the reviver (after every invocation of any route)
 * turns it into a start request once due. Scheduling never fails a run: a
 * failure is logged and kept in the record the status shows.
 */
import { z } from "zod";
import type { Section } from "../core/sections";
import { logEvent } from "../core/log";
import type { KeyBuilder } from "../kv/keys";
import type { KvStore } from "../kv/store";
import type { Publisher, PublishNextOptions } from "../qstash/publish";
import { notionFlowControl } from "../qstash/flow-control";
import { sectionPath } from "../core/base-url";
import { type Cursor, isLive, newRunId } from "../sync/cursor";
import { recordStartRequest } from "../sync/start-requests";
import { type ChainSettings, withinPublishTimeout } from "./chain";

/** QStash's longest delay on the free plan (pay-as-you-go allows a year): later times wait for a later run. */
export const QSTASH_MAX_DELAY_MS = 7 * 24 * 3600_000;
/** A QStash-scheduled run not started this long after its time is started by the reviver instead. */
export const QSTASH_LATE_GRACE_MS = 5 * 60_000;
/** The record outlives its time by this much, whatever happens to it. */
const RECORD_TTL_AFTER_MS = 2 * 24 * 3600_000;

const ScheduledRunSchema = z.object({
  /** When the run is due: the section's next publish date. */
  at: z.string(),
  /** qstash: a message is published for it; kv: the reviver (or any later call) starts it once due. */
  via: z.enum(["qstash", "kv"]),
  messageId: z.string().nullable(),
  /** The completed run that saw the date, and when it was recorded. */
  byRunId: z.string(),
  recordedAt: z.string(),
  /** Why QStash was not used although it carries this section (publish failed, beyond its delay limit). */
  error: z.string().nullable(),
});
export type ScheduledRun = z.infer<typeof ScheduledRunSchema>;

export const scheduledRunKey = (keys: KeyBuilder, section: Section) => `${keys.prefix}:scheduled:${section}`;

export function parseScheduledRun(raw: unknown): ScheduledRun | null {
  const parsed = ScheduledRunSchema.safeParse(raw);
  return parsed.success ? parsed.data : null;
}

/** The message that starts a scheduled run: step 0 of a new run, delivered not before `at` (whole seconds, rounded up). */
export function scheduledMessage(chain: ChainSettings, section: Section, at: Date): PublishNextOptions {
  const seconds = Math.ceil(at.getTime() / 1000);
  return {
    destination: `${chain.baseUrl}${sectionPath(section)}`,
    body: { runId: newRunId(new Date(seconds * 1000)), seq: 0, force: false },
    deduplicationId: `scheduled-${section}-${seconds}`,
    notBefore: seconds,
    flowControl: notionFlowControl(chain.notionToken, chain.invocationsPerMin),
  };
}

export interface ScheduleInput {
  kv: KvStore;
  keys: KeyBuilder;
  section: Section;
  /** The run that just completed. */
  cursor: Cursor;
  /** Set when QStash carries this section. */
  qstash: { publisher: Publisher; chain: ChainSettings } | null;
  now?: number;
}

/** Schedules (or keeps, or drops) the section's next scheduled run after a completed run; never throws. */
export async function scheduleNextPublish(input: ScheduleInput): Promise<ScheduledRun | null> {
  try {
    return await schedule(input);
  } catch (error) {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    logEvent("sync.schedule_failed", { section: input.section, error: message }, "warn");
    return null;
  }
}

async function schedule({ kv, keys, section, cursor, qstash, now = Date.now() }: ScheduleInput) {
  const key = scheduledRunKey(keys, section);
  const at = cursor.nextPublishAt ?? null;
  const existing = parseScheduledRun(await kv.get(key));
  if (!at || !Number.isFinite(Date.parse(at))) {
    if (existing) await kv.del([key]);
    return null;
  }
  const atMs = Date.parse(at);
  const reachable = qstash !== null && atMs > now && atMs - now <= QSTASH_MAX_DELAY_MS;
  // Same time, still ahead, and as well carried as it can be: scheduled already.
  if (existing && existing.at === at && atMs > now && (existing.via === "qstash" || !reachable)) return existing;
  let record: ScheduledRun = {
    at,
    via: "kv",
    messageId: null,
    byRunId: cursor.runId,
    recordedAt: new Date(now).toISOString(),
    error: qstash && !reachable && atMs > now ? "beyond QStash's 7-day delay: a later run schedules it" : null,
  };
  if (reachable) {
    try {
      const sent = await withinPublishTimeout(
        qstash.publisher.publishNext(scheduledMessage(qstash.chain, section, new Date(atMs))),
      );
      record = { ...record, via: "qstash", messageId: sent.messageId };
    } catch (error) {
      record = { ...record, error: `QStash publish failed: ${error instanceof Error ? error.message : String(error)}` };
      logEvent("sync.schedule_failed", { section, at, error: record.error }, "warn");
    }
  }
  await kv.set(key, record, { pxMs: Math.max(atMs - now, 0) + RECORD_TTL_AFTER_MS });
  logEvent("sync.scheduled", { section, at, via: record.via, messageId: record.messageId, runId: cursor.runId });
  return record;
}

/**
 * For the reviver: a scheduled run whose time has come (a QStash one only once
 * late) and that no run since covers becomes a start request, honoured like a
 * queued cron call; a run that started after its time covers it (dropped).
 * Waits while a run is live: that run began before the time, and its
 * completion schedules again.
 */
export async function startDueScheduledRun(
  kv: KvStore,
  keys: KeyBuilder,
  section: Section,
  scheduled: ScheduledRun,
  cursor: Cursor | null,
  now: number = Date.now(),
): Promise<boolean> {
  const atMs = Date.parse(scheduled.at);
  if (cursor && Date.parse(cursor.startedAt) >= atMs) {
    await kv.deleteIfEquals(scheduledRunKey(keys, section), scheduled);
    return false;
  }
  const dueAt = atMs + (scheduled.via === "qstash" ? QSTASH_LATE_GRACE_MS : 0);
  if (dueAt > now || (cursor && isLive(cursor))) return false;
  await recordStartRequest(kv, keys, section, { force: false, seen: cursor, now: new Date(now) });
  await kv.deleteIfEquals(scheduledRunKey(keys, section), scheduled);
  logEvent("sync.scheduled_run_due", { section, at: scheduled.at, via: scheduled.via });
  return true;
}
