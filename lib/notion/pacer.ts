/**
 * Spaces Notion requests to the integration's budget (NOTION_RATE_PER_MIN).
 * One pacer per integration token per process, so concurrent workers inside
 * an invocation (and overlapping invocations in one warm instance) share it.
 * Across instances the QStash flow-control key keeps one invocation running
 * at a time (lib/qstash/flow-control.ts).
 */
import { type Deadline, BudgetExhaustedError } from "../sync/deadline";

export interface Pacer {
  /** Waits for the next request slot; rejects with BudgetExhaustedError when it would not come in time. */
  acquire(deadline: Deadline, reserveMs?: number): Promise<void>;
  /** Notion said 429: nobody sends before `until` (epoch ms). */
  pauseUntil(until: number): void;
  readonly ratePerMin: number;
}

export function createPacer(ratePerMin: number, now: () => number = Date.now): Pacer {
  const intervalMs = 60_000 / ratePerMin;
  let nextSlot = 0;
  return {
    ratePerMin,
    async acquire(deadline, reserveMs = 0) {
      const t = now();
      const slot = Math.max(t, nextSlot);
      const wait = slot - t;
      if (wait + reserveMs > deadline.remaining()) throw new BudgetExhaustedError("no Notion request slot before the deadline");
      nextSlot = slot + intervalMs;
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    },
    pauseUntil(until) {
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
