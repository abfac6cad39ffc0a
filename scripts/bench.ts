/**
 * npm run bench [-- --quick] [-- --speed 10] [-- --sizes 100,1000,5000] [-- --json-out bench/results.json]
 *
 * Contenders side by side on the same generated workspace (a fresh copy each,
 * same seed), against the Notion emulator with Notion's latency (150–400 ms a
 * request, seeded) and its rate limit (3 requests/s, burst 10, 429 +
 * Retry-After), over a real redis-server through the Upstash REST bridge:
 *
 *   qstash-blocks    this product, one trigger call, carried by the QStash test server (block mode)
 *   qstash-markdown  the same with SYNC_CONTENT=markdown, when lib/config.ts accepts it
 *   cron             this product, one call after another per section (crons / manual URLs)
 *   baseline         one request that lists and syncs everything sequentially (scripts/bench/baseline.ts)
 *   notion-to-md     a full Markdown export with notion-to-md (scripts/bench/notion-to-md.ts)
 *
 * Runs: full (force=1), no-change, 1 % of pages edited (the product; the
 * other two have no incremental mode: one full run each). Time is compressed
 * by --speed (default 10): Notion's rate, its latency, Retry-After, QStash's
 * waits and SYNC_BUDGET_MS (20 s) all run that much faster, so every ratio is
 * the one at Notion's pace; "real s" is wall × speed. --speed 1 is real pace.
 *
 * Memory: measured in this process, where the route handlers run: heapUsed
 * sampled every 5 ms after a full GC; cron: the largest growth of one
 * invocation; qstash: of the process over the run (pages and posts run side
 * by side); baseline and notion-to-md: over their single run. The emulator,
 * the bridge and QStash run in child processes (scripts/bench/child.ts).
 *
 * Output: a Markdown table on stdout, the targets met/missed, bench/results.json.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { readSyncSettings } from "../lib/config";
import { sharedKvStore } from "../lib/runtime";
import { startRedisServer } from "../tests/support/redis-server";
import type { BridgeStats } from "../tests/support/upstash-bridge";
import { startAppServer } from "./bench/app-server";
import { runBaseline } from "./bench/baseline";
import { type ChildHandle, startChild } from "./bench/children";
import { runNotionToMd } from "./bench/notion-to-md";
import { type ProductRun, heapHighWater, runCron, runQStash } from "./bench/product";
import { exposeGc } from "./scale/memory";

const { values: args } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    speed: { type: "string", default: "10" },
    sizes: { type: "string" },
    seed: { type: "string", default: "1" },
    "json-out": { type: "string", default: "bench/results.json" },
    contenders: { type: "string" },
  },
  strict: true,
});
const speed = Number(args.speed);
if (!(speed >= 1 && speed <= 40)) throw new Error("--speed must be within 1–40 (SYNC_BUDGET_MS = 20000 / speed must stay ≥ 500)");
const sizes = args.quick ? [100] : (args.sizes ?? "100,1000,5000").split(",").map((s) => Number(s.trim()));
const seed = Number(args.seed);

/** Rows split 60/40 between the two databases; about one row in six holds child pages, huge pages of 1,200 blocks. */
const WORKSPACES: Record<number, { pages: number; posts: number; hugePages: number }> = {
  100: { pages: 60, posts: 40, hugePages: 1 },
  1000: { pages: 600, posts: 400, hugePages: 3 },
  5000: { pages: 3000, posts: 2000, hugePages: 10 },
};
const NOTION_RATE = 3; // requests/s at Notion's pace
const BUDGET_MS = Math.round(20_000 / speed);
const progress = (line: string) => process.stderr.write(`${line}\n`);

/** SYNC_CONTENT=markdown is available when lib/config.ts reads it into the settings. */
function markdownAvailable(): boolean {
  try {
    return Object.values(readSyncSettings({ SYNC_CONTENT: "markdown" })).includes("markdown");
  } catch {
    return false;
  }
}

interface NotionReady {
  url: string;
  token: string;
  pagesDatabaseId: string;
  postsDatabaseId: string;
  stats: { pages: number; posts: number; childPages: number; blocks: number; blockListRequests: number };
}
interface NotionStats {
  total: number;
  byRoute: Record<string, number>;
  byStatus: Record<string, number>;
  firstAt: number;
  lastAt: number;
  firstWindow: number;
}
type KvStats = BridgeStats & { roundTrips: number; evalRoundTrips: number };

