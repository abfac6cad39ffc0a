/**
 * KvStore over a Redis server (REDIS_URL), through the official `redis`
 * client: one connection, opened lazily on first use so that building a store
 * (e.g. at module load in a route) never touches the network.
 *
 * Failure policy: the client's default reconnect strategy retries forever and
 * parks commands in its offline queue meanwhile, which turns "Redis is down"
 * into a hung request. Here the first connect fails fast and an established
 * connection gets a few bounded retries; after that queued commands reject and
 * the next call starts a fresh connection.
 */
import { createClient } from "redis";
import type { KvOp, KvStore, SetOptions } from "./store";
import {
  COMPARE_AND_DELETE_LUA,
  GUARDED_BATCH_LUA,
  encodeGuardedBatch,
  checkDiffKeys,
  checkRandomCount,
  decodeValue,
  encodeValue,
  errorMessage,
  escapeGlob,
  pttlToMs,
  sortedUnique,
} from "./codec";
import { KvClosedError, KvPreconditionError } from "./errors";

export interface RedisStoreOptions {
  /** redis://[user:password@]host:port[/db] or rediss:// for TLS. */
  url: string;
}

const SCAN_COUNT = 500;
const CONNECT_TIMEOUT_MS = 5_000;
/** Retries before the first successful connect (fail fast on a wrong URL). */
const INITIAL_CONNECT_RETRIES = 1;
/** Retries after a connection that worked has dropped. */
const RECONNECT_RETRIES = 5;

function makeClient(url: string, hasBeenReady: () => boolean) {
  return createClient({
    url,
    // RESP2 keeps replies plain (arrays, strings, integers) and works with
    // every Redis-compatible server, including ones without HELLO.
    RESP: 2,
    socket: {
      connectTimeout: CONNECT_TIMEOUT_MS,
      reconnectStrategy: (retries: number, cause: Error) => {
        const limit = hasBeenReady() ? RECONNECT_RETRIES : INITIAL_CONNECT_RETRIES;
        if (retries >= limit) return new Error(`gave up after ${retries + 1} attempts: ${cause.message}`);
        return Math.min(100 * 2 ** retries, 2_000);
      },
    },
  });
}

type Client = ReturnType<typeof makeClient>;

