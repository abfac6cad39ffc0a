/**
 * The HTTP side of one section endpoint: parse, authenticate, configure, call
 * the engine, chain the next step, answer JSON. One dynamic route file serves
 * every configured section (`export const { GET, POST } = sectionRoute()`).
 */
import { authenticate } from "../auth";
import { type ChainSettings, sharedPublisher, withinPublishTimeout } from "../orchestration/chain";
import { kickChildrenWhenReady } from "../orchestration/children-kick";
import { engineDeps, loadRuntime } from "../runtime";
import { isCompleted, isFinished, parseCursor } from "../sync/cursor";
import { LeaseLostError } from "../sync/errors";
import { type InvocationOutcome, type InvocationRequest, runInvocation, staleReason } from "../sync/engine";
import { type Section, isSectionName } from "../core/sections";
import { MISSING_BASE_URL, publicBaseUrl, sectionPath } from "../core/base-url";
import { configErrorResponse, loadConfig, unknownSectionResponse } from "./config-error";
import { UnknownSectionError, isUnknownSectionError } from "../workspace/errors";
import { loadWorkspace } from "../workspace/load";
import { MAX_BODY_BYTES, readBoundedBody } from "./body";
import { claimStartSlot, startsForcedRun } from "./start-limit";
import { jsonError, jsonOk, nonRetryable } from "./json";
import { redeemLink } from "./link-redeem";
import { logEvent } from "../core/log";
import { qstashConfigOrError, signatureVerifier } from "./qstash-context";
import { parseSyncRequest } from "./sync-request";
import { afterResponse } from "../core/after-response";
import { successorCarrier } from "../orchestration/carrier";
import { reviveSections } from "../orchestration/revive";
import { type ScheduledRun, scheduleNextPublish } from "../orchestration/scheduled-run";
import { answeringErrors } from "./unavailable";
import { afterFullRun } from "../webhooks/after-full-run";

type Env = Record<string, string | undefined>;

/** `app/api/sync/[section]/route.ts`: the section is the path's last segment. */
export function sectionRoute() {
  const handler = async (request: Request, context: { params: Promise<{ section: string }> }) =>
    handleSync((await context.params).section, request, process.env);
  return { GET: handler, POST: handler };
}

/** Every invocation ends in JSON: whatever escapes (KV down before the engine starts) is a 503. */
export const handleSync = answeringErrors("sync", (section: Section, request: Request, env: Env) =>
  handleSection(section, request, env),
);

