/**
 * One invocation of one section: take the lease, load the cursor, move the
 * run forward until the budget is spent, release the lease, and say what
 * happened. Knows nothing of HTTP, Next.js or QStash.
 */
import type { KvOp } from "../kv/store";
import { NotionSyncError, type RateLimitScope } from "../notion/errors";
import { createRunContext, type EngineDeps, type RunContext, sectionSpec } from "./context";
import { type Cursor, type Phase, isFinished, isLive, parseCursor, startCursor, successorPublished } from "./cursor";
import { BudgetExhaustedError } from "../core/deadline";
import { runFinalizePhase } from "./finalize-phase";
import { LEASE_POLL_MS, type Lease, acquireLeaseWaiting, leaseHolderDeadline } from "./lease";
import { runListPhase } from "./list-phase";
import { MissingWorkError, RunStoppedError } from "./errors";
import { scratchKeys } from "./scratch";
import { historyOp, readHistory, summarize } from "./run-history";
import type { Section } from "../core/sections";
import { runSyncPhase } from "./sync-phase";
import { REFETCH_ALL_SINCE, fullRefetchMark } from "./full-refetch";
import { type StartRequest, queuesWhenBusy, recordStartRequest } from "./start-requests";

export interface InvocationRequest {
  section: Section;
  /** Re-fetch every page, ignoring timestamps (starts a new run unless a forced one is active). */
  force: boolean;
  /** A QStash delivery continues one run at one step; anything else is a stale duplicate. */
  delivery?: {
    runId: string;
    seq: number;
    /** Step 0 of a run a trigger starts: recorded in its cursor. */ trigger?: string;
  };
  /**
   * Schedules the next invocation when work is left (QStash chaining). Called
   * while the lease is held, after the last commit; the engine records the
   * outcome in the cursor so a failed publish can be repaired by a redelivery.
   */
  scheduleNext?: (cursor: Cursor, retryAfterMs: number) => Promise<ScheduledSuccessor>;
  /** How the successor is carried, for the cursor (status shows it). */
  chainVia?: "qstash" | "self";
  /** Who calls: a QStash delivery, a self-chain link, or a cron or manual call (default). */
  caller?: Cursor["stepBy"];
  /** A self-chain link: wait this long for the lease its predecessor is about to release. */
  waitForLeaseMs?: number;
  /** A stalled run's chain waits this long before each retry (the last repeats); default 1, 5, 15, 60 minutes. */
  stallBackoffMs?: number[];
}

/** What scheduleNext did; it throws when the successor could not be scheduled (published: false). */
export interface ScheduledSuccessor {
  messageId: string | null;
  deduplicated?: boolean;
  /** Self-chain: the link number sent. */
  link?: number;
  /** Nothing was sent on purpose (SYNC_MAX_CHAIN, a long Retry-After): the next cron or call resumes. */
  stopped?: string;
}

export interface ChainOutcome {
  via: "qstash" | "self";
  published: boolean;
  messageId: string | null;
  deduplicated?: boolean;
  link?: number;
  stopped?: string;
  error?: string;
}

export type InvocationOutcome =
  /**
   * Another invocation holds the lease; `copyOf` when this delivery is a copy of the step it runs;
   * `queued` when this call left a start request that the lease's next release honours.
   */
  | { kind: "busy"; copyOf?: Cursor; queued?: StartRequest }
  | { kind: "stale"; reason: string; cursor: Cursor | null }
  | {
      kind: "ran";
      cursor: Cursor;
      processed: number;
      remaining: number | null;
      /** When work is left: how long the successor should wait (Notion's Retry-After, a stalled run's backoff), else 0. */
      retryAfterMs: number;
      /** Set when the stored cursor could not be used and a new run began. */
      cursorReset: string | null;
      /** Set when Notion refused the run (401/403/400): it is marked failed and stays where it was. */
      failure: { code: string; message: string } | null;
      /** The error this invocation met and got past (transient Notion failures): it made less progress than it could. */
      lastError: { code: string; message: string } | null;
      /** What scheduleNext did (null when not asked, or nothing is left to do). */
      chain: ChainOutcome | null;
    };

