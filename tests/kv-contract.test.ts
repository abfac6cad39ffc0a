/**
 * One KvStore contract, run against every backend:
 * - file store (temp dir),
 * - redis (a real redis-server),
 * - vercel-kv (@vercel/kv over the Upstash REST protocol, served by a local
 *   bridge in front of a real redis-server).
 * Plus what only one backend has (file store across processes), backend
 * selection from the environment, and the bridge itself.
 */
import { execFile } from "node:child_process";
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { createClient } from "redis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KvConfigError, KvPreconditionError } from "../lib/kv/errors";
import { ConfigError } from "../lib/config";
import { createFileStore } from "../lib/kv/file";
import { encodeRecord, parseLog } from "../lib/kv/file-log";
import { createKvStore, describeKvBackend, resolveKvBackend } from "../lib/kv/backend";
import { createRedisStore } from "../lib/kv/redis";
import type { KvOp, KvStore } from "../lib/kv/store";
import { createVercelKvStore } from "../lib/kv/vercel-kv";
import { meterKv } from "./support/kv-meter";
import { diffRedisStats, largestValue, readRedisStats } from "./support/redis-meter";
import { startRedisServer, type RedisServerHandle } from "./support/redis-server";
import {
  UPSTASH_MAX_RECORD_BYTES,
  UPSTASH_MAX_REQUEST_BYTES,
  startUpstashBridge,
  type UpstashBridge,
} from "./support/upstash-bridge";
import { rejection } from "./support/rejection";

const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const RUN = `t${process.pid}-${Date.now().toString(36)}`;

async function tempDir(label: string): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), `nks-kv-${label}-`));
}

/** What a kv.log holds, replayed: values parsed, sets as sorted arrays. */
async function readLogFile(file: string): Promise<Record<string, { value: unknown } | { set: string[] }>> {
  const { batches } = parseLog(await fs.readFile(file), 0, file);
  const out: Record<string, { value: unknown } | { set: Set<string> }> = {};
  for (const op of batches.flat()) {
    const cur = out[op.key];
    if (op.op === "set") out[op.key] = { value: JSON.parse(op.json) };
    else if (op.op === "del") delete out[op.key];
    else if (op.op === "sadd") out[op.key] = { set: new Set([...(cur && "set" in cur ? cur.set : []), ...op.members]) };
    else if (cur && "set" in cur) {
      for (const m of op.members) cur.set.delete(m);
      if (cur.set.size === 0) delete out[op.key];
    }
  }
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, "set" in v ? { set: [...v.set].sort() } : v]));
}

/** Every message in an error's cause chain, for "never leaks X" checks. */
function allMessages(err: unknown): string {
  const parts: string[] = [];
  for (let e = err as { message?: unknown; cause?: unknown; stack?: unknown } | undefined; e; e = e.cause as typeof e) {
    parts.push(String(e.message), String(e.stack));
    if (parts.length > 20) break;
  }
  return parts.join("\n");
}

interface ContractOptions {
  /**
   * Whether a batch with a failing element applies nothing. Only the file
   * store can: Redis MULTI/EXEC (and Upstash /multi-exec) do not roll back
   * elements that succeeded when another one fails at run time.
   */
  atomicRollback: boolean;
}