/** host:port for messages; the URL itself may carry a password. */
export function redisEndpoint(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || "6379"}`;
  } catch {
    return "(unparseable REDIS_URL)";
  }
}

/** node-redis reports failed MULTI elements as "N commands failed, see .replies"; name them. */
function describeError(err: unknown): string {
  const e = err as { errorIndexes?: number[]; replies?: unknown[] };
  if (Array.isArray(e?.errorIndexes) && Array.isArray(e.replies)) {
    const details = e.errorIndexes.map((i) => `command ${i + 1}: ${errorMessage(e.replies![i])}`);
    return `${errorMessage(err)} (${details.join("; ")})`;
  }
  return errorMessage(err);
}

export function createRedisStore({ url }: RedisStoreOptions): KvStore {
  const where = redisEndpoint(url);
  let closed = false;
  let client: Client | null = null;
  let connecting: Promise<Client> | null = null;

  function connection(): Promise<Client> {
    if (closed) return Promise.reject(new KvClosedError("redis"));
    // A client whose reconnect strategy gave up stays closed for good.
    if (client && !client.isOpen) {
      client = null;
      connecting = null;
    }
    if (!connecting) {
      let ready = false;
      const c = makeClient(url, () => ready);
      // Without a listener an 'error' event (emitted on every failed
      // (re)connect attempt) would crash the process. The failures reach
      // callers as rejected commands instead.
      c.on("error", () => {});
      c.on("ready", () => {
        ready = true;
      });
      client = c;
      connecting = c.connect().then(
        () => c,
        (err: unknown) => {
          if (client === c) {
            client = null;
            connecting = null;
          }
          c.destroy();
          throw new Error(`kv (redis): cannot connect to ${where}: ${errorMessage(err)}`, { cause: err });
        },
      );
    }
    return connecting;
  }

  async function run<T>(what: string, fn: (c: Client) => Promise<T>): Promise<T> {
    const c = await connection();
    try {
      return await fn(c);
    } catch (err) {
      throw new Error(`kv (redis at ${where}): ${what} failed: ${describeError(err)}`, { cause: err });
    }
  }

  return {
    kind: "redis",

    get<T>(key: string) {
      return run("GET", async (c) => decodeValue<T>(key, await c.get(key)));
    },

    mget<T>(keys: string[]) {
      if (keys.length === 0) return Promise.resolve([]);
      return run("MGET", async (c) => (await c.mGet(keys)).map((raw, i) => decodeValue<T>(keys[i], raw)));
    },

    async set(key: string, value: unknown, options: SetOptions = {}) {
      const json = encodeValue(key, value);
      return run("SET", async (c) => {
        const reply = await c.set(key, json, {
          ...(options.pxMs !== undefined ? { expiration: { type: "PX" as const, value: options.pxMs } } : {}),
          ...(options.nx ? { condition: "NX" as const } : {}),
        });
        // SET NX answers nil when the key already existed.
        return reply !== null;
      });
    },

    del(keys: string[]) {
      if (keys.length === 0) return Promise.resolve(0);
      return run("DEL", (c) => c.del(keys));
    },

    async deleteIfEquals(key: string, expected: unknown) {
      const json = encodeValue(key, expected);
      return run("EVAL compare-and-delete", async (c) => {
        const deleted = await c.eval(COMPARE_AND_DELETE_LUA, { keys: [key], arguments: [json] });
        return Number(deleted) === 1;
      });
    },

    smembers(key: string) {
      return run("SMEMBERS", async (c) => [...(await c.sMembers(key))].map(String));
    },

    scard(key: string) {
      return run("SCARD", async (c) => Number(await c.sCard(key)));
    },

    smismember(key: string, members: string[]) {
      // SMISMEMBER without members is a syntax error; nothing to ask.
      if (members.length === 0) return Promise.resolve([]);
      return run("SMISMEMBER", async (c) => [...(await c.smIsMember(key, members))].map((r) => Number(r) === 1));
    },

    async srandmember(key: string, count: number) {
      checkRandomCount(count);
      return run("SRANDMEMBER", async (c) => [...(await c.sRandMemberCount(key, count))].map(String));
    },

    async sdiffstore(destination: string, keys: string[]) {
      checkDiffKeys(keys);
      return run("SDIFFSTORE", async (c) => Number(await c.sDiffStore(destination, keys)));
    },

    exists(keys: string[]) {
      if (keys.length === 0) return Promise.resolve(0);
      return run("EXISTS", async (c) => Number(await c.exists(keys)));
    },

    async atomic(ops: KvOp[]) {
      const guarded = encodeGuardedBatch(ops);
      if (guarded) {
        const applied = await run("EVAL guarded batch", (c) =>
          c.eval(GUARDED_BATCH_LUA, { keys: guarded.keys, arguments: guarded.args }),
        );
        if (Number(applied) !== 1) throw new KvPreconditionError(guarded.guardKey);
        return;
      }
      // Encode every value before anything is sent, so a bad value aborts the
      // batch instead of failing half-way through building it.
      const encoded = ops.map((op) => (op.op === "set" ? { ...op, json: encodeValue(op.key, op.value) } : op));
      return run("MULTI/EXEC", async (c) => {
        const tx = c.multi();
        let queued = 0;
        for (const op of encoded) {
          if (op.op === "set") {
            const opts = op.pxMs !== undefined ? { expiration: { type: "PX" as const, value: op.pxMs } } : undefined;
            tx.set(op.key, op.json, opts);
          } else if (op.op === "del") {
            tx.del(op.key);
          } else if (op.op === "expire") {
            tx.pExpire(op.key, op.pxMs);
          } else if (op.op === "require" || op.members.length === 0) {
            // SADD/SREM without members is a syntax error that would abort the
            // whole transaction; an empty change is nothing to do.
            continue;
          } else if (op.op === "sadd") {
            tx.sAdd(op.key, op.members);
          } else {
            tx.sRem(op.key, op.members);
          }
          queued++;
        }
        if (queued === 0) return;
        // MULTI/EXEC is isolated (nobody sees half of it) but not rolled back:
        // an element failing at run time (WRONGTYPE) rejects here while the
        // other elements stay applied.
        await tx.exec();
      });
    },

    scanKeys(prefix: string) {
      return run("SCAN", async (c) => {
        const MATCH = `${escapeGlob(prefix)}*`;
        const found: string[] = [];
        let cursor = "0";
        do {
          const reply = await c.scan(cursor, { MATCH, COUNT: SCAN_COUNT });
          found.push(...reply.keys.map(String));
          cursor = String(reply.cursor);
        } while (cursor !== "0");
        return sortedUnique(found);
      });
    },

    pttl(key: string) {
      return run("PTTL", async (c) => pttlToMs(Number(await c.pTTL(key))));
    },

    async close() {
      if (closed) return;
      closed = true;
      const c = client;
      const pending = connecting;
      client = null;
      connecting = null;
      if (!c) return;
      if (c.isReady) {
        // Graceful: lets replies already on the wire arrive.
        await c.close().catch(() => c.destroy());
      } else {
        // Still connecting or retrying: nothing worth waiting for.
        c.destroy();
        await pending?.catch(() => {});
      }
    },
  };
}
