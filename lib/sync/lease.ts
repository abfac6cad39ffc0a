/**
 * One invocation per section at a time: SET NX PX with a random token, and a
 * compare-and-delete release so an invocation that overran its lease never
 * frees a successor's.
 */
import { randomUUID } from "node:crypto";
import type { KvStore } from "../kv/store";

/** A commit found the lease held by another token (it expired and was taken): nothing was written. */
export class LeaseLostError extends Error {
  constructor(key: string) {
    super(`the lease ${key} expired or was taken over before this invocation finished; its later writes were refused`);
    this.name = "LeaseLostError";
  }
}

export interface Lease {
  readonly token: string;
  release(): Promise<void>;
}

export async function acquireLease(kv: KvStore, key: string, ttlMs: number): Promise<Lease | null> {
  const token = randomUUID();
  const taken = await kv.set(key, token, { nx: true, pxMs: ttlMs });
  if (!taken) return null;
  return {
    token,
    async release() {
      await kv.deleteIfEquals(key, token);
    },
  };
}