const DEFAULT_STALL_BACKOFF_MS = [60_000, 300_000, 900_000, 3_600_000];

export async function runInvocation(deps: EngineDeps, request: InvocationRequest): Promise<InvocationOutcome> {
  const { kv, keys } = deps;
  const taken = await leaseForInvocation(deps, request);
  if (taken.kind === "busy") return taken;
  const { lease } = taken;
  try {
    const [rawCursor, sharedPause, watermark] = await kv.mget([
      keys.cursor(request.section),
      keys.notionPause(),
      keys.watermark(request.section),
    ]);
    const loaded = parseCursor(rawCursor);
    const existing = loaded.kind === "ok" ? loaded.cursor : null;

    if (request.delivery) {
      const stale = staleReason(existing, request.delivery, request.force);
      if (stale) return { kind: "stale", reason: stale, cursor: existing };
    }

    const { cursor, abandoned, clearMark } = await cursorForStep(deps, request, existing, watermark);
    const ctx = createRunContext(deps, request.section, cursor, lease.token);
    ctx.startMark = progressMark(cursor);
    // Persist the new seq first: a duplicate of this delivery is now stale. A run
    // replaced before finishing leaves its scratch keys behind: drop them with it.
    await ctx.commit(() => [
      ...(abandoned ? scratchKeys(deps.keys, abandoned).map((key) => ({ op: "del" as const, key })) : []),
      ...(clearMark ?? []),
    ]);
    honourPause(ctx, sharedPause);
    // Paused: the cursor still records until when, and why (a pause met through the shared key).
    const failure = ctx.rateLimitedUntil ? await finishAccounting(ctx, null) : await advanceRun(ctx);

    const done = isFinished(ctx.cursor);
    const retryAfterMs = ctx.rateLimitedUntil ? Math.max(0, ctx.rateLimitedUntil - Date.now()) : 0;
    // A stalled run's chain retries it after a backoff: one invocation per retry, never a loop.
    const chainWaitMs =
      ctx.cursor.status === "stalled" && request.scheduleNext
        ? Math.max(retryAfterMs, stallBackoff(ctx, request))
        : retryAfterMs;
    const chain = !done && !failure && request.scheduleNext ? await scheduleSuccessor(ctx, request, chainWaitMs) : null;
    return {
      kind: "ran",
      cursor: ctx.cursor,
      processed: ctx.processed,
      remaining: done ? 0 : remainingItems(ctx),
      retryAfterMs: chainWaitMs,
      cursorReset: loaded.kind === "invalid" ? loaded.reason : null,
      failure,
      lastError: ctx.lastError,
      chain,
    };
  } finally {
    await lease.release().catch(() => {}); // an unreleased lease expires by itself
  }
}

/** The section's lease, or why this invocation does nothing: a copy waits for its holder, a call may be queued. */
async function leaseForInvocation(deps: EngineDeps, request: InvocationRequest): Promise<Waited> {
  const lease = await takeSectionLease(deps, request);
  if (lease) return { kind: "leased", lease };
  if (request.delivery) return waitForStepHolder(deps, request, request.delivery);
  if ((request.caller ?? "call") === "call") return queueCall(deps, request);
  return { kind: "busy" };
}

/**
 * The cursor this step runs: the active run's, or a new run's (a forced call,
 * a trigger's step 0, or nothing running), marked running under its new seq.
 * `abandoned` is a run replaced before finishing; `clearMark` clears a full refetch mark.
 */
