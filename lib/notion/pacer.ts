/**
 * Spaces Notion requests to the integration's budget (NOTION_RATE_PER_MIN).
 * One pacer per integration token per process, so concurrent workers inside
 * an invocation (and overlapping invocations in one warm instance) share it.
 * Across instances the QStash flow-control key keeps one invocation running
 * at a time (lib/qstash/flow-control.ts).
 *
 * A 429 means the budget is wrong (another integration of the workspace, the
 * per-workspace limit, a second instance): `rateLimited()` does both things a
 * client should. Everything waits out Retry-After, requests already queued
 * included (the next slot moves past it), and the rate is halved (AIMD, as
 * TCP does): one halving per congestion window, so the 429s of requests sent
 * before the last halving (one burst) count once, never below a sixteenth of
 * NOTION_RATE_PER_MIN. Each minute without a 429 then gives back a tenth of
 * the configured rate, up to it: about five minutes from half to full.
 */
import { type Deadline, BudgetExhaustedError } from "../core/deadline";
import { NotionSyncError } from "./errors";

export interface Pacer {
  /**
   * Waits for the next request slot; rejects with BudgetExhaustedError when it would not come in time,
   * or with a rate_limited NotionSyncError (retryAfterMs set) when a 429 pause keeps it out of reach.
   */
  acquire(deadline: Deadline, reserveMs?: number): Promise<void>;
  /** Notion said 429: nobody sends before `until` (epoch ms). */
  pauseUntil(until: number): void;
  /**
   * Notion answered 429 to a request sent at `sentAt` (epoch ms): pause everyone for `retryAfterMs`
   * and halve the rate, unless it was already halved after that request was sent.
   */
  rateLimited(retryAfterMs: number, sentAt?: number): void;
  /** The configured rate (NOTION_RATE_PER_MIN). */
  readonly ratePerMin: number;
  /** The rate in force now: the configured one, or less after a 429 (recovering by a tenth a minute). */
  currentRatePerMin(): number;
}

/** Each minute without a 429 gives back this share of the configured rate. */
export const AIMD_RECOVERY_SHARE = 0.1;
/** A 429 never brings the rate below this share of the configured one. */
export const AIMD_FLOOR_SHARE = 1 / 16;
const MINUTE = 60_000;

/**
 * Slots a warm pacer may bank while idle and spend at once. A chained run's
 * next invocation in the same instance (and the last rows of a piece, or a
 * commit, leaving the workers briefly idle) would otherwise lose each slot
 * nobody was waiting for: the rate is an average over time, not a fixed beat.
 * Notion allows bursts beyond its average; three slots stay far inside them,
 * and over any window of T seconds at most BURST_SLOTS + T × rate requests go
 * out. A new pacer starts with none banked, so a cold instance that follows
 * another (whose slots it cannot know) never starts with a burst.
 */
export const BURST_SLOTS = 3;

export function createPacer(ratePerMin: number, now: () => number = Date.now): Pacer {
  let nextSlot = Number.isFinite(ratePerMin) ? now() : 0;
  let pausedUntil = 0;
  // AIMD state: the rate in force and when it last changed (a halving or a recovery step).
  const adaptive = Number.isFinite(ratePerMin);
  let rate = ratePerMin;
  let changedAt = 0;
  let lastHalvedAt = -Infinity;
  const currentRate = (t: number): number => {
    if (rate < ratePerMin) {
      const minutes = Math.floor((t - changedAt) / MINUTE);
      if (minutes > 0) {
        rate = Math.min(ratePerMin, rate + minutes * AIMD_RECOVERY_SHARE * ratePerMin);
        changedAt += minutes * MINUTE;
      }
    }
    return rate;
  };
  const pauseUntil = (until: number) => {
    pausedUntil = Math.max(pausedUntil, until);
    nextSlot = Math.max(nextSlot, until);
  };
  return {
    ratePerMin,
    currentRatePerMin: () => currentRate(now()),
    async acquire(deadline, reserveMs = 0) {
      const t = now();
      const intervalMs = 60_000 / currentRate(t);
      // Idle time banks up to BURST_SLOTS slots (never through a 429 pause: pausedUntil).
      const slot = Math.max(t - BURST_SLOTS * intervalMs, nextSlot, pausedUntil);
      const wait = Math.max(0, slot - t);
      if (wait + reserveMs > deadline.remaining()) {
        // Late because of a 429 pause: rate_limited makes the engine delay the successor until the
        // pause ends, instead of chaining invocations that can do nothing (docs/decisions.md 21).
        if (pausedUntil > t) {
          throw new NotionSyncError(
            "rate_limited",
            "Notion asked to wait (Retry-After) beyond this invocation's budget",
            { retryAfterMs: slot - t },
          );
        }
        throw new BudgetExhaustedError("no Notion request slot before the deadline");
      }
      nextSlot = slot + intervalMs;
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    },
    pauseUntil,
    rateLimited(retryAfterMs, sentAt = now()) {
      const t = now();
      pauseUntil(t + Math.max(0, retryAfterMs));
      if (!adaptive || sentAt < lastHalvedAt) return; // the same burst: halved once already
      rate = Math.max(ratePerMin * AIMD_FLOOR_SHARE, currentRate(t) / 2);
      changedAt = t;
      lastHalvedAt = t;
    },
  };
}

const shared = new Map<string, Pacer>();

/** The process-wide pacer for one integration at one rate. */
export function sharedPacer(integrationKey: string, ratePerMin: number): Pacer {
  const id = `${integrationKey}:${ratePerMin}`;
  let pacer = shared.get(id);
  if (!pacer) {
    pacer = createPacer(ratePerMin);
    shared.set(id, pacer);
  }
  return pacer;
}
