/**
 * What the dashboard's buttons do. Starting things goes through the very
 * handlers the HTTP endpoints use (handleSync, handleTrigger), called in
 * process with a Request that carries the cron bearer, built here on the
 * server: the same auth, rate limits, QStash chaining and answers as a cron
 * call, and the secret never reaches the browser. Reset, retry and lease
 * release are the operator core's (lib/operator/actions.ts), recorded with
 * `by: "dashboard"`.
 */
import { CALLER_HEADER } from "../auth";
import type { Section } from "../core/sections";
import type { ActionRequest } from "./action-specs";
import { logEvent } from "../core/log";
import { handleSync } from "../http/sync-route";
import { handleTrigger } from "../http/trigger-route";
import { releaseLease, resetSection, retryFailedPages } from "../operator/actions";
import { loadStoreRuntime } from "../runtime";
import { webhookKeys } from "../webhooks/keys";
import { acceptPendingToken } from "../webhooks/token";

export {
  ACTIONS,
  ACTION_NAMES,
  type ActionName,
  type ActionRequest,
  type ActionSpec,
  isActionName,
  parseAction,
} from "./action-specs";

type Env = Record<string, string | undefined>;

export interface ActionOutcome {
  ok: boolean;
  text: string;
}

/** Runs the action; never throws (a failure is an outcome saying so, with no internals). */
export async function runAction(
  request: ActionRequest,
  context: { secret: string; origin: string; env: Env },
): Promise<ActionOutcome> {
  try {
    return await dispatch(request, context);
  } catch (error) {
    logEvent("dashboard.action_error", {
      action: request.action,
      section: request.section,
      error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
    });
    const kv = error instanceof Error && /^kv\b/.test(error.message);
    return {
      ok: false,
      text: kv
        ? "The KV store could not be reached; nothing was changed (see the function log)."
        : "The action failed (see the function log).",
    };
  }
}

async function dispatch(
  { action, section }: ActionRequest,
  { secret, origin, env }: { secret: string; origin: string; env: Env },
): Promise<ActionOutcome> {
  const internal = (path: string) =>
    new Request(`${origin}${path}`, {
      method: "GET",
      headers: {
        authorization: `Bearer ${secret}`,
        "user-agent": "notion-kv-sync dashboard",
        [CALLER_HEADER]: "dashboard",
      },
    });
  switch (action) {
    case "run":
    case "force":
      return triggerOutcome(
        await handleTrigger(internal(`/api/sync/trigger${action === "force" ? "?force=1" : ""}`), env),
      );
    case "start":
      return syncOutcome(section!, await handleSync(section!, internal(`/api/sync/${section}`), env));
  }
  const { kv, keys } = loadStoreRuntime(env);
  const options = { by: "dashboard" as const };
  switch (action) {
    case "reset": {
      const done = await resetSection(kv, keys, section!, options);
      return { ok: true, text: `${section} reset: ${done.action.detail}. The next call starts a new run.` };
    }
    case "retry": {
      const done = await retryFailedPages(kv, keys, section!, options);
      return {
        ok: true,
        text: done.pages === 0 ? `${section}: no given-up pages to retry.` : `${section}: ${done.action.detail}.`,
      };
    }
    case "release": {
      const done = await releaseLease(kv, keys, section!, options);
      return done.released
        ? { ok: true, text: `${section}: ${done.action.detail}.` }
        : { ok: false, text: `${section}: ${done.message.replace(/, or use --force$/, "")}.` };
    }
    case "accept-token":
      return acceptTokenOutcome(await acceptPendingToken(kv, webhookKeys(keys)));
  }
}

function acceptTokenOutcome(outcome: Awaited<ReturnType<typeof acceptPendingToken>>): ActionOutcome {
  logEvent("dashboard.webhook_token", { outcome: outcome.kind });
  switch (outcome.kind) {
    case "none":
      return { ok: false, text: "No pending webhook token to accept." };
    case "not_shown":
      return {
        ok: false,
        text: `The pending webhook token (received ${outcome.receivedAt}) was never printed, so it is not one you checked in Notion: print it with npm run kv:cursors -- --webhook-token, verify it in Notion, then accept it.`,
      };
    case "accepted":
      return {
        ok: true,
        text: `The webhook token received ${outcome.receivedAt} is now the active one; the previous one is dropped.`,
      };
  }
}

type Json = Record<string, unknown>;

async function readJson(response: Response): Promise<Json> {
  try {
    const body = (await response.json()) as unknown;
    return typeof body === "object" && body !== null ? (body as Json) : {};
  } catch {
    return {};
  }
}

function errorText(body: Json, status: number): string {
  const error = body.error as { code?: string; message?: string } | undefined;
  return error?.message ? `${error.message} (${error.code ?? status})` : `answered ${status}`;
}

async function triggerOutcome(response: Response): Promise<ActionOutcome> {
  const body = await readJson(response);
  if (!response.ok || body.ok !== true)
    return { ok: false, text: `The run was not started: ${errorText(body, response.status)}` };
  if (body.mode === "inline") {
    const sections = (body.sections as Array<{ section: string; done?: boolean; skipped?: string }>) ?? [];
    return {
      ok: true,
      text: `No QStash: one batch of each section ran inline (${sections.map((s) => `${s.section} ${s.skipped ?? (s.done ? "done" : "running")}`).join(", ")}).`,
    };
  }
  const messages =
    (body.messages as Array<{ section: string; mode: string; runId: string; resumedFrom?: string }>) ?? [];
  const forced = body.force === true ? "Forced run" : "Full run";
  const follows = typeof body.children === "string" ? `; ${body.children} follows` : "";
  return {
    ok: true,
    text: `${forced} started through QStash (run ${String(body.runId)}): ${messages.map((m) => `${m.section} ${m.mode === "resume" ? `resumed (run ${m.runId}, ${m.resumedFrom ?? "unfinished"})` : "started"}`).join(", ")}${follows}.`,
  };
}

async function syncOutcome(section: Section, response: Response): Promise<ActionOutcome> {
  const body = await readJson(response);
  if (body.ok !== true) return { ok: false, text: `${section}: ${errorText(body, response.status)}` };
  if (body.stale || body.duplicate)
    return { ok: true, text: `${section}: nothing to do (${String(body.reason ?? "stale")}).` };
  const next = body.next as { via?: string; published?: boolean } | null;
  const then = body.done
    ? " The run is done."
    : next?.via === "qstash" && next.published
      ? " QStash carries the rest."
      : " Start it again for the next batch.";
  return {
    ok: true,
    text: `${section}: one batch ran (run ${String(body.runId)}, ${String(body.status)}, phase ${String(body.phase)}: ${Number(body.processed)} processed, ${body.remaining ?? "?"} remaining).${then}`,
  };
}
