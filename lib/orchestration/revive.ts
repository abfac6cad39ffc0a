/**
 * Carrying on what nobody carries: run by every invocation of a section and
 * of the webhook routes, after its answer (and by a targeted run at its end).
 * For each section whose lease is free it
 * - honours a start request a cron or manual call left while the lease was
 *   held (lib/sync/start-requests.ts): step 0 of a new run through the
 *   section's carrier (QStash, a self-chain link), or run right here when
 *   there is neither;
 * - relaunches a live run whose carrier died, or whose wait is over
 *   (lib/sync/chain-health.ts), once per step;
 * - turns a scheduled publish whose time has come (scheduled-run.ts) into a
 *   start request, honoured as above.
 * Decided under the section's lease, so a holder is never second-guessed and
 * two revivers never send the same step.
 */
import type { Section } from "../core/sections";
import { logEvent } from "../core/log";
import type { KeyBuilder } from "../kv/keys";
import { DEFAULT_KV_BOUNDS, boundedByDeadline } from "../kv/bounded-store";
import type { KvStore } from "../kv/store";
import { createDeadline } from "../core/deadline";
import { engineDeps, loadRuntime, loadStoreRuntime } from "../runtime";
import { chainHealth, needsRelaunch } from "../sync/chain-health";
import { type Cursor, isCompleted, newRunId, parseCursor } from "../sync/cursor";
import { runInvocation } from "../sync/engine";
import { leaseHolderDeadline, takeLease } from "../sync/lease";
import {
  type StartRequest,
  dropStartRequest,
  launchPending,
  markLaunched,
  parseStartRequest,
  requestCovered,
  requestedStep,
  startRequestKey,
} from "../sync/start-requests";
import { type Carrier, carrierFromEnv } from "./carrier";
import { LINK_ACCEPT_TIMEOUT_MS, LINK_START_GRACE_MS } from "./self-chain";
import { parseScheduledRun, scheduleNextPublish, scheduledRunKey, startDueScheduledRun } from "./scheduled-run";

type Env = Record<string, string | undefined>;

/** The reviver's own hold on a section: a publish or a link send (≤ LINK_ACCEPT_TIMEOUT_MS) and two writes. */
const REVIVE_LEASE_MS = LINK_ACCEPT_TIMEOUT_MS + 8_000;
/** Running a queued call here needs at least this much of the invocation's budget. */
const MIN_INLINE_BUDGET_MS = 500;

export interface ReviveInput {
  env: Env;
  request?: Request;
  /** The calling invocation's start and budget: a queued call run here gets what is left. */
  startedAt: number;
  budgetMs: number;
}

interface Reviver extends ReviveInput {
  kv: KvStore;
  keys: KeyBuilder;
  settings: ReturnType<typeof loadStoreRuntime>["settings"];
  carrier(section: Section, link: number): Carrier;
}

/** Looks at every section (one KV read) and carries on what needs it; never throws. */
export async function reviveSections(input: ReviveInput): Promise<void> {
  try {
    const plain = loadStoreRuntime(input.env);
    // Within the calling invocation's maxDuration, whatever KV does.
    const store = {
      ...plain,
      kv: boundedByDeadline(plain.kv, createDeadline(input.budgetMs, input.startedAt), DEFAULT_KV_BOUNDS),
    };
    const notionToken = input.env.NOTION_API_KEY?.trim() ?? "";
    const reviver: Reviver = {
      ...input,
      ...store,
      carrier: (section, link) =>
        carrierFromEnv({
          section,
          env: input.env,
          request: input.request,
          settings: store.settings,
          notionToken,
          link,
        }),
    };
    const sections = store.workspace.names;
    const raw = await store.kv.mget(
      sections.flatMap((s) => [
        store.keys.cursor(s),
        store.keys.lease(s),
        startRequestKey(store.keys, s),
        scheduledRunKey(store.keys, s),
      ]),
    );
    for (const [i, section] of sections.entries()) {
      const cursor = parsed(raw[i * 4]);
      let request = parseStartRequest(raw[i * 4 + 2]);
      // A scheduled publish whose time has come is started like a queued call.
      const scheduled = parseScheduledRun(raw[i * 4 + 3]);
      if (!request && scheduled && (await startDueScheduledRun(store.kv, store.keys, section, scheduled, cursor)))
        request = parseStartRequest(await store.kv.get(startRequestKey(store.keys, section)));
      // Covered stays covered (a run began after the call looked): dropped without the lease.
      if (request && requestCovered(request, cursor)) {
        await dropStartRequest(store.kv, store.keys, section, request);
        request = null;
      }
      if (wantsReviving(cursor, raw[i * 4 + 1], request)) await reviveSection(reviver, section);
    }
  } catch (error) {
    logEvent(
      "sync.revive_failed",
      { error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) },
      "warn",
    );
  }
}

function parsed(raw: unknown): Cursor | null {
  const loaded = parseCursor(raw);
  return loaded.kind === "ok" ? loaded.cursor : null;
}

function wantsReviving(cursor: Cursor | null, lease: unknown, request: StartRequest | null): boolean {
  const now = Date.now();
  // A live holder honours and carries on at its release; a dead one's lease is taken over below.
  if (lease !== null && (leaseHolderDeadline(lease) ?? Infinity) >= now) return false;
  if (request && !launchPending(request, now)) return true;
  return cursor !== null && needsRelaunch(cursor, chainHealth(cursor, null, now, LINK_START_GRACE_MS));
}