async function cursorForStep(
  deps: EngineDeps,
  request: InvocationRequest,
  existing: Cursor | null,
  watermark: unknown,
): Promise<{ cursor: Cursor; abandoned: Cursor | null; clearMark: KvOp[] | null }> {
  const now = deps.now ?? (() => new Date());
  let cursor: Cursor;
  let abandoned: Cursor | null = null;
  let clearMark: KvOp[] | null = null;
  const startsRun = request.delivery?.seq === 0 && existing?.runId !== request.delivery.runId;
  const active =
    !startsRun && existing && !isFinished(existing) && !(request.force && !existing.force && !request.delivery);
  if (active) {
    cursor = existing;
  } else {
    if (existing && !isFinished(existing)) abandoned = existing;
    cursor = startCursor(request.section, {
      force: request.force,
      previous: existing,
      now: now(),
      runId: startsRun ? request.delivery!.runId : undefined,
      watermark: typeof watermark === "string" ? watermark : null,
      trigger: startsRun ? request.delivery!.trigger : undefined,
    });
    // A schema change (webhook) asks this run to re-read every page: cleared by the first commit.
    clearMark = await fullRefetchMark(deps.kv, deps.fullRefetchKey, sectionSpec(deps, request.section));
    if (clearMark) cursor = { ...cursor, since: REFETCH_ALL_SINCE };
  }
  // A redelivery repairing the step whose successor was never published runs that step
  // again under the same seq, however many times it is tried: its successor keeps its
  // deduplication id, so a successor the dead attempt did publish is not published twice.
  const repair = Boolean(active && request.delivery && request.delivery.seq === cursor.seq - 1);
  cursor = {
    ...cursor,
    status: "running",
    error: null,
    seq: repair ? cursor.seq : cursor.seq + 1,
    stepBy: request.caller ?? "call",
  };
  return { cursor, abandoned, clearMark };
}

/**
 * Notion asked this integration to wait (possibly seen by another instance): honour it
 * without sending a request, and let the successor be scheduled after the pause.
 * A pause another section met counts too: it is the same integration, and the same workspace.
 */
function honourPause(ctx: RunContext, sharedPause: unknown): void {
  const pause = readPause(sharedPause);
  const pausedUntil = Math.max(ctx.cursor.retryAt ? Date.parse(ctx.cursor.retryAt) : 0, pause?.until ?? 0);
  if (pausedUntil <= Date.now()) return;
  ctx.rateLimitedUntil = pausedUntil;
  ctx.rateLimitScope = pause && pause.until >= pausedUntil ? pause.scope : (ctx.cursor.rateLimit?.scope ?? "unknown");
}

type Waited = { kind: "busy"; copyOf?: Cursor; queued?: StartRequest } | { kind: "leased"; lease: Lease };

/**
 * The holder moved the cursor to seq + 1 when it started this step; a delivery whose seq equals
 * the cursor's is the successor that holder has just published (retried, never acknowledged).
 * A copy of the running step waits for a QStash holder (up to the end its lease token records):
 * then it is stale (the holder got the successor out) or repairs the step under the same seq. A
 * cron or manual holder is answered at once with a retryable busy: a copy waiting for it would
 * hold the flow-control key every section shares (tests/reliability/overlap.test.ts).
 */
async function waitForStepHolder(
  deps: EngineDeps,
  request: InvocationRequest,
  delivery: { runId: string; seq: number },
): Promise<Waited> {
  const peek = parseCursor(await deps.kv.get(deps.keys.cursor(request.section)));
  const running = peek.kind === "ok" ? peek.cursor : null;
  if (!running || !isLive(running) || running.runId !== delivery.runId || delivery.seq !== running.seq - 1)
    return { kind: "busy" };
  if (running.stepBy !== "qstash") return { kind: "busy", copyOf: running };
  const lease = await takeSectionLease(deps, {
    ...request,
    waitForLeaseMs: holderWaitMs(await deps.kv.get(deps.keys.lease(request.section))),
  });
  // Still held: answered with a retryable 409 (QStash comes back after its backoff).
  return lease ? { kind: "leased", lease } : { kind: "busy", copyOf: running };
}

