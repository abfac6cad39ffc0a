/**
 * POST /api/notion/webhook: Notion's integration webhooks (README, "Near real
 * time: webhooks"; notion-facts.md §1).
 *
 * - A body that is exactly `{"verification_token": "…"}` is the handshake:
 *   the first token is stored in KV as the active one, any other one as
 *   pending until an operator accepts it (lib/webhooks/token.ts; never
 *   logged, never in an answer). Answered 200, signature or not, and the
 *   same whatever became of the token.
 * - Anything else must carry `X-Notion-Signature: sha256=<hex>`, the
 *   HMAC-SHA256 of the raw body under the token (NOTION_WEBHOOK_SECRET, else
 *   the stored one), checked with the SDK's verifyWebhookSignature: a bad or
 *   missing signature is answered 401 and nothing is written.
 * - A verified event is recorded once by its id (SET NX, 48 h), its pages are
 *   added to the dirty set, a schema change marks its section for a full
 *   re-read, and one debounced targeted run is scheduled
 *   (lib/webhooks/schedule.ts).
 * The answer comes within a second: every KV call here is bounded by
 * RECORD_BUDGET_MS, the QStash publish by 700 ms; a store too slow for that
 * is answered 503, which Notion retries.
 */
import { verifyWebhookSignature } from "@notionhq/client";
import { createDeadline } from "../core/deadline";
import { boundedByDeadline } from "../kv/bounded-store";
import { loadStoreRuntime } from "../runtime";
import { recordEvent, parseEvent } from "../webhooks/events";
import { webhookKeys } from "../webhooks/keys";
import { runDirtyInvocation } from "../webhooks/run";
import { afterResponse } from "../core/after-response";
import { reviveSections } from "../orchestration/revive";
import { scheduleTargetedRun } from "../webhooks/schedule";
import { readWebhookSettings } from "../webhooks/settings";
import { handshakeToken, markVerified, storeHandshake, verificationToken } from "../webhooks/token";
import { publicBaseUrl } from "../core/base-url";
import { MAX_BODY_BYTES, readBoundedBody } from "./body";
import { configErrorResponse, loadConfig } from "./config-error";
import { jsonError, jsonOk } from "./json";
import { logEvent } from "../core/log";
import { qstashConfigOrError } from "./qstash-context";
import { answeringErrors } from "./unavailable";

type Env = Record<string, string | undefined>;

/** KV time for recording one delivery (the answer must leave within a second). */
const RECORD_BUDGET_MS = 600;

export function webhookRoute() {
  return { POST: (request: Request) => handleWebhook(request, process.env) };
}

export const handleWebhook = answeringErrors("webhook", async (request: Request, env: Env): Promise<Response> => {
  const startedAt = Date.now();
  const body = await readBoundedBody(request);
  if (!body.ok)
    return jsonError(
      413,
      "body_too_large",
      `the request body is over ${MAX_BODY_BYTES} bytes; Notion's webhook events are small JSON documents`,
    );
  const loaded = loadConfig(() => ({ store: loadStoreRuntime(env), settings: readWebhookSettings(env) }));
  if (!loaded.ok) return configErrorResponse(loaded.error);
  const { store, settings } = loaded.value;
  const kv = boundedByDeadline(store.kv, createDeadline(RECORD_BUDGET_MS, startedAt), { tailMs: 150, minMs: 100 });
  const wk = webhookKeys(store.keys);
  const raw = body.text;
  let parsed: unknown = null;
  try {
    parsed = raw ? JSON.parse(raw) : null;
  } catch {
    parsed = null;
  }

  const handshake = handshakeToken(parsed);
  if (handshake) {
    const outcome = await storeHandshake(kv, wk, handshake);
    // The token itself is never logged; a pending one waits for the operator (kv:cursors --webhook-token).
    logEvent(
      "webhook.handshake",
      { outcome, overridden: Boolean(settings.secretOverride) },
      outcome.startsWith("pending") ? "warn" : "info",
    );
    return jsonOk({ ok: true, handshake: true });
  }

  const signature = request.headers.get("x-notion-signature");
  const key = await verificationToken(kv, wk, settings.secretOverride);
  if (!key) {
    logEvent("webhook.rejected", { reason: "no_token", signed: signature !== null }, "warn");
    return jsonError(
      503,
      "webhook_not_verified",
      "no verification token yet: create the subscription in Notion (its handshake stores the token) or set NOTION_WEBHOOK_SECRET",
    );
  }
  if (!signature || !(await verifyWebhookSignature({ body: raw, signature, verificationToken: key.token }))) {
    logEvent("webhook.rejected", { reason: signature ? "bad_signature" : "missing_signature" }, "warn");
    return jsonError(
      401,
      "unauthorized",
      signature ? "the X-Notion-Signature does not match the body" : "missing X-Notion-Signature",
    );
  }
  // Status only: a delivery is not refused because the record was busy.
  if (key.record && !key.record.verifiedAt)
    await markVerified(kv, wk, key.record).catch((error: unknown) =>
      logEvent("webhook.mark_verified_failed", { error: error instanceof Error ? error.name : "error" }, "warn"),
    );
  // After the answer: a queued call, or a chain whose carrier died, of any section is carried on.
  afterResponse(() => reviveSections({ env, request, startedAt, budgetMs: store.settings.budgetMs }));

  const event = parseEvent(parsed);
  if (!event) {
    // Signed by Notion but not an event we understand: a retry would not change that.
    logEvent("webhook.ignored", { reason: "not_an_event" });
    return jsonOk({ ok: true, ignored: true });
  }
  const recorded = await recordEvent(kv, store.keys, wk, event, store.workspace);
  let scheduled: unknown = null;
  if (!recorded.duplicate && recorded.dirty > 0) {
    const qstash = qstashConfigOrError(env);
    scheduled = await scheduleTargetedRun({
      env,
      kv,
      lateKv: store.kv,
      keys: store.keys,
      settings,
      qstash: "config" in qstash ? qstash.config : null,
      baseUrl: publicBaseUrl(env, request),
      notionToken: env.NOTION_API_KEY?.trim() || null,
      requestStartedAt: startedAt,
      budgetMs: store.settings.budgetMs,
      reason: event.type,
      runInline: (runStartedAt, budgetMs) =>
        runDirtyInvocation({ env, startedAt: runStartedAt, budgetMs, caller: "after" }),
    }).catch((error: unknown) => {
      logEvent(
        "webhook.schedule_failed",
        { error: error instanceof Error ? error.message.slice(0, 200) : String(error) },
        "warn",
      );
      return { via: "none", reason: "scheduling failed (see the log)" };
    });
  }
  logEvent("webhook.event", {
    eventId: event.id,
    type: event.type,
    entity: event.entity.type,
    attempt: event.attempt_number ?? null,
    duplicate: recorded.duplicate,
    dirty: recorded.dirty,
    fullRefetch: recorded.fullRefetch,
    scheduled: (scheduled as { via?: string } | null)?.via ?? null,
    elapsedMs: Date.now() - startedAt,
  });
  return jsonOk({
    ok: true,
    eventId: event.id,
    duplicate: recorded.duplicate,
    dirty: recorded.dirty,
    fullRefetch: recorded.fullRefetch,
    scheduled,
  });
});
