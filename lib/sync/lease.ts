/**
 * One invocation per section at a time: SET NX PX with a random token, and a
 * compare-and-delete release so an invocation that overran its lease never
 * frees a successor's.
 *
 * The token ends with the instant by which its holder has finished (its
 * budget plus the tail): every invocation ends by then, so a lease still
 * there afterwards was left by a dead one, and an operator may free it
 * (`npm run kv:cursors -- --release-lease`), and the next invocation takes it
 * over (releaseIfAbandoned). The TTL is longer: it covers tokens of older releases.
 */
import { randomUUID } from "node:crypto";
import type { KvStore } from "../kv/store";

export interface Lease {
  readonly token: string;
  release(): Promise<void>;
}

/**
 * @param ttlMs how long the lease lasts in KV.
 * @param busyMs how long its holder may work (default: ttlMs); after that the holder is known to be gone.
 */
export async function acquireLease(
  kv: KvStore,
  key: string,
  ttlMs: number,
  busyMs: number = ttlMs,
): Promise<Lease | null> {
  const token = `${randomUUID()}~${Date.now() + Math.min(busyMs, ttlMs)}`;
  const taken = await kv.set(key, token, { nx: true, pxMs: ttlMs });
  if (!taken) return null;
  return {
    token,
    async release() {
      await kv.deleteIfEquals(key, token);
    },
  };
}

/**
 * Frees the lease when its holder has certainly ended (its recorded end has
 * passed): a killed invocation's lease then costs the next call seconds, not
 * the rest of the TTL. Compare-and-delete, so a lease taken meanwhile stays.
 * Safe even if the holder still runs somewhere (an orphan on Fluid compute):
 * its commits are fenced by the token it no longer holds.
 */
export async function releaseIfAbandoned(kv: KvStore, key: string, now: number = Date.now()): Promise<boolean> {
  const token = await kv.get(key);
  const endsBy = leaseHolderDeadline(token);
  if (endsBy === null || endsBy >= now) return false;
  return kv.deleteIfEquals(key, token);
}

/** When the lease's holder has finished at the latest (epoch ms); null for a token without it (older release). */
export function leaseHolderDeadline(token: unknown): number | null {
  if (typeof token !== "string") return null;
  const at = Number(token.slice(token.lastIndexOf("~") + 1));
  return token.includes("~") && Number.isFinite(at) ? at : null;
}

const LEASE_MIN_MS = 35_000; // longer than maxDuration (30 s): a killed invocation's lease still expires soon after
/** Past its budget an invocation only commits, publishes and releases: it has ended by budget + this. */
const HOLDER_TAIL_MS = 5_000;
export const LEASE_POLL_MS = 100;

/**
 * A section's lease, as every invocation takes it (lasting past its budget,
 * its token saying when its holder has ended): an abandoned one is taken
 * over, and a held one is polled for up to `waitMs`.
 */
export async function acquireLeaseWaiting(
  kv: KvStore,
  key: string,
  budgetMs: number,
  waitMs: number,
): Promise<Lease | null> {
  const until = Date.now() + Math.max(0, waitMs);
  for (;;) {
    const lease = await takeLease(kv, key, Math.max(LEASE_MIN_MS, budgetMs + 15_000), budgetMs + HOLDER_TAIL_MS);
    if (lease || Date.now() + LEASE_POLL_MS > until) return lease;
    await new Promise((resolve) => setTimeout(resolve, LEASE_POLL_MS));
  }
}

/** The lease now, taking over one whose holder has certainly ended; null while a live holder has it. */
export async function takeLease(
  kv: KvStore,
  key: string,
  ttlMs: number,
  busyMs: number = ttlMs,
): Promise<Lease | null> {
  return (
    (await acquireLease(kv, key, ttlMs, busyMs)) ??
    ((await releaseIfAbandoned(kv, key)) ? acquireLease(kv, key, ttlMs, busyMs) : null)
  );
}