async function handleSection(section: Section, request: Request, env: Env): Promise<Response> {
  const startedAt = Date.now();
  const unknown = unknownSection(section, env);
  // A delivery for a section since removed from the config: retrying cannot help.
  if (unknown)
    return request.headers.has("upstash-signature")
      ? nonRetryable("unknown_section", unknown.message)
      : unknown.response;
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
  const qstash = qstashSetup.config;

  const base = publicBaseUrl(env, request);
  if (qstash && !base) return configErrorResponse(MISSING_BASE_URL);
  const auth = await authenticate({
    request,
    env,
    verifySignature: signatureVerifier(qstash, `${base ?? ""}${sectionPath(section)}`, rawBody),
    linkTarget: section,
  });
  if (!auth.ok) {
    logEvent("sync.rejected", { section, status: auth.status, reason: auth.message });
    return jsonError(auth.status, auth.code, auth.message);
  }
  const fromQStash = auth.caller === "qstash";

  const parsed = parseSyncRequest(new URL(request.url), rawBody);
  if (!parsed.ok) {
    // A retry cannot fix a bad payload: tell QStash to dead-letter it.
    return fromQStash ? nonRetryable(parsed.code, parsed.message) : jsonError(400, parsed.code, parsed.message);
  }

  const loaded = loadConfig(() => loadRuntime(section, env));
  if (!loaded.ok)
    return fromQStash ? nonRetryable(loaded.error.code, loaded.error.message) : configErrorResponse(loaded.error);
  const runtime = loaded.value;
  // From here every KV call, before the engine too, is bounded by this invocation's deadline.
  const deps = engineDeps(runtime, section, startedAt);
  const line = invocationLog(section, auth.caller, startedAt, deps);

  // A signed link works once: spent here, before anything is written for it.
  if (auth.caller === "link") {
    const refused = await redeemLink(deps.kv, runtime.keys, auth.link, parsed.force);
    if (refused) return line.done(refused, "link_refused");
  }

  // QStash deliveries carry their run's force flag: only people and crons start forced runs.
  if (parsed.force && !fromQStash && (await startsForcedRun(deps.kv, runtime.keys, section))) {
    const limited = await claimStartSlot(deps.kv, runtime.keys, `force:${section}`, runtime.settings.minForceIntervalS);
    if (limited) return line.done(limited, "too_many_starts");
  }

  const chain: ChainSettings = { baseUrl: base ?? "", notionToken: runtime.notionSettings.token };
  const publisher = qstash ? sharedPublisher(qstash) : null;
  const link = auth.caller === "chain" ? auth.chain : null;
  const invocation: InvocationRequest = {
    section,
    force: parsed.force,
    delivery:
      (fromQStash || link) && parsed.body.runId !== undefined
        ? { runId: parsed.body.runId, seq: parsed.body.seq!, trigger: fromQStash ? parsed.body.trigger : undefined }
        : undefined,
    caller: fromQStash ? "qstash" : link ? "chain" : "call",
    ...successorCarrier({
      section,
      env,
      mode: runtime.settings.chain,
      qstash,
      baseUrl: base,
      notionToken: runtime.notionSettings.token,
      maxLinks: runtime.settings.maxChain,
      link: link?.link ?? 0,
    }),
    // The predecessor releases the lease just after this link is accepted.
    ...(link ? { waitForLeaseMs: LINK_LEASE_WAIT_MS } : {}),
    stallBackoffMs: runtime.settings.stallBackoffMs,
  };
  const inputs: AnswerInputs = {
    section,
    deps,
    runtime,
    invocation,
    line,
    fromQStash,
    publisher,
    chain,
    startedAt,
    env,
    request,
  };
  // After the answer: a queued call, or a chain whose carrier died, of any section is carried on.
  const revive = () => reviveSections({ env, request, startedAt, budgetMs: runtime.settings.budgetMs });
  if (!link) {
    const response = await runAndAnswer(inputs);
    // An invocation that failed (KV unreachable, most often) leaves reviving to the next one.
    if (response.status < 500) afterResponse(revive);
    return response;
  }

  // A self-chain link: the token opens one step; the body must name that step.
  if (parsed.body.runId !== link.runId || parsed.body.seq !== link.seq || parsed.force !== link.force) {
    return line.done(jsonError(401, "unauthorized", "the chain link's body does not match its token"), "rejected");
  }
  const peek = parseCursor(await deps.kv.get(runtime.keys.cursor(section)));
  const stale = staleReason(peek.kind === "ok" ? peek.cursor : null, invocation.delivery!, parsed.force);
  if (stale)
    return line.done(
      jsonOk({ ok: true, section, stale: true, reason: stale, runId: link.runId, done: false }),
      "stale",
    );
  // Accepted at once; the batch runs after the answer, inside the same maxDuration.
  afterResponse(async () => {
    const wait = (link.notBefore ?? 0) - Date.now();
    if (wait > 0 && wait < deps.deadline.remaining()) await new Promise((resolve) => setTimeout(resolve, wait));
    const response = await runAndAnswer(inputs);
    if (response.status < 500) await revive();
  });
  return jsonOk({ ok: true, section, accepted: true, runId: link.runId, seq: link.seq, link: link.link }, 202);
}

/**
 * A name the workspace lacks answers 404 listing the configured ones, before
 * authentication (as a missing route would). Any other configuration problem is
 * answered after it, as ConfigError (503 naming the variable or the config field).
 */
function unknownSection(section: string, env: Env): { response: Response; message: string } | null {
  let error: unknown = null;
  try {
    if (isSectionName(section)) loadRuntime(section, env);
    else error = new UnknownSectionError(section, loadWorkspace(env).names);
  } catch (caught) {
    error = caught;
  }
  return isUnknownSectionError(error) ? { response: unknownSectionResponse(error), message: error.message } : null;
}

/** Waiting for the predecessor's lease: it is released right after the link is accepted. */
const LINK_LEASE_WAIT_MS = 5000;

/** What runAndAnswer needs from the route for one invocation (the engine builds its own RunContext). */
interface AnswerInputs {
  section: Section;
  deps: ReturnType<typeof engineDeps>;
  runtime: ReturnType<typeof loadRuntime>;
  invocation: InvocationRequest;
  line: ReturnType<typeof invocationLog>;
  fromQStash: boolean;
  publisher: ReturnType<typeof sharedPublisher> | null;
  chain: ChainSettings;
  startedAt: number;
  env: Env;
  request: Request;
}

