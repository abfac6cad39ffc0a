/**
 * lib/sync/lease.ts on the file store and on a real redis-server: one holder
 * at a time, release by the holder only, and expiry of an abandoned lease.
 */
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFileStore } from "../../lib/kv/file";
import { createRedisStore } from "../../lib/kv/redis";
import type { KvStore } from "../../lib/kv/store";
import { acquireLease } from "../../lib/sync/lease";
import { type RedisServerHandle, startRedisServer } from "../support/redis-server";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function describeLease(name: string, open: () => Promise<{ kv: KvStore; close(): Promise<void> }>) {
  describe(`acquireLease on ${name}`, () => {
    let kv: KvStore;
    let close: () => Promise<void>;
    let n = 0;
    const key = () => `lease-test:${process.pid}:${name}:${n++}`;

    beforeAll(async () => {
      ({ kv, close } = await open());
    });
    afterAll(async () => {
      await close?.();
    });

    it("refuses a second holder while the lease is held", async () => {
      const k = key();
      const first = await acquireLease(kv, k, 10_000);
      expect(first).not.toBeNull();
      expect(await acquireLease(kv, k, 10_000)).toBeNull();
      expect(await kv.get(k)).toBe(first!.token);
    });

    it("lets exactly one of many simultaneous callers in", async () => {
      const k = key();
      const leases = await Promise.all(Array.from({ length: 8 }, () => acquireLease(kv, k, 10_000)));
      const holders = leases.filter((l) => l !== null);
      expect(holders).toHaveLength(1);
      expect(await kv.get(k)).toBe(holders[0]!.token);
    });

    it("is freed by its holder's release", async () => {
      const k = key();
      const first = await acquireLease(kv, k, 10_000);
      await first!.release();
      expect(await kv.get(k)).toBeNull();
      const second = await acquireLease(kv, k, 10_000);
      expect(second).not.toBeNull();
      expect(second!.token).not.toBe(first!.token);
    });

    it("expires by itself when never released", async () => {
      const k = key();
      expect(await acquireLease(kv, k, 120)).not.toBeNull();
      const ttl = await kv.pttl(k);
      expect(ttl).not.toBeNull();
      expect(ttl!).toBeGreaterThan(0);
      expect(ttl!).toBeLessThanOrEqual(120);
      expect(await acquireLease(kv, k, 120)).toBeNull();
      await sleep(170);
      expect(await acquireLease(kv, k, 10_000)).not.toBeNull();
    });

    it("a stale holder's release does not free its successor's lease", async () => {
      const k = key();
      const stale = await acquireLease(kv, k, 100);
      expect(stale).not.toBeNull();
      await sleep(150); // the stale holder overran its lease
      const successor = await acquireLease(kv, k, 10_000);
      expect(successor).not.toBeNull();
      await stale!.release();
      expect(await kv.get(k)).toBe(successor!.token);
      expect(await acquireLease(kv, k, 10_000)).toBeNull();
      await successor!.release();
      expect(await acquireLease(kv, k, 10_000)).not.toBeNull();
    });

    it("a second release by the same holder does not free the next holder", async () => {
      const k = key();
      const first = await acquireLease(kv, k, 10_000);
      await first!.release();
      const second = await acquireLease(kv, k, 10_000);
      await first!.release();
      expect(await kv.get(k)).toBe(second!.token);
      expect(await acquireLease(kv, k, 10_000)).toBeNull();
    });
  });
}

let tmp: string;
describeLease("the file store", async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), "nks-lease-"));
  const kv = createFileStore({ dir: tmp });
  return {
    kv,
    async close() {
      await kv.close();
      await fs.rm(tmp, { recursive: true, force: true });
    },
  };
});

describe("acquireLease across two file store instances (two processes sharing the directory)", () => {
  let dir: string;
  let a: KvStore;
  let b: KvStore;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "nks-lease2-"));
    a = createFileStore({ dir });
    b = createFileStore({ dir });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("sees the other instance's lease and cannot release it", async () => {
    const held = await acquireLease(a, "lease", 10_000);
    expect(held).not.toBeNull();
    expect(await acquireLease(b, "lease", 10_000)).toBeNull();
    await held!.release();
    const other = await acquireLease(b, "lease", 10_000);
    expect(other).not.toBeNull();
    expect(await acquireLease(a, "lease", 10_000)).toBeNull();
  });
});

let redis: RedisServerHandle | undefined;
describeLease("a real redis-server", async () => {
  redis = await startRedisServer();
  const kv = createRedisStore({ url: redis.url });
  return {
    kv,
    async close() {
      await kv.close();
      await redis?.stop();
    },
  };
});