export interface Result {
  size: number;
  contender: string;
  run: "full" | "no-change" | "edited";
  ok: boolean;
  failure: string | null;
  wallMs: number;
  pages: number;
  rows: number;
  childPages: number;
  notion: NotionStats;
  minimum: number | null;
  kv: KvStats | null;
  qstashMessages: number | null;
  invocations: number | null;
  longestInvocationMs: number | null;
  heapPeakMB: number;
  sections?: ProductRun["sections"];
  /** The product's invocations: section and elapsedMs; busyShare = their total ÷ wall time. */
  invocationLog?: { section: string; elapsedMs: number }[];
  busyShare?: number;
  edited?: { edited: number; children: number };
  note?: string;
}

const cleanups: (() => Promise<void>)[] = [];
async function cleanup() {
  while (cleanups.length) await cleanups.pop()!().catch(() => {});
}
process.on("SIGINT", () => void cleanup().then(() => process.exit(130)));

async function main(): Promise<number> {
  process.env.SYNC_LOG = "off";
  const gc = exposeGc();
  const markdown = markdownAvailable();
  const wanted = args.contenders?.split(",").map((s) => s.trim());
  const contenders = ["qstash-blocks", ...(markdown ? ["qstash-markdown"] : []), "cron", "baseline", "notion-to-md"].filter((c) => !wanted || wanted.includes(c));
  const results: Result[] = [];
  const started = Date.now();

  for (const size of sizes) {
    const shape = WORKSPACES[size] ?? { pages: Math.round(size * 0.6), posts: size - Math.round(size * 0.6), hugePages: Math.max(1, Math.round(size / 500)) };
    const redis = await startRedisServer();
    cleanups.push(() => redis.stop());
    const bridge = await startChild<{ url: string; token: string }>("bridge", { redisUrl: redis.url, token: randomBytes(12).toString("hex") });
    cleanups.push(() => bridge.stop());
    const qstash = await startChild<{ url: string; token: string; currentSigningKey: string; nextSigningKey: string }>("qstash", { speed });
    cleanups.push(() => qstash.stop());
    let currentEnv: Record<string, string> = {};
    const app = await startAppServer(() => currentEnv);
    cleanups.push(() => app.close());

    for (const contender of contenders) {
      progress(`${size} pages, ${contender}: generating the workspace (child process)`);
      const notion = await startChild<NotionReady>("notion", { ...shape, seed, speed, rate: NOTION_RATE, burst: 10, latencyMs: [150, 400], retryAfterS: 1 });
      const s = notion.ready.stats;
      const rows = s.pages + s.posts;
      const pages = rows + s.childPages;
      const listRequests = Math.ceil(s.pages / 100) + Math.ceil(s.posts / 100);
      const prefix = `b${size}${contender.replace(/[^a-z]/g, "").slice(0, 8)}`;
      const secret = randomBytes(16).toString("hex");
      const product = contender.startsWith("qstash") || contender === "cron";
      const env: Record<string, string> = {
        CRON_SECRET: secret,
        NOTION_API_KEY: notion.ready.token,
        NOTION_PAGES_DB: notion.ready.pagesDatabaseId,
        NOTION_POSTS_DB: notion.ready.postsDatabaseId,
        NOTION_BASE_URL: notion.ready.url,
        NOTION_RATE_PER_MIN: String(170 * speed),
        KV_REST_API_URL: bridge.ready.url,
        KV_REST_API_TOKEN: bridge.ready.token,
        KV_PREFIX: prefix,
        SYNC_BUDGET_MS: String(BUDGET_MS),
        SYNC_LOG: "off",
        SYNC_MIN_FORCE_INTERVAL_S: "0",
        ...(contender === "cron"
          ? { SYNC_CHAIN: "off" }
          : {
              SYNC_CHAIN: "qstash",
              QSTASH_URL: qstash.ready.url,
              QSTASH_TOKEN: qstash.ready.token,
              QSTASH_CURRENT_SIGNING_KEY: qstash.ready.currentSigningKey,
              QSTASH_NEXT_SIGNING_KEY: qstash.ready.nextSigningKey,
              SYNC_BASE_URL: app.url,
            }),
        ...(contender === "qstash-markdown" ? { SYNC_CONTENT: "markdown" } : {}),
      };
      currentEnv = env;
      const runs = product ? (["full", "no-change", "edited"] as const) : (["full"] as const);
      try {
        for (const run of runs) {
          let edited: Result["edited"];
          if (run === "edited") edited = await notion.call("edit", { share: 0.01 });
          await notion.call("reset");
          await bridge.call("reset");
          const t0 = Date.now();
          progress(`${size} pages, ${contender}: ${run} run`);
          let outcome: { ok: boolean; failure: string | null; heap: number; product?: ProductRun; note?: string };
          try {
            if (contender === "cron") {
              const r = await runCron(env, { force: run === "full", gc, redisUrl: redis.url });
              outcome = { ok: r.ok, failure: r.failure, heap: r.heapPeakDelta, product: r };
            } else if (product) {
              const r = await runQStash(env, { force: run === "full", gc, redisUrl: redis.url, app, timeoutMs: 3_600_000, idle: () => qstash.call("idle", {}, 600_000) });
              outcome = { ok: r.ok, failure: r.failure, heap: r.heapPeakDelta, product: r };
            } else if (contender === "baseline") {
              const r = await heapHighWater(gc, 5, () => runBaseline({ notionUrl: notion.ready.url, token: notion.ready.token, pagesDatabaseId: notion.ready.pagesDatabaseId, postsDatabaseId: notion.ready.postsDatabaseId, kvUrl: bridge.ready.url, kvToken: bridge.ready.token, prefix }));
              outcome = { ok: true, failure: null, heap: r.peakDelta, note: `${r.value.pages} pages, ${r.value.kvValues} KV values` };
            } else {
              const r = await heapHighWater(gc, 5, () => runNotionToMd({ notionUrl: notion.ready.url, token: notion.ready.token, pagesDatabaseId: notion.ready.pagesDatabaseId, postsDatabaseId: notion.ready.postsDatabaseId }));
              outcome = { ok: true, failure: null, heap: r.peakDelta, note: `${r.value.pages} rows exported (child pages inlined), ${Math.round(r.value.markdownBytes / 1024)} KB of Markdown` };
            }
          } catch (err) {
            outcome = { ok: false, failure: err instanceof Error ? err.message : String(err), heap: 0 };
          }
          const wallMs = Date.now() - t0;
          const notionStats = await notion.call<NotionStats>("stats", { windowMs: 60_000 / speed });
          const kv = await bridge.call<KvStats>("stats");
          const q = contender.startsWith("qstash") ? await qstash.call<{ messages: number }>("count", { since: t0 }) : null;
          const inv = outcome.product?.invocations ?? null;
          const minimum =
            run !== "full" ? null : contender === "qstash-markdown" ? 2 + listRequests + pages : 2 + listRequests + s.blockListRequests + s.childPages;
          results.push({
            size,
            contender,
            run,
            ok: outcome.ok,
            failure: outcome.failure,
            wallMs,
            pages,
            rows,
            childPages: s.childPages,
            notion: notionStats,
            minimum,
            kv: contender === "notion-to-md" ? null : kv,
            qstashMessages: q?.messages ?? null,
            invocations: inv ? inv.length : null,
            longestInvocationMs: inv ? Math.max(0, ...inv.map((i) => i.elapsedMs)) : null,
            heapPeakMB: outcome.heap / 1e6,
            ...(outcome.product
              ? {
                  sections: outcome.product.sections,
                  invocationLog: outcome.product.invocations.map((i) => ({ section: i.section, elapsedMs: i.elapsedMs })),
                  busyShare: outcome.product.invocations.reduce((n, i) => n + i.elapsedMs, 0) / wallMs,
                }
              : {}),
            ...(edited ? { edited } : {}),
            ...(outcome.note ? { note: outcome.note } : {}),
          });
          progress(`  ${outcome.ok ? "done" : `FAILED: ${outcome.failure}`} in ${(wallMs / 1000).toFixed(1)} s, ${notionStats.total} Notion requests`);
          if (!outcome.ok) break;
        }
      } finally {
        await notion.stop();
      }
    }
    // One store per backend configuration in this process (lib/runtime.ts): this size's bridge is about to go.
    await sharedKvStore(currentEnv).close().catch(() => {});
    await cleanup();
  }

  const targets = evaluateTargets(results, markdown);
  const doc = { generatedAt: new Date().toISOString(), options: { sizes, speed, seed, budgetMs: BUDGET_MS, notionRatePerMin: 170, node: process.version, markdownMode: markdown ? "available" : "not available" }, elapsedMs: Date.now() - started, results, targets };
  const out = path.resolve(args["json-out"]);
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(doc, null, 2)}\n`);
  const print = (line = "") => process.stdout.write(`${line}\n`);
  print(`notion-kv-sync bench: --speed ${speed} (Notion 3 req/s, latency 150–400 ms, SYNC_BUDGET_MS ${BUDGET_MS} = 20 s at Notion's pace), seed ${seed}`);
  print();
  print(renderTable(results));
  print();
  if (!markdown) print("qstash-markdown: not available (lib/config.ts does not accept SYNC_CONTENT=markdown yet)");
  for (const r of results.filter((x) => x.contender === "baseline")) {
    const real = (r.wallMs * speed) / 1000;
    print(`baseline ${r.size} pages: one request of ${real.toFixed(0)} s at Notion's pace: fits 30 s ${real <= 30 ? "yes" : "no"}, 60 s ${real <= 60 ? "yes" : "no"}, 300 s ${real <= 300 ? "yes" : "no"}`);
  }
  print();
  for (const t of targets) print(`${t.met === null ? "n/a    " : t.met ? "met    " : "MISSED "} ${t.name}: ${t.detail}`);
  print(`\nwritten ${path.relative(process.cwd(), out)} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return results.every((r) => r.ok) ? 0 : 1;
}

const f = (n: number, d = 1) => n.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
const int = (n: number) => Math.round(n).toLocaleString("en-US");

function rateOf(r: Result) {
  const limitPerS = NOTION_RATE * speed;
  const seconds = r.wallMs / 1000;
  const share = seconds > 0 ? r.notion.total / (seconds * limitPerS) : 0;
  const windowS = Math.min(60 / speed, seconds);
  const firstMinute = windowS > 0 ? r.notion.firstWindow / (windowS * limitPerS) : 0;
  const lowerBoundS = r.minimum !== null ? r.minimum / limitPerS : null;
  return { share, firstMinute, lowerBoundS, ratio: lowerBoundS ? seconds / lowerBoundS : null };
}

function contentRequests(r: Result): number {
  const b = r.notion.byRoute;
  return (b["blocks.children.list"] ?? 0) + (b["pages.retrieve"] ?? 0) + (b["pages.markdown"] ?? 0) + (b["pages.retrieveMarkdown"] ?? 0);
}

function renderTable(results: Result[]): string {
  const head = ["pages", "contender", "run", "ok", "wall s", "real s", "Notion req", "req/page", "min/page", "× min", "rate share", "1st min", "lower bound s", "× lower", "429s", "invoc.", "longest ms / budget", "KV cmds/page", "KV trips/page", "KV B/page", "QStash msgs", "heap MB"];
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  const rows = results.map((r) => {
    const rate = rateOf(r);
    return [
      int(r.size),
      r.contender,
      r.run,
      r.ok ? "yes" : "NO",
      f(r.wallMs / 1000),
      int((r.wallMs * speed) / 1000),
      int(r.notion.total),
      f(r.notion.total / r.pages, 2),
      r.minimum !== null ? f(r.minimum / r.pages, 2) : "-",
      r.minimum !== null ? f(r.notion.total / r.minimum, 3) : "-",
      f(rate.share, 2),
      f(rate.firstMinute, 2),
      rate.lowerBoundS !== null ? f(rate.lowerBoundS * speed, 0) : "-",
      rate.ratio !== null ? f(rate.ratio, 2) : "-",
      int(r.notion.byStatus["429"] ?? 0),
      r.invocations !== null ? int(r.invocations) : "1",
      r.longestInvocationMs !== null ? `${int(r.longestInvocationMs)} / ${int(BUDGET_MS)}` : "(no budget)",
      r.kv ? f(r.kv.commands / r.pages, 2) : "-",
      r.kv ? f(r.kv.roundTrips / r.pages, 2) : "-",
      r.kv ? int(r.kv.writtenBytes / r.pages) : "-",
      r.qstashMessages !== null ? int(r.qstashMessages) : "-",
      f(r.heapPeakMB),
    ];
  });
  return [line(head), line(head.map((_, i) => (i >= 1 && i <= 3 ? ":---" : "---:"))), ...rows.map(line)].join("\n");
}

interface Target {
  name: string;
  met: boolean | null;
  detail: string;
}

function evaluateTargets(results: Result[], markdown: boolean): Target[] {
  const targets: Target[] = [];
  const find = (contender: string, run: Result["run"], size?: number) => results.filter((r) => r.contender === contender && r.run === run && (size === undefined || r.size === size) && r.ok);
  for (const r of find("qstash-blocks", "full")) {
    const rate = rateOf(r);
    const longest = r.longestInvocationMs ?? 0;
    // The budget is when work stops being started; the last commit and the publish follow it, within maxDuration (30 s).
    const maxDurationMs = 30_000 / speed;
    targets.push({ name: `${int(r.size)} pages: full sync ≥ 0.9 of the rate limit from the first minute`, met: rate.firstMinute >= 0.9 && rate.share >= 0.9, detail: `first minute ${f(rate.firstMinute, 2)}, whole run ${f(rate.share, 2)} of 3 req/s (the pacer's own ceiling is 170/180 = 0.94)` });
    targets.push({ name: `${int(r.size)} pages: no invocation over budget`, met: longest <= maxDurationMs, detail: `longest ${int(longest)} ms: ${longest > BUDGET_MS ? `${int(longest - BUDGET_MS)} ms past SYNC_BUDGET_MS ${int(BUDGET_MS)} (the last commit and publish), ` : ""}within maxDuration 30 s = ${int(maxDurationMs)} ms here` });
    targets.push({ name: `${int(r.size)} pages: block mode requests/page ≤ 1.05 × minimum`, met: r.notion.total <= 1.05 * r.minimum!, detail: `${f(r.notion.total / r.pages, 3)} requests/page against a minimum of ${f(r.minimum! / r.pages, 3)} (× ${f(r.notion.total / r.minimum!, 3)})` });
  }
  if (!markdown) targets.push({ name: "markdown mode ≤ 1.05 requests/page plus list requests", met: null, detail: "not available: lib/config.ts does not accept SYNC_CONTENT=markdown yet" });
  for (const r of find("qstash-markdown", "full")) {
    const list = (r.notion.byRoute["dataSources.query"] ?? 0) + (r.notion.byRoute["databases.retrieve"] ?? 0);
    targets.push({ name: `${int(r.size)} pages: markdown mode ≤ 1.05 requests/page plus list requests`, met: r.notion.total - list <= 1.05 * r.pages, detail: `${f((r.notion.total - list) / r.pages, 3)} requests/page besides ${list} list requests` });
  }
  for (const contender of ["qstash-blocks", "cron"]) {
    for (const r of find(contender, "no-change")) {
      const list = r.notion.byRoute["dataSources.query"] ?? 0;
      const search = r.notion.byRoute.search ?? 0;
      const content = contentRequests(r);
      const wantList = Math.ceil((r.rows * 0.6) / 100) + Math.ceil((r.rows * 0.4) / 100);
      targets.push({ name: `${int(r.size)} pages, ${contender}: no-change run = ceil(N/100) list + ≤ ceil(C/100)+1 search + 0 content requests`, met: list <= wantList && search <= Math.ceil(r.childPages / 100) + 1 && content === 0, detail: `${list} list (ceil(N/100) = ${wantList}), ${search} search (≤ ${Math.ceil(r.childPages / 100) + 1}), ${content} content requests, ${r.notion.total} in all` });
    }
  }
  for (const r of results.filter((x) => x.contender === "qstash-blocks" && x.ok && x.kv)) {
    const batches = (r.kv!.byCommand.eval ?? 0) + (r.kv!.byCommand.evalsha ?? 0);
    targets.push({ name: `${int(r.size)} pages, ${r.run}: KV ≤ 1 round trip per committed batch`, met: batches > 0 ? r.kv!.evalRoundTrips <= batches : null, detail: `${batches} committed batches (fenced EVALs) in ${r.kv!.evalRoundTrips} round trips; all KV: ${r.kv!.roundTrips} round trips, ${r.kv!.commands} commands` });
  }
  const daily = find("qstash-blocks", "no-change", 1000)[0];
  targets.push(
    daily
      ? { name: "a daily no-change run of 1,000 pages fits QStash's free plan (1,000 messages/day) ≥ 50×", met: (daily.qstashMessages ?? Infinity) * 50 <= 1000, detail: `${daily.qstashMessages} messages a run: ${f(1000 / Math.max(1, daily.qstashMessages ?? 1), 0)}× a day` }
      : { name: "a daily no-change run of 1,000 pages fits QStash's free plan ≥ 50×", met: null, detail: "not measured (the 1,000-page workspace did not run)" },
  );
  const m1 = find("cron", "full", 1000)[0];
  const m5 = find("cron", "full", 5000)[0];
  targets.push(
    m1 && m5
      ? { name: "peak invocation memory flat from 1,000 to 5,000 pages (≤ 1.25 ×)", met: m5.heapPeakMB <= 1.25 * m1.heapPeakMB, detail: `cron full run, largest invocation: ${f(m1.heapPeakMB)} MB at 1,000, ${f(m5.heapPeakMB)} MB at 5,000 pages` }
      : { name: "peak invocation memory flat from 1,000 to 5,000 pages", met: null, detail: "not measured (needs the 1,000 and 5,000-page workspaces)" },
  );
  return targets;
}

main().then(
  async (code) => {
    await cleanup();
    process.exit(code);
  },
  async (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    await cleanup();
    process.exit(1);
  },
);