/** Runs the engine for one invocation and turns its outcome into the answer (and its log line). */
async function runAndAnswer({
  section,
  deps,
  runtime,
  invocation,
  line,
  fromQStash,
  publisher,
  chain,
  startedAt,
  env,
  request,
}: AnswerInputs): Promise<Response> {
  let outcome: InvocationOutcome;
  try {
    outcome = await runInvocation(deps, invocation);
  } catch (error) {
    if (error instanceof LeaseLostError) {
      logEvent("sync.lease_lost", { section, error: error.message });
      return line.done(
        jsonError(
          409,
          "lease_lost",
          "this invocation outlived its lease and another one took it; its later writes were refused",
          { section },
        ),
        "lease_lost",
        error,
      );
    }
    // Usually the KV store being unreachable. The raw message stays in the log
    // (it can name hosts); the answer says what kind of failure it was.
    logEvent("sync.error", {
      section,
      error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
    });
    return line.done(
      jsonError(
        503,
        "sync_error",
        "the invocation failed before finishing (see the function log); the cursor keeps what was committed",
        { section },
      ),
      "error",
      error,
    );
  }
  if (outcome.kind !== "busy" && outcome.cursor) line.run(outcome.cursor.runId, outcome.cursor.seq);
  if (outcome.kind === "busy" && outcome.copyOf) line.run(outcome.copyOf.runId, outcome.copyOf.seq);
  if (outcome.kind === "ran") line.processed = outcome.processed;
  // A finished run may have to start children. Checked again on a redelivery of the
  // last step (stale, run done), so a kick whose publish failed is repaired by QStash.
  let children: { messageId: string; runId: string } | null = null;
  const finished = outcome.kind !== "busy" && outcome.cursor && isCompleted(outcome.cursor) ? outcome.cursor : null;
  if (publisher && finished) {
    try {
      children = await withinPublishTimeout(
        kickChildrenWhenReady({
          kv: deps.kv,
          keys: runtime.keys,
          publisher,
          chain,
          children: runtime.workspace.children,
          finished,
        }),
      );
    } catch (error) {
      logEvent("sync.children_kick_failed", { section, error: error instanceof Error ? error.message : String(error) });
      if (fromQStash)
        return line.done(
          jsonError(
            503,
            "children_kick_failed",
            "the run is done but the children section could not be started; QStash will redeliver",
            { section },
          ),
          "children_kick_failed",
          error,
        );
    }
  }
  // Scheduled publishing: one run of the section at its next publish date (never fails the run).
  const scheduled =
    outcome.kind === "ran" && isCompleted(outcome.cursor)
      ? await scheduleNextPublish({
          kv: deps.kv,
          keys: runtime.keys,
          section,
          cursor: outcome.cursor,
          qstash: publisher && invocation.chainVia === "qstash" ? { publisher, chain } : null,
        })
      : null;
  // Webhooks: pages left dirty while this run was live get their targeted run; the section's tag is revalidated.
  if (outcome.kind === "ran")
    await afterFullRun({
      env,
      request,
      kv: deps.kv,
      lateKv: runtime.kv,
      keys: runtime.keys,
      section,
      cursor: outcome.cursor,
      startedAt,
      budgetMs: runtime.settings.budgetMs,
      notionToken: runtime.notionSettings.token,
    });
  const elapsedMs = Date.now() - startedAt;
  if (outcome.kind === "ran" && outcome.lastError) {
    logEvent(
      "sync.errors_met",
      {
        section,
        runId: outcome.cursor.runId,
        status: outcome.cursor.status,
        consecutiveErrors: outcome.cursor.consecutiveErrors,
        error: outcome.lastError,
      },
      "warn",
    );
  }
  const response = answer(section, outcome, elapsedMs, fromQStash, children, scheduled);
  const result =
    outcome.kind === "ran"
      ? outcome.failure
        ? "failed"
        : outcome.cursor.status
      : outcome.kind === "busy" && outcome.queued
        ? "queued"
        : outcome.kind;
  return line.done(response, result, outcome.kind === "ran" && outcome.failure ? outcome.failure.code : undefined);
}

/**
 * The one log line of an invocation that got past auth and configuration:
 * who called, which run and step, what it did, what it cost, how it ended.
 * Facts only: no secret, no token, no page content (errors by class).
 */
function invocationLog(
  section: Section,
  caller: string,
  startedAt: number,
  deps: { notion: { requests: Record<string, number> }; kvCalls(): number },
) {
  const fields: { runId: string | null; seq: number | null } = { runId: null, seq: null };
  return {
    processed: 0,
    run(runId: string, seq: number) {
      fields.runId = runId;
      fields.seq = seq;
    },
    done(response: Response, outcome: string, error?: unknown): Response {
      logEvent("sync.invocation", {
        section,
        caller,
        runId: fields.runId,
        seq: fields.seq,
        status: response.status,
        outcome,
        processed: this.processed,
        elapsedMs: Date.now() - startedAt,
        notionRequests: Object.values(deps.notion.requests).reduce((a, b) => a + b, 0),
        kvCommands: deps.kvCalls(),
        ...(error !== undefined
          ? { errorClass: typeof error === "string" ? error : error instanceof Error ? error.name : typeof error }
          : {}),
      });
      return response;
    },
  };
}

