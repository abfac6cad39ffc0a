/**
 * A KvStore whose every call is bounded by the invocation's deadline: a call
 * still unanswered when the budget and its tail are spent rejects with
 * KvTimeoutError, so a slow or hung KV never carries an invocation past
 * maxDuration. (The underlying request is abandoned, not cancelled: a write it
 * carried may still land, which fencing and the cursor make harmless.)
 */
import type { Deadline } from "../core/deadline";
import { withCallDeadline } from "./call-deadline";
import { KvTimeoutError } from "./errors";
import type { KvStore } from "./store";

export interface KvBounds {
  /** Time a call may take past the budget: the last commit, the publish and the lease release live there. */
  tailMs: number;
  /** Never less than this, so a call at the very end still gets a chance. */
  minMs: number;
}

export const DEFAULT_KV_BOUNDS: KvBounds = { tailMs: 2500, minMs: 250 };

/** Calls made through a bounded store (for the invocation's log line). */
export interface KvCallMeter {
  calls: number;
}

export function boundedByDeadline(
  kv: KvStore,
  deadline: Deadline,
  bounds: KvBounds = DEFAULT_KV_BOUNDS,
  meter: KvCallMeter = { calls: 0 },
): KvStore {
  const bound = <T>(what: string, call: () => Promise<T>): Promise<T> => {
    meter.calls++;
    // One absolute end for the whole invocation (budget + tail), not a fresh tail per call.
    const ms = Math.max(bounds.minMs, deadline.budgetMs + bounds.tailMs - deadline.elapsed());
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new KvTimeoutError(what, ms)), ms);
    });
    // The adapter's own client reads the same end (lib/kv/call-deadline.ts) to stop its retries.
    return Promise.race([withCallDeadline(Date.now() + ms, call), timeout]).finally(() => clearTimeout(timer));
  };
  return {
    kind: kv.kind,
    get: (key) => bound("GET", () => kv.get(key)),
    mget: (keys) => bound("MGET", () => kv.mget(keys)),
    set: (key, value, options) => bound("SET", () => kv.set(key, value, options)),
    del: (keys) => bound("DEL", () => kv.del(keys)),
    deleteIfEquals: (key, expected) => bound("compare-and-delete", () => kv.deleteIfEquals(key, expected)),
    smembers: (key) => bound("SMEMBERS", () => kv.smembers(key)),
    scard: (key) => bound("SCARD", () => kv.scard(key)),
    smismember: (key, members) => bound("SMISMEMBER", () => kv.smismember(key, members)),
    srandmember: (key, count) => bound("SRANDMEMBER", () => kv.srandmember(key, count)),
    sdiffstore: (destination, keys) => bound("SDIFFSTORE", () => kv.sdiffstore(destination, keys)),
    exists: (keys) => bound("EXISTS", () => kv.exists(keys)),
    atomic: (ops) => bound("atomic batch", () => kv.atomic(ops)),
    scanKeys: (prefix) => bound("SCAN", () => kv.scanKeys(prefix)),
    pttl: (key) => bound("PTTL", () => kv.pttl(key)),
    close: () => kv.close(),
  };
}
