/**
 * POST /api/sync/failed: QStash's failure callback, called once a step of a
 * chain has used up its retries. Verified like any delivery; marks the run
 * failed with the reason so the status shows it and the next cron or manual
 * call resumes it.
 */
import { z } from "zod";
import { authenticate } from "../auth";
import { loadStoreRuntime } from "../runtime";
import { markRunFailed } from "../sync/mark-failed";
import type { Section } from "../core/sections";
import { MISSING_BASE_URL, publicBaseUrl } from "../core/base-url";
import { configErrorResponse, loadConfig } from "./config-error";
import { MAX_BODY_BYTES, readBoundedBody } from "./body";
import { jsonError, jsonOk, nonRetryable } from "./json";
import { answeringErrors } from "./unavailable";
import { logEvent } from "../core/log";
import { qstashConfigOrError, signatureVerifier } from "./qstash-context";
import { SyncBodySchema } from "./sync-request";

type Env = Record<string, string | undefined>;

const FailureCallbackSchema = z.object({
  status: z.number().int(),
  url: z.string(),
  sourceBody: z.string(),
  sourceMessageId: z.string().optional(),
  retried: z.number().int().optional(),
  dlqId: z.string().optional(),
});

export function failedRoute() {
  return { POST: (request: Request) => handleFailed(request, process.env) };
}

export const handleFailed = answeringErrors("failed", async (request: Request, env: Env): Promise<Response> => {
  const body = await readBoundedBody(request);
  if (!body.ok)
    return jsonError(
      413,
      "body_too_large",
      `the request body is over ${MAX_BODY_BYTES} bytes; sync bodies are small JSON documents`,
    );
  const rawBody = body.text;
  const qstashSetup = qstashConfigOrError(env);
  if ("error" in qstashSetup) return qstashSetup.error;
  if (!qstashSetup.config)
    return jsonError(
      503,
      "qstash_not_configured",
      "QStash is not configured: this callback only takes signed QStash deliveries",
    );
  if (request.headers.get("upstash-signature") === null)
    return jsonError(401, "unauthorized", "missing Upstash-Signature header");
  const base = publicBaseUrl(env, request);
  if (!base) return configErrorResponse(MISSING_BASE_URL);
  const auth = await authenticate({
    request,
    env,
    verifySignature: signatureVerifier(qstashSetup.config, `${base}/api/sync/failed`, rawBody),
  });
  if (!auth.ok) return jsonError(auth.status, auth.code, auth.message);

  const loaded = loadConfig(() => loadStoreRuntime(env));
  if (!loaded.ok) return configErrorResponse(loaded.error);
  const store = loaded.value;
  const payload = parseCallback(rawBody, store.workspace.names);
  if (!payload.ok) return nonRetryable("bad_body", payload.message);
  const { section, runId, seq, status } = payload;

  const reason = {
    code: "chain_failed",
    message: `QStash gave up delivering step ${seq} (last answer: ${status || "no response"}); the next cron or manual call resumes the run`,
  };
  const outcome = await markRunFailed(store.kv, store.keys, section, runId, reason, new Date(), seq);
  logEvent("sync.chain_failed", { section, runId, seq, status, outcome });
  // Busy: an invocation is running right now; let QStash retry the callback later.
  if (outcome === "busy") return jsonError(409, "already_running", "the section is running; retry later");
  return jsonOk({ ok: true, section, runId, marked: outcome === "marked" });
});

function parseCallback(
  rawBody: string,
  sections: readonly Section[],
): { ok: true; section: Section; runId: string; seq: number; status: number } | { ok: false; message: string } {
  let json: unknown;
  try {
    json = JSON.parse(rawBody);
  } catch {
    return { ok: false, message: "the callback body is not JSON" };
  }
  const callback = FailureCallbackSchema.safeParse(json);
  if (!callback.success) return { ok: false, message: "not a QStash failure callback" };
  const section = new URL(callback.data.url, "http://x").pathname.split("/").pop();
  if (section === undefined || !sections.includes(section))
    return { ok: false, message: "the failed message was not for a sync section" };
  let source: unknown;
  try {
    source = JSON.parse(Buffer.from(callback.data.sourceBody, "base64").toString("utf8"));
  } catch {
    return { ok: false, message: "the failed message's body is not JSON" };
  }
  const body = SyncBodySchema.safeParse(source);
  if (!body.success || body.data.runId === undefined || body.data.seq === undefined)
    return { ok: false, message: "the failed message has no runId/seq" };
  return { ok: true, section, runId: body.data.runId, seq: body.data.seq, status: callback.data.status };
}
