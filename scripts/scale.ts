/**
 * npm run scale [-- --rows 1000,10000 --rows 50000] [-- --backend redis|upstash|both] [-- --budget-ms 5000] [-- --json]
 *
 * Syncs a generated database of N simple rows (2 paragraphs each, no child
 * pages) through the real route handler (handleSync, in this process, with
 * `?secret=` auth) until the run is done, then once more with nothing
 * changed, and prints per size, backend and run: invocations, wall time,
 * the longest invocation, Notion requests, KV commands / bytes written / bytes
 * read per row, the largest value left in KV, the product (bundles + index
 * chunks) per row, written ÷ product, and the peak memory of one invocation.
 * Then one line per target (full-run writes ≤ 1.5 × product + a constant per
 * invocation, no-change writes ≤ 200 B/row, every value ≤ 1,000,000 B).
 *
 * Sizes default to 1,000, 10,000 and 50,000 rows. Backends: `upstash` (the
 * default, closest to production: @vercel/kv over REST to the Upstash bridge
 * of tests/support in front of a redis-server), `redis` (node-redis straight
 * to a redis-server), or `both`.
 *
 * The Notion emulator and the Upstash bridge run in child processes
 * (scripts/scale/child.ts) so their allocations stay out of the memory
 * sampled here; each backend gets its own throwaway redis-server. Exits 1 when
 * a run does not finish, a KV value is over 1,000,000 bytes or the mirror
 * does not match the workspace; 2 on bad arguments; 130 on Ctrl-C (children
 * and servers are stopped in every case).
 *
 * More flags: --query-limit N|inf (rows one Notion query serves, default
 * 10000 like Notion), --max-calls N, --run-timeout-s S, --call-timeout-s S,
 * --sample-ms MS (memory sampling interval, default 5), --concurrency N
 * (SYNC_CONCURRENCY, default: the engine's), --allowance B (the "constant per
 * invocation" of the full-run target, default 16384), --skip-verify, --seed N,
 * --json-out FILE (default bench/scale-results.json: every figure, with the
 * commit measured, whether lib/app/scripts differed from it, the dates, the
 * heap limit and the machine; `npm run docs:tables` puts it in docs/benchmark.md),
 * --no-save (write no file).
 */
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import os from "node:os";
import { parseArgs } from "node:util";
import { sharedKvStore } from "../lib/runtime";
import { provenance } from "./bench/provenance";
import { startRedisServer, type RedisServerHandle } from "../tests/support/redis-server";
import type { BridgeStats } from "../tests/support/upstash-bridge";
import {
  type ChildHandle,
  type EmulatorReady,
  scaleSyncEnv,
  startBridgeChild,
  startEmulatorChild,
} from "./scale/children";
import { exposeGc } from "./scale/memory";
import { MAX_VALUE_BYTES, evaluateTargets, renderMarkdown, renderTable, renderTargets } from "./scale/report";
import { type Backend, type RunContext, type RunResult, measuredRun, syncPlain } from "./scale/run";

const DEFAULT_SIZES = [1_000, 10_000, 50_000];

function usage(message: string): never {
  process.stderr.write(
    `scale: ${message}\nusage: npm run scale -- [--rows N[,N...]]... [--backend redis|upstash|both] [--budget-ms MS] [--json]\n`,
  );
  process.exit(2);
}

let parsed: ReturnType<typeof parse>;
function parse() {
  return parseArgs({
    options: {
      rows: { type: "string", multiple: true },
      backend: { type: "string", default: "upstash" },
      "budget-ms": { type: "string", default: "5000" },
      json: { type: "boolean", default: false },
      markdown: { type: "boolean", default: false },
      "json-out": { type: "string", default: "bench/scale-results.json" },
      "no-save": { type: "boolean", default: false },
      "query-limit": { type: "string", default: "10000" },
      "max-calls": { type: "string" },
      "run-timeout-s": { type: "string" },
      "call-timeout-s": { type: "string" },
      "sample-ms": { type: "string", default: "5" },
      concurrency: { type: "string" },
      allowance: { type: "string", default: "16384" },
      "skip-verify": { type: "boolean", default: false },
      seed: { type: "string", default: "1" },
    },
    strict: true,
    allowPositionals: false,
  });
}
try {
  parsed = parse();
} catch (err) {
  usage(err instanceof Error ? err.message : String(err));
}
const args = parsed.values;

