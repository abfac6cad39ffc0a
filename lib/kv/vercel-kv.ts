/**
 * KvStore over the Upstash Redis REST API (what Vercel KV / Upstash for Redis
 * expose), through `@vercel/kv`.
 *
 * Two client defaults are turned off on purpose:
 * - automaticDeserialization: the client would JSON.parse every reply it can,
 *   so a stored string "123" would come back as the number 123. We store
 *   `JSON.stringify(value)` ourselves and parse exactly once.
 * - enableAutoPipelining (which @vercel/kv turns ON): commands issued in the
 *   same tick are merged into one /pipeline request. A pipeline is not a
 *   transaction and one failing element surfaces as an error on the others'
 *   promise chain; explicit requests keep failures per call. Batches that must
 *   be atomic go through `multi()` → POST /multi-exec.
 */
import { createClient } from "@vercel/kv";
import { callDeadlineSignal } from "./call-deadline";
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

export interface VercelKvStoreOptions {
  /** KV_REST_API_URL, e.g. https://example.upstash.io */
  url: string;
  /** KV_REST_API_TOKEN (read-write token). */
  token: string;
}

/** Keys per SCAN round trip; each SCAN is one billed command. */
const SCAN_COUNT = 500;

/**
 * @upstash/redis appends ", command was: <the whole command as JSON>" to every
 * error the server answers with. The command holds the values, so a write
 * refused for its size ("ERR max request size exceeded...") would make a
 * 10 MB error message (of user data). Keep the server's text and the start of
 * the command.
 */
const COMMAND_ECHO = ", command was: ";
const COMMAND_ECHO_KEEP = 200;

function shortenCommandEcho(message: string): string {
  const at = message.indexOf(COMMAND_ECHO);
  if (at === -1) return message;
  const echo = message.slice(at + COMMAND_ECHO.length);
  if (echo.length <= COMMAND_ECHO_KEEP) return message;
  return `${message.slice(0, at)}${COMMAND_ECHO}${echo.slice(0, COMMAND_ECHO_KEEP)}… (${echo.length - COMMAND_ECHO_KEEP} more characters)`;
}