function describeKvContract(name: string, makeStore: () => Promise<KvStore> | KvStore, options: ContractOptions) {
  describe(`KvStore contract: ${name}`, () => {
    let store: KvStore;
    let n = 0;
    /** A key namespace per test: backends share one server across tests. */
    const ns = () => `${RUN}:${name}:${n++}:`;

    beforeAll(async () => {
      store = await makeStore();
    });
    afterAll(async () => {
      await store?.close();
    });

    it("round-trips nested JSON", async () => {
      const p = ns();
      const value = { a: [1, { b: null, c: [true, false] }], s: "x", n: 1.5, neg: -3, empty: {}, list: [] };
      expect(await store.set(`${p}obj`, value)).toBe(true);
      expect(await store.get(`${p}obj`)).toEqual(value);
      await store.set(`${p}num`, 42);
      expect(await store.get(`${p}num`)).toBe(42);
      await store.set(`${p}arr`, ["a", 1]);
      expect(await store.get(`${p}arr`)).toEqual(["a", 1]);
      await store.set(`${p}false`, false);
      expect(await store.get(`${p}false`)).toBe(false);
      expect(await store.get(`${p}missing`)).toBeNull();
    });

    it("keeps strings that look like numbers, JSON or status replies as strings", async () => {
      const p = ns();
      const tricky = [
        "123",
        "true",
        "null",
        "false",
        '{"a":1}',
        "[1,2]",
        "",
        "OK",
        "1e3",
        "0123",
        " 7 ",
        "-0",
        "QUEUED",
        "PONG",
      ];
      for (const [i, s] of tricky.entries()) await store.set(`${p}${i}`, s);
      const got = await store.mget<string>(tricky.map((_, i) => `${p}${i}`));
      expect(got).toEqual(tricky);
      for (const [i, s] of tricky.entries()) {
        const one = await store.get(`${p}${i}`);
        expect(typeof one).toBe("string");
        expect(one).toBe(s);
      }
      // A string stored inside an object is not reinterpreted either.
      await store.set(`${p}obj`, { n: "123", b: "true" });
      expect(await store.get(`${p}obj`)).toEqual({ n: "123", b: "true" });
    });

    it("round-trips unicode values and keys", async () => {
      const p = ns();
      const value = { text: "héllo wörld — 日本語 🌍👩‍💻", escaped: '\u0000\n\t"\\', rtl: "مرحبا" };
      await store.set(`${p}ключ-🔑`, value);
      expect(await store.get(`${p}ключ-🔑`)).toEqual(value);
      await store.atomic([{ op: "sadd", key: `${p}set`, members: ["ü", "🌍", "OK"] }]);
      expect((await store.smembers(`${p}set`)).sort()).toEqual(["OK", "ü", "🌍"].sort());
      expect(await store.scanKeys(`${p}ключ`)).toEqual([`${p}ключ-🔑`]);
    });

    it("set NX returns false and keeps the old value", async () => {
      const p = ns();
      expect(await store.set(`${p}lease`, { token: "a" }, { nx: true, pxMs: 10_000 })).toBe(true);
      expect(await store.set(`${p}lease`, { token: "b" }, { nx: true, pxMs: 10_000 })).toBe(false);
      expect(await store.get(`${p}lease`)).toEqual({ token: "a" });
      const ttl = await store.pttl(`${p}lease`);
      expect(ttl).toBeGreaterThan(9_000);
      // A plain set overwrites.
      expect(await store.set(`${p}lease`, { token: "c" })).toBe(true);
      expect(await store.get(`${p}lease`)).toEqual({ token: "c" });
      expect(await store.pttl(`${p}lease`)).toBeNull();
    });

    it("expires keys set with PX and reports pttl", async () => {
      const p = ns();
      await store.set(`${p}short`, "v", { pxMs: 150 });
      await store.set(`${p}forever`, "v");
      const ttl = await store.pttl(`${p}short`);
      expect(ttl).not.toBeNull();
      expect(ttl!).toBeGreaterThan(0);
      expect(ttl!).toBeLessThanOrEqual(150);
      expect(await store.get(`${p}short`)).toBe("v");
      expect(await store.pttl(`${p}forever`)).toBeNull();
      expect(await store.pttl(`${p}missing`)).toBeNull();
      await sleep(300);
      expect(await store.get(`${p}short`)).toBeNull();
      expect(await store.mget([`${p}short`, `${p}forever`])).toEqual([null, "v"]);
      expect(await store.pttl(`${p}short`)).toBeNull();
      // An expired key no longer blocks NX, and no longer counts for del.
      expect(await store.del([`${p}short`])).toBe(0);
      expect(await store.set(`${p}short`, "again", { nx: true })).toBe(true);
    });

    it("an expire op in a batch, fenced or not, gives an existing key an end; a plain set takes it back", async () => {
      const p = ns();
      await store.set(`${p}guard`, { token: "t" });
      await store.set(`${p}a`, { v: "a" });
      await store.set(`${p}b`, { v: "b" });
      await store.atomic([
        { op: "expire", key: `${p}a`, pxMs: 60_000 },
        { op: "expire", key: `${p}missing`, pxMs: 60_000 },
      ]);
      await store.atomic([
        { op: "require", key: `${p}guard`, equals: { token: "t" } },
        { op: "expire", key: `${p}b`, pxMs: 150 },
      ]);
      expect(await store.pttl(`${p}a`)).toBeGreaterThan(50_000);
      expect(await store.get(`${p}a`)).toEqual({ v: "a" });
      expect(await store.get(`${p}missing`)).toBeNull();
      await store.atomic([{ op: "set", key: `${p}a`, value: { v: "a" } }]);
      expect(await store.pttl(`${p}a`)).toBeNull();
      await sleep(300);
      expect(await store.get(`${p}b`)).toBeNull();
    });

    it("mget keeps order and returns null for missing keys", async () => {
      const p = ns();
      await store.set(`${p}a`, { v: "a" });
      await store.set(`${p}b`, { v: "b" });
      expect(await store.mget([`${p}b`, `${p}missing`, `${p}a`, `${p}b`])).toEqual([
        { v: "b" },
        null,
        { v: "a" },
        { v: "b" },
      ]);
      expect(await store.mget([])).toEqual([]);
    });

    it("del returns how many keys existed", async () => {
      const p = ns();
      await store.set(`${p}a`, 1);
      await store.set(`${p}b`, 2);
      await store.atomic([{ op: "sadd", key: `${p}s`, members: ["m"] }]);
      expect(await store.del([`${p}a`, `${p}missing`, `${p}b`, `${p}s`])).toBe(3);
      expect(await store.get(`${p}a`)).toBeNull();
      expect(await store.smembers(`${p}s`)).toEqual([]);
      expect(await store.del([`${p}a`])).toBe(0);
      expect(await store.del([])).toBe(0);
    });

    it("deleteIfEquals only deletes a matching value", async () => {
      const p = ns();
      await store.set(`${p}lease`, { token: "mine", n: 1 }, { pxMs: 10_000 });
      expect(await store.deleteIfEquals(`${p}lease`, { token: "theirs", n: 1 })).toBe(false);
      expect(await store.get(`${p}lease`)).toEqual({ token: "mine", n: 1 });
      expect(await store.deleteIfEquals(`${p}lease`, { token: "mine", n: 1 })).toBe(true);
      expect(await store.get(`${p}lease`)).toBeNull();
      expect(await store.deleteIfEquals(`${p}lease`, { token: "mine", n: 1 })).toBe(false);
      await store.set(`${p}str`, "123");
      expect(await store.deleteIfEquals(`${p}str`, 123)).toBe(false); // compared as JSON
      expect(await store.deleteIfEquals(`${p}str`, "123")).toBe(true);
    });

    it("a guarded batch (require) applies only while the guard key holds the token, and writes nothing otherwise", async () => {
      const p = ns();
      await store.set(`${p}lease`, "token-a", { pxMs: 60_000 });
      // Each attempt writes values of its own, so a refused batch that wrote anything shows.
      const batch = (token: string, attempt: string): KvOp[] => [
        { op: "require", key: `${p}lease`, equals: token },
        { op: "set", key: `${p}v`, value: { by: token, attempt } },
        { op: "set", key: `${p}ttl`, value: attempt, pxMs: 60_000 },
        { op: "sadd", key: `${p}s`, members: [attempt, "x"] },
        { op: "srem", key: `${p}s`, members: ["x"] },
        { op: "sadd", key: `${p}empty`, members: [] },
        { op: "del", key: `${p}gone` },
      ];
      await store.set(`${p}gone`, "here");
      await store.atomic(batch("token-a", "first"));
      const applied = async () => {
        expect(await store.get(`${p}v`)).toEqual({ by: "token-a", attempt: "first" });
        expect(await store.get(`${p}ttl`)).toBe("first");
        expect(await store.pttl(`${p}ttl`)).toBeGreaterThan(50_000);
        expect(await store.smembers(`${p}s`)).toEqual(["first"]);
      };
      await applied();
      expect(await store.get(`${p}gone`)).toBeNull();
      // The lease passed to someone else: an orphan's commit writes nothing.
      await store.set(`${p}lease`, "token-b");
      await store.set(`${p}gone`, "back");
      const refused = await store.atomic(batch("token-a", "orphan")).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(KvPreconditionError);
      await applied();
      expect(await store.get(`${p}gone`)).toBe("back");
      // A guard on a missing key never holds.
      await store.del([`${p}lease`]);
      expect(await store.atomic(batch("token-a", "no-lease")).catch((e: unknown) => e)).toBeInstanceOf(
        KvPreconditionError,
      );
      await applied();
      expect(await store.get(`${p}gone`)).toBe("back");
    });

    it("smembers lists a set, [] when missing", async () => {
      const p = ns();
      expect(await store.smembers(`${p}none`)).toEqual([]);
      await store.atomic([
        { op: "sadd", key: `${p}s`, members: ["a", "b", "c", "a"] },
        { op: "srem", key: `${p}s`, members: ["b", "zz"] },
      ]);
      expect((await store.smembers(`${p}s`)).sort()).toEqual(["a", "c"]);
      await store.atomic([{ op: "srem", key: `${p}s`, members: ["a", "c"] }]);
      expect(await store.smembers(`${p}s`)).toEqual([]);
      expect(await store.scanKeys(`${p}s`)).toEqual([]); // an emptied set is gone
    });

    it("set members come back as the strings they are", async () => {
      const p = ns();
      const members = ["123", "true", "null", "OK", "1e3", "0123", "", "[1]", '{"a":1}', "🌍"];
      await store.atomic([{ op: "sadd", key: `${p}s`, members }]);
      const all = await store.smembers(`${p}s`);
      expect([...all].sort()).toEqual([...members].sort());
      for (const m of all) expect(typeof m).toBe("string");
      const picked = await store.srandmember(`${p}s`, members.length);
      expect([...picked].sort()).toEqual([...members].sort());
      for (const m of picked) expect(typeof m).toBe("string");
      expect(await store.smismember(`${p}s`, ["123", "1e3", "1000", "", "OK"])).toEqual([
        true,
        true,
        false,
        true,
        true,
      ]);
    });

    it("scard counts members: 0 when missing, WRONGTYPE on a string", async () => {
      const p = ns();
      expect(await store.scard(`${p}none`)).toBe(0);
      await store.atomic([{ op: "sadd", key: `${p}s`, members: ["a", "b", "c", "a"] }]);
      expect(await store.scard(`${p}s`)).toBe(3);
      await store.atomic([{ op: "srem", key: `${p}s`, members: ["a", "b", "c"] }]);
      expect(await store.scard(`${p}s`)).toBe(0);
      await store.set(`${p}str`, "s");
      expect((await rejection(store.scard(`${p}str`))).message).toMatch(/WRONGTYPE/);
    });

    it("smismember answers per member, in order; [] for no members", async () => {
      const p = ns();
      await store.atomic([{ op: "sadd", key: `${p}s`, members: ["a", "b"] }]);
      expect(await store.smismember(`${p}s`, ["b", "x", "a", "b"])).toEqual([true, false, true, true]);
      expect(await store.smismember(`${p}s`, [])).toEqual([]);
      expect(await store.smismember(`${p}none`, ["a", "b"])).toEqual([false, false]);
      await store.set(`${p}str`, "s");
      expect((await rejection(store.smismember(`${p}str`, ["a"]))).message).toMatch(/WRONGTYPE/);
      expect(await store.smismember(`${p}str`, [])).toEqual([]); // nothing asked, nothing checked
    });

    it("srandmember returns up to count distinct members", async () => {
      const p = ns();
      const members = Array.from({ length: 20 }, (_, i) => `m${i}`);
      await store.atomic([{ op: "sadd", key: `${p}s`, members }]);
      for (const count of [1, 5, 19, 20]) {
        const got = await store.srandmember(`${p}s`, count);
        expect(got).toHaveLength(count);
        expect(new Set(got).size).toBe(count); // distinct
        for (const m of got) expect(members).toContain(m);
      }
      // More than the set holds: each member once.
      expect([...(await store.srandmember(`${p}s`, 1_000))].sort()).toEqual([...members].sort());
      expect(await store.srandmember(`${p}s`, 0)).toEqual([]);
      expect(await store.srandmember(`${p}none`, 3)).toEqual([]);
      // Random, not the same slice every time.
      const seen = new Set<string>();
      for (let i = 0; i < 30; i++) for (const m of await store.srandmember(`${p}s`, 2)) seen.add(m);
      expect(seen.size).toBeGreaterThan(2);
      await store.set(`${p}str`, "s");
      expect((await rejection(store.srandmember(`${p}str`, 2))).message).toMatch(/WRONGTYPE/);
      expect((await rejection(store.srandmember(`${p}str`, 0))).message).toMatch(/WRONGTYPE/);
      // A negative count would allow repeats in Redis: refused, as a rejection.
      for (const bad of [-1, 1.5, Number.NaN]) {
        const pending = store.srandmember(`${p}s`, bad);
        expect(pending).toBeInstanceOf(Promise);
        expect((await rejection(pending)).message).toMatch(/count must be a non-negative integer/);
      }
    });

    it("sdiffstore stores keys[0] minus the others and returns its size", async () => {
      const p = ns();
      await store.atomic([
        { op: "sadd", key: `${p}a`, members: ["1", "2", "3", "4", "5"] },
        { op: "sadd", key: `${p}b`, members: ["2", "x"] },
        { op: "sadd", key: `${p}c`, members: ["4", "y"] },
      ]);
      expect(await store.sdiffstore(`${p}d`, [`${p}a`, `${p}b`, `${p}c`, `${p}missing`])).toBe(3);
      expect([...(await store.smembers(`${p}d`))].sort()).toEqual(["1", "3", "5"]);
      expect([...(await store.smembers(`${p}a`))].sort()).toEqual(["1", "2", "3", "4", "5"]); // sources untouched
      // Only one key: a copy.
      expect(await store.sdiffstore(`${p}copy`, [`${p}b`])).toBe(2);
      expect([...(await store.smembers(`${p}copy`))].sort()).toEqual(["2", "x"]);
      // The destination may be a source: it is computed first, then replaced.
      expect(await store.sdiffstore(`${p}a`, [`${p}a`, `${p}d`])).toBe(2);
      expect([...(await store.smembers(`${p}a`))].sort()).toEqual(["2", "4"]);
      // Whatever the destination held is replaced, expiry included.
      await store.set(`${p}str`, "old", { pxMs: 60_000 });
      expect(await store.sdiffstore(`${p}str`, [`${p}b`, `${p}c`])).toBe(2);
      expect([...(await store.smembers(`${p}str`))].sort()).toEqual(["2", "x"]);
      expect(await store.pttl(`${p}str`)).toBeNull();
      // An empty result deletes the destination.
      expect(await store.sdiffstore(`${p}d`, [`${p}b`, `${p}copy`])).toBe(0);
      expect(await store.exists([`${p}d`])).toBe(0);
      expect(await store.sdiffstore(`${p}copy`, [`${p}missing`, `${p}b`])).toBe(0);
      expect(await store.exists([`${p}copy`])).toBe(0);
      expect(await store.sdiffstore(`${p}never`, [`${p}missing`])).toBe(0);
      expect(await store.scanKeys(`${p}never`)).toEqual([]);
    });

    it("sdiffstore: WRONGTYPE on a string source leaves the destination alone; no keys rejects", async () => {
      const p = ns();
      await store.atomic([
        { op: "sadd", key: `${p}a`, members: ["1", "2"] },
        { op: "sadd", key: `${p}dest`, members: ["kept"] },
      ]);
      await store.set(`${p}str`, "s");
      for (const keys of [
        [`${p}a`, `${p}str`],
        [`${p}str`, `${p}a`],
      ]) {
        expect((await rejection(store.sdiffstore(`${p}dest`, keys))).message).toMatch(/WRONGTYPE/);
        expect(await store.smembers(`${p}dest`)).toEqual(["kept"]);
      }
      const pending = store.sdiffstore(`${p}dest`, []);
      expect(pending).toBeInstanceOf(Promise);
      expect((await rejection(pending)).message).toMatch(/at least one source key/);
      expect(await store.smembers(`${p}dest`)).toEqual(["kept"]);
    });

    it("exists counts existing keys of any type, a repeated key each time", async () => {
      const p = ns();
      await store.set(`${p}str`, "v");
      await store.set(`${p}falsy`, null); // JSON null is a value
      await store.atomic([{ op: "sadd", key: `${p}set`, members: ["m"] }]);
      await store.set(`${p}short`, 1, { pxMs: 50 });
      expect(await store.exists([])).toBe(0);
      expect(await store.exists([`${p}missing`])).toBe(0);
      expect(await store.exists([`${p}str`, `${p}falsy`, `${p}set`, `${p}missing`])).toBe(3);
      expect(await store.exists([`${p}str`, `${p}str`, `${p}str`])).toBe(3);
      await sleep(120);
      expect(await store.exists([`${p}short`, `${p}str`])).toBe(1); // expired keys do not exist
      await store.del([`${p}str`]);
      expect(await store.exists([`${p}str`])).toBe(0);
    });

    it("atomic applies set, del, sadd and srem together", async () => {
      const p = ns();
      await store.set(`${p}old`, "old");
      await store.atomic([{ op: "sadd", key: `${p}queue`, members: ["x", "y"] }]);
      const ops: KvOp[] = [
        { op: "set", key: `${p}page`, value: { title: "T", blocks: [1, 2] } },
        { op: "set", key: `${p}ttl`, value: 1, pxMs: 5_000 },
        { op: "del", key: `${p}old` },
        { op: "sadd", key: `${p}queue`, members: ["z"] },
        { op: "srem", key: `${p}queue`, members: ["x"] },
        { op: "sadd", key: `${p}noop`, members: [] },
      ];
      await store.atomic(ops);
      expect(await store.get(`${p}page`)).toEqual({ title: "T", blocks: [1, 2] });
      expect(await store.get(`${p}old`)).toBeNull();
      expect((await store.smembers(`${p}queue`)).sort()).toEqual(["y", "z"]);
      expect(await store.pttl(`${p}ttl`)).toBeGreaterThan(4_000);
      expect(await store.smembers(`${p}noop`)).toEqual([]);
      await store.atomic([]); // nothing to do is fine
    });

    it(
      options.atomicRollback
        ? "a failing atomic batch rejects and applies nothing"
        : "a failing atomic batch rejects with the element's error (MULTI does not roll back)",
      async () => {
        const p = ns();
        await store.set(`${p}string`, "s");
        const err = await rejection(
          store.atomic([
            { op: "set", key: `${p}a`, value: 1 },
            { op: "sadd", key: `${p}string`, members: ["m"] }, // WRONGTYPE
            { op: "set", key: `${p}b`, value: 2 },
          ]),
        );
        expect(err.message).toMatch(/WRONGTYPE/);
        expect(await store.get(`${p}string`)).toBe("s");
        if (options.atomicRollback) {
          expect(await store.mget([`${p}a`, `${p}b`])).toEqual([null, null]);
        }
      },
    );

    it("a reader never sees half of an atomic batch", async () => {
      const p = ns();
      const reader = await makeStore(); // a second connection / instance
      try {
        const N = 1500;
        const keys = Array.from({ length: N }, (_, i) => `${p}k${i}`);
        const write = (gen: number): KvOp[] => [
          ...keys.map((key) => ({ op: "set" as const, key, value: { gen, pad: "x".repeat(64) } })),
          { op: "sadd", key: `${p}gens`, members: [`g${gen}`] },
        ];
        await store.atomic(write(0));
        const probe = [keys[0], keys[N >> 1], keys[N - 1]];
        const seen: string[] = [];
        let done = false;
        const polling = (async () => {
          while (!done) {
            const got = await reader.mget<{ gen: number }>(probe);
            seen.push(got.map((g) => g?.gen).join(","));
          }
        })();
        for (let gen = 1; gen <= 3; gen++) await store.atomic(write(gen));
        done = true;
        await polling;
        expect(seen.length).toBeGreaterThan(0);
        const torn = seen.filter((s) => new Set(s.split(",")).size !== 1);
        expect(torn).toEqual([]);
        expect((await reader.mget<{ gen: number }>(probe)).map((g) => g?.gen)).toEqual([3, 3, 3]);
      } finally {
        await reader.close();
      }
    });

    it("scanKeys returns exactly the keys under a prefix across many SCAN pages", async () => {
      const p = ns();
      const wanted = Array.from({ length: 1200 }, (_, i) => `${p}scan:a:${String(i).padStart(4, "0")}`);
      const others = Array.from({ length: 50 }, (_, i) => `${p}scan:b:${i}`);
      // Glob metacharacters in the prefix must be matched literally.
      const globby = [`${p}g[1]*?:x`, `${p}g[1]*?:y`];
      const decoys = [`${p}g1ab:x`, `${p}g[1]zz:x`, `${p}scan:aa`];
      const all = [...wanted, ...others, ...globby, ...decoys];
      await store.atomic(all.map((key) => ({ op: "set" as const, key, value: 1 })));
      const found = await store.scanKeys(`${p}scan:a:`);
      expect(found).toEqual([...wanted].sort());
      expect(await store.scanKeys(`${p}g[1]*?:`)).toEqual(globby.sort());
      expect(await store.scanKeys(`${p}scan:`)).toHaveLength(1200 + 50 + 1);
      expect(await store.scanKeys(`${p}nothing`)).toEqual([]);
    });

    it("refuses values that are not JSON, as a rejection", async () => {
      const p = ns();
      const pending = store.set(`${p}u`, undefined);
      expect(pending).toBeInstanceOf(Promise);
      expect((await rejection(pending)).message).toMatch(/JSON/);
      expect((await rejection(store.atomic([{ op: "set", key: `${p}f`, value: () => 1 }]))).message).toMatch(/JSON/);
      expect(await store.get(`${p}u`)).toBeNull();
    });

    it("close is safe twice and later calls reject", async () => {
      const s = await makeStore();
      await s.set(`${ns()}x`, 1);
      await s.close();
      await s.close();
      expect((await rejection(s.get("anything"))).message).toMatch(/closed/);
      for (const later of [
        s.scard("x"),
        s.smismember("x", ["a"]),
        s.srandmember("x", 1),
        s.sdiffstore("x", ["y"]),
        s.exists(["x"]),
      ]) {
        expect((await rejection(later)).message).toMatch(/closed/);
      }
    });
  });
}

