/**
 * Helpers shared by the KV adapters. Kept free of any client library so the
 * Upstash adapter does not pull `redis` into a bundle (and vice versa).
 */
import type { KvOp } from "./store";

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

/**
 * The store refused a write for its size: Upstash's "max request size
 * exceeded" (10 MB a request) or "max single record size exceeded" (100 MB),
 * Redis's proto-max-bulk-len ("string exceeds maximum allowed size") or its
 * query buffer limit. Retrying the same write cannot succeed.
 */
const SIZE_LIMIT_TEXTS = [
  "max request size exceeded",
  "max single record size exceeded",
  "exceeds maximum allowed size",
  "invalid bulk length",
  "query buffer",
];

export function isKvSizeLimitError(error: unknown): boolean {
  const message = errorMessage(error).toLowerCase();
  return SIZE_LIMIT_TEXTS.some((text) => message.includes(text));
}

/**
 * A batch applied only while KEYS[1] holds ARGV[1] (one script: atomic on
 * Redis and on Upstash). Then one key per op (KEYS[2..]) and, per op, its
 * name, its argument count and its arguments. Returns 1 when applied, 0 when
 * the guard did not hold (nothing written).
 */
export const GUARDED_BATCH_LUA = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local a = 2
for k = 2, #KEYS do
  local op = ARGV[a]
  local n = tonumber(ARGV[a + 1])
  local key = KEYS[k]
  if op == 'set' then
    if ARGV[a + 3] ~= '' then redis.call('SET', key, ARGV[a + 2], 'PX', ARGV[a + 3]) else redis.call('SET', key, ARGV[a + 2]) end
  elseif op == 'del' then redis.call('DEL', key)
  elseif op == 'expire' then redis.call('PEXPIRE', key, ARGV[a + 2])
  elseif op == 'sadd' then redis.call('SADD', key, unpack(ARGV, a + 2, a + 1 + n))
  elseif op == 'srem' then redis.call('SREM', key, unpack(ARGV, a + 2, a + 1 + n))
  end
  a = a + 2 + n
end
return 1
`;

/**
 * The script's KEYS and ARGV for a batch holding one `require` op, or null
 * when the batch has none (then it goes through MULTI/EXEC as before).
 * Values are encoded first, so a bad value throws before anything is sent.
 */
export function encodeGuardedBatch(ops: KvOp[]): { guardKey: string; keys: string[]; args: string[] } | null {
  const guards = ops.filter((op): op is Extract<KvOp, { op: "require" }> => op.op === "require");
  if (guards.length === 0) return null;
  if (guards.length > 1) throw new Error("kv: a batch may hold one require op");
  const keys = [guards[0].key];
  const args = [encodeValue(guards[0].key, guards[0].equals)];
  for (const op of ops) {
    if (op.op === "require") continue;
    if (op.op === "set") {
      keys.push(op.key);
      args.push("set", "2", encodeValue(op.key, op.value), op.pxMs !== undefined ? String(op.pxMs) : "");
    } else if (op.op === "del") {
      keys.push(op.key);
      args.push("del", "0");
    } else if (op.op === "expire") {
      keys.push(op.key);
      args.push("expire", "1", String(op.pxMs));
    } else if (op.members.length > 0) {
      keys.push(op.key);
      args.push(op.op, String(op.members.length), ...op.members.map(String));
    }
  }
  return { guardKey: guards[0].key, keys, args };
}
