/**
 * GET/POST /api/sync/trigger (alias /api/sync): start a run of every
 * configured database section from one call (children follows them). With QStash, one batch publish and an answer within a
 * second; without it, 503 saying what to set, or (SYNC_INLINE_FALLBACK=1)
 * one batch of each section right here.
 */
import { type ChainSettings, sharedPublisher } from "../orchestration/chain";
import { scheduleNextPublish } from "../orchestration/scheduled-run";
import { triggerRun } from "../orchestration/trigger";
import { type Runtime, engineDeps, loadRuntime, loadStoreRuntime } from "../runtime";
import { isCompleted } from "../sync/cursor";
import { runInvocation } from "../sync/engine";
import { ConfigError } from "../config";
import { MISSING_BASE_URL, publicBaseUrl } from "../core/base-url";
import { MAX_BODY_BYTES, readBoundedBody } from "./body";
import { claimStartSlot } from "./start-limit";
import { configErrorResponse } from "./config-error";
import { jsonError, jsonOk } from "./json";
import { redeemLink } from "./link-redeem";
import { answeringErrors } from "./unavailable";
import { logEvent } from "../core/log";
import { operatorRequest } from "./operator";
import { qstashConfigOrError } from "./qstash-context";
import { parseSyncRequest } from "./sync-request";

type Env = Record<string, string | undefined>;

export function triggerRoute() {
  const handler = (request: Request) => handleTrigger(request, process.env);
  return { GET: handler, POST: handler };
}

export const handleTrigger = answeringErrors("trigger", async (request: Request, env: Env): Promise<Response> => {
  const startedAt = Date.now();
  const front = await operatorRequest(request, env, triggerRuntime, { linkTarget: "trigger" });
  if ("error" in front) return front.error;
  const { runtime } = front;

  const body = await readBoundedBody(request);
  if (!body.ok)
    return jsonError(
      413,
      "body_too_large",
      `the request body is over ${MAX_BODY_BYTES} bytes; sync bodies are small JSON documents`,
    );
  const rawBody = body.text;
  const parsed = parseSyncRequest(new URL(request.url), rawBody);
  if (!parsed.ok) return jsonError(400, parsed.code, parsed.message);

  const qstashSetup = qstashConfigOrError(env);
  if ("error" in qstashSetup) return qstashSetup.error;
  const base = publicBaseUrl(env, request);
  if (qstashSetup.config && !base) return configErrorResponse(MISSING_BASE_URL);
  // A signed link works once: spent before the start slot, so a replay writes nothing.
  if (front.auth.caller === "link") {
    const refused = await redeemLink(runtime.kv, runtime.keys, front.auth.link, parsed.force);
    if (refused) return refused;
  }
  const statusUrl = `${base ?? ""}/api/sync/status`;
  // Only calls that will start something take the slot (not a 503 for missing QStash).
  if (qstashSetup.config || env.SYNC_INLINE_FALLBACK === "1") {
    const limited = await claimStartSlot(runtime.kv, runtime.keys, "trigger", runtime.settings.minForceIntervalS);
    if (limited) return limited;
  }

  if (!qstashSetup.config) {
    if (env.SYNC_INLINE_FALLBACK !== "1") {
      return jsonError(
        503,
        "qstash_not_configured",
        "QStash is not configured: set QSTASH_TOKEN, QSTASH_CURRENT_SIGNING_KEY and QSTASH_NEXT_SIGNING_KEY, or SYNC_INLINE_FALLBACK=1 to run one batch of each section inline",
      );
    }
    // Inline: one batch per section inside this one invocation, an equal share of the budget each.
    const sections = runtime.workspace.names;
    const share = Math.floor(runtime.settings.budgetMs / sections.length);
    const results = [];
    for (const section of sections) {
      const outcome = await runInvocation(engineDeps(loadRuntime(section, env), section, Date.now(), share), {
        section,
        force: parsed.force,
      });
      if (outcome.kind === "ran" && isCompleted(outcome.cursor))
        await scheduleNextPublish({
          kv: runtime.kv,
          keys: runtime.keys,
          section,
          cursor: outcome.cursor,
          qstash: null,
        });
      results.push(
        outcome.kind === "ran"
          ? {
              section,
              runId: outcome.cursor.runId,
              done: isCompleted(outcome.cursor),
              processed: outcome.processed,
              remaining: outcome.remaining,
              error: outcome.failure,
            }
          : { section, skipped: outcome.kind === "stale" ? outcome.reason : "already running" },
      );
    }
    return jsonOk({ ok: true, mode: "inline", sections: results, statusUrl, elapsedMs: Date.now() - startedAt });
  }

  const chain: ChainSettings = { baseUrl: base ?? "", notionToken: runtime.notionSettings.token };
  try {
    const { runId, messages } = await triggerRun({
      kv: runtime.kv,
      keys: runtime.keys,
      publisher: sharedPublisher(qstashSetup.config),
      chain,
      sections: runtime.workspace.databaseSections.map((s) => s.name),
      force: parsed.force,
    });
    logEvent("sync.triggered", { runId, sections: messages.map((m) => `${m.section}:${m.mode}`) });
    return jsonOk({
      ok: true,
      mode: "qstash",
      runId,
      force: parsed.force,
      messages,
      // The section the children kick starts once its parents finish; null without one.
      children: runtime.workspace.children?.name ?? null,
      statusUrl,
      elapsedMs: Date.now() - startedAt,
    });
  } catch (error) {
    logEvent("sync.trigger_failed", { error: error instanceof Error ? error.message : String(error) });
    return jsonError(
      502,
      "publish_failed",
      "QStash did not accept the batch; nothing was started (see the function log)",
    );
  }
});

/** The runtime of the first database section: the trigger needs at least one, and Notion's settings. */
function triggerRuntime(env: Env): Runtime {
  const first = loadStoreRuntime(env).workspace.databaseSections[0];
  if (!first)
    throw new ConfigError("no database section is configured: set NOTION_PAGES_DB or NOTION_POSTS_DB", [
      "NOTION_PAGES_DB",
      "NOTION_POSTS_DB",
    ]);
  return loadRuntime(first.name, env);
}
