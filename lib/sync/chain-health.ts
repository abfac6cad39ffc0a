/**
 * Whether a live run has something carrying it to its next step, read from
 * its cursor and its section's lease token alone: what the status shows
 * (`chain.lost`) and what lib/orchestration/revive.ts relaunches.
 */
import { type Cursor, isLive } from "./cursor";
import { leaseHolderDeadline } from "./lease";

export type ChainHealth =
  /** Not live, or carried by calls only (SYNC_CHAIN=off): the next cron or call continues it. */
  | { state: "idle" }
  /** An invocation holds the lease. */
  | { state: "held" }
  /** A successor was handed over and may still start, or QStash redelivers the step. */
  | { state: "carried" }
  /** Stopped on purpose (SYNC_MAX_CHAIN): the next cron or call resumes it. */
  | { state: "parked"; reason: string }
  /** Stopped for a wait (Retry-After, a stalled run's backoff) that is not over. */
  | { state: "waiting"; until: string }
  /** That wait is over and no step was sent. */
  | { state: "due"; reason: string }
  /** The carrier died: a link accepted but never started, or a step that ended without handing over. */
  | { state: "lost"; reason: string };

/**
 * @param startGraceMs how long an accepted self-chain link may take to start (its wait, then the lease).
 */
export function chainHealth(
  cursor: Cursor | null,
  leaseToken: unknown,
  now: number,
  startGraceMs: number,
): ChainHealth {
  if (!cursor || !isLive(cursor)) return { state: "idle" };
  if (leaseToken !== null && leaseToken !== undefined) {
    const endsBy = leaseHolderDeadline(leaseToken);
    if (endsBy === null || endsBy >= now) return { state: "held" };
  }
  const chain = cursor.chain?.seq === cursor.seq ? cursor.chain : null;
  if (chain?.published) {
    if (chain.via === "qstash") return { state: "carried" };
    const startBy = Date.parse(chain.notBefore ?? chain.at ?? "") + startGraceMs;
    return startBy >= now
      ? { state: "carried" }
      : {
          state: "lost",
          reason: `link ${chain.link} was accepted at ${chain.at} and never started step ${cursor.seq}`,
        };
  }
  if (chain?.stopped) {
    if (!chain.notBefore) return { state: "parked", reason: chain.stopped };
    return Date.parse(chain.notBefore) > now
      ? { state: "waiting", until: chain.notBefore }
      : { state: "due", reason: `${chain.stopped}; that time has come` };
  }
  // QStash redelivers a step that ended without publishing its successor.
  if (cursor.stepBy === "qstash") return { state: "carried" };
  if (chain?.error)
    return { state: "lost", reason: `the successor of step ${cursor.seq} could not be sent: ${chain.error}` };
  if (cursor.stepBy === "chain")
    return { state: "lost", reason: `step ${cursor.seq} (a self-chain link) ended without handing over its successor` };
  return { state: "idle" };
}

/** A lost carrier, or a wait that is over: the run needs its step sent (once per step). */
export function needsRelaunch(cursor: Cursor, health: ChainHealth): boolean {
  return (health.state === "lost" || health.state === "due") && cursor.chain?.relaunchedSeq !== cursor.seq;
}