/**
 * A cron or manual call meeting a held lease while no run is live would be lost (crons are never
 * retried): it leaves a start request the lease's next release honours, then tries the lease once
 * more in case the holder released it before seeing the request.
 */
async function queueCall(deps: EngineDeps, request: InvocationRequest): Promise<Waited> {
  const peek = parseCursor(await deps.kv.get(deps.keys.cursor(request.section)));
  const seen = peek.kind === "ok" ? peek.cursor : null;
  if (!queuesWhenBusy(seen)) return { kind: "busy" };
  const queued = await recordStartRequest(deps.kv, deps.keys, request.section, {
    force: request.force,
    seen,
    now: (deps.now ?? (() => new Date()))(),
  });
  const lease = await takeSectionLease(deps, { ...request, waitForLeaseMs: 0 });
  return lease ? { kind: "leased", lease } : { kind: "busy", queued };
}

/** How long a stalled run's chain waits before its next retry. */
function stallBackoff(ctx: RunContext, request: InvocationRequest): number {
  const steps = request.stallBackoffMs?.length ? request.stallBackoffMs : DEFAULT_STALL_BACKOFF_MS;
  const retry = Math.max(0, ctx.cursor.consecutiveErrors - ctx.settings.stallAfter);
  return steps[Math.min(retry, steps.length - 1)];
}

/** The section's lease; a self-chain link polls briefly for the one its predecessor is releasing. */
function takeSectionLease(deps: EngineDeps, request: InvocationRequest) {
  const waitMs = Math.min(request.waitForLeaseMs ?? 0, deps.deadline.remaining());
  return acquireLeaseWaiting(deps.kv, deps.keys.lease(request.section), deps.deadline.budgetMs, waitMs);
}

/** How long to wait for a lease whose token records when its holder ends (a little past that). */
function holderWaitMs(token: unknown): number {
  const endsBy = leaseHolderDeadline(token);
  return endsBy === null ? 0 : Math.max(0, endsBy - Date.now() + 2 * LEASE_POLL_MS);
}

async function scheduleSuccessor(
  ctx: RunContext,
  request: InvocationRequest,
  retryAfterMs: number,
): Promise<ChainOutcome> {
  const via = request.chainVia ?? "qstash";
  let outcome: ChainOutcome;
  try {
    const sent = await request.scheduleNext!(ctx.cursor, retryAfterMs);
    outcome = sent.stopped
      ? { via, published: false, messageId: null, link: sent.link, stopped: sent.stopped }
      : { via, published: true, messageId: sent.messageId, deduplicated: sent.deduplicated, link: sent.link };
  } catch (error) {
    outcome = { via, published: false, messageId: null, error: error instanceof Error ? error.message : String(error) };
  }
  const at = ctx.now().toISOString();
  const notBefore = retryAfterMs > 0 ? new Date(ctx.now().getTime() + retryAfterMs).toISOString() : null;
  await ctx.commit(
    (c) =>
      void (c.chain = {
        seq: c.seq,
        published: outcome.published,
        messageId: outcome.messageId,
        via,
        link: outcome.link ?? 0,
        at,
        stopped: outcome.stopped ?? null,
        error: outcome.error ?? null,
        notBefore,
        relaunchedAt: c.chain?.relaunchedAt ?? null,
        relaunchedSeq: c.chain?.relaunchedSeq ?? null,
      }),
  );
  return outcome;
}

/**
 * Why a QStash delivery must do nothing (null when it is the expected next
 * step). Step 0 of a run id the cursor does not know starts that run (a
 * trigger), unless another run is still going and the new one is not forced
 * (the trigger resumes unfinished runs instead of starting unforced ones).
 */