// ---------------------------------------------------------------------------
// Backends

let redisServer: RedisServerHandle;
let bridgeServer: RedisServerHandle;
let bridge: UpstashBridge;
const BRIDGE_TOKEN = "bridge-token-9f8e7d6c5b4a";
const fileDirs: string[] = [];

beforeAll(async () => {
  [redisServer, bridgeServer] = await Promise.all([startRedisServer(), startRedisServer()]);
  bridge = await startUpstashBridge({ redisUrl: bridgeServer.url, token: BRIDGE_TOKEN });
});

afterAll(async () => {
  await bridge?.close();
  await Promise.all([redisServer?.stop(), bridgeServer?.stop()]);
  await Promise.all(fileDirs.map((d) => fs.rm(d, { recursive: true, force: true })));
});

let contractFileDir: string | undefined;
describeKvContract(
  "file",
  async () => {
    // Every instance of this suite shares the dir, like two processes would.
    if (!contractFileDir) fileDirs.push((contractFileDir = await tempDir("contract")));
    return createFileStore({ dir: contractFileDir });
  },
  { atomicRollback: true },
);
describeKvContract("redis", () => createRedisStore({ url: redisServer.url }), { atomicRollback: false });
describeKvContract("vercel-kv", () => createVercelKvStore({ url: bridge.url, token: BRIDGE_TOKEN }), {
  atomicRollback: false,
});

