/**
 * /api/sync/dirty: one targeted run over the dirty set (lib/webhooks/targeted/).
 * Called by the QStash message a webhook event scheduled (POST, verified
 * like every delivery: `Upstash-Signature` over the raw body and this URL),
 * or by a cron or a person (`Authorization: Bearer $CRON_SECRET`,
 * `?secret=`). Answers what it did; when work is left (budget, a 429) it
 * schedules the continuation itself. A failure Notion will repeat (401/403)
 * is answered 200 with the error, so QStash does not retry it into the DLQ:
 * the pages stay dirty and the next event or scheduled run tries again.
 */
import { authenticate } from "../auth";
import { runDirtyInvocation } from "../webhooks/run";
import { DIRTY_PATH } from "../webhooks/schedule";
import { MISSING_BASE_URL, publicBaseUrl } from "../core/base-url";
import { MAX_BODY_BYTES, readBoundedBody } from "./body";
import { configErrorResponse, loadConfig } from "./config-error";
import { jsonError, jsonOk } from "./json";
import { logEvent } from "../core/log";
import { qstashConfigOrError, signatureVerifier } from "./qstash-context";
import { answeringErrors } from "./unavailable";
import { readNotionSettings } from "../config";
import { loadStoreRuntime } from "../runtime";
import { readWebhookSettings } from "../webhooks/settings";

type Env = Record<string, string | undefined>;

export function dirtyRoute() {
  const handler = (request: Request) => handleDirty(request, process.env);
  return { GET: handler, POST: handler };
}

export const handleDirty = answeringErrors("dirty", async (request: Request, env: Env): Promise<Response> => {
  const startedAt = Date.now();
  const body = await readBoundedBody(request);
  if (!body.ok) return jsonError(413, "body_too_large", `the request body is over ${MAX_BODY_BYTES} bytes`);
  const qstashSetup = qstashConfigOrError(env);
  if ("error" in qstashSetup) return qstashSetup.error;
  const qstash = qstashSetup.config;
  const base = publicBaseUrl(env, request);
  if (qstash && !base) return configErrorResponse(MISSING_BASE_URL);
  const auth = await authenticate({
    request,
    env,
    verifySignature: signatureVerifier(qstash, `${base ?? ""}${DIRTY_PATH}`, body.text),
  });
  if (!auth.ok) {
    logEvent("dirty.rejected", { status: auth.status, reason: auth.message });
    return jsonError(auth.status, auth.code, auth.message);
  }
  // Configuration problems answer 503 naming the variable before anything runs.
  const config = loadConfig(() => (loadStoreRuntime(env), readNotionSettings(env, {}), readWebhookSettings(env)));
  if (!config.ok) return configErrorResponse(config.error);
  const window = windowOf(body.text);
  const { result, next } = await runDirtyInvocation({ env, startedAt, caller: auth.caller, request, window });
  return jsonOk({
    ok: result.error === null,
    pages: result.pages,
    fetched: result.fetched,
    removed: result.removed,
    dropped: result.dropped,
    deferred: result.deferred,
    deferredSections: result.deferredSections,
    givenUp: result.givenUp,
    leftover: result.leftover,
    notionRequests: result.notionRequests,
    changed: result.changed,
    elapsedMs: result.elapsedMs,
    retryAt: result.rateLimitedUntil ? new Date(result.rateLimitedUntil).toISOString() : null,
    next,
    ...(result.error ? { error: result.error } : {}),
  });
});

/** The debounce window a targeted-run message was published for (its claim is freed when it runs). */
function windowOf(text: string): number | undefined {
  try {
    const window = (JSON.parse(text) as { window?: unknown }).window;
    return Number.isSafeInteger(window) ? (window as number) : undefined;
  } catch {
    return undefined;
  }
}
