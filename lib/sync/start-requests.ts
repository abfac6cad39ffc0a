/**
 * A cron or manual call that finds its section's lease held while no run is
 * live (a targeted run, or a call starting one, holds it) leaves a start
 * request instead of being lost: what it would have done, honoured once the
 * lease is free (lib/orchestration/revive.ts) and dropped once a run that
 * began after it covers it.
 */
import type { Section } from "../core/sections";
import type { KeyBuilder } from "../kv/keys";
import type { KvStore } from "../kv/store";
import { KvPreconditionError } from "../kv/errors";
import { type Cursor, isFinished, isLive } from "./cursor";

export interface StartRequest {
  at: string;
  force: boolean;
  /** The run the call saw (null: none): any other run that started since covers it. */
  seenRunId: string | null;
  /** Set when a step was sent for it; sent again if that step has not run by LAUNCH_GRACE_MS. */
  launched: { runId: string; seq: number; at: string } | null;
}

/** A request nobody honours in this long is dropped (the next cron starts a run anyway). */
const REQUEST_TTL_MS = 48 * 3600_000;
/** How long a launched step may take to start (QStash flow control, a link's wait) before it is sent again. */
export const LAUNCH_GRACE_MS = 60_000;

export const startRequestKey = (keys: KeyBuilder, section: Section) => `${keys.prefix}:startreq:${section}`;

export function parseStartRequest(raw: unknown): StartRequest | null {
  const value = raw as Partial<StartRequest> | null;
  if (!value || typeof value.at !== "string" || typeof value.force !== "boolean") return null;
  return {
    at: value.at,
    force: value.force,
    seenRunId: typeof value.seenRunId === "string" ? value.seenRunId : null,
    launched: value.launched ?? null,
  };
}

/** Records the call's request (a forced one replaces an unforced one); returns what is queued. */
export async function recordStartRequest(
  kv: KvStore,
  keys: KeyBuilder,
  section: Section,
  call: { force: boolean; seen: Cursor | null; now: Date },
): Promise<StartRequest> {
  const key = startRequestKey(keys, section);
  const request: StartRequest = {
    at: call.now.toISOString(),
    force: call.force,
    seenRunId: call.seen?.runId ?? null,
    launched: null,
  };
  if (await kv.set(key, request, { nx: true, pxMs: REQUEST_TTL_MS })) return request;
  const existing = parseStartRequest(await kv.get(key));
  if (existing && (existing.force || !call.force)) return existing;
  await kv.set(key, request, { pxMs: REQUEST_TTL_MS });
  return request;
}

/** The step sent for it ran, or a run that began after the call looked (forced, if the call was) does what the call would have. */
export function requestCovered(request: StartRequest, cursor: Cursor | null): boolean {
  if (!cursor) return false;
  if (request.launched && cursor.runId === request.launched.runId && cursor.seq > request.launched.seq) return true;
  return cursor.runId !== request.seenRunId && (!request.force || cursor.force);
}

/** What the call would have done: continue the unfinished run (a failed one too), else start one. */
export function requestedStep(
  request: StartRequest,
  cursor: Cursor | null,
  newRunId: string,
): Pick<Cursor, "runId" | "seq" | "force"> {
  if (cursor && !isFinished(cursor) && (!request.force || cursor.force))
    return { runId: cursor.runId, seq: cursor.seq, force: cursor.force };
  return { runId: newRunId, seq: 0, force: request.force };
}

/** A step was sent for the request a moment ago: give it time to start. */
export function launchPending(request: StartRequest, now: number): boolean {
  return request.launched !== null && Date.parse(request.launched.at) + LAUNCH_GRACE_MS > now;
}

/** Marks `request` launched as `runId`, unless it changed meanwhile (then its new version is honoured later). */
export async function markLaunched(
  kv: KvStore,
  keys: KeyBuilder,
  section: Section,
  request: StartRequest,
  step: { runId: string; seq: number },
  now: Date,
): Promise<void> {
  const key = startRequestKey(keys, section);
  try {
    await kv.atomic([
      { op: "require", key, equals: request },
      {
        op: "set",
        key,
        value: { ...request, launched: { runId: step.runId, seq: step.seq, at: now.toISOString() } },
        pxMs: REQUEST_TTL_MS,
      },
    ]);
  } catch (error) {
    if (!(error instanceof KvPreconditionError)) throw error;
  }
}

export function dropStartRequest(
  kv: KvStore,
  keys: KeyBuilder,
  section: Section,
  request: StartRequest,
): Promise<boolean> {
  return kv.deleteIfEquals(startRequestKey(keys, section), request);
}

/** Whether a call meeting a held lease leaves a request: only when no run is live (a live run's holder carries it on). */
export function queuesWhenBusy(cursor: Cursor | null): boolean {
  return !cursor || !isLive(cursor);
}
