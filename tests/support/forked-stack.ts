/**
 * The stack of startStack (harness.ts) for the large simple workspaces of
 * tests/scale.test.ts, with the Notion emulator and the Upstash REST bridge
 * each in a child process (scripts/scale/child.ts, as `npm run scale` runs
 * them): the engine under test keeps this process's core, the servers use the
 * other. Same workspace (generated from the same options and seed), the same
 * 10,000-result cap, no rate limit, the same bridge limits; the workspace is
 * read-only here, and KV is compared with it in the emulator's process.
 */
import { createKeys, type KeyBuilder } from "../../lib/kv/keys";
import { createRedisStore } from "../../lib/kv/redis";
import type { KvStore } from "../../lib/kv/store";
import { generateWorkspace } from "../../scripts/emulator/notion/generate";
import type { Workspace } from "../../scripts/emulator/notion/workspace";
import {
  type ChildHandle,
  type EmulatorReady,
  startBridgeChild,
  startEmulatorChild,
} from "../../scripts/scale/children";
import { TEST_SECRET } from "./harness";
import { startRedisServer } from "./redis-server";
// The rows scripts/scale/child.ts generates (it takes only their number and the seed).
import { SIMPLE_ROWS } from "../../scripts/scale/rows";
import type { BridgeStats } from "./upstash-bridge";

const QUERY_RESULT_LIMIT = 10_000;

export interface ForkedStack {
  /** This process's copy of the served workspace (for expected orders; never edited). */
  workspace: Workspace;
  redis: { url: string; stop(): Promise<void> };
  kv: KvStore;
  env: Record<string, string>;
  keys: KeyBuilder;
  /** Requests the emulator answered on `route` since the last reset. */
  requests(route: string): Promise<number>;
  resetRequestLog(): Promise<void>;
  /** The bridge's counters (backend "upstash"), else null. */
  bridge: { stats(): Promise<BridgeStats>; resetStats(): Promise<void> } | null;
  /** KV against the workspace (compareKvWithWorkspace, in the emulator's process): problems, [] when equal. */
  diff(): Promise<string[]>;
  close(): Promise<void>;
}

let prefixCounter = 0;

export async function startForkedStack(options: {
  rows: number;
  /** The emulator's query cap (Notion's 10,000 by default): a lower one takes a small database past it. */
  queryLimit?: number;
  seed?: number;
  backend: "redis" | "upstash";
  env?: Record<string, string>;
}): Promise<ForkedStack> {
  const seed = options.seed ?? 1;
  const workspace = generateWorkspace({ seed, pages: options.rows, ...SIMPLE_ROWS });
  const children: ChildHandle<unknown>[] = [];
  let redis: { url: string; stop(): Promise<void> } | null = null;
  const stopAll = async () => {
    for (const child of children.reverse()) await child.stop().catch(() => {});
    await redis?.stop();
  };
  try {
    const emulator = await startEmulatorChild({
      rows: options.rows,
      queryLimit: options.queryLimit ?? QUERY_RESULT_LIMIT,
      seed,
    });
    children.push(emulator);
    const served: EmulatorReady = emulator.ready;
    if (served.pagesDatabaseId !== workspace.pagesDatabaseId)
      throw new Error(`the emulator child serves another workspace (${served.pagesDatabaseId})`);
    redis = await startRedisServer();
    const bridge =
      options.backend === "upstash"
        ? await startBridgeChild({ redisUrl: redis.url, token: "bridge-token-0123456789" })
        : null;
    if (bridge) children.push(bridge);
    const kv = createRedisStore({ url: redis.url });
    const prefix = `f${process.pid}x${prefixCounter++}`;
    const env: Record<string, string> = {
      CRON_SECRET: TEST_SECRET,
      NOTION_API_KEY: served.token,
      NOTION_PAGES_DB: served.pagesDatabaseId,
      NOTION_POSTS_DB: served.postsDatabaseId,
      NOTION_BASE_URL: served.url,
      NOTION_RATE_PER_MIN: "100000",
      ...(bridge
        ? { KV_REST_API_URL: bridge.ready.url, KV_REST_API_TOKEN: bridge.ready.token }
        : { REDIS_URL: redis.url }),
      KV_PREFIX: prefix,
      SYNC_BUDGET_MS: "2000",
      SYNC_LOG: "off",
      SYNC_MIN_FORCE_INTERVAL_S: "0",
      SYNC_CHAIN: "off",
      ...options.env,
    };
    const control = async (path: string, method = "GET") => {
      const res = await fetch(`${served.url}/__emulator/${path}`, { method });
      if (!res.ok) throw new Error(`emulator ${method} ${path}: ${res.status} ${await res.text()}`);
      return (await res.json()) as { byRoute?: Record<string, number> };
    };
    const redisUrl = redis.url;
    return {
      workspace,
      redis,
      kv,
      env,
      keys: createKeys(prefix),
      requests: async (route) => (await control("requests")).byRoute?.[route] ?? 0,
      resetRequestLog: async () => void (await control("reset-requests", "POST")),
      bridge: bridge && {
        stats: () => bridge.call<BridgeStats>("stats"),
        resetStats: async () => void (await bridge.call("reset")),
      },
      diff: () => emulator.call<string[]>("verify", { redisUrl, prefix }, 300_000),
      async close() {
        await kv.close();
        await stopAll();
      },
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