function positiveInt(name: string, raw: string | undefined, fallback?: number): number {
  if (raw === undefined) {
    if (fallback === undefined) usage(`--${name} is required`);
    return fallback;
  }
  const n = Number(raw.replace(/_/g, ""));
  if (!Number.isInteger(n) || n < 1) usage(`--${name} must be a positive integer, got ${raw}`);
  return n;
}

const sizes = args.rows?.length
  ? [
      ...new Set(
        args.rows
          .flatMap((r) => r.split(","))
          .map((r) => r.trim())
          .filter(Boolean)
          .map((r) => positiveInt("rows", r)),
      ),
    ]
  : DEFAULT_SIZES;
const backends: Backend[] =
  args.backend === "both"
    ? ["upstash", "redis"]
    : args.backend === "redis" || args.backend === "upstash"
      ? [args.backend]
      : usage(`--backend must be redis, upstash or both, got ${args.backend}`);
const budgetMs = positiveInt("budget-ms", args["budget-ms"]);
if (budgetMs < 500 || budgetMs > 25_000) usage("--budget-ms must be within 500–25000 (SYNC_BUDGET_MS)");
const queryLimit = ["inf", "infinity", "none"].includes(args["query-limit"].toLowerCase())
  ? null
  : positiveInt("query-limit", args["query-limit"]);
const sampleMs = positiveInt("sample-ms", args["sample-ms"]);
const allowance = Number(args.allowance);
if (!Number.isFinite(allowance) || allowance < 0)
  usage(`--allowance must be a number of bytes ≥ 0, got ${args.allowance}`);
const concurrency = args.concurrency !== undefined ? positiveInt("concurrency", args.concurrency) : undefined;
const seed = positiveInt("seed", args.seed);
const callTimeoutMs = positiveInt("call-timeout-s", args["call-timeout-s"], Math.ceil(budgetMs / 1000) + 60) * 1000;
/** At least ~10 rows per invocation, or the run is considered stuck. */
const maxCallsFor = (rows: number) => positiveInt("max-calls", args["max-calls"], 50 + Math.ceil(rows / 10));
/** 2 minutes plus 30 ms per row (50,000 rows: 27 minutes; the run takes about 2 on 2 cores). */
const runTimeoutFor = (rows: number) =>
  positiveInt("run-timeout-s", args["run-timeout-s"], 120 + Math.ceil(rows * 0.03)) * 1000;

const progress = (line: string) => process.stderr.write(`${line}\n`);

