/**
 * The servers `npm run scale` keeps out of the measured process, so that their
 * allocations do not show in the invocation memory it samples. Forked with an
 * IPC channel (scripts/scale/children.ts):
 *
 *   child.ts emulator '{"rows":1000,"queryLimit":10000}'
 *     generates a workspace of `rows` simple database rows (2 paragraphs each,
 *     no child pages, nothing trashed, no huge pages, an empty posts
 *     database) and serves it with no rate limit;
 *     ops: verify {redisUrl, prefix} → problems[] (compareKvWithWorkspace)
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
import { SIMPLE_ROWS } from "./rows";

export interface EmulatorChildOptions {
  rows: number;
  /** Rows one data source query serves at most (Notion: 10,000); null = no cap. */
  queryLimit: number | null;
  seed?: number;
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
  serveParent({
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
