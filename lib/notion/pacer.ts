/**
 * Spaces Notion requests to the integration's budget (NOTION_RATE_PER_MIN).
 * One pacer per integration token per process, so concurrent workers inside
 * an invocation (and overlapping invocations in one warm instance) share it.
 * Across instances the QStash flow-control key keeps one invocation running
 * at a time (lib/qstash/flow-control.ts).
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
  readonly ratePerMin: number;
}

export function createPacer(ratePerMin: number, now: () => number = Date.now): Pacer {
  const intervalMs = 60_000 / ratePerMin;
  let nextSlot = 0;
  let pausedUntil = 0;
  return {
    ratePerMin,
    async acquire(deadline, reserveMs = 0) {
      const t = now();
      const slot = Math.max(t, nextSlot);
      const wait = slot - t;
      if (wait + reserveMs > deadline.remaining()) {
        // Fix (found by tests/qstash.e2e.test.ts): when the slot is late because Notion said 429
        // (an earlier invocation of this instance paused the pacer), say so: the engine then delays
        // the successor until the pause ends. As a plain budget exhaustion the successor was
        // published at once, and every invocation until the pause ended did nothing and chained
        // again immediately (dozens of empty invocations for one Retry-After: 120).
        if (pausedUntil > t) {
          throw new NotionSyncError("rate_limited", "Notion asked to wait (Retry-After) beyond this invocation's budget", { retryAfterMs: slot - t });
        }
        throw new BudgetExhaustedError("no Notion request slot before the deadline");
      }
      nextSlot = slot + intervalMs;
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    },
    pauseUntil(until) {
      pausedUntil = Math.max(pausedUntil, until);
      nextSlot = Math.max(nextSlot, until);
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
