/**
 * Helpers shared by the KV adapters. Kept free of any client library so the
 * Upstash adapter does not pull `redis` into a bundle (and vice versa).
 */

/**
 * Serialises a value the way every backend stores it. `JSON.stringify` returns
 * undefined for undefined/functions/symbols; storing that would silently lose
 * the write, so it is refused up front.
 */
export function encodeValue(key: string, value: unknown): string {
  const json = JSON.stringify(value);
  if (json === undefined) {
    throw new TypeError(`kv: value for key "${key}" is not JSON-serialisable (${typeof value})`);
  }
  return json;
}

/**
 * Parses a stored string. Everything this project writes is JSON, so a value
 * that does not parse was written by something else: fail loudly with the key
 * rather than hand a half-understood value to the sync engine.
 */
export function decodeValue<T>(key: string, raw: string | null | undefined): T | null {
  if (raw === null || raw === undefined) return null;
  try {
    return JSON.parse(raw) as T;
  } catch {
    throw new Error(`kv: value at key "${key}" is not JSON (was it written by another program?)`);
  }
}

/** Escapes Redis glob metacharacters so a prefix is matched literally by SCAN MATCH. */
export function escapeGlob(prefix: string): string {
  return prefix.replace(/[*?[\]\\]/g, "\\$&");
}

/**
 * Compare-and-delete in one server-side step: the value is only deleted while
 * it is still ours, so a lease that expired and was taken over by another
 * invocation is never released by the previous holder.
 */
export const COMPARE_AND_DELETE_LUA =
  'if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) else return 0 end';

/** PTTL reply → the interface's "ms left, or null" (-2 missing, -1 no expiry). */
export function pttlToMs(reply: number): number | null {
  return reply >= 0 ? reply : null;
}

/** SCAN may return a key more than once; the interface promises sorted, unique keys. */
export function sortedUnique(keys: Iterable<string>): string[] {
  return [...new Set(keys)].sort();
}

/**
 * The count SRANDMEMBER may be given through the interface: a non-negative
 * integer (a negative count would make Redis return repeated members).
 */
export function checkRandomCount(count: number): void {
  if (!Number.isSafeInteger(count) || count < 0) {
    throw new RangeError(`kv: srandmember count must be a non-negative integer (got ${String(count)})`);
  }
}

/** SDIFFSTORE needs a first set to subtract from. */
export function checkDiffKeys(keys: string[]): void {
  if (keys.length === 0) throw new TypeError("kv: sdiffstore needs at least one source key");
}

/** A message for an unknown thrown value, without assuming it is an Error. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class KvClosedError extends Error {
  constructor(kind: string) {
    super(`kv (${kind}): store is closed`);
    this.name = "KvClosedError";
  }
}