function answer(
  section: Section,
  outcome: InvocationOutcome,
  elapsedMs: number,
  fromQStash: boolean,
  children: { messageId: string; runId: string } | null,
  scheduled: ScheduledRun | null = null,
): Response {
  if (outcome.kind === "busy") {
    if (outcome.queued) {
      // A cron is never retried: it is queued, and the lease's next release starts the run.
      return jsonOk(
        {
          ok: true,
          section,
          queued: true,
          queuedAt: outcome.queued.at,
          force: outcome.queued.force,
          message: `another invocation holds the ${section} lease; a run starts as soon as it is released`,
          elapsedMs,
        },
        202,
      );
    }
    if (outcome.copyOf) {
      // A copy of the running step that outwaited its budget: retryable, so the step is never
      // lost if its holder dies; the retry finds it done (stale) or repairs it.
      return jsonError(
        409,
        "already_running",
        `this step of run ${outcome.copyOf.runId} is running in another invocation; retry later`,
        { section, duplicate: true, runId: outcome.copyOf.runId, elapsedMs },
      );
    }
    return jsonError(409, "already_running", `another ${section} invocation holds the lease; nothing was done`, {
      section,
      elapsedMs,
    });
  }
  if (outcome.kind === "stale") {
    return jsonOk({
      ok: true,
      section,
      stale: true,
      reason: outcome.reason,
      runId: outcome.cursor?.runId ?? null,
      done: outcome.cursor ? isCompleted(outcome.cursor) : false,
      elapsedMs,
      ...(children ? { childrenStarted: children } : {}),
    });
  }
  const { cursor } = outcome;
  const done = isCompleted(cursor);
  // Held: the run stopped for an operator's decision; nothing follows it by itself.
  const finished = isFinished(cursor);
  const body = {
    ok: outcome.failure === null,
    section,
    runId: cursor.runId,
    done,
    status: cursor.status,
    phase: cursor.phase,
    processed: outcome.processed,
    remaining: outcome.remaining,
    invocation: cursor.seq,
    elapsedMs,
    counts: cursor.counts,
    next: finished || outcome.failure ? null : nextStep(section, outcome),
    ...(cursor.held ? { held: cursor.held } : {}),
    // Errors met and got past: the invocation says so, and so does the cursor (a run that keeps
    // meeting them without progress shows as "stalled").
    ...(outcome.lastError ? { lastError: cursor.lastError, consecutiveErrors: cursor.consecutiveErrors } : {}),
    ...(children ? { childrenStarted: children } : {}),
    ...(scheduled ? { scheduled: { at: scheduled.at, via: scheduled.via, messageId: scheduled.messageId } } : {}),
    ...(outcome.cursorReset ? { cursorReset: outcome.cursorReset } : {}),
    ...(outcome.failure ? { error: outcome.failure } : {}),
  };
  if (fromQStash && outcome.chain?.via === "qstash" && !outcome.chain.published) {
    // The work is committed but its successor is not scheduled: a non-2xx makes
    // QStash redeliver this step, and the engine lets that redelivery continue the
    // run (the cursor records the successor as unpublished).
    return jsonError(
      503,
      "chain_publish_failed",
      `could not schedule the next step: ${outcome.chain.error ?? "publish failed"}`,
      body,
    );
  }
  if (outcome.failure) {
    // Notion refused (401/403/400): the run is marked failed and stays where it was.
    return fromQStash
      ? Response.json(body, {
          status: 489,
          headers: { "Upstash-NonRetryable-Error": "true", "cache-control": "no-store" },
        })
      : Response.json(body, { status: 502, headers: { "cache-control": "no-store" } });
  }
  return jsonOk(body);
}

function nextStep(section: Section, outcome: Extract<InvocationOutcome, { kind: "ran" }>) {
  const notBefore = outcome.retryAfterMs > 0 ? new Date(Date.now() + outcome.retryAfterMs).toISOString() : null;
  const chain = outcome.chain;
  if (chain?.via === "self") {
    // accepted: false with `stopped` is a chain ended on purpose; with `error`, a lost link.
    return {
      via: "self",
      accepted: chain.published,
      link: chain.link ?? null,
      notBefore,
      ...(chain.stopped ? { stopped: chain.stopped, path: sectionPath(section) } : {}),
      ...(chain.error ? { error: chain.error, path: sectionPath(section) } : {}),
    };
  }
  if (chain) {
    return {
      via: "qstash",
      published: chain.published,
      messageId: chain.messageId,
      notBefore,
      ...(chain.error ? { error: chain.error } : {}),
    };
  }
  return { via: "call", path: sectionPath(section), notBefore };
}
