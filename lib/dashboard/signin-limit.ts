/**
 * Sign-in attempts, limited: nothing fancy. Each wrong secret from one client
 * address counts in KV for a quarter of an hour; past SIGNIN_MAX_FAILURES the
 * form answers 429 without looking at the secret. (CRON_SECRET should be long
 * and random anyway: `openssl rand -base64 32`.) The count is read and
 * written without a transaction, so a burst may get a few more tries.
 */
import { createHash } from "node:crypto";
import type { KeyBuilder } from "../kv/keys";
import type { KvStore } from "../kv/store";

export const SIGNIN_MAX_FAILURES = 10;
export const SIGNIN_WINDOW_MS = 15 * 60 * 1000;

/** The client address as the platform reports it (hashed before it is used as a key). */
export function clientAddress(request: Request): string {
  const forwarded = request.headers.get("x-forwarded-for")?.split(",")[0]?.trim();
  return forwarded || request.headers.get("x-real-ip")?.trim() || "unknown";
}

function limitKey(keys: KeyBuilder, request: Request): string {
  const hash = createHash("sha256").update(clientAddress(request)).digest("base64url").slice(0, 22);
  return keys.startLimit(`dashboard-signin:${hash}`);
}

/** Seconds to wait when this client has used up its attempts, else null. */
export async function signInBlocked(kv: KvStore, keys: KeyBuilder, request: Request): Promise<number | null> {
  const key = limitKey(keys, request);
  const failures = await kv.get<number>(key);
  if (typeof failures !== "number" || failures < SIGNIN_MAX_FAILURES) return null;
  const leftMs = (await kv.pttl(key)) ?? SIGNIN_WINDOW_MS;
  return Math.max(1, Math.ceil(leftMs / 1000));
}

export async function recordSignInFailure(kv: KvStore, keys: KeyBuilder, request: Request): Promise<void> {
  const key = limitKey(keys, request);
  const [failures, leftMs] = await Promise.all([kv.get<number>(key), kv.pttl(key)]);
  const count = typeof failures === "number" ? failures + 1 : 1;
  // The window starts at the first failure and is not extended by later ones.
  await kv.set(key, count, {
    pxMs: typeof failures === "number" && leftMs !== null && leftMs > 0 ? leftMs : SIGNIN_WINDOW_MS,
  });
}

export async function clearSignInFailures(kv: KvStore, keys: KeyBuilder, request: Request): Promise<void> {
  await kv.del([limitKey(keys, request)]);
}