export function staleReason(
  cursor: Cursor | null,
  delivery: { runId: string; seq: number; trigger?: string },
  force: boolean,
): string | null {
  // One run per trigger: another kick of the same trigger (a repair, a re-kick) starts nothing.
  if (
    delivery.seq === 0 &&
    delivery.trigger &&
    cursor?.trigger === delivery.trigger &&
    cursor.runId !== delivery.runId
  ) {
    return `trigger ${delivery.trigger} started run ${cursor.runId} already`;
  }
  if (delivery.seq === 0 && cursor?.runId !== delivery.runId) {
    return cursor && isLive(cursor) && !force ? `run ${cursor.runId} is still active` : null;
  }
  if (!cursor) return "no run is active for this section";
  if (cursor.runId !== delivery.runId) return `run ${delivery.runId} is not the active run`;
  if (isFinished(cursor)) return `run ${delivery.runId} is already ${cursor.status}`;
  if (delivery.seq < cursor.seq) {
    // The last step's invocation persisted its seq and died before publishing a successor: its
    // redelivery continues the run (decided under the lease, so never beside that invocation).
    if (delivery.seq === cursor.seq - 1 && isLive(cursor) && !successorPublished(cursor)) return null;
    return `step ${delivery.seq} already ran (cursor is at ${cursor.seq})`;
  }
  return null;
}

const PHASE_RUNNERS: Record<Exclude<Phase, "done">, (ctx: RunContext) => Promise<void>> = {
  list: runListPhase,
  sync: runSyncPhase,
  finalize: runFinalizePhase,
};

/** Runs phases until the run is done or the budget is spent; returns a failure that stopped the run. */
async function advanceRun(ctx: RunContext): Promise<{ code: string; message: string } | null> {
  try {
    while (ctx.cursor.phase !== "done" && !ctx.shouldStop()) {
      const phase = ctx.cursor.phase;
      await PHASE_RUNNERS[phase](ctx);
      if (ctx.cursor.phase === phase) break; // the phase stopped early (budget, rate limit, transient error)
    }
  } catch (raw) {
    if (raw instanceof MissingWorkError) {
      // The work list is gone (evicted, or deleted by hand): list again rather than
      // finalize on nothing, which would empty the index and delete every bundle.
      await relist(ctx);
      return finishAccounting(ctx, null);
    }
    const error = raw instanceof RunStoppedError ? raw.cause : raw;
    if (error instanceof BudgetExhaustedError) return finishAccounting(ctx, null);
    if (NotionSyncError.is(error, "rate_limited")) {
      ctx.noteRateLimit(error);
      return finishAccounting(ctx, null);
    }
    if (NotionSyncError.is(error, "transient")) {
      ctx.lastError = { code: notionCode(error), message: error.message };
      return finishAccounting(ctx, null);
    }
    if (NotionSyncError.is(error)) {
      const failure = { code: notionCode(error), message: error.message };
      const history = await readHistory(ctx.kv, ctx.keys, ctx.section);
      await ctx.commit((c) => {
        c.status = "failed";
        c.error = { ...failure, at: ctx.now().toISOString() };
        // The failed run shows in the history at once; a later success replaces nothing of it.
        return [historyOp(ctx.keys, summarize(c), history)];
      });
      return finishAccounting(ctx, failure);
    }
    throw error;
  }
  return finishAccounting(ctx, null);
}

const SCOPES: readonly RateLimitScope[] = ["connection", "workspace", "unknown"];

/** The shared pause (keys.notionPause) as stored, or null when absent or unreadable. */
function readPause(raw: unknown): { until: number; scope: RateLimitScope } | null {
  const value = raw as { until?: unknown; scope?: unknown } | null;
  if (!value || typeof value.until !== "number") return null;
  return {
    until: value.until,
    scope: SCOPES.includes(value.scope as RateLimitScope) ? (value.scope as RateLimitScope) : "unknown",
  };
}

function notionCode(error: NotionSyncError): string {
  return `notion_${error.details.code ?? error.kind}`;
}

