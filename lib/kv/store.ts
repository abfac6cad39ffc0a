/**
 * The narrow key-value interface the sync engine needs. Every backend
 * (Upstash REST via @vercel/kv, a Redis server via `redis`, the embedded file
 * store) implements exactly this, and one contract test suite runs against all
 * of them (tests/kv-contract.test.ts).
 *
 * Values are JSON: each backend stores `JSON.stringify(value)` as a plain Redis
 * string, so the same Redis database can be read by any adapter.
 */

/** One write inside an atomic batch. */
export type KvOp =
  | { op: "set"; key: string; value: unknown; pxMs?: number }
  | { op: "del"; key: string }
  /** PEXPIRE: the key, when it exists, expires after pxMs (a later set without pxMs keeps it for good). */
  | { op: "expire"; key: string; pxMs: number }
  | { op: "sadd"; key: string; members: string[] }
  | { op: "srem"; key: string; members: string[] }
  /**
   * Fencing: the batch applies only while `key` holds `equals` (compared as
   * JSON), checked inside the same atomic step (a Lua script on Redis and
   * Upstash, the writer's lock in the file store). Otherwise nothing is written
   * and atomic() rejects with KvPreconditionError. At most one per batch.
   */
  | { op: "require"; key: string; equals: unknown };

export interface SetOptions {
  /** Expire after this many milliseconds (Redis PX). */
  pxMs?: number;
  /** Only set when the key does not exist (Redis NX). */
  nx?: boolean;
}

export type KvBackendKind = "vercel-kv" | "redis" | "file";

export interface KvStore {
  readonly kind: KvBackendKind;
  get<T = unknown>(key: string): Promise<T | null>;
  /** Values in the order of `keys`; null where missing. Empty input → []. */
  mget<T = unknown>(keys: string[]): Promise<(T | null)[]>;
  /** Returns false only when `nx` was set and the key already existed. */
  set(key: string, value: unknown, options?: SetOptions): Promise<boolean>;
  /** Deletes the keys; returns how many existed. Empty input → 0. */
  del(keys: string[]): Promise<number>;
  /**
   * Deletes `key` only while its value still equals `expected` (compared as
   * JSON). Used to release a lease without deleting somebody else's.
   */
  deleteIfEquals(key: string, expected: unknown): Promise<boolean>;
  /** Members of a set (order unspecified); [] when missing. */
  smembers(key: string): Promise<string[]>;
  /** How many members a set has (SCARD); 0 when missing. */
  scard(key: string): Promise<number>;
  /**
   * For each of `members`, in order, whether it is in the set (SMISMEMBER,
   * Redis >= 6.2); all false when the set is missing. Empty input → [] (no
   * round trip, so no type check either).
   */
  smismember(key: string, members: string[]): Promise<boolean[]>;
  /**
   * Up to `count` distinct members picked at random (SRANDMEMBER key count
   * with a non-negative count): all of them when the set has fewer, [] when
   * it is missing or `count` is 0. A negative or fractional count rejects
   * (Redis would allow repeats for a negative one).
   */
  srandmember(key: string, count: number): Promise<string[]>;
  /**
   * SDIFFSTORE: stores in `destination` the members of `keys[0]` that are in
   * none of the other keys (missing keys are empty sets), replacing whatever
   * `destination` held, whatever its type or expiry; returns the size of the
   * result. An empty result deletes `destination` (Redis semantics).
   * `destination` may be one of `keys`. Empty `keys` rejects: there is no
   * first set, and silently deleting `destination` would hide the bug.
   */
  sdiffstore(destination: string, keys: string[]): Promise<number>;
  /**
   * How many of `keys` exist, of any type (EXISTS): a key given twice counts
   * twice. Empty input → 0.
   */
  exists(keys: string[]): Promise<number>;
  /**
   * Applies every op or none (Redis MULTI/EXEC, Upstash /multi-exec, one
   * rename for the file store). Readers never see half of a batch.
   */
  atomic(ops: KvOp[]): Promise<void>;
  /** Every key that starts with `prefix` (SCAN MATCH prefix*), sorted. */
  scanKeys(prefix: string): Promise<string[]>;
  /** Milliseconds left before `key` expires; null when missing or no expiry. */
  pttl(key: string): Promise<number | null>;
  /** Releases connections; safe to call twice. */
  close(): Promise<void>;
}