// ---------------------------------------------------------------------------
// File store: several processes on one directory

describe("file store across processes", () => {
  it("two instances see each other's writes, every time", async () => {
    const dir = await tempDir("two");
    fileDirs.push(dir);
    const a = createFileStore({ dir });
    const b = createFileStore({ dir });
    for (let i = 0; i < 60; i++) {
      // Same size every time: only the file identity tells the versions apart.
      await (i % 2 ? a : b).set("k", { i: String(i % 10) });
      expect(await (i % 2 ? b : a).get("k")).toEqual({ i: String(i % 10) });
    }
    await a.close();
    await b.close();
  });

  it("parallel writers on two instances lose no update", async () => {
    const dir = await tempDir("parallel");
    fileDirs.push(dir);
    const a = createFileStore({ dir });
    const b = createFileStore({ dir });
    await Promise.all([
      ...Array.from({ length: 50 }, (_, i) => a.set(`a:${i}`, i)),
      ...Array.from({ length: 50 }, (_, i) => b.set(`b:${i}`, i)),
      ...Array.from({ length: 25 }, (_, i) => a.atomic([{ op: "sadd", key: "members", members: [`a${i}`] }])),
      ...Array.from({ length: 25 }, (_, i) => b.atomic([{ op: "sadd", key: "members", members: [`b${i}`] }])),
    ]);
    expect(await a.scanKeys("a:")).toHaveLength(50);
    expect(await a.scanKeys("b:")).toHaveLength(50);
    expect(await b.smembers("members")).toHaveLength(50);
    // The file is a log in the documented format: one record per write.
    const logFile = path.join(dir, "kv.log");
    const onDisk = await readLogFile(logFile);
    expect(onDisk["a:7"]).toEqual({ value: 7 });
    expect((onDisk.members as { set: string[] }).set).toHaveLength(50);
    expect(parseLog(await fs.readFile(logFile), 0, logFile).batches).toHaveLength(150);
    expect((await fs.readdir(dir)).filter((f) => f !== "kv.log")).toEqual([]); // no lock or temp file left
    await a.close();
    await b.close();
  });

  it("a real second process writing concurrently loses no update", async () => {
    const dir = await tempDir("proc");
    fileDirs.push(dir);
    const store = createFileStore({ dir });
    const script = `
      const { createFileStore } = await import(${JSON.stringify(path.join(REPO_ROOT, "lib/kv/file.ts"))});
      const s = createFileStore({ dir: ${JSON.stringify(dir)} });
      await Promise.all(Array.from({ length: 40 }, (_, i) => s.set("child:" + i, { i })));
      await s.atomic([{ op: "sadd", key: "who", members: ["child"] }]);
      await s.close();
    `;
    let childDone = false;
    const child = promisify(execFile)(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      cwd: REPO_ROOT,
    }).finally(() => (childDone = true));
    // Keep writing for as long as the child runs, so the two really overlap.
    let written = 0;
    while (!childDone) {
      await Promise.all(Array.from({ length: 4 }, () => store.set(`parent:${written++}`, { i: written })));
    }
    await store.atomic([{ op: "sadd", key: "who", members: ["parent"] }]);
    await child;
    expect(await store.scanKeys("child:")).toHaveLength(40);
    expect(await store.scanKeys("parent:")).toHaveLength(written);
    expect((await store.smembers("who")).sort()).toEqual(["child", "parent"]);
    await store.close();
  });

  it("a partial temp file left by a crashed compaction does not affect reads or writes", async () => {
    const dir = await tempDir("crash");
    fileDirs.push(dir);
    const store = createFileStore({ dir });
    await store.set("kept", { ok: true });
    const fresh = path.join(dir, ".kv.log.99999.deadbeef.tmp");
    const old = path.join(dir, ".kv.log.99998.cafebabe.tmp");
    await fs.writeFile(fresh, 'nks-kv-log 1\n40 0123abcd {"ops":[{"op":"set","key":"kept","json":"fal');
    await fs.writeFile(old, "nks-kv-lo");
    const longAgo = new Date(Date.now() - 60_000);
    await fs.utimes(old, longAgo, longAgo);
    const other = createFileStore({ dir });
    expect(await other.get("kept")).toEqual({ ok: true });
    await other.set("next", 1);
    expect(await store.mget(["kept", "next"])).toEqual([{ ok: true }, 1]);
    const left = await fs.readdir(dir);
    expect(left).not.toContain(path.basename(old)); // old leftovers are swept
    await store.close();
    await other.close();
  });

  it("a torn last record (crash mid-append) is ignored by readers and cut by the next writer", async () => {
    const dir = await tempDir("torn");
    fileDirs.push(dir);
    const log = path.join(dir, "kv.log");
    const store = createFileStore({ dir });
    await store.set("kept", { ok: true });
    await store.atomic([{ op: "sadd", key: "s", members: ["a"] }]);
    const good = await fs.readFile(log);
    // The first 60% of a record: what a crash in the middle of an append leaves.
    const record = encodeRecord([
      { op: "set", key: "kept", json: JSON.stringify({ ok: false }) },
      { op: "sadd", key: "s", members: ["torn"] },
    ]);
    await fs.appendFile(log, record.subarray(0, Math.floor(record.length * 0.6)));
    const other = createFileStore({ dir });
    expect(await other.get("kept")).toEqual({ ok: true }); // a fresh reader
    expect(await store.smembers("s")).toEqual(["a"]); // an instance that is catching up
    await other.set("next", 1); // cuts the torn tail, then appends
    expect(await store.mget(["kept", "next"])).toEqual([{ ok: true }, 1]);
    expect(await store.smembers("s")).toEqual(["a"]);
    const after = await fs.readFile(log);
    expect(after.subarray(0, good.length).equals(good)).toBe(true);
    expect(parseLog(after, 0, log)).toMatchObject({ end: after.length });
    expect(await readLogFile(log)).toEqual({ kept: { value: { ok: true } }, s: { set: ["a"] }, next: { value: 1 } });
    await store.close();
    await other.close();
  });

  it("refuses a log with a damaged record in the middle instead of dropping data", async () => {
    const dir = await tempDir("damaged");
    fileDirs.push(dir);
    const log = path.join(dir, "kv.log");
    const writer = createFileStore({ dir });
    await writer.set("a", 1);
    await writer.set("b", 2);
    await writer.set("c", 3);
    await writer.close();
    const bytes = await fs.readFile(log);
    const text = bytes.toString("utf8");
    // Flip one byte inside the value of the second record ("2" → "7").
    const second = text.indexOf('"key":"b"');
    const digit = text.indexOf('"json":"2"', second) + '"json":"'.length;
    const damaged = Buffer.from(bytes);
    damaged[Buffer.byteLength(text.slice(0, digit))] = "7".charCodeAt(0);
    await fs.writeFile(log, damaged);
    const store = createFileStore({ dir });
    const readErr = await rejection(store.get("a"));
    expect(readErr.message).toMatch(
      /kv \(file\).*kv\.log is damaged: the record at byte \d+ is unreadable and more records follow/,
    );
    expect(readErr.message).not.toContain('"json"'); // names the place, not the contents
    expect((await rejection(store.set("d", 4))).message).toMatch(/is damaged/);
    expect((await fs.readFile(log)).equals(damaged)).toBe(true); // not overwritten
    await store.close();
  });

  it("waits for a held lock and breaks a stale one", async () => {
    const dir = await tempDir("lock");
    fileDirs.push(dir);
    const store = createFileStore({ dir });
    const lock = path.join(dir, "kv.log.lock");

    await fs.mkdir(lock); // somebody holds it right now
    let finished = false;
    const write = store.set("k", 1).then(() => (finished = true));
    await sleep(200);
    expect(finished).toBe(false);
    await fs.rmdir(lock);
    await write;
    expect(await store.get("k")).toBe(1);

    await fs.mkdir(lock); // left behind by a crashed process
    const longAgo = new Date(Date.now() - 20_000);
    await fs.utimes(lock, longAgo, longAgo);
    const started = Date.now();
    await store.set("k", 2);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(await store.get("k")).toBe(2);
    await store.close();
  });

  it("refuses to overwrite a kv.log that is not a log", async () => {
    const dir = await tempDir("corrupt");
    fileDirs.push(dir);
    await fs.writeFile(path.join(dir, "kv.log"), "{ not json");
    const store = createFileStore({ dir });
    expect((await rejection(store.get("x"))).message).toMatch(/kv\.log is not a log written by this store/);
    expect((await rejection(store.set("x", 1))).message).toMatch(/not a log/);
    expect(await fs.readFile(path.join(dir, "kv.log"), "utf8")).toBe("{ not json");
    await store.close();
  });
});

