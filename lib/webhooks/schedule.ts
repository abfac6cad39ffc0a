/**
 * Scheduling the one debounced targeted run that follows recorded events
 * (README, "Near real time: webhooks"):
 *
 * - **With QStash**: time is cut in windows of WEBHOOK_DEBOUNCE_S (default
 *   30 s). The first event of window W claims it (`{p}:wh:window:W`, SET NX)
 *   and publishes one message to /api/sync/dirty, delivered when the window
 *   has ended (plus a second), with the deduplication id `dirty-<D>-<W>-<claim time>` (no
 *   `:`, which QStash refuses): every event of W is recorded before that run
 *   reads the dirty set, and the events of W+1 schedule the next one. The
 *   message carries the integration's flow-control key, so it takes turns
 *   with the section chains under one Notion budget. A failed publish frees
 *   the claim (the next event tries again; the dirty set keeps the pages).
 * - **Without QStash**: `after()` in the webhook's own invocation. The first
 *   event claims `{p}:wh:pending` (SET NX PX), answers, waits the debounce
 *   (at most half of SYNC_BUDGET_MS), frees the claim and then runs the
 *   targeted run in what is left of that invocation's budget. An event
 *   arriving after the claim is freed claims it again, so none waits for
 *   nobody (a killed invocation's claim expires after 35 s).
 */
import type { KeyBuilder } from "../kv/keys";
import type { KvStore } from "../kv/store";
import { sharedPublisher, withinPublishTimeout } from "../orchestration/chain";
import type { QStashConfig } from "../qstash/config";
import { notionFlowControl } from "../qstash/flow-control";
import type { SyncMessage } from "../qstash/publish";
import { afterResponse } from "../core/after-response";
import { logEvent } from "../core/log";
import { webhookKeys } from "./keys";
import type { WebhookSettings } from "./settings";

type Env = Record<string, string | undefined>;

export const DIRTY_PATH = "/api/sync/dirty";
/** The webhook answers within a second: its publish gets this long. */
const PUBLISH_TIMEOUT_MS = 700;
/** after(): the invocation ends by maxDuration (30 s); work stops by this long after the request began. */
const AFTER_BUDGET_CAP_MS = 25_000;
const PENDING_TTL_MS = 35_000;
/** Work a targeted run needs at the least; less than this left after the debounce and it is not started. */
const MIN_WORK_MS = 1000;

export interface ScheduleInput {
  env: Env;
  kv: KvStore;
  keys: KeyBuilder;
  settings: WebhookSettings;
  qstash: QStashConfig | null;
  baseUrl: string | null;
  notionToken: string | null;
  /** When the invocation scheduling it began (after(): the budget is counted from it). */
  requestStartedAt: number;
  budgetMs: number;
  /** Not before this instant (epoch ms): a 429's Retry-After. */
  notBefore?: number;
  /** Why (for the log): an event, a continuation, a finished full run. */
  reason: string;
  /** after() only: the targeted run to start (lib/webhooks/run.ts runDirtyInvocation, given by the caller). */
  runInline?: (startedAt: number, budgetMs: number) => Promise<unknown>;
  publishTimeoutMs?: number;
  /** The store the after() task uses once this answer is sent (the caller's may be bounded by its own short deadline). */
  lateKv?: KvStore;
}

export type ScheduleOutcome =
  | {
      via: "qstash";
      window: number;
      published: boolean;
      already: boolean;
      messageId?: string;
      deduplicated?: boolean;
      error?: string;
    }
  | { via: "after"; started: boolean; already: boolean; debounceMs?: number }
  | { via: "none"; reason: string };

export async function scheduleTargetedRun(input: ScheduleInput): Promise<ScheduleOutcome> {
  const wk = webhookKeys(input.keys);
  const now = Date.now();
  if (input.qstash) {
    if (!input.baseUrl) return { via: "none", reason: "no public base URL (SYNC_BASE_URL)" };
    const windowMs = input.settings.debounceS * 1000;
    const window = Math.floor(now / windowMs);
    const claimed = await input.kv.set(
      wk.window(window),
      { reason: input.reason, at: new Date(now).toISOString() },
      { nx: true, pxMs: 2 * windowMs + 60_000 },
    );
    // The claim (SET NX) merges the schedules of one window; the deduplication id carries the
    // claim's time, so a window claimed again after its run began gets a message of its own.
    if (!claimed) return { via: "qstash", window, published: false, already: true };
    const deliverAt = Math.max((window + 1) * windowMs + 1000, input.notBefore ?? 0);
    try {
      const sent = await withinPublishTimeout(
        sharedPublisher(input.qstash).publishNext({
          destination: `${input.baseUrl}${DIRTY_PATH}`,
          body: { window, reason: input.reason } as unknown as SyncMessage,
          deduplicationId: `dirty-${input.settings.debounceS}-${window}-${now}`,
          delaySeconds: Math.max(1, Math.ceil((deliverAt - Date.now()) / 1000)),
          ...(input.notionToken ? { flowControl: notionFlowControl(input.notionToken) } : {}),
        }),
        input.publishTimeoutMs ?? PUBLISH_TIMEOUT_MS,
      );
      return {
        via: "qstash",
        window,
        published: true,
        already: false,
        messageId: sent.messageId,
        deduplicated: sent.deduplicated,
      };
    } catch (error) {
      await input.kv.del([wk.window(window)]).catch(() => {});
      const message = error instanceof Error ? error.message : String(error);
      logEvent("webhook.schedule_failed", { via: "qstash", window, error: message.slice(0, 200) }, "warn");
      return { via: "qstash", window, published: false, already: false, error: message };
    }
  }
  if (!input.runInline)
    return {
      via: "none",
      reason: "without QStash a targeted run is started by the invocation that recorded the event",
    };
  // Everything happens inside this invocation: by AFTER_BUDGET_CAP_MS after it began (maxDuration 30 s).
  const hardEnd = input.requestStartedAt + AFTER_BUDGET_CAP_MS;
  if (hardEnd - now < MIN_WORK_MS * 2) return { via: "none", reason: "no time left in this invocation" };
  const claimed = await input.kv.set(
    wk.pending(),
    { reason: input.reason, at: new Date(now).toISOString() },
    { nx: true, pxMs: PENDING_TTL_MS },
  );
  if (!claimed) return { via: "after", started: false, already: true };
  const wanted = Math.max(Math.min(input.settings.debounceS * 1000, input.budgetMs / 2), (input.notBefore ?? 0) - now);
  const debounceMs = Math.max(0, Math.min(wanted, hardEnd - now - MIN_WORK_MS * 2));
  const runInline = input.runInline;
  afterResponse(async () => {
    try {
      if (debounceMs > 0) await new Promise((resolve) => setTimeout(resolve, debounceMs));
    } finally {
      // From here an event schedules a run of its own: this one may already have read the dirty set.
      await (input.lateKv ?? input.kv).del([wk.pending()]).catch(() => {});
    }
    const startedAt = Date.now();
    const budgetMs = Math.min(input.budgetMs, hardEnd - startedAt);
    if (budgetMs >= MIN_WORK_MS) await runInline(startedAt, budgetMs);
  });
  return { via: "after", started: true, already: false, debounceMs };
}