/** Where the run stands, to tell whether an invocation moved it. */
function progressMark(cursor: Cursor): string {
  return JSON.stringify([
    cursor.phase,
    cursor.list.pieces,
    cursor.list.startCursor,
    cursor.list.windowStart,
    cursor.syncPiece,
    cursor.finishedAhead,
    cursor.finalize?.stage,
    cursor.finalize?.piece,
  ]);
}

/** Starts the run's listing over, dropping what it had listed (partials stay resumable). */
async function relist(ctx: RunContext): Promise<void> {
  const partials = new Set(ctx.cursor.partials.map((id) => ctx.keys.partialPage(ctx.section, id)));
  await ctx.commit((c) => {
    const ops = scratchKeys(ctx.keys, c)
      .filter((key) => !partials.has(key) && !key.startsWith(`${ctx.keys.prefix}:part:`))
      .map((key) => ({ op: "del" as const, key }));
    c.phase = "list";
    // Decided again: an incremental run whose index went lists in full.
    c.listing = null;
    c.list = { windowStart: null, startCursor: null, lastCreated: null, pieces: 0, windows: 0, source: null };
    c.syncPiece = 0;
    c.finishedAhead = [];
    c.finalize = null;
    c.counts = { ...c.counts, listed: 0, toSync: 0, skipped: 0 };
    return ops;
  });
}

/** Adds this invocation's Notion requests and tallies to the run's counts (and the rate-limit hint). */
async function finishAccounting(ctx: RunContext, failure: { code: string; message: string } | null) {
  const requests = Object.values(ctx.notion.requests).reduce((a, b) => a + b, 0);
  const retryAt = ctx.rateLimitedUntil ? new Date(ctx.rateLimitedUntil).toISOString() : null;
  const tallied = Object.values(ctx.tally).some((n) => n > 0);
  const error = ctx.lastError;
  const progressed = ctx.processed > 0 || progressMark(ctx.cursor) !== ctx.startMark;
  const errorsInARow = error && !progressed ? ctx.cursor.consecutiveErrors + 1 : 0;
  const rateLimit = retryAt ? { scope: ctx.rateLimitScope ?? "unknown", until: retryAt } : null;
  if (requests > 0 || retryAt || tallied || error || ctx.cursor.consecutiveErrors !== errorsInARow) {
    const at = ctx.now().toISOString();
    // A run that ended in this invocation has its summary written already: it gets this
    // invocation's figures too (Notion requests, errors), or its history would miss them.
    const history = isLive(ctx.cursor) ? null : await readHistory(ctx.kv, ctx.keys, ctx.section);
    await ctx.commit((c) => {
      c.counts.notionRequests += requests;
      c.retryAt = retryAt;
      c.rateLimit = rateLimit;
      if (error) {
        c.lastError = { ...error, at };
        c.counts.errors += 1;
      }
      c.consecutiveErrors = errorsInARow;
      if (c.status === "running" && errorsInARow >= ctx.settings.stallAfter) c.status = "stalled";
      const ops: KvOp[] = [];
      const summary = history?.find((h) => h.runId === c.runId);
      if (summary) ops.push(historyOp(ctx.keys, summarize(c, summary.failedPages), history!));
      const pauseMs = ctx.rateLimitedUntil ? ctx.rateLimitedUntil - Date.now() : 0;
      // Shared with the other sections: one 429 pauses the integration, not just this section.
      if (pauseMs > 0 && rateLimit)
        ops.push({
          op: "set",
          key: ctx.keys.notionPause(),
          value: { until: ctx.rateLimitedUntil, scope: rateLimit.scope },
          pxMs: Math.ceil(pauseMs),
        });
      return ops;
    });
  }

  return failure;
}

/** Pages still to fetch or check in this run (null while listing: not known yet). */
function remainingItems(ctx: RunContext): number | null {
  if (ctx.cursor.phase === "list") return null;
  const c = ctx.cursor.counts;
  const finished = c.fetched + c.gone + c.failed + (ctx.spec.kind === "children" ? c.skipped : 0);
  return Math.max(0, c.toSync - finished);
}