// ---------------------------------------------------------------------------
// Backend selection

describe("createKvStore / describeKvBackend", () => {
  const TOKEN = "sekret-token-0123456789";

  it("uses Upstash REST when URL and token are set (it wins over REDIS_URL)", async () => {
    const env = {
      KV_REST_API_URL: "https://example.upstash.io",
      KV_REST_API_TOKEN: TOKEN,
      REDIS_URL: "redis://x:6379",
    };
    const store = createKvStore(env);
    expect(store.kind).toBe("vercel-kv");
    await store.close();
    expect(describeKvBackend(env)).toBe("Upstash REST at https://example.upstash.io");
  });

  it("uses REDIS_URL, then KV_URL, without connecting and without showing passwords", async () => {
    const env = { REDIS_URL: "redis://user:pa55word@127.0.0.1:6380/2" };
    const store = createKvStore(env);
    expect(store.kind).toBe("redis");
    await store.close();
    expect(describeKvBackend(env)).toBe("redis at 127.0.0.1:6380");
    expect(createKvStore({ KV_URL: "rediss://default:pw@kv.example.com:6379" }).kind).toBe("redis");
    expect(describeKvBackend({ KV_URL: "rediss://default:pw@kv.example.com:6379" })).toBe(
      "redis at kv.example.com:6379",
    );
  });

  it("refuses the embedded file store under NODE_ENV=production unless KV_FILE_DIR asks for it", () => {
    expect(() => resolveKvBackend({ NODE_ENV: "production" })).toThrow(KvConfigError);
    expect(() =>
      resolveKvBackend({ NODE_ENV: "production", REDIS_URl: "redis://typo:6379" } as Record<string, string>),
    ).toThrow(/REDIS_URL/);
    expect(resolveKvBackend({ NODE_ENV: "production", KV_FILE_DIR: "/tmp/kv-on-purpose" })).toEqual({
      kind: "file",
      dir: "/tmp/kv-on-purpose",
    });
    expect(resolveKvBackend({ NODE_ENV: "production", REDIS_URL: "redis://127.0.0.1:6379" }).kind).toBe("redis");
  });

  it("falls back to the file store under KV_FILE_DIR or .data/", async () => {
    const dir = await tempDir("select");
    fileDirs.push(dir);
    const store = createKvStore({ KV_FILE_DIR: dir });
    expect(store.kind).toBe("file");
    await store.set("k", "v");
    expect(await readLogFile(path.join(dir, "kv.log"))).toEqual({ k: { value: "v" } });
    await store.close();
    expect(describeKvBackend({ KV_FILE_DIR: dir })).toBe(`file store at ${path.join(dir, "kv.log")}`);
    expect(describeKvBackend({})).toBe(`file store at ${path.join(".data", "kv.log")}`);
    expect(resolveKvBackend({ VERCEL_ENV: "preview" })).toEqual({ kind: "file", dir: path.resolve(".data") });
  });

  it("throws KvConfigError in production without configuration", () => {
    const err = (() => {
      try {
        createKvStore({ VERCEL_ENV: "production" });
      } catch (e) {
        return e as KvConfigError;
      }
      throw new Error("expected a throw");
    })();
    expect(err).toBeInstanceOf(KvConfigError);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toMatch(/KV_REST_API_URL/);
    expect(err.message).toMatch(/KV_REST_API_TOKEN/);
    expect(err.message).toMatch(/REDIS_URL/);
    expect(describeKvBackend({ VERCEL_ENV: "production" })).toMatch(/^KV not configured/);
  });

  it("names the missing half of the REST configuration, never the value of the other", () => {
    const url = "https://secret-host-1234.upstash.io";
    expect(() => createKvStore({ KV_REST_API_URL: url })).toThrow(KvConfigError);
    try {
      createKvStore({ KV_REST_API_URL: url, KV_REST_API_TOKEN: "   " });
    } catch (e) {
      expect((e as KvConfigError).message).toMatch(/KV_REST_API_TOKEN is missing/);
      expect((e as KvConfigError).variables).toEqual(["KV_REST_API_TOKEN"]);
      expect(allMessages(e)).not.toContain("secret-host-1234");
    }
    try {
      createKvStore({ KV_REST_API_TOKEN: TOKEN, REDIS_URL: "redis://127.0.0.1:1" });
      throw new Error("expected a throw");
    } catch (e) {
      expect(e).toBeInstanceOf(KvConfigError);
      expect((e as KvConfigError).message).toMatch(/KV_REST_API_URL is missing/);
      expect(allMessages(e)).not.toContain(TOKEN);
    }
    expect(describeKvBackend({ KV_REST_API_TOKEN: TOKEN })).not.toContain(TOKEN);
  });

  it("takes the Upstash console's UPSTASH_REDIS_REST_* pair, and names its missing half", async () => {
    const store = createKvStore({ UPSTASH_REDIS_REST_URL: bridge.url, UPSTASH_REDIS_REST_TOKEN: BRIDGE_TOKEN });
    expect(store.kind).toBe("vercel-kv");
    await store.set(`${RUN}:upstash-console`, "v");
    expect(await store.get(`${RUN}:upstash-console`)).toBe("v");
    await store.close();
    expect(describeKvBackend({ UPSTASH_REDIS_REST_URL: bridge.url, UPSTASH_REDIS_REST_TOKEN: TOKEN })).toBe(
      `Upstash REST at ${new URL(bridge.url).origin}`,
    );
    const half = (() => {
      try {
        createKvStore({ UPSTASH_REDIS_REST_TOKEN: TOKEN, REDIS_URL: "redis://127.0.0.1:1" });
      } catch (e) {
        return e as KvConfigError;
      }
      throw new Error("expected a throw");
    })();
    expect(half.variables).toEqual(["UPSTASH_REDIS_REST_URL"]);
    expect(allMessages(half)).not.toContain(TOKEN);
    expect(
      resolveKvBackend({
        KV_REST_API_URL: "https://a.upstash.io",
        KV_REST_API_TOKEN: "t",
        UPSTASH_REDIS_REST_URL: "https://b.upstash.io",
        UPSTASH_REDIS_REST_TOKEN: "u",
      }),
    ).toMatchObject({ url: "https://a.upstash.io", variables: ["KV_REST_API_URL", "KV_REST_API_TOKEN"] });
  });

  it("runtime errors never contain the REST token", async () => {
    const wrong = createKvStore({ KV_REST_API_URL: bridge.url, KV_REST_API_TOKEN: TOKEN });
    const err = await rejection(wrong.get("k"));
    expect(err.message).toMatch(/vercel-kv.*Unauthorized/);
    expect(allMessages(err)).not.toContain(TOKEN);
    await wrong.close();

    const right = createKvStore({ KV_REST_API_URL: bridge.url, KV_REST_API_TOKEN: BRIDGE_TOKEN });
    await right.atomic([{ op: "sadd", key: `${RUN}:tokentest:set`, members: ["m"] }]);
    const typeErr = await rejection(right.get(`${RUN}:tokentest:set`));
    expect(typeErr.message).toMatch(/WRONGTYPE/);
    expect(allMessages(typeErr)).not.toContain(BRIDGE_TOKEN);
    await right.close();
  });

  it("a redis that is unreachable or down rejects with a clear message and does not crash", async () => {
    const spare = await startRedisServer();
    const { port } = spare;
    const store = createRedisStore({ url: `redis://:pw-secret-xyz@127.0.0.1:${port}` });
    // This server has no password: AUTH fails, and the message must not echo it.
    const authErr = await rejection(store.get("k"));
    expect(authErr.message).toMatch(/kv \(redis/);
    expect(allMessages(authErr)).not.toContain("pw-secret-xyz");
    await store.close();

    const ok = createRedisStore({ url: spare.url });
    await ok.set("k", 1);
    await spare.stop(); // the server goes away under an open connection
    const downErr = await rejection(ok.get("k"));
    expect(downErr.message).toMatch(/kv \(redis/);
    await ok.close();

    const started = Date.now();
    const never = createRedisStore({ url: `redis://127.0.0.1:${port}` });
    const connErr = await rejection(never.get("k"));
    expect(connErr.message).toMatch(new RegExp(`cannot connect to 127\\.0\\.0\\.1:${port}`));
    expect(Date.now() - started).toBeLessThan(3_000);
    // The next call tries again (and fails again) instead of hanging.
    expect((await rejection(never.get("k"))).message).toMatch(/cannot connect/);
    await never.close();
  });
});

// ---------------------------------------------------------------------------
// The Upstash bridge itself

describe("Upstash REST bridge", () => {
  const post = (pathname: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${bridge.url}${pathname}`, {
      method: "POST",
      headers: { authorization: `Bearer ${BRIDGE_TOKEN}`, "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
    });

  it("answers 401 for a wrong or missing bearer token", async () => {
    for (const headers of [{ authorization: "Bearer nope" }, {}] as Record<string, string>[]) {
      const res = await fetch(`${bridge.url}/`, { method: "POST", headers, body: JSON.stringify(["PING"]) });
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ error: "Unauthorized" });
    }
  });

  it("speaks the REST protocol: single, pipeline, multi-exec, path style, base64", async () => {
    const k = `${RUN}:bridge:k`;
    expect(await (await post("/", ["SET", k, "héllo"])).json()).toEqual({ result: "OK" });
    expect(await (await post("/", ["GET", k])).json()).toEqual({ result: "héllo" });
    expect(await (await post("/", ["GET", k], { "Upstash-Encoding": "base64" })).json()).toEqual({
      result: Buffer.from("héllo").toString("base64"),
    });
    expect(await (await post("/", ["SET", k, "x"], { "Upstash-Encoding": "base64" })).json()).toEqual({ result: "OK" });
    const bad = await post("/", ["INCR", k]);
    expect(bad.status).toBe(400);
    expect((await bad.json()).error).toMatch(/^ERR /);
    const pipe = await (
      await post("/pipeline", [
        ["SET", k, "1"],
        ["INCR", k],
        ["SADD", k, "m"],
        ["GET", k],
      ])
    ).json();
    expect(pipe).toEqual([
      { result: "OK" },
      { result: 2 },
      { error: expect.stringMatching(/^WRONGTYPE/) },
      { result: "2" },
    ]);
    const tx = await (
      await post("/multi-exec", [
        ["SET", k, "a"],
        ["GET", k],
      ])
    ).json();
    expect(tx).toEqual([{ result: "OK" }, { result: "a" }]);
    const pathStyle = await fetch(`${bridge.url}/get/${encodeURIComponent(k)}`, {
      headers: { authorization: `Bearer ${BRIDGE_TOKEN}` },
    });
    expect(await pathStyle.json()).toEqual({ result: "a" });
  });

  it("gets one request per call from the vercel-kv store (auto-pipelining off), /multi-exec for atomic", async () => {
    const store = createVercelKvStore({ url: bridge.url, token: BRIDGE_TOKEN });
    const before = bridge.log().length;
    await Promise.all([store.get("a"), store.get("b"), store.get("c")]);
    await store.atomic([
      { op: "set", key: `${RUN}:bridge:x`, value: 1 },
      { op: "del", key: `${RUN}:bridge:y` },
    ]);
    const requests = bridge.log().slice(before);
    expect(requests).toEqual(["POST /", "POST /", "POST /", "POST /multi-exec"]);
    await store.close();
  });
});

describe("Upstash REST bridge: size limits", () => {
  const MiB = 1024 * 1024;
  const post = (url: string, pathname: string, body: unknown) =>
    fetch(`${url}${pathname}`, {
      method: "POST",
      headers: { authorization: `Bearer ${BRIDGE_TOKEN}`, "content-type": "application/json" },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
  const requestError = (actual: number) =>
    `ERR max request size exceeded. Limit: 10485760 bytes, Actual: ${actual} bytes. ` +
    "See https://upstash.com/docs/redis/troubleshooting/max_request_size_exceeded for details";

  it("uses Upstash's Free / Pay-as-you-go limits", () => {
    expect(UPSTASH_MAX_REQUEST_BYTES).toBe(10_485_760);
    expect(UPSTASH_MAX_RECORD_BYTES).toBe(104_857_600);
  });

  it("refuses a request body over 10 MiB with Upstash's error, before running anything", async () => {
    const k = `${RUN}:limits:raw`;
    const body = JSON.stringify(["SET", k, "x".repeat(UPSTASH_MAX_REQUEST_BYTES)]);
    const before = bridge.stats();
    const res = await post(bridge.url, "/", body);
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: requestError(Buffer.byteLength(body)) });
    const after = bridge.stats();
    expect(after.commands).toBe(before.commands); // nothing ran
    expect(after.requestBytes - before.requestBytes).toBe(Buffer.byteLength(body)); // but it was received
    expect(await (await post(bridge.url, "/", ["EXISTS", k])).json()).toEqual({ result: 0 });
  });

  it("a 10.5 MB SET through @vercel/kv rejects naming the limit, with a short message, and writes nothing", async () => {
    const store = createVercelKvStore({ url: bridge.url, token: BRIDGE_TOKEN });
    const k = `${RUN}:limits:big`;
    const err = await rejection(store.set(k, "y".repeat(10_500_000)));
    expect(err.message).toMatch(
      /^kv \(vercel-kv\): SET failed: ERR max request size exceeded\. Limit: 10485760 bytes, Actual: \d+ bytes/,
    );
    // @upstash/redis echoes the whole command; the adapter keeps only its start.
    expect(allMessages(err).length).toBeLessThan(5_000);
    expect(err.message).toMatch(/more characters\)$/);
    expect(await store.get(k)).toBeNull();
    // Just under the limit, both ways: 9.5 MiB written and read back.
    const fits = "z".repeat(9.5 * MiB);
    expect(await store.set(k, fits)).toBe(true);
    expect(await store.get(k)).toBe(fits);
    await store.del([k]);
    await store.close();
  });

  it("a /multi-exec batch over 10 MiB rejects as a whole and writes nothing", async () => {
    const store = createVercelKvStore({ url: bridge.url, token: BRIDGE_TOKEN });
    const p = `${RUN}:limits:tx:`;
    const keys = Array.from({ length: 11 }, (_, i) => `${p}${i}`);
    const before = bridge.stats();
    const err = await rejection(
      store.atomic([
        ...keys.map((key) => ({ op: "set" as const, key, value: "v".repeat(MiB) })),
        { op: "sadd", key: `${p}set`, members: ["m"] },
      ]),
    );
    expect(err.message).toMatch(/MULTI\/EXEC failed: ERR max request size exceeded\. Limit: 10485760 bytes/);
    expect(allMessages(err).length).toBeLessThan(5_000);
    expect(bridge.stats().commands).toBe(before.commands);
    expect(await store.exists([...keys, `${p}set`])).toBe(0);
    await store.close();
  });

  it("a reply over 10 MiB is refused too (an MGET of big values), each value alone is fine", async () => {
    const store = createVercelKvStore({ url: bridge.url, token: BRIDGE_TOKEN });
    const p = `${RUN}:limits:reply:`;
    const big = "r".repeat(6 * MiB);
    await store.set(`${p}a`, big);
    await store.set(`${p}b`, big);
    expect(await store.get(`${p}a`)).toBe(big);
    const err = await rejection(store.mget([`${p}a`, `${p}b`]));
    expect(err.message).toMatch(
      /MGET failed: ERR max request size exceeded\. Limit: 10485760 bytes, Actual: 125829\d\d bytes/,
    );
    await store.del([`${p}a`, `${p}b`]);
    await store.close();
  });

  describe("record size (a bridge with a 1,000-byte record limit)", () => {
    let small: UpstashBridge;
    let store: KvStore;
    beforeAll(async () => {
      small = await startUpstashBridge({ redisUrl: bridgeServer.url, token: BRIDGE_TOKEN, maxRecordBytes: 1_000 });
      store = createVercelKvStore({ url: small.url, token: BRIDGE_TOKEN });
    });
    afterAll(async () => {
      await store?.close();
      await small?.close();
    });
    const recordError = (actual: number) =>
      `ERR max single record size exceeded. Limit: 1000 bytes, Actual: ${actual} bytes. ` +
      "See https://upstash.com/docs/redis/troubleshooting/max_record_size_exceeded for details";

    it("refuses a SET whose value is over the limit", async () => {
      const k = `${RUN}:record:str`;
      expect(await store.set(k, "s".repeat(998))).toBe(true); // 1,000 bytes of JSON: at the limit
      const err = await rejection(store.set(k, "s".repeat(999)));
      expect(err.message).toContain(recordError(1_001));
      expect(await store.get(k)).toBe("s".repeat(998));
    });

    it("refuses a set growing past the limit; a /multi-exec is discarded whole", async () => {
      const p = `${RUN}:record:set:`;
      const members = (tag: string) => Array.from({ length: 6 }, (_, i) => `${tag}${i}`.padEnd(100, "."));
      await store.atomic([{ op: "sadd", key: `${p}s`, members: members("a") }]); // 600 bytes
      const err = await rejection(
        store.atomic([
          { op: "set", key: `${p}other`, value: 1 },
          { op: "sadd", key: `${p}s`, members: members("b") }, // would be 1,200
        ]),
      );
      expect(err.message).toContain(recordError(1_200));
      expect(await store.get(`${p}other`)).toBeNull();
      expect(await store.scard(`${p}s`)).toBe(6);
      // Deleting first makes room, within the same batch.
      await store.atomic([
        { op: "del", key: `${p}s` },
        { op: "sadd", key: `${p}s`, members: members("b") },
      ]);
      expect(await store.smismember(`${p}s`, [members("a")[0], members("b")[0]])).toEqual([false, true]);
    });

    it("refuses only the offending element of a /pipeline, counting what it adds up to", async () => {
      const k = `${RUN}:record:append`;
      const res = await post(small.url, "/pipeline", [
        ["SET", `${k}:x`, "x"],
        ["APPEND", k, "a".repeat(600)],
        ["APPEND", k, "a".repeat(600)],
        ["STRLEN", k],
      ]);
      expect(await res.json()).toEqual([
        { result: "OK" },
        { result: 600 },
        { error: recordError(1_200) },
        { result: 600 },
      ]);
      expect(small.stats().byCommand.append).toBe(1); // the refused one never ran
    });
  });
});

describe("Upstash REST bridge: stats", () => {
  const post = (pathname: string, body: unknown, token = BRIDGE_TOKEN) =>
    fetch(`${bridge.url}${pathname}`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  const utf8 = (s: string) => Buffer.byteLength(s);

  it("counts HTTP body bytes both ways, refused requests included", async () => {
    bridge.resetStats();
    expect(bridge.stats()).toEqual({
      commands: 0,
      requestBytes: 0,
      responseBytes: 0,
      writtenBytes: 0,
      largestValueBytes: 0,
      byCommand: {},
    });
    const bodies = [
      ["SET", `${RUN}:stats:k`, "héllo"],
      ["GET", `${RUN}:stats:k`],
      ["INCR", `${RUN}:stats:k`],
    ];
    let sent = 0;
    let received = 0;
    for (const body of bodies) {
      sent += utf8(JSON.stringify(body));
      received += utf8(await (await post("/", body)).text());
    }
    const unauthorized = await post("/", ["GET", "x"], "wrong");
    expect(unauthorized.status).toBe(401);
    sent += utf8(JSON.stringify(["GET", "x"]));
    received += utf8(await unauthorized.text());
    const stats = bridge.stats();
    expect(stats.requestBytes).toBe(sent);
    expect(stats.responseBytes).toBe(received);
    // INCR on a non-integer ran (and failed): billed. The 401 never ran.
    expect(stats.commands).toBe(3);
    expect(stats.byCommand).toEqual({ set: 1, get: 1, incr: 1 });
    expect(stats.writtenBytes).toBe(utf8("héllo"));
  });

  it("bills each element of a /pipeline and /multi-exec, not MULTI/EXEC, not PING", async () => {
    bridge.resetStats();
    const k = `${RUN}:stats:p`;
    await post("/pipeline", [
      ["SET", k, "1"],
      ["INCR", k],
      ["GET", k],
    ]);
    await post("/multi-exec", [
      ["SADD", `${k}:s`, "a", "bb"],
      ["SCARD", `${k}:s`],
    ]);
    await post("/", ["PING"]);
    const stats = bridge.stats();
    expect(stats.commands).toBe(5);
    expect(stats.byCommand).toEqual({ set: 1, incr: 1, get: 1, sadd: 1, scard: 1, ping: 1 });
    expect(stats.writtenBytes).toBe(1 + 1 + 2);
    expect(stats.largestValueBytes).toBe(2);
  });

  it("meters a vercel-kv store's calls: values written, largest value, commands per name", async () => {
    const store = createVercelKvStore({ url: bridge.url, token: BRIDGE_TOKEN });
    const p = `${RUN}:stats:kv:`;
    bridge.resetStats();
    await store.set(`${p}a`, { a: "x" });
    expect(await store.set(`${p}a`, { a: "y".repeat(50) }, { nx: true })).toBe(false); // wrote nothing
    await store.get(`${p}a`);
    await store.atomic([
      { op: "set", key: `${p}b`, value: "hé" },
      { op: "sadd", key: `${p}s`, members: ["m1", "ü"] },
      { op: "del", key: `${p}c` },
    ]);
    await rejection(store.get(`${p}s`)); // WRONGTYPE: ran, billed, wrote nothing
    await store.sdiffstore(`${p}d`, [`${p}s`]); // server side: no value sent
    const stats = bridge.stats();
    expect(stats.byCommand).toEqual({ set: 3, get: 2, sadd: 1, del: 1, sdiffstore: 1 });
    expect(stats.commands).toBe(8);
    expect(stats.writtenBytes).toBe(utf8('{"a":"x"}') + utf8('"hé"') + utf8("m1") + utf8("ü"));
    expect(stats.largestValueBytes).toBe(utf8('{"a":"x"}'));
    await store.close();
  });
});

describe("meterKv (in-process KvStore meter)", () => {
  it("counts calls and the bytes of values written and read", async () => {
    const dir = await tempDir("meter");
    fileDirs.push(dir);
    const m = meterKv(createFileStore({ dir }));
    const kv = m.store;
    expect(kv.kind).toBe("file");
    await kv.set("a", { a: "x" });
    expect(await kv.set("a", { big: "y".repeat(100) }, { nx: true })).toBe(false);
    await kv.atomic([
      { op: "set", key: "b", value: "hé" },
      { op: "sadd", key: "s", members: ["m1", "ü"] },
      { op: "srem", key: "s", members: ["zz"] },
    ]);
    expect(await kv.get("a")).toEqual({ a: "x" });
    expect(await kv.mget(["a", "missing", "b"])).toEqual([{ a: "x" }, null, "hé"]);
    expect((await kv.smembers("s")).sort()).toEqual(["m1", "ü"]);
    expect(await kv.srandmember("s", 5)).toHaveLength(2);
    expect(await kv.scard("s")).toBe(2);
    await rejection(kv.get("s"));
    const stats = m.stats();
    expect(stats.calls).toEqual({ set: 2, atomic: 1, get: 2, mget: 1, smembers: 1, srandmember: 1, scard: 1 });
    expect(stats.failures).toEqual({ get: 1 });
    expect(stats.writtenBytes).toBe(9 + 5 + 2 + 2); // {"a":"x"}, "hé", m1, ü
    expect(stats.valuesWritten).toBe(4);
    expect(stats.largestValueBytes).toBe(9);
    expect(stats.largestValueKey).toBe("a");
    expect(stats.readBytes).toBe(9 + (9 + 5) + 4 + 4);
    m.reset();
    expect(m.stats()).toMatchObject({ calls: {}, writtenBytes: 0, readBytes: 0, largestValueKey: null });
    await kv.close();
    expect(m.stats().calls).toEqual({ close: 1 });
  });

  it("agrees with the Upstash bridge on what was written", async () => {
    const m = meterKv(createVercelKvStore({ url: bridge.url, token: BRIDGE_TOKEN }));
    const p = `${RUN}:meter:`;
    bridge.resetStats();
    await m.store.set(`${p}page`, { title: "Ünïcode", blocks: ["x".repeat(3_000)] });
    await m.store.set(`${p}page`, { other: true }, { nx: true });
    await m.store.atomic([
      { op: "set", key: `${p}cursor`, value: { n: 1 }, pxMs: 60_000 },
      { op: "sadd", key: `${p}done`, members: ["p1", "p2", "🌍"] },
      { op: "del", key: `${p}lease` },
    ]);
    const bridgeStats = bridge.stats();
    const meterStats = m.stats();
    expect(meterStats.writtenBytes).toBe(bridgeStats.writtenBytes);
    expect(meterStats.largestValueBytes).toBe(bridgeStats.largestValueBytes);
    expect(meterStats.largestValueKey).toBe(`${p}page`);
    await m.store.close();
  });
});

describe("redis-meter (a real redis-server, no proxy)", () => {
  let server: RedisServerHandle;
  beforeAll(async () => {
    server = await startRedisServer(); // its own: nothing else talks to it
  });
  afterAll(async () => {
    await server?.stop();
  });
  const resp = (...args: string[]) =>
    `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("")}`;

  it("two readings in a row see nothing between them", async () => {
    const a = await readRedisStats(server.url);
    const b = await readRedisStats(server.url);
    expect(diffRedisStats(a, b)).toEqual({ netInputBytes: 0, netOutputBytes: 0, commands: 0, byCommand: {} });
    expect(b.commands).toBeGreaterThan(a.commands);
  });

  it("counts exactly the commands and RESP bytes of other clients", async () => {
    const before = await readRedisStats(server.url);
    const raw = createClient({ url: server.url, RESP: 2, disableClientInfo: true });
    await raw.connect();
    await raw.set("k", "héllo");
    expect(await raw.get("k")).toBe("héllo");
    await raw.sAdd("s", ["a", "b"]);
    await raw.close();
    const used = diffRedisStats(before, await readRedisStats(server.url));
    expect(used.commands).toBe(3);
    expect(used.byCommand).toEqual({ set: 1, get: 1, sadd: 1 });
    expect(used.netInputBytes).toBe(
      Buffer.byteLength(resp("SET", "k", "héllo") + resp("GET", "k") + resp("SADD", "s", "a", "b")),
    );
    expect(used.netOutputBytes).toBe(Buffer.byteLength("+OK\r\n" + "$6\r\nhéllo\r\n" + ":2\r\n"));
  });

  it("sees what the redis KvStore sends", async () => {
    const before = await readRedisStats(server.url);
    const store = createRedisStore({ url: server.url });
    await store.atomic([
      { op: "set", key: "kv:a", value: 1 },
      { op: "sadd", key: "kv:s", members: ["x"] },
    ]);
    expect(await store.scard("kv:s")).toBe(1);
    await store.close();
    const used = diffRedisStats(before, await readRedisStats(server.url));
    expect(used.byCommand).toMatchObject({ multi: 1, set: 1, sadd: 1, exec: 1, scard: 1 });
    // Plus its CLIENT SETINFO handshake from Redis 7.2 on (7.0 rejects it uncounted).
    expect(used.commands).toBe(Object.values(used.byCommand).reduce((a, b) => a + b, 0));
    expect(used.netInputBytes).toBeGreaterThan(0);
    expect(used.netOutputBytes).toBeGreaterThan(0);
  });

  it("largestValue finds the biggest record under a prefix: STRLEN, or the members' lengths for a set", async () => {
    const store = createRedisStore({ url: server.url });
    try {
      await store.set("lv:small", "x"); // "x" as JSON: 3 bytes
      await store.set("lv:page", { body: "é".repeat(100) }); // 2 bytes per é
      await store.atomic([{ op: "sadd", key: "lv:set", members: ["a".repeat(150), "🌍".repeat(20)] }]);
      await store.set("lv*[glob]", "y".repeat(10_000)); // matched literally: not under "lv:"
      const pageBytes = Buffer.byteLength(JSON.stringify({ body: "é".repeat(100) }));
      expect(await largestValue(server.url, "lv:")).toEqual({
        key: "lv:set",
        bytes: 150 + 80,
        keys: 3,
        totalBytes: 3 + pageBytes + 230,
      });
      expect(await largestValue(server.url, "lv:p")).toEqual({
        key: "lv:page",
        bytes: pageBytes,
        keys: 1,
        totalBytes: pageBytes,
      });
      expect(await largestValue(server.url, "lv*[")).toMatchObject({ key: "lv*[glob]", bytes: 10_002 });
      expect(await largestValue(server.url, "nothing:")).toBeNull();
    } finally {
      await store.close();
    }
  });
});
