/**
 * The `no-change-listing` contender of `npm run bench` (issue 27): what a run
 * that finds nothing changed costs Notion as the database grows. It reuses
 * the scale harness (scripts/scale: a workspace of N simple rows, an empty
 * posts database, no child pages; the real route handler called in this
 * process; KV through the Upstash REST bridge). Per size:
 *
 *   setup       a full sync of every section with the emulator unpaced
 *               (no rate limit, SYNC_BUDGET_MS 5000): not measured;
 *   then, at Notion's pace (the emulator's rate limit 3 requests/s, burst
 *   10, 150–400 ms latency a request; NOTION_RATE_PER_MIN 170,
 *   SYNC_BUDGET_MS 20000), each section called until done, one after
 *   another as crons do, side by side in one run:
 *   no-change@full-list    SYNC_FULL_LIST_HOURS=0: a run that lists fully
 *                          (every run did before incremental listing);
 *   no-change@incremental  the defaults: a run outside full-list runs.
 *
 * The listing mode each section's cursor records is read back (`full` when it
 * records none), and the Notion-Version of every request is counted by the
 * emulator's proxy (scripts/scale/child.ts `pace`).
 */
import { randomBytes } from "node:crypto";
import type { Result } from "../bench";
import { sharedKvStore } from "../../lib/runtime";
import { createKeys } from "../../lib/kv/keys";
import { createRedisStore } from "../../lib/kv/redis";
import { loadWorkspace } from "../../lib/workspace/load";
import { startRedisServer } from "../../tests/support/redis-server";
import type { BridgeStats } from "../../tests/support/upstash-bridge";
import { type ChildHandle, type EmulatorReady, scaleSyncEnv, startEmulatorChild } from "../scale/children";
import type { PaceOptions } from "../scale/child";
import { type RunContext, type RunResult, measuredRun, syncPlain } from "../scale/run";
import { startChild } from "./children";
import { LISTING_CONTENDER, LISTING_RUNS, type ListingFigures, type ListingRun, listingModeOf } from "./listing-report";
import { type RequestFigures, versionOf } from "./request-figures";
import { NOTION_PACE } from "./table";

export interface ListingOptions {
  size: number;
  seed: number;
  gc: () => void;
  progress(line: string): void;
  /** Stops what was started if the process is interrupted. */
  cleanups: (() => Promise<void>)[];
}

type KvStats = BridgeStats & { roundTrips: number; evalRoundTrips: number };

/** The budget an invocation has at Notion's pace (the product's default). */
const PACED_BUDGET_MS = 20_000;

/** One size: setup, then each listing run measured; a row per run. */
export async function benchListing(o: ListingOptions): Promise<Result[]> {
  const { size, progress } = o;
  progress(`${size} rows, ${LISTING_CONTENDER}: generating the scale workspace (child process)`);
  const emulator = await startEmulatorChild({ rows: size, queryLimit: 10_000, seed: o.seed });
  o.cleanups.push(() => emulator.stop());
  const redis = await startRedisServer();
  o.cleanups.push(() => redis.stop());
  const bridge = await startChild<{ url: string; token: string }>("bridge", {
    redisUrl: redis.url,
    token: randomBytes(12).toString("hex"),
  });
  o.cleanups.push(() => bridge.stop());
  const ctx = runContext(o, emulator, bridge, redis.url);
  try {
    const setup = await fullSync(ctx, emulator, progress);
    const pace: PaceOptions = { ...NOTION_PACE, seed: o.seed };
    const { url } = await emulator.call<{ url: string }>("pace", { ...pace });
    const paced = {
      ...ctx.env,
      NOTION_BASE_URL: url,
      NOTION_RATE_PER_MIN: "170",
      SYNC_BUDGET_MS: `${PACED_BUDGET_MS}`,
    };
    const results: Result[] = [];
    for (const run of LISTING_RUNS) {
      const env = run === "no-change@full-list" ? { ...paced, SYNC_FULL_LIST_HOURS: "0" } : paced;
      progress(`${size} rows, ${LISTING_CONTENDER}: ${run} at Notion's pace`);
      const row = await measuredListing({ ...ctx, env }, run, emulator, bridge, setup);
      results.push(row);
      progress(
        `  ${row.ok ? "done" : `FAILED: ${row.failure}`} in ${(row.wallMs / 1000).toFixed(1)} s, ${row.notion.total} Notion requests ${JSON.stringify(row.notion.byRoute)}`,
      );
    }
    return results;
  } finally {
    await sharedKvStore(ctx.env)
      .close()
      .catch(() => {});
  }
}

function runContext(
  o: ListingOptions,
  emulator: ChildHandle<EmulatorReady>,
  bridge: ChildHandle<{ url: string; token: string }>,
  redisUrl: string,
): RunContext {
  const secret = randomBytes(16).toString("hex");
  const prefix = `l${o.size}`;
  const env: Record<string, string> = {
    ...scaleSyncEnv(emulator, { secret, prefix, budgetMs: 5000 }),
    KV_REST_API_URL: bridge.ready.url,
    KV_REST_API_TOKEN: bridge.ready.token,
    // The version the product reads, when this process was given one.
    ...(process.env.NOTION_VERSION ? { NOTION_VERSION: process.env.NOTION_VERSION } : {}),
  };
  return {
    rows: o.size,
    backend: "upstash",
    env,
    secret,
    prefix,
    redisUrl,
    bridge: {
      stats: () => bridge.call<BridgeStats>("stats"),
      reset: () => bridge.call<null>("reset").then(() => undefined),
      cpu: () => bridge.call<number>("cpu"),
    },
    emulatorCpu: () => emulator.call<number>("cpu"),
    gc: o.gc,
    sampleMs: 5,
    maxCalls: 50 + Math.ceil(o.size / 10),
    callTimeoutMs: 120_000,
    runTimeoutMs: (600 + Math.ceil(o.size * 0.03)) * 1000,
    progress: o.progress,
  };
}