async function reviveSection(reviver: Reviver, section: Section): Promise<void> {
  const { kv, keys } = reviver;
  const lease = await takeLease(kv, keys.lease(section), REVIVE_LEASE_MS);
  if (!lease) return;
  let request: StartRequest | null = null;
  let honoured: Honoured = "none";
  try {
    const [rawCursor, rawRequest] = await kv.mget([keys.cursor(section), startRequestKey(keys, section)]);
    const cursor = parsed(rawCursor);
    request = parseStartRequest(rawRequest);
    if (request) honoured = await honourRequest(reviver, section, cursor, request);
    const health = chainHealth(cursor, null, Date.now(), LINK_START_GRACE_MS);
    if (cursor && honoured === "none" && needsRelaunch(cursor, health))
      await relaunch(reviver, section, cursor, lease.token, "reason" in health ? health.reason : health.state);
  } finally {
    await lease.release().catch(() => {});
  }
  if (request && honoured === "here") await runQueuedHere(reviver, section, request);
}

/** What became of a request: its step sent, to be run in this invocation, or nothing to do now. */
type Honoured = "sent" | "here" | "none";

/** Drops a covered request, or sends the step it asks for, or says it must run here (no carrier). */
async function honourRequest(
  reviver: Reviver,
  section: Section,
  cursor: Cursor | null,
  request: StartRequest,
): Promise<Honoured> {
  const { kv, keys } = reviver;
  if (requestCovered(request, cursor)) {
    await dropStartRequest(kv, keys, section, request);
    return "none";
  }
  if (launchPending(request, Date.now())) return "sent";
  const carrier = reviver.carrier(section, 0);
  if (!carrier.scheduleNext) return "here";
  const step = requestedStep(request, cursor, newRunId());
  try {
    const sent = await carrier.scheduleNext({ ...step, resend: `q${Date.now()}` }, 0);
    if (sent.stopped) return "here";
    await markLaunched(kv, keys, section, request, step, new Date());
    logEvent("sync.queued_call_started", {
      section,
      runId: step.runId,
      via: carrier.chainVia,
      force: request.force,
      queuedAt: request.at,
    });
    return "sent";
  } catch (error) {
    logEvent(
      "sync.queued_call_not_sent",
      { section, via: carrier.chainVia, error: error instanceof Error ? error.message : String(error) },
      "warn",
    );
    return "here";
  }
}

/** Neither QStash nor the self-chain: the queued call runs in this invocation, with what is left of its budget. */
async function runQueuedHere(reviver: Reviver, section: Section, request: StartRequest): Promise<void> {
  const budgetMs = reviver.startedAt + reviver.budgetMs - Date.now();
  if (budgetMs < MIN_INLINE_BUDGET_MS) return; // left queued: the next invocation of any route honours it
  const runtime = loadRuntime(section, reviver.env);
  const outcome = await runInvocation(engineDeps(runtime, section, Date.now(), budgetMs), {
    section,
    force: request.force,
    caller: "call",
  });
  // It ran as the call would have: the call is carried out.
  if (outcome.kind === "ran") await dropStartRequest(reviver.kv, reviver.keys, section, request);
  if (outcome.kind === "ran" && isCompleted(outcome.cursor))
    await scheduleNextPublish({ kv: reviver.kv, keys: reviver.keys, section, cursor: outcome.cursor, qstash: null });
  logEvent("sync.queued_call_ran", {
    section,
    outcome: outcome.kind,
    runId: outcome.kind === "ran" ? outcome.cursor.runId : null,
    queuedAt: request.at,
  });
}

/** Sends the run's next step again through its carrier and records it in the cursor (fenced by the reviver's lease). */
async function relaunch(
  reviver: Reviver,
  section: Section,
  cursor: Cursor,
  leaseToken: string,
  reason: string,
): Promise<void> {
  const carrier = reviver.carrier(section, cursor.chain?.link ?? 0);
  if (!carrier.scheduleNext || !carrier.chainVia) return; // nothing to carry it with: the next cron or call resumes it
  const at = new Date().toISOString();
  let record: NonNullable<Cursor["chain"]>;
  try {
    const sent = await carrier.scheduleNext({ ...cursor, resend: `r${cursor.seq}` }, 0);
    record = {
      seq: cursor.seq,
      published: !sent.stopped,
      messageId: sent.messageId,
      via: carrier.chainVia,
      link: sent.link ?? 0,
      at,
      stopped: sent.stopped ?? null,
      error: null,
      notBefore: null,
      relaunchedAt: at,
      relaunchedSeq: cursor.seq,
    };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    record = {
      seq: cursor.seq,
      published: false,
      messageId: null,
      via: carrier.chainVia,
      link: 0,
      at,
      stopped: null,
      error: message,
      notBefore: null,
      relaunchedAt: at,
      relaunchedSeq: cursor.seq,
    };
  }
  const { kv, keys } = reviver;
  await kv.atomic([
    { op: "require", key: keys.lease(section), equals: leaseToken },
    { op: "set", key: keys.cursor(section), value: { ...cursor, chain: record } },
  ]);
  logEvent(
    "sync.relaunched",
    {
      section,
      runId: cursor.runId,
      seq: cursor.seq,
      via: record.via,
      published: record.published,
      reason,
      ...(record.error ? { error: record.error } : {}),
    },
    "warn",
  );
}
