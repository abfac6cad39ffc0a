/**
 * A KvStore decorator that counts what the code under test asks of its store,
 * in process, whatever the backend (the file store has no server to ask):
 *
 *   const metered = meterKv(createFileStore({ dir }));
 *   await runSomething(metered.store);
 *   metered.stats().calls.atomic, metered.stats().writtenBytes ...
 *
 * Bytes are those the backends store and send, so the numbers line up with
 * the Upstash bridge's stats() (upstash-bridge.ts):
 * - a value is its JSON text (what every backend stores), counted in UTF-8
 *   bytes;
 * - a set member is stored as is, not JSON-encoded: its UTF-8 bytes.
 */
import type { KvOp, KvStore, SetOptions } from "../../lib/kv/store";

export type KvMethod = Exclude<keyof KvStore, "kind">;

export interface KvMeterStats {
  /** Calls per method, counted when made (failed ones included). */
  calls: Partial<Record<KvMethod, number>>;
  /** Calls per method that rejected. */
  failures: Partial<Record<KvMethod, number>>;
  /**
   * Bytes of values written by calls that resolved: set() values (not when
   * NX found the key and set() answered false) and, in atomic() batches, set
   * values and every sadd member (even ones already in the set). srem, del and
   * sdiffstore send no values; deleteIfEquals only compares one.
   */
  writtenBytes: number;
  /** Values written, as counted in writtenBytes (one set value, one member). */
  valuesWritten: number;
  /** The largest single value in writtenBytes, and its key (null before any write). */
  largestValueBytes: number;
  largestValueKey: string | null;
  /**
   * Bytes of values returned: get / mget values (JSON text, nulls are 0),
   * smembers / srandmember members. Counts, booleans and key names
   * (scanKeys) are not values.
   */
  readBytes: number;
}

export interface MeteredKv {
  store: KvStore;
  /** A copy of the counters since creation or the last reset(). */
  stats(): KvMeterStats;
  reset(): void;
}

const utf8 = (s: string) => Buffer.byteLength(s, "utf8");
/** The stored form of a value; undefined (refused by every backend) counts as nothing. */
const jsonBytes = (value: unknown) => {
  const json = JSON.stringify(value);
  return json === undefined ? 0 : utf8(json);
};

export function meterKv(inner: KvStore): MeteredKv {
  const empty = (): KvMeterStats => ({
    calls: {},
    failures: {},
    writtenBytes: 0,
    valuesWritten: 0,
    largestValueBytes: 0,
    largestValueKey: null,
    readBytes: 0,
  });
  let s = empty();

  const wrote = (key: string, n: number) => {
    s.writtenBytes += n;
    s.valuesWritten++;
    if (s.largestValueKey === null || n > s.largestValueBytes) {
      s.largestValueBytes = n;
      s.largestValueKey = key;
    }
  };
  const read = (n: number) => {
    s.readBytes += n;
  };

  /** Counts the call; `after` books bytes once it resolved. */
  async function track<T>(method: KvMethod, call: () => Promise<T>, after?: (result: T) => void): Promise<T> {
    s.calls[method] = (s.calls[method] ?? 0) + 1;
    const started = s; // a reset() while the call runs: book nothing into the new counters
    let result: T;
    try {
      result = await call();
    } catch (err) {
      if (started === s) s.failures[method] = (s.failures[method] ?? 0) + 1;
      throw err;
    }
    if (after && started === s) after(result);
    return result;
  }

  const sumMembers = (members: string[]) => members.reduce((n, m) => n + utf8(String(m)), 0);

  const store: KvStore = {
    get kind() {
      return inner.kind;
    },
    get<T>(key: string) {
      return track(
        "get",
        () => inner.get<T>(key),
        (v) => read(v === null ? 0 : jsonBytes(v)),
      );
    },
    mget<T>(keys: string[]) {
      return track(
        "mget",
        () => inner.mget<T>(keys),
        (vs) => read(vs.reduce((n, v) => n + (v === null ? 0 : jsonBytes(v)), 0)),
      );
    },
    set(key: string, value: unknown, options?: SetOptions) {
      return track(
        "set",
        () => inner.set(key, value, options),
        (ok) => ok && wrote(key, jsonBytes(value)),
      );
    },
    del(keys: string[]) {
      return track("del", () => inner.del(keys));
    },
    deleteIfEquals(key: string, expected: unknown) {
      return track("deleteIfEquals", () => inner.deleteIfEquals(key, expected));
    },
    smembers(key: string) {
      return track(
        "smembers",
        () => inner.smembers(key),
        (ms) => read(sumMembers(ms)),
      );
    },
    scard(key: string) {
      return track("scard", () => inner.scard(key));
    },
    smismember(key: string, members: string[]) {
      return track("smismember", () => inner.smismember(key, members));
    },
    srandmember(key: string, count: number) {
      return track(
        "srandmember",
        () => inner.srandmember(key, count),
        (ms) => read(sumMembers(ms)),
      );
    },
    sdiffstore(destination: string, keys: string[]) {
      return track("sdiffstore", () => inner.sdiffstore(destination, keys));
    },
    exists(keys: string[]) {
      return track("exists", () => inner.exists(keys));
    },
    atomic(ops: KvOp[]) {
      return track(
        "atomic",
        () => inner.atomic(ops),
        () => {
          for (const op of ops) {
            if (op.op === "set") wrote(op.key, jsonBytes(op.value));
            else if (op.op === "sadd") for (const m of op.members) wrote(op.key, utf8(String(m)));
          }
        },
      );
    },
    scanKeys(prefix: string) {
      return track("scanKeys", () => inner.scanKeys(prefix));
    },
    pttl(key: string) {
      return track("pttl", () => inner.pttl(key));
    },
    close() {
      return track("close", () => inner.close());
    },
  };

  return {
    store,
    stats: () => ({ ...s, calls: { ...s.calls }, failures: { ...s.failures } }),
    reset() {
      s = empty();
    },
  };
}