/** The sections the product serves with this env, in run order. */
const sectionsOf = (env: Record<string, string>) => loadWorkspace(env).names;

/** The unmeasured full sync every listing run starts from. */
async function fullSync(
  ctx: RunContext,
  emulator: ChildHandle<EmulatorReady>,
  progress: (line: string) => void,
): Promise<ListingFigures["setup"]> {
  const t0 = Date.now();
  let invocations = 0;
  progress(`${ctx.rows} rows, ${LISTING_CONTENDER}: setup, a full sync with the emulator unpaced`);
  for (const section of sectionsOf(ctx.env)) {
    const r = await syncPlain(ctx, section, ctx.maxCalls, (n, a) => {
      if (n % 25 === 0)
        progress(
          `  setup ${section} #${n}: listed ${a.body.counts?.listed ?? "?"}, fetched ${a.body.counts?.fetched ?? "?"}`,
        );
    });
    invocations += r.calls;
    if (!r.ok)
      throw new Error(`setup: ${section} did not finish: ${JSON.stringify(r.last?.body ?? null).slice(0, 400)}`);
  }
  const requests = await emulator.call<RequestFigures>("stats", {});
  await emulator.call("reset");
  progress(`  setup done in ${((Date.now() - t0) / 1000).toFixed(1)} s, ${invocations} invocations`);
  return { wallMs: Date.now() - t0, invocations, notionRequests: requests.total };
}

/** One listing run of every section, at Notion's pace: the bench row. */
async function measuredListing(
  ctx: RunContext,
  run: ListingRun,
  emulator: ChildHandle<EmulatorReady>,
  bridge: ChildHandle<{ url: string; token: string }>,
  setup: ListingFigures["setup"],
): Promise<Result> {
  await emulator.call("reset");
  const sections: ListingFigures["sections"] = {};
  const runs: RunResult[] = [];
  const kv: KvStats[] = [];
  const workspace = loadWorkspace(ctx.env);
  for (const section of workspace.names) {
    const r = await measuredRun(ctx, "no-change", section);
    runs.push(r);
    kv.push(await bridge.call<KvStats>("stats"));
    const database = workspace.databaseSections.some((s) => s.name === section);
    sections[section] = {
      database,
      mode: "",
      invocations: r.invocations,
      wallMs: r.wallMs,
      kvCommands: r.kv.commands,
      kvWrittenBytes: r.kv.writtenBytes,
    };
  }
  const notion = await emulator.call<RequestFigures>("stats", { windowMs: 60_000 });
  await readModes(ctx, sections);
  const failed = runs.find((r) => !r.completed);
  return {
    size: ctx.rows,
    contender: LISTING_CONTENDER,
    run,
    speed: 1,
    budgetMs: PACED_BUDGET_MS,
    ok: !failed,
    failure: failed?.failure ?? null,
    wallMs: runs.reduce((n, r) => n + r.wallMs, 0),
    pages: ctx.rows,
    rows: ctx.rows,
    childPages: 0,
    notion,
    notionVersion: versionOf(notion.versions),
    minimum: null,
    kv: sumKv(kv),
    qstashMessages: null,
    invocations: runs.reduce((n, r) => n + r.invocations, 0),
    longestInvocationMs: Math.max(0, ...runs.map((r) => r.maxElapsedMs)),
    heapPeakMB: Math.max(0, ...runs.map((r) => r.memory.heapPeakDelta)) / 1e6,
    listing: {
      requested: run === "no-change@full-list" ? "full" : "incremental",
      sections,
      databaseSections: workspace.databaseSections.length,
      setup,
    },
  };
}

/** How each section found its rows, as its cursor records after the run. */
async function readModes(ctx: RunContext, sections: ListingFigures["sections"]): Promise<void> {
  const kv = createRedisStore({ url: ctx.redisUrl });
  const keys = createKeys(ctx.prefix);
  try {
    for (const [section, s] of Object.entries(sections))
      s.mode = listingModeOf(await kv.get(keys.cursor(section)), s.database);
  } finally {
    await kv.close();
  }
}

function sumKv(all: KvStats[]): KvStats {
  const total: KvStats = {
    commands: 0,
    requestBytes: 0,
    responseBytes: 0,
    writtenBytes: 0,
    largestValueBytes: 0,
    byCommand: {},
    roundTrips: 0,
    evalRoundTrips: 0,
  };
  for (const s of all) {
    total.commands += s.commands;
    total.requestBytes += s.requestBytes;
    total.responseBytes += s.responseBytes;
    total.writtenBytes += s.writtenBytes;
    total.largestValueBytes = Math.max(total.largestValueBytes, s.largestValueBytes);
    total.roundTrips += s.roundTrips;
    total.evalRoundTrips += s.evalRoundTrips;
    for (const [k, n] of Object.entries(s.byCommand)) total.byCommand[k] = (total.byCommand[k] ?? 0) + n;
  }
  return total;
}