// Cleanup: every started server or child registers its stop; run in reverse on any exit path.
const cleanups: { name: string; stop: () => Promise<void> }[] = [];
function track<T extends { stop(): Promise<void> }>(name: string, handle: T): T {
  cleanups.push({ name, stop: () => handle.stop() });
  return handle;
}
async function untrack(handle: { stop(): Promise<void> }, name: string): Promise<void> {
  const i = cleanups.findIndex((c) => c.name === name);
  if (i >= 0) cleanups.splice(i, 1);
  await handle.stop();
}
let shuttingDown = false;
async function shutdown(code: number): Promise<never> {
  if (!shuttingDown) {
    shuttingDown = true;
    const force = setTimeout(() => process.exit(code), 15_000);
    force.unref();
    while (cleanups.length) {
      const c = cleanups.pop()!;
      await c
        .stop()
        .catch((err: unknown) =>
          progress(`scale: stopping ${c.name}: ${err instanceof Error ? err.message : String(err)}`),
        );
    }
  }
  process.exit(code);
}
process.on("SIGINT", () => {
  if (!shuttingDown) progress("scale: interrupted, stopping servers");
  void shutdown(130);
});
process.on("SIGTERM", () => void shutdown(143));
process.on("uncaughtException", (err) => {
  progress(`scale: uncaught ${err.stack ?? err.message}`);
  void shutdown(1);
});
process.on("unhandledRejection", (err) => {
  progress(`scale: unhandled rejection ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  void shutdown(1);
});

// The route logs one line per invocation unless told not to (lib/core/log.ts reads process.env).
process.env.SYNC_LOG = "off";
const gc = exposeGc();

interface Verification {
  rows: number;
  backend: Backend;
  ok: boolean;
  problems: number;
  sample: string[];
  note?: string;
}

async function measureBackend(
  rows: number,
  backend: Backend,
  emulator: ChildHandle<EmulatorReady>,
): Promise<{ results: (RunResult & { prefix: string })[]; verification: Verification | null }> {
  const redis: RedisServerHandle = track(`redis-server ${backend} ${rows}`, await startRedisServer());
  const token = randomBytes(16).toString("hex");
  const bridge =
    backend === "upstash" ? track(`bridge ${rows}`, await startBridgeChild({ redisUrl: redis.url, token })) : null;
  const secret = randomBytes(16).toString("hex");
  const prefix = `scale${rows}`;
  const env: Record<string, string> = {
    ...scaleSyncEnv(emulator, { secret, prefix, budgetMs }),
    ...(concurrency !== undefined ? { SYNC_CONCURRENCY: String(concurrency) } : {}),
    ...(bridge
      ? { KV_REST_API_URL: bridge.ready.url, KV_REST_API_TOKEN: bridge.ready.token }
      : { REDIS_URL: redis.url }),
  };
  const ctx: RunContext = {
    rows,
    backend,
    env,
    secret,
    prefix,
    redisUrl: redis.url,
    bridge: bridge
      ? {
          stats: () => bridge.call<BridgeStats>("stats"),
          reset: () => bridge.call<null>("reset").then(() => undefined),
          cpu: () => bridge.call<number>("cpu"),
        }
      : undefined,
    emulatorCpu: () => emulator.call<number>("cpu"),
    gc,
    sampleMs,
    maxCalls: maxCallsFor(rows),
    callTimeoutMs,
    runTimeoutMs: runTimeoutFor(rows),
    progress,
  };
  const results: (RunResult & { prefix: string })[] = [];
  let verification: Verification | null = null;
  try {
    progress(`${rows} rows, ${backend}: full run`);
    const full = await measuredRun(ctx, "full");
    results.push({ ...full, prefix });
    progress(
      `${rows} rows, ${backend}: full run ${full.completed ? "done" : `FAILED: ${full.failure}`} in ${(full.wallMs / 1000).toFixed(1)} s, ${full.invocations} invocations`,
    );
    if (full.completed) {
      progress(`${rows} rows, ${backend}: no-change run`);
      const again = await measuredRun(ctx, "no-change");
      results.push({ ...again, prefix });
      progress(
        `${rows} rows, ${backend}: no-change run ${again.completed ? "done" : `FAILED: ${again.failure}`} in ${(again.wallMs / 1000).toFixed(1)} s, ${again.invocations} invocations`,
      );
      if (!args["skip-verify"] && again.completed) {
        // compareKvWithWorkspace checks all three sections: sync the empty posts
        // database and the (empty) children queue first, unmeasured.
        const posts = await syncPlain(ctx, "posts", 20);
        const children = await syncPlain(ctx, "children", 20);
        if (!posts.ok || !children.ok) {
          const which = !posts.ok ? (["posts", posts] as const) : (["children", children] as const);
          verification = {
            rows,
            backend,
            ok: false,
            problems: 1,
            sample: [`${which[0]} did not finish: ${JSON.stringify(which[1].last?.body ?? null).slice(0, 400)}`],
          };
        } else {
          progress(`${rows} rows, ${backend}: verifying KV against the workspace`);
          const problems = await emulator.call<string[]>("verify", { redisUrl: redis.url, prefix }, 900_000);
          verification = {
            rows,
            backend,
            ok: problems.length === 0,
            problems: problems.length,
            sample: problems.slice(0, 10),
          };
        }
        progress(
          `${rows} rows, ${backend}: verification ${verification.ok ? "ok" : `FAILED (${verification.problems} problems): ${verification.sample.join("; ")}`}`,
        );
      }
    }
  } finally {
    // The route keeps one store per backend configuration (lib/runtime.ts); this one's server is about to go.
    await sharedKvStore(env)
      .close()
      .catch(() => {});
    if (bridge) await untrack(bridge, `bridge ${rows}`);
    await untrack(redis, `redis-server ${backend} ${rows}`);
  }
  return { results, verification };
}

async function main(): Promise<number> {
  const started = Date.now();
  const source = provenance();
  const results: (RunResult & { prefix: string })[] = [];
  const verifications: Verification[] = [];
  for (const rows of sizes) {
    progress(`${rows} rows: generating the workspace and starting the Notion emulator (child process)`);
    const emulator = track(`emulator ${rows}`, await startEmulatorChild({ rows, queryLimit, seed }));
    try {
      for (const backend of backends) {
        const { results: r, verification } = await measureBackend(rows, backend, emulator);
        results.push(...r);
        if (verification) verifications.push(verification);
      }
    } finally {
      await untrack(emulator, `emulator ${rows}`);
    }
  }

  const targets = evaluateTargets(results, allowance);
  const failedRuns = results.filter((r) => !r.completed);
  const missingRuns = sizes.length * backends.length * 2 - results.length;
  const oversize = results.filter((r) => (r.largest?.bytes ?? 0) > MAX_VALUE_BYTES);
  const badVerify = verifications.filter((v) => !v.ok);
  const missedTargets = targets.filter((t) => t.met === false);
  const ok =
    failedRuns.length === 0 &&
    missingRuns === 0 &&
    oversize.length === 0 &&
    badVerify.length === 0 &&
    missedTargets.length === 0;

  const document = `${JSON.stringify(
    {
      ok,
      ...source,
      finishedAt: new Date().toISOString(),
      loadAverageAtEnd: Math.round(os.loadavg()[0] * 100) / 100,
      options: {
        sizes,
        backends,
        budgetMs,
        queryLimit,
        sampleMs,
        concurrency: concurrency ?? null,
        allowancePerInvocation: allowance,
        seed,
        node: process.version,
      },
      elapsedMs: Date.now() - started,
      results: results.map(({ prefix, ...r }) => ({ prefix, ...r })),
      targets,
      verifications,
    },
    null,
    2,
  )}\n`;
  if (!args["no-save"]) writeFileSync(args["json-out"], document);
  if (args.json) {
    process.stdout.write(document);
  } else {
    const out = (line = "") => process.stdout.write(`${line}\n`);
    out();
    out(
      `notion-kv-sync scale: SYNC_BUDGET_MS=${budgetMs}, Notion query cap ${queryLimit ?? "none"}, rows of 2 paragraphs, pages section`,
    );
    out(args.markdown ? renderMarkdown(results) : renderTable(results));
    out();
    out(renderTargets(targets));
    out();
    out("CPU seconds during each run (this process / redis-server / bridge / emulator):");
    for (const r of results) {
      const c = r.cpu;
      const f = (n: number | undefined) => (n === undefined ? "-" : n.toFixed(1));
      out(
        `  ${r.rows.toLocaleString("en-US")} ${r.backend} ${r.run}: ${f(c.main)} / ${f(c.redisServer)} / ${f(c.bridge)} / ${f(c.emulator)} in ${(r.wallMs / 1000).toFixed(1)} s wall`,
      );
    }
    for (const v of verifications) {
      out(
        `${v.ok ? "met    " : "NOT MET"}  ${v.rows.toLocaleString("en-US")} ${v.backend}: KV equals the workspace${v.ok ? "" : `: ${v.problems} problems: ${v.sample.join("; ")}`}`,
      );
    }
    for (const r of failedRuns) out(`FAILED   ${r.rows.toLocaleString("en-US")} ${r.backend} ${r.run}: ${r.failure}`);
    for (const r of results) {
      for (const e of r.errors.slice(0, 3))
        out(
          `error    ${r.rows.toLocaleString("en-US")} ${r.backend} ${r.run} invocation ${e.invocation}: ${e.code}: ${e.message}`,
        );
    }
    out(`\n${ok ? "ok" : "FAILED"} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  }
  return ok ? 0 : 1;
}

main().then(
  (code) => shutdown(code),
  (err: unknown) => {
    progress(`scale: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return shutdown(1);
  },
);