export function createVercelKvStore({ url, token }: VercelKvStoreOptions): KvStore {
  const client = createClient({
    url,
    token,
    automaticDeserialization: false,
    enableAutoPipelining: false,
    // @vercel/kv passes cache: "default" for Next's fetch patching; state must
    // never be served from a cache, whatever the framework does to fetch.
    cache: "no-store",
    // The client retries network errors (5 times by default, up to about 4 s of backoff per
    // call). Each request, retries included, is aborted when the call's time is up (the
    // invocation's deadline, set by bounded-store.ts), and the backoff stays short.
    signal: callDeadlineSignal,
    retry: { retries: 3, backoff: (n) => Math.min(400, 50 * 2 ** n) },
  });
  let closed = false;

  /**
   * Runs one client call with a message that says which backend failed. The
   * client's own messages never include the token (it only lives in the
   * Authorization header), so they are kept as they are.
   */
  async function run<T>(what: string, fn: () => Promise<T>): Promise<T> {
    if (closed) throw new KvClosedError("vercel-kv");
    try {
      return await fn();
    } catch (err) {
      const message = errorMessage(err);
      const short = shortenCommandEcho(message);
      // A shortened message drops the cause too: printing an error prints its
      // cause chain, which would bring the megabytes back into the logs.
      throw new Error(`kv (vercel-kv): ${what} failed: ${short}`, short === message ? { cause: err } : undefined);
    }
  }

  return {
    kind: "vercel-kv",

    get<T>(key: string) {
      return run("GET", async () => decodeValue<T>(key, await client.get<string>(key)));
    },

    mget<T>(keys: string[]) {
      if (keys.length === 0) return Promise.resolve([]);
      return run("MGET", async () => {
        const raw = await client.mget<(string | null)[]>(keys);
        return raw.map((value, i) => decodeValue<T>(keys[i], value));
      });
    },

    async set(key: string, value: unknown, options: SetOptions = {}) {
      const json = encodeValue(key, value);
      return run("SET", async () => {
        // The union type of SetCommandOptions only allows one expiry shape,
        // hence the explicit branches instead of a spread.
        const reply =
          options.pxMs !== undefined
            ? options.nx
              ? await client.set(key, json, { px: options.pxMs, nx: true })
              : await client.set(key, json, { px: options.pxMs })
            : options.nx
              ? await client.set(key, json, { nx: true })
              : await client.set(key, json);
        // SET NX answers null (not "OK") when the key already existed.
        return reply !== null;
      });
    },

    del(keys: string[]) {
      if (keys.length === 0) return Promise.resolve(0);
      return run("DEL", () => client.del(...keys));
    },

    async deleteIfEquals(key: string, expected: unknown) {
      const json = encodeValue(key, expected);
      return run("EVAL compare-and-delete", async () => {
        const deleted = await client.eval<[string], number>(COMPARE_AND_DELETE_LUA, [key], [json]);
        return Number(deleted) === 1;
      });
    },

    // With automaticDeserialization off every member comes back as the string
    // Redis holds ("123" stays "123"); String() only guards the types.
    smembers(key: string) {
      return run("SMEMBERS", async () => ((await client.smembers<string[]>(key)) ?? []).map(String));
    },

    scard(key: string) {
      return run("SCARD", async () => Number(await client.scard(key)));
    },

    smismember(key: string, members: string[]) {
      // SMISMEMBER without members is a syntax error; nothing to ask.
      if (members.length === 0) return Promise.resolve([]);
      return run("SMISMEMBER", async () => (await client.smismember(key, members)).map((r) => Number(r) === 1));
    },

    async srandmember(key: string, count: number) {
      checkRandomCount(count);
      return run("SRANDMEMBER", async () => {
        // With a count the reply is always an array ([] for a missing key);
        // null is what the count-less form answers, handled all the same.
        const reply = await client.srandmember<string[] | string>(key, count);
        if (reply === null || reply === undefined) return [];
        return (Array.isArray(reply) ? reply : [reply]).map(String);
      });
    },

    async sdiffstore(destination: string, keys: string[]) {
      checkDiffKeys(keys);
      return run("SDIFFSTORE", async () => Number(await client.sdiffstore(destination, ...keys)));
    },

    exists(keys: string[]) {
      if (keys.length === 0) return Promise.resolve(0);
      return run("EXISTS", async () => Number(await client.exists(...keys)));
    },

    async atomic(ops: KvOp[]) {
      const guarded = encodeGuardedBatch(ops);
      if (guarded) {
        const applied = await run("EVAL guarded batch", () =>
          client.eval<string[], number>(GUARDED_BATCH_LUA, guarded.keys, guarded.args),
        );
        if (Number(applied) !== 1) throw new KvPreconditionError(guarded.guardKey);
        return;
      }
      // Encode first so a bad value throws before anything is sent.
      const commands = ops.flatMap((op): Array<(tx: ReturnType<typeof client.multi>) => unknown> => {
        switch (op.op) {
          case "set": {
            const json = encodeValue(op.key, op.value);
            return [(tx) => (op.pxMs !== undefined ? tx.set(op.key, json, { px: op.pxMs }) : tx.set(op.key, json))];
          }
          case "del":
            return [(tx) => tx.del(op.key)];
          case "expire":
            return [(tx) => tx.pexpire(op.key, op.pxMs)];
          case "sadd": {
            const [first, ...rest] = op.members;
            // SADD/SREM with no members is a syntax error that would abort the
            // whole transaction; an empty change is simply nothing to do.
            return first === undefined ? [] : [(tx) => tx.sadd(op.key, first, ...rest)];
          }
          case "srem":
            return op.members.length === 0 ? [] : [(tx) => tx.srem(op.key, ...op.members)];
          case "require":
            return []; // handled above (guarded batches go through the script)
        }
      });
      if (commands.length === 0) return run("MULTI/EXEC", async () => undefined);
      return run("MULTI/EXEC", async () => {
        const tx = client.multi();
        for (const add of commands) add(tx);
        // Throws when any element answered with an error (e.g. WRONGTYPE).
        // Redis does not roll back the other elements in that case.
        await tx.exec();
      });
    },

    scanKeys(prefix: string) {
      return run("SCAN", async () => {
        const match = `${escapeGlob(prefix)}*`;
        const found: string[] = [];
        let cursor = "0";
        do {
          const [next, keys] = await client.scan(cursor, { match, count: SCAN_COUNT });
          found.push(...keys);
          cursor = String(next);
        } while (cursor !== "0");
        return sortedUnique(found);
      });
    },

    pttl(key: string) {
      return run("PTTL", async () => pttlToMs(Number(await client.pttl(key))));
    },

    async close() {
      // Stateless HTTP: nothing to release, but later calls must fail loudly.
      closed = true;
    },
  };
}
