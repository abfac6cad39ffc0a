/**
 * The servers `npm run scale` keeps out of the measured process, so that their
 * allocations do not show in the invocation memory it samples. Forked with an
 * IPC channel (scripts/scale/children.ts):
 *
 *   child.ts emulator '{"rows":1000,"queryLimit":10000}'
 *     generates a workspace of `rows` simple database rows (2 paragraphs each,
 *     no child pages, nothing trashed, no huge pages, an empty posts
 *     database) and serves it with no rate limit;
 *     ops: verify {redisUrl, prefix} → problems[] (compareKvWithWorkspace);
 *     pace {rate, burst, latencyMs: [lo, hi], seed} → {url}: Notion's rate limit from now on, and
 *     a proxy in front adding its latency (seeded) and counting each request's Notion-Version, for
 *     runs measured at Notion's pace (npm run bench -- --contenders no-change-listing);
 *     stats {windowMs} → the requests since the last reset (scripts/bench/request-figures.ts); reset
 *   child.ts bridge '{"redisUrl":"redis://…","token":"…"}'
 *     the Upstash REST bridge of tests/support in front of that redis-server;
 *     ops: stats → BridgeStats, reset
 *   both: cpu → CPU seconds used so far
 *
 * Once listening it sends {type:"ready", …}; requests are {id, op, args} and
 * answers {id, ok, result | error}. It exits when the parent goes away (the
 * IPC channel closes, even if the parent was killed) or on SIGTERM/SIGINT.
 */
import { exitChild, onChildExit, sendToParent, serveParent } from "../lib/forked-child-server";
import { createKeys } from "../../lib/kv/keys";
import { createRedisStore } from "../../lib/kv/redis";
import { startUpstashBridge } from "../../tests/support/upstash-bridge";
import { generateWorkspace } from "../emulator/notion/generate";
import { startNotionEmulator } from "../emulator/notion/server";
import { compareKvWithWorkspace } from "../emulator/notion/verify";
import { Prng } from "../emulator/notion/prng";
import { countVersion, startProxy } from "../lib/http-proxy";
import { requestFigures } from "../bench/request-figures";
import { SIMPLE_ROWS } from "./rows";

export interface EmulatorChildOptions {
  rows: number;
  /** Rows one data source query serves at most (Notion: 10,000); null = no cap. */
  queryLimit: number | null;
  seed?: number;
}

/** Notion's pace for the runs that follow (the `pace` op): requests/s, burst, latency range in ms. */
export interface PaceOptions {
  rate: number;
  burst: number;
  latencyMs: [number, number];
  seed: number;
}

export interface BridgeChildOptions {
  redisUrl: string;
  token: string;
}

export interface ReadyMessage {
  type: "ready";
  [key: string]: unknown;
}

async function emulatorMain(options: EmulatorChildOptions): Promise<void> {
  const workspace = generateWorkspace({ seed: options.seed ?? 1, pages: options.rows, ...SIMPLE_ROWS });
  const emulator = await startNotionEmulator({
    workspace,
    ratePerSecond: Infinity,
    queryResultLimit: options.queryLimit ?? Infinity,
  });
  onChildExit(() => emulator.close());
  let versions: Record<string, number> = {};
  let paced: Awaited<ReturnType<typeof startProxy>> | null = null;
  serveParent({
    async pace(args) {
      const o = args as unknown as PaceOptions;
      emulator.setRate(o.rate, o.burst);
      if (!paced) {
        const latency = new Prng(`${o.seed}:latency`);
        const [lo, hi] = o.latencyMs;
        paced = await startProxy(emulator.url, {
          delayMs: () => lo + latency.next() * (hi - lo),
          rewriteRequest: (_path, headers) => countVersion(versions, headers),
        });
        onChildExit(() => paced!.close());
      }
      return { url: paced.url };
    },
    async stats(args) {
      return requestFigures(emulator.requests(), Number(args.windowMs ?? 60_000), versions);
    },
    async reset() {
      emulator.resetRequestLog();
      versions = {};
      return null;
    },
    async verify(args) {
      const kv = createRedisStore({ url: String(args.redisUrl) });
      try {
        return await compareKvWithWorkspace(kv, createKeys(String(args.prefix)), workspace, 5);
      } finally {
        await kv.close();
      }
    },
    async requests() {
      return emulator.requests().length;
    },
  });
  sendToParent({
    type: "ready",
    url: emulator.url,
    token: emulator.token,
    pagesDatabaseId: workspace.pagesDatabaseId,
    postsDatabaseId: workspace.postsDatabaseId,
    queryResultLimit: emulator.queryResultLimit(),
    stats: workspace.stats(),
  });
}

async function bridgeMain(options: BridgeChildOptions): Promise<void> {
  const bridge = await startUpstashBridge({ redisUrl: options.redisUrl, token: options.token });
  onChildExit(() => bridge.close());
  serveParent({
    async stats() {
      return bridge.stats();
    },
    async reset() {
      bridge.resetStats();
      return null;
    },
  });
  sendToParent({ type: "ready", url: bridge.url, token: bridge.token });
}

const [kind, json] = process.argv.slice(2);
try {
  const options = JSON.parse(json ?? "{}");
  if (kind === "emulator") await emulatorMain(options as EmulatorChildOptions);
  else if (kind === "bridge") await bridgeMain(options as BridgeChildOptions);
  else throw new Error(`unknown child kind ${String(kind)}`);
} catch (err) {
  process.stderr.write(`scale child ${String(kind)}: ${err instanceof Error ? err.stack : String(err)}\n`);
  await exitChild(1);
}
