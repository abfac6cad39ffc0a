/**
 * The file store as an append-only log (lib/kv/file.ts, lib/kv/file-log.ts):
 * write cost independent of the store's size, incremental catch-up by other
 * instances, compaction, and crashes in the middle of an append. The KvStore
 * contract itself (and cross-process writers) is in kv-contract.test.ts.
 */
import { spawn } from "node:child_process";
import { promises as fs, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { createFileStore } from "../lib/kv/file";
import { LOG_MAGIC, encodeRecord, parseLog } from "../lib/kv/file-log";
import { rejection } from "./support/rejection";

const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const dirs: string[] = [];

afterAll(async () => {
  await Promise.all(dirs.map((d) => fs.rm(d, { recursive: true, force: true })));
});

async function tempDir(label: string): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), `nks-kvfile-${label}-`));
  dirs.push(dir);
  return dir;
}

/** Every record of a log file, parsed; throws if it does not parse to its very end. */
async function records(file: string) {
  const buf = await fs.readFile(file);
  const parsed = parseLog(buf, 0, file);
  expect(parsed.end).toBe(buf.length);
  return parsed.batches;
}

describe("file store: append-only log", () => {
  it("2,000 commits of ~50 KB: the cost per commit does not grow with the store", async () => {
    const dir = await tempDir("perf");
    const store = createFileStore({ dir });
    const pad = "p".repeat(50_000);
    const N = 2_000;
    const times: number[] = [];
    const started = performance.now();
    for (let i = 0; i < N; i++) {
      const t0 = performance.now();
      // The shape of a sync commit: a page bundle, the cursor, a set member.
      await store.atomic([
        { op: "set", key: `page:${i}`, value: { id: i, body: pad } },
        { op: "set", key: "cursor", value: { done: i } },
        { op: "sadd", key: "pages", members: [`p${i}`] },
      ]);
      times.push(performance.now() - t0);
    }
    const total = performance.now() - started;
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    const first = sum(times.slice(0, 200));
    const last = sum(times.slice(-200));
    const size = (await fs.stat(path.join(dir, "kv.log"))).size;
    console.log(
      `file store: ${N} commits in ${Math.round(total)} ms; first 200: ${(first / 200).toFixed(2)} ms/commit, ` +
        `last 200 (store ~${Math.round(size / 1e6)} MB): ${(last / 200).toFixed(2)} ms/commit`,
    );
    expect(size).toBeGreaterThan(N * 50_000);
    // Relative, not absolute: a full rewrite per commit makes the last
    // commits ~100x dearer than the first ones.
    expect(last).toBeLessThanOrEqual(3 * first);

    // Everything is there, for this instance and for a fresh one.
    const fresh = createFileStore({ dir });
    for (const s of [store, fresh]) {
      expect(await s.get("cursor")).toEqual({ done: N - 1 });
      expect(await s.smembers("pages")).toHaveLength(N);
      expect(await s.scanKeys("page:")).toHaveLength(N);
      expect(await s.get<{ id: number; body: string }>(`page:${N - 1}`)).toEqual({ id: N - 1, body: pad });
    }
    await fresh.close();
    await store.close();
  }, 120_000);

  it("another instance applies only the appended bytes", async () => {
    const dir = await tempDir("incremental");
    const log = path.join(dir, "kv.log");
    const a = createFileStore({ dir });
    const b = createFileStore({ dir });
    for (let i = 0; i < 50; i++) await a.set(`k${i}`, { i });
    expect(await b.get("k10")).toEqual({ i: 10 }); // b has read the log up to here

    // Damage a record b has already applied, in place (same inode, same size):
    // b must not notice, because it never reads those bytes again...
    const bytes = await fs.readFile(log);
    const at = bytes.indexOf('"key":"k10"');
    expect(at).toBeGreaterThan(0);
    const fh = await fs.open(log, "r+");
    await fh.write(Buffer.from("X"), 0, 1, at + 2);
    await fh.close();

    await b.set("from-b", 1); // b's writer catches up incrementally too
    for (let i = 50; i < 60; i++) await a.set(`k${i}`, { i });
    expect(await b.get("k55")).toEqual({ i: 55 });
    expect(await b.get("k10")).toEqual({ i: 10 });
    expect(await a.get("from-b")).toBe(1);
    expect(await a.scanKeys("k")).toHaveLength(60);
    // ...while a fresh instance reads the whole file and refuses it.
    const fresh = createFileStore({ dir });
    expect((await rejection(fresh.get("k0"))).message).toMatch(/is damaged: the record at byte \d+ is unreadable/);
    await fresh.close();
    await a.close();
    await b.close();
  });

  it("sees a write by another instance whatever its size, expiry included", async () => {
    const dir = await tempDir("seen");
    const a = createFileStore({ dir });
    const b = createFileStore({ dir });
    expect(await b.get("k")).toBeNull(); // no file yet
    await a.set("k", "v", { pxMs: 60_000 });
    expect(await b.get("k")).toBe("v");
    expect(await b.pttl("k")).toBeGreaterThan(59_000);
    expect(await b.set("k", "w", { nx: true })).toBe(false); // NX sees a's key
    await a.set("short", 1, { pxMs: 50 });
    await sleep(100);
    expect(await b.get("short")).toBeNull();
    expect(await b.set("short", 2, { nx: true })).toBe(true);
    expect(await a.get("short")).toBe(2);
    expect(await b.deleteIfEquals("k", "v")).toBe(true);
    expect(await a.get("k")).toBeNull();
    await a.close();
    await b.close();
  });

  it("set queries never write; sdiffstore is one record (or none), seen by every instance", async () => {
    const dir = await tempDir("sets");
    const log = path.join(dir, "kv.log");
    const a = createFileStore({ dir });
    const b = createFileStore({ dir });
    const all = Array.from({ length: 10 }, (_, i) => `p${i}`);
    await a.atomic([
      { op: "sadd", key: "all", members: all },
      { op: "sadd", key: "done", members: all.slice(0, 5) },
      { op: "set", key: "str", value: "s" },
    ]);
    const size = async () => (await fs.stat(log)).size;
    let before = await size();

    // Reads, from both instances: nothing appended.
    expect(await b.scard("all")).toBe(10);
    expect(await b.smismember("done", ["p0", "p9"])).toEqual([true, false]);
    expect(await b.srandmember("all", 3)).toHaveLength(3);
    expect(await b.exists(["all", "done", "str", "nope"])).toBe(3);
    expect(await size()).toBe(before);

    expect(await a.sdiffstore("todo", ["all", "done"])).toBe(5);
    let batches = await records(log);
    expect(batches.at(-1)).toEqual([{ op: "sadd", key: "todo", members: all.slice(5) }]);
    expect((await b.smembers("todo")).sort()).toEqual(all.slice(5));

    // Replacing: the old value goes in the same record as the new one.
    expect(await b.sdiffstore("todo", ["all", "todo"])).toBe(5);
    batches = await records(log);
    expect(batches.at(-1)).toEqual([
      { op: "del", key: "todo" },
      { op: "sadd", key: "todo", members: all.slice(0, 5) },
    ]);
    expect(await a.smismember("todo", ["p0", "p9"])).toEqual([true, false]);

    // An empty result deletes the destination; with no destination there is nothing to write.
    expect(await a.sdiffstore("todo", ["done", "all"])).toBe(0);
    expect((await records(log)).at(-1)).toEqual([{ op: "del", key: "todo" }]);
    expect(await b.exists(["todo"])).toBe(0);
    before = await size();
    expect(await a.sdiffstore("todo", ["done", "all"])).toBe(0);
    // A WRONGTYPE writes nothing either.
    expect((await rejection(b.sdiffstore("todo", ["all", "str"]))).message).toMatch(/WRONGTYPE/);
    expect(await size()).toBe(before);

    const fresh = createFileStore({ dir });
    expect(await fresh.scard("all")).toBe(10);
    expect(await fresh.exists(["todo", "all"])).toBe(1);
    await fresh.close();
    await a.close();
    await b.close();
  });

  it("compaction keeps every live key and drops deleted and expired ones", async () => {
    const dir = await tempDir("compact");
    const log = path.join(dir, "kv.log");
    const options = { dir, compactMinBytes: 20_000, compactRatio: 2 };
    const a = createFileStore(options);
    const b = createFileStore(options); // open across the compactions
    const expected: Record<string, unknown> = {};

    await a.atomic(
      Array.from({ length: 20 }, (_, i) => ({ op: "set" as const, key: `dead:${i}`, value: "d".repeat(500) })),
    );
    await a.atomic(
      Array.from({ length: 20 }, (_, i) => ({ op: "set" as const, key: `exp:${i}`, value: "e".repeat(500), pxMs: 80 })),
    );
    await a.set("lease", { token: "t" }, { pxMs: 600_000 });
    expected.lease = { token: "t" };
    await a.atomic([{ op: "sadd", key: "members", members: Array.from({ length: 30 }, (_, i) => `m${i}`) }]);
    await a.atomic([{ op: "srem", key: "members", members: ["m0", "m1"] }]);
    await a.atomic([{ op: "sadd", key: "gone", members: ["x"] }]);
    await a.atomic([{ op: "srem", key: "gone", members: ["x"] }]);
    expect(await a.del(Array.from({ length: 20 }, (_, i) => `dead:${i}`))).toBe(20);
    expect(await b.get("exp:3")).toBe("e".repeat(500));
    await sleep(150); // exp:* expire

    for (let round = 0; round < 40; round++) {
      for (let i = 0; i < 10; i++) {
        const value = { round, i, pad: "v".repeat(1_000) };
        await (round % 2 ? b : a).set(`live:${i}`, value);
        expected[`live:${i}`] = value;
      }
    }
    await b.atomic([{ op: "sadd", key: "members", members: ["late"] }]);

    // Rewritten: no dead or expired key is left in it, and its size is the live data's (an inode check
    // is not proof: a second compaction may reuse the first log's freed inode).
    const text = await fs.readFile(log, "utf8");
    expect(text.startsWith(LOG_MAGIC)).toBe(true);
    expect(text).not.toContain("dead:");
    expect(text).not.toContain("exp:");
    expect(text).not.toContain('"gone"');
    expect(Buffer.byteLength(text)).toBeLessThan(3 * 10 * 1_100 + 10_000); // ~ live data, not 400 writes
    expect((await fs.readdir(dir)).sort()).toEqual(["kv.log"]); // no temp file or lock left
    await records(log); // parses to the end

    const members = ["late", ...Array.from({ length: 28 }, (_, i) => `m${i + 2}`)].sort();
    const fresh = createFileStore(options);
    for (const s of [a, b, fresh]) {
      expect(await s.scanKeys("")).toEqual([...Object.keys(expected), "members"].sort());
      const keys = Object.keys(expected);
      expect(await s.mget(keys)).toEqual(keys.map((k) => expected[k]));
      expect((await s.smembers("members")).sort()).toEqual(members);
      expect(await s.smembers("gone")).toEqual([]);
      expect(await s.get("exp:3")).toBeNull();
      expect(await s.pttl("lease")).toBeGreaterThan(590_000); // expiry kept as is
    }
    // Writers keep appending to the compacted file, from every instance.
    await fresh.set("after", 1);
    await b.atomic([{ op: "del", key: "live:0" }]);
    expect(await a.mget(["after", "live:0"])).toEqual([1, null]);
    await fresh.close();
    await a.close();
    await b.close();
  });

  it("a torn tail is ignored, then overwritten by the next write", async () => {
    const dir = await tempDir("tail");
    const log = path.join(dir, "kv.log");
    const store = createFileStore({ dir });
    await store.set("a", 1);
    const good = await fs.readFile(log);
    const next = encodeRecord([{ op: "set", key: "a", json: "2" }]);
    const tails: Buffer[] = [
      next.subarray(0, 5), // a few bytes
      next.subarray(0, next.length - 1), // all but the newline
      Buffer.concat([next.subarray(0, next.length - 3), Buffer.from("\0\0\n")]), // complete line, bad checksum
      Buffer.alloc(300), // zeros: size grew, data never reached the disk
    ];
    for (const [n, tail] of tails.entries()) {
      await fs.writeFile(log, Buffer.concat([await fs.readFile(log), tail]));
      const reader = createFileStore({ dir });
      expect(await reader.get("a")).toBe(n === 0 ? 1 : `w${n - 1}`);
      expect(await store.get("a")).toBe(n === 0 ? 1 : `w${n - 1}`);
      await reader.set("a", `w${n}`); // cuts the tail
      expect(await store.get("a")).toBe(`w${n}`);
      await reader.close();
      expect((await records(log)).length).toBe(n + 2);
    }
    expect((await fs.readFile(log)).subarray(0, good.length).equals(good)).toBe(true);

    // A crash while the file was being created leaves part of the magic line.
    const dir2 = await tempDir("tail-magic");
    await fs.writeFile(path.join(dir2, "kv.log"), LOG_MAGIC.slice(0, 5));
    const s2 = createFileStore({ dir: dir2 });
    expect(await s2.get("a")).toBeNull();
    await s2.set("a", 1);
    const r2 = createFileStore({ dir: dir2 });
    expect(await r2.get("a")).toBe(1);
    await r2.close();
    expect(await records(path.join(dir2, "kv.log"))).toHaveLength(1);
    await s2.close();
    await store.close();
  });

  it("survives a writer killed in the middle of appending (SIGKILL)", async () => {
    const dir = await tempDir("kill");
    const log = path.join(dir, "kv.log");
    // Fixed-width numbers: every record has the same length, so the file's
    // size tells whether an append is under way.
    const script = `
      const { createFileStore } = await import(${JSON.stringify(path.join(REPO_ROOT, "lib/kv/file.ts"))});
      const s = createFileStore({ dir: ${JSON.stringify(dir)} });
      const pad = "z".repeat(4_000_000);
      for (let i = 0; ; i++) {
        const n = String(i).padStart(5, "0");
        await s.atomic([{ op: "set", key: "big:" + n, value: { n, pad } }, { op: "sadd", key: "done", members: [n] }]);
        process.stdout.write("ok " + n + "\\n");
      }
    `;
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      cwd: REPO_ROOT,
      stdio: ["ignore", "pipe", "inherit"],
    });
    const acked: string[] = [];
    let out = "";
    const closed = new Promise<void>((resolve) => child.on("close", () => resolve()));
    await new Promise<void>((resolve, reject) => {
      child.on("exit", () => reject(new Error("the writer exited on its own")));
      child.stdout!.on("data", (chunk: Buffer) => {
        out += chunk.toString();
        const lines = out.split("\n");
        out = lines.pop()!;
        for (const line of lines) acked.push(line.slice(3));
        if (acked.length >= 2) resolve();
      });
    });
    // Kill it while the size is between two record boundaries: mid-append.
    const committed = parseLog(await fs.readFile(log), 0, log);
    const recordLength = (committed.end - LOG_MAGIC.length) / committed.batches.length;
    const started = Date.now();
    let size: number;
    do size = statSync(log).size;
    while ((size - LOG_MAGIC.length) % recordLength === 0 && Date.now() - started < 20_000);
    child.kill("SIGKILL");
    await closed; // every acknowledgement written before the kill has been read

    const left = await fs.readFile(log);
    expect(parseLog(left, 0, log).end).toBeLessThan(left.length); // it did die mid-append
    // It died holding the lock: age the lock so the next writer breaks it at once.
    const longAgo = new Date(Date.now() - 60_000);
    await fs.utimes(`${log}.lock`, longAgo, longAgo).catch(() => {});

    const store = createFileStore({ dir });
    const done = (await store.smembers("done")).sort();
    // Every acknowledged batch is there; at most one more made it before the kill.
    expect(done.slice(0, acked.length)).toEqual(acked);
    expect(done.length - acked.length).toBeLessThanOrEqual(1);
    expect(await store.scanKeys("big:")).toHaveLength(done.length);
    await store.set("after", true);
    const batches = await records(log); // torn tail cut, everything parses
    expect(batches).toHaveLength(done.length + 1);
    const again = createFileStore({ dir });
    expect(await again.get("after")).toBe(true);
    await again.close();
    await store.close();
  }, 60_000);
});
