/**
 * npm run bench [-- --quick] [-- --speed 10] [-- --sizes 100,1000,5000] [-- --json-out bench/results.json]
 *               [-- --contenders qstash-blocks,webhook,…] [-- --pace-check | --no-pace-check]
 * npm run bench -- --merge a.json,b.json [-- --json-out bench/results.json] [-- --machine "what else ran"]
 *
 * Contenders side by side on the same generated workspace (a fresh copy each,
 * same seed), against the Notion emulator with Notion's latency (150–400 ms a
 * request, seeded) and its rate limit (3 requests/s, burst 10, 429 +
 * Retry-After), over a real redis-server through the Upstash REST bridge:
 *
 *   qstash-blocks    this product, one trigger call, carried by the QStash test server (block mode)
 *   qstash-markdown  the same with SYNC_CONTENT=markdown, when lib/config.ts accepts it
 *   qstash-files     qstash-blocks with FILES_MIRROR=s3 (an S3 test server in a child process), the
 *                    emulator serving hosted files' bytes: full and no-change runs, compared
 *                    side by side with qstash-blocks' (renderFilesTable)
 *   cron             this product, one call after another per section (crons / manual URLs)
 *   baseline         one request that lists and syncs everything sequentially (scripts/bench/baseline.ts)
 *   notion-to-md     a full Markdown export with notion-to-md (scripts/bench/notion-to-md.ts)
 *   webhook          after qstash-blocks' runs, on its workspace and mirror: edits reach KV
 *                    through Notion's webhooks (scripts/bench/webhook.ts)
 *   no-change-listing  only when named in --contenders: what a no-change run costs Notion as the
 *                    database grows, a full listing against an incremental one, at Notion's pace,
 *                    on the scale workspace of 1,000, 5,000 and 50,000 simple rows (--sizes;
 *                    --quick: 300; at real pace whatever --speed), set up by an unpaced full
 *                    sync (scripts/bench/listing.ts);
 *                    written to bench/results-listing.json unless --json-out says otherwise
 *
 * Runs: full (force=1), no-change, 1 % of pages edited (the product; the
 * other two have no incremental mode: one full run each). --pace-check (the
 * default without --quick) adds qstash-blocks' full run of the 100-page
 * workspace at --speed 1 (`full@speed1`): the rate-share target is judged at
 * Notion's real pace. Every full run carries rate diagnostics (where request
 * slots were lost: scripts/bench/diagnostics.ts). Time is compressed
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
 * Every row records the NOTION_VERSION it ran under: the Notion-Version its
 * requests carried, counted by the proxy in front of the emulator (set
 * NOTION_VERSION in the environment to choose the product's; the baseline and
 * notion-to-md send the SDK's default).
 *
 * Output: a Markdown table on stdout (and one for the webhook run, one for
 * no-change-listing), the targets met/missed, bench/results.json. --merge loads results files written
 * by separate (e.g. concurrent) bench processes, evaluates the targets over
 * the union and writes --json-out: see docs/benchmark.md.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { readSyncSettings } from "../lib/config";
import { sharedKvStore } from "../lib/runtime";
import { s3MirrorEnv } from "../tests/support/files-mirror-env";
import { startRedisServer } from "../tests/support/redis-server";
import type { BridgeStats } from "../tests/support/upstash-bridge";
import { type AppServer, startAppServer } from "./bench/app-server";
import { runBaseline } from "./bench/baseline";
import { startChild } from "./bench/children";
import type { RateDiagnostics } from "./bench/diagnostics";
import { runNotionToMd } from "./bench/notion-to-md";
import { type ProductRun, heapHighWater, runCron, runQStash } from "./bench/product";
import {
  type WebhookResult,
  renderWebhookTable,
  runWebhookPhase,
  webhookTargets,
  webhookTiming,
} from "./bench/webhook";
import { machine, provenance } from "./bench/provenance";
import {
  FILES_CONTENDER,
  NOTION_PACE,
  type Target,
  rateOf,
  renderFilesTable,
  renderTable,
  targetLine,
} from "./bench/table";
import { benchListing } from "./bench/listing";
import {
  FULL_LIST_HOURS,
  LISTING_CONTENDER,
  LISTING_RUNS,
  LISTING_SIZES,
  type ListingFigures,
  type ListingRun,
  QUICK_LISTING_SIZES,
  SYNC_EVERY_MIN,
  listingTargets,
  renderListingTable,
} from "./bench/listing-report";
import { BENCH_LISTING_RESULTS, BENCH_RESULTS } from "./bench/readme-tables";
import { versionOf } from "./bench/request-figures";
import { exposeGc } from "./scale/memory";

const { values: args } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    speed: { type: "string", default: "10" },
    sizes: { type: "string" },
    seed: { type: "string", default: "1" },
    /** Default: bench/results.json, or bench/results-listing.json when no-change-listing is the only contender. */
    "json-out": { type: "string" },
    contenders: { type: "string" },
    merge: { type: "string" },
    /** What else shared the machine during the merged runs, recorded as it is said (load is not measured). */
    machine: { type: "string" },
    "pace-check": { type: "boolean", default: false },
    "no-pace-check": { type: "boolean", default: false },
  },
  strict: true,
});
const speed = Number(args.speed);
if (!(speed >= 1 && speed <= 40))
  throw new Error("--speed must be within 1–40 (SYNC_BUDGET_MS = 20000 / speed must stay ≥ 500)");
const parseSizes = (list: string) => list.split(",").map((s) => Number(s.trim()));
const sizes = args.quick ? [100] : parseSizes(args.sizes ?? "100,1000,5000");
const listingSizes = args.quick ? QUICK_LISTING_SIZES : args.sizes ? parseSizes(args.sizes) : LISTING_SIZES;
const seed = Number(args.seed);

/** Rows split 60/40 between the two databases; about one row in six holds child pages, huge pages of 1,200 blocks. */
const WORKSPACES: Record<number, { pages: number; posts: number; hugePages: number }> = {
  100: { pages: 60, posts: 40, hugePages: 1 },
  1000: { pages: 600, posts: 400, hugePages: 3 },
  5000: { pages: 3000, posts: 2000, hugePages: 10 },
};
const budgetAt = (atSpeed: number) => Math.round(20_000 / atSpeed);
const BUDGET_MS = budgetAt(speed);
/** qstash-blocks' full run of this workspace at --speed 1 (--pace-check). */
const PACE_CHECK_SIZE = 100;
const CONTENDER_ORDER = ["qstash-blocks", "qstash-markdown", FILES_CONTENDER, "cron", "baseline", "notion-to-md"];
const RUN_ORDER = ["full", "no-change", "edited", "full@speed1", ...LISTING_RUNS];
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
  /** Distinct hosted files of the pages a sync reads (only when the emulator serves them: qstash-files). */
  hostedFiles: number | null;
}
interface S3Ready {
  endpoint: string;
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  publicBaseUrl: string;
}
interface S3Stats {
  puts: number;
  gets: number;
  newObjects: number;
  newBytes: number;
  objects: number;
  bytes: number;
}
interface NotionStats {
  total: number;
  byRoute: Record<string, number>;
  byStatus: Record<string, number>;
  firstAt: number;
  lastAt: number;
  firstWindow: number;
  /** Downloads of hosted files (not in total, byRoute or the rate figures). */
  fileRequests?: number;
  /** Where slots were lost (scripts/bench/diagnostics.ts), computed by the notion child. */
  diagnostics?: RateDiagnostics;
  /** Requests per Notion-Version header (absent in results measured before it was counted). */
  versions?: Record<string, number>;
}
type KvStats = BridgeStats & { roundTrips: number; evalRoundTrips: number };

export interface Result {
  size: number;
  contender: string;
  /** full@speed1: --pace-check, qstash-blocks' full run at Notion's real pace; no-change@…: no-change-listing's runs. */
  run: "full" | "no-change" | "edited" | "full@speed1" | ListingRun;
  /** --speed of this row (full@speed1: 1) and its SYNC_BUDGET_MS. */
  speed: number;
  budgetMs: number;
  ok: boolean;
  failure: string | null;
  wallMs: number;
  pages: number;
  rows: number;
  childPages: number;
  notion: NotionStats;
  /** The Notion-Version the run's requests carried (versionOf: several joined by " + "); null: no request. */
  notionVersion?: string | null;
  minimum: number | null;
  kv: KvStats | null;
  qstashMessages: number | null;
  invocations: number | null;
  longestInvocationMs: number | null;
  heapPeakMB: number;
  sections?: ProductRun["sections"];
  /** The product's invocations: section, elapsedMs, start and end in ms from the run's start; busyShare = their total ÷ wall time. */
  invocationLog?: { section: string; elapsedMs: number; startMs: number; endMs: number }[];
  busyShare?: number;
  /** Full runs: where Notion request slots were lost, and the time before the first request and after the last. */
  rateDiagnostics?: RateDiagnostics & { leadMs: number; tailMs: number };
  edited?: { edited: number; children: number };
  /** qstash-files (FILES_MIRROR=s3): what the run copied to the files store, and what that took. */
  files?: FilesFigures;
  /** no-change-listing: how each section listed, and the setup before. */
  listing?: ListingFigures;
  note?: string;
}

export interface FilesFigures {
  /** The run's cursor counts (filesUploaded, bytesUploaded), summed over the sections. */
  uploaded: number;
  bytes: number;
  /** Downloads of hosted files' signed URLs the emulator answered (not Notion API requests). */
  fileRequests: number;
  /** What the S3 server received: object writes (PUT) and their bytes, and the objects it holds after the run. */
  storePuts: number;
  storeBytes: number;
  objects: number;
  /** Distinct hosted files the workspace's pages hold: what a full run uploads, each once. */
  hostedFiles: number | null;
}

const cleanups: (() => Promise<void>)[] = [];
async function cleanup() {
  while (cleanups.length) await cleanups.pop()!().catch(() => {});
}
process.on("SIGINT", () => void cleanup().then(() => process.exit(130)));

interface BenchDoc {
  generatedAt: string;
  options: Record<string, unknown> & { speed: number; markdownMode: string };
  elapsedMs: number;
  results: Result[];
  webhook: WebhookResult[];
  targets: Target[];
}

async function main(): Promise<number> {
  if (args.merge)
    return report(
      mergeDocs(
        args.merge
          .split(",")
          .map((s) => s.trim())
          .filter(Boolean),
      ),
    );
  process.env.SYNC_LOG = "off";
  const gc = exposeGc();
  const source = provenance();
  const markdown = markdownAvailable();
  const wanted = args.contenders?.split(",").map((s) => s.trim());
  const known = [...CONTENDER_ORDER, "webhook", LISTING_CONTENDER];
  const unknown = wanted?.filter((c) => !known.includes(c)) ?? [];
  if (unknown.length) throw new Error(`--contenders: unknown ${unknown.join(", ")} (known: ${known.join(", ")})`);
  const contenders = CONTENDER_ORDER.filter(
    (c) => (c !== "qstash-markdown" || markdown) && (!wanted || wanted.includes(c)),
  );
  const withWebhook = !wanted || wanted.includes("webhook");
  const listing = wanted?.includes(LISTING_CONTENDER) ?? false;
  if (withWebhook && !contenders.includes("qstash-blocks"))
    throw new Error("--contenders webhook runs after qstash-blocks, on its synced mirror: add qstash-blocks");
  const paceCheck = args["no-pace-check"]
    ? false
    : args["pace-check"] || (!args.quick && speed !== 1 && contenders.includes("qstash-blocks"));
  const results: Result[] = [];
  const webhook: WebhookResult[] = [];
  const started = Date.now();

  if (contenders.length)
    for (const size of sizes) await benchSize({ size, contenders, speed, withWebhook, gc }, results, webhook);
  if (paceCheck) {
    progress(
      `pace check: qstash-blocks' full run of the ${PACE_CHECK_SIZE}-page workspace at --speed 1 (Notion's real pace, about 3½ minutes)`,
    );
    await benchSize(
      { size: PACE_CHECK_SIZE, contenders: ["qstash-blocks"], speed: 1, withWebhook: false, gc, paceCheck: true },
      results,
      webhook,
    );
  }

  if (listing)
    for (const size of listingSizes) {
      results.push(...(await benchListing({ size, seed, gc, progress, cleanups })));
      await cleanup();
    }

  const targets = allTargets(results, webhook, markdown);
  const timing = webhookTiming(speed);
  const doc: BenchDoc = {
    generatedAt: new Date().toISOString(),
    options: {
      sizes,
      speed,
      seed,
      budgetMs: BUDGET_MS,
      notionRatePerMin: 170,
      node: process.version,
      markdownMode: markdown ? "available" : "not available",
      contenders: [...contenders, ...(withWebhook ? ["webhook"] : []), ...(listing ? [LISTING_CONTENDER] : [])],
      // NOTION_VERSION as given to this process (null: the product's default); each row records what its requests carried.
      notionVersionEnv: process.env.NOTION_VERSION ?? null,
      ...(listing ? { listing: listingOptions() } : {}),
      paceCheck: paceCheck ? { size: PACE_CHECK_SIZE, speed: 1 } : null,
      webhook: withWebhook
        ? { aggregateS: 60, debounceS: timing.debounceS, debounceRealS: timing.debounceRealS }
        : null,
      machine: machine(),
      // The commit measured and whether lib/app/scripts differed from it when this process started.
      commit: source.commit,
      dirty: source.dirty,
      // The 1-minute load average as the run began and ended, against the machine's CPUs: other work inflates wall times.
      loadAverageAtStart: source.loadAverageAtStart,
      loadAverageAtEnd: Math.round(os.loadavg()[0] * 100) / 100,
    },
    elapsedMs: Date.now() - started,
    results,
    webhook,
    targets,
  };
  return report(doc);
}

/** What no-change-listing ran: its sizes, Notion's pace for the measured runs, and the rate-share line's assumptions. */
function listingOptions() {
  return {
    sizes: listingSizes,
    workspace:
      "the scale workspace (scripts/scale/rows.ts SIMPLE_ROWS): N rows of 2 paragraphs, an empty posts database, no child pages",
    setup: "a full sync of every section, the emulator unpaced, SYNC_BUDGET_MS 5000 (not measured)",
    pace: NOTION_PACE,
    productRatePerMin: 170,
    budgetMs: 20_000,
    syncEveryMin: SYNC_EVERY_MIN,
    fullListHours: FULL_LIST_HOURS,
  };
}

/** The bench's targets, the listing ones, the webhook ones: each over the rows that measure it. */
function allTargets(results: Result[], webhook: WebhookResult[], markdown: boolean): Target[] {
  const main = results.filter((r) => r.contender !== LISTING_CONTENDER);
  return [
    ...(main.length ? evaluateTargets(main, markdown) : []),
    ...listingTargets(results),
    ...webhookTargets(webhook),
  ];
}

/** One workspace size: its own redis-server, bridge, QStash and app server; each contender on a fresh copy of the workspace. */
async function benchSize(
  o: { size: number; contenders: string[]; speed: number; withWebhook: boolean; gc: () => void; paceCheck?: boolean },
  results: Result[],
  webhooks: WebhookResult[],
): Promise<void> {
  const { size, speed: runSpeed, gc } = o;
  const budgetMs = budgetAt(runSpeed);
  const shape = WORKSPACES[size] ?? {
    pages: Math.round(size * 0.6),
    posts: size - Math.round(size * 0.6),
    hugePages: Math.max(1, Math.round(size / 500)),
  };
  const redis = await startRedisServer();
  cleanups.push(() => redis.stop());
  const bridge = await startChild<{ url: string; token: string }>("bridge", {
    redisUrl: redis.url,
    token: randomBytes(12).toString("hex"),
  });
  cleanups.push(() => bridge.stop());
  const qstash = await startChild<{
    url: string;
    webhookUrl: string;
    token: string;
    currentSigningKey: string;
    nextSigningKey: string;
  }>("qstash", { speed: runSpeed, debounceMs: webhookTiming(runSpeed).debounceS * 1000 });
  cleanups.push(() => qstash.stop());
  let currentEnv: Record<string, string> = {};
  const app: AppServer = await startAppServer(() => currentEnv);
  cleanups.push(() => app.close());
  const label = `${size} pages${o.paceCheck ? " at --speed 1" : ""}`;
  const s3 = o.contenders.includes(FILES_CONTENDER) ? await startChild<S3Ready>("s3", {}) : null;
  if (s3) cleanups.push(() => s3.stop());

  for (const contender of o.contenders) {
    progress(`${label}, ${contender}: generating the workspace (child process)`);
    const notion = await startChild<NotionReady>("notion", {
      ...shape,
      seed,
      speed: runSpeed,
      ...NOTION_PACE,
      ...(contender === FILES_CONTENDER ? { hostedFiles: "self" } : {}),
    });
    const s = notion.ready.stats;
    const rows = s.pages + s.posts;
    const pages = rows + s.childPages;
    const listRequests = Math.ceil(s.pages / 100) + Math.ceil(s.posts / 100);
    const prefix = `b${size}${contender.replace(/[^a-z]/g, "").slice(0, 8)}${o.paceCheck ? "s1" : ""}`;
    const secret = randomBytes(16).toString("hex");
    const product = contender.startsWith("qstash") || contender === "cron";
    const env: Record<string, string> = {
      CRON_SECRET: secret,
      NOTION_API_KEY: notion.ready.token,
      NOTION_PAGES_DB: notion.ready.pagesDatabaseId,
      NOTION_POSTS_DB: notion.ready.postsDatabaseId,
      NOTION_BASE_URL: notion.ready.url,
      NOTION_RATE_PER_MIN: String(170 * runSpeed),
      KV_REST_API_URL: bridge.ready.url,
      KV_REST_API_TOKEN: bridge.ready.token,
      KV_PREFIX: prefix,
      SYNC_BUDGET_MS: String(budgetMs),
      SYNC_LOG: "off",
      SYNC_MIN_FORCE_INTERVAL_S: "0",
      // The version the product reads, when this process was given one.
      ...(process.env.NOTION_VERSION ? { NOTION_VERSION: process.env.NOTION_VERSION } : {}),
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
      ...(contender === FILES_CONTENDER && s3 ? s3MirrorEnv(s3.ready) : {}),
    };
    currentEnv = env;
    const runs = o.paceCheck
      ? (["full"] as const)
      : contender === FILES_CONTENDER
        ? (["full", "no-change"] as const)
        : product
          ? (["full", "no-change", "edited"] as const)
          : (["full"] as const);
    let allOk = true;
    try {
      for (const run of runs) {
        let edited: Result["edited"];
        if (run === "edited") edited = await notion.call("edit", { share: 0.01 });
        await notion.call("reset");
        await bridge.call("reset");
        await s3?.call("reset");
        const t0 = Date.now();
        progress(`${label}, ${contender}: ${run} run`);
        let outcome: { ok: boolean; failure: string | null; heap: number; product?: ProductRun; note?: string };
        try {
          if (contender === "cron") {
            const r = await runCron(env, { force: run === "full", gc, redisUrl: redis.url });
            outcome = { ok: r.ok, failure: r.failure, heap: r.heapPeakDelta, product: r };
          } else if (product) {
            const r = await runQStash(env, {
              force: run === "full",
              gc,
              redisUrl: redis.url,
              app,
              timeoutMs: 3_600_000,
              idle: () => qstash.call("idle", {}, 600_000),
            });
            outcome = { ok: r.ok, failure: r.failure, heap: r.heapPeakDelta, product: r };
          } else if (contender === "baseline") {
            const r = await heapHighWater(gc, 5, () =>
              runBaseline({
                notionUrl: notion.ready.url,
                token: notion.ready.token,
                pagesDatabaseId: notion.ready.pagesDatabaseId,
                postsDatabaseId: notion.ready.postsDatabaseId,
                kvUrl: bridge.ready.url,
                kvToken: bridge.ready.token,
                prefix,
              }),
            );
            outcome = {
              ok: true,
              failure: null,
              heap: r.peakDelta,
              note: `${r.value.pages} pages, ${r.value.kvValues} KV values`,
            };
          } else {
            const r = await heapHighWater(gc, 5, () =>
              runNotionToMd({
                notionUrl: notion.ready.url,
                token: notion.ready.token,
                pagesDatabaseId: notion.ready.pagesDatabaseId,
                postsDatabaseId: notion.ready.postsDatabaseId,
              }),
            );
            outcome = {
              ok: true,
              failure: null,
              heap: r.peakDelta,
              note: `${r.value.pages} rows exported (child pages inlined), ${Math.round(r.value.markdownBytes / 1024)} KB of Markdown`,
            };
          }
        } catch (err) {
          outcome = { ok: false, failure: err instanceof Error ? err.message : String(err), heap: 0 };
        }
        const wallMs = Date.now() - t0;
        const inv = outcome.product?.invocations ?? null;
        const notionStats = await notion.call<NotionStats>("stats", {
          windowMs: 60_000 / runSpeed,
          ...(inv ? { invocations: inv.map((i) => [i.startedAt, i.endedAt]) } : {}),
        });
        const kv = await bridge.call<KvStats>("stats");
        const q = contender.startsWith("qstash")
          ? await qstash.call<{ messages: number }>("count", { since: t0 })
          : null;
        // Child page objects come from a search sweep in a forced children run: one search request per 100 pages, at most one per child page.
        const childObjects = Math.min(s.childPages, Math.ceil(pages / 100));
        const minimum =
          run !== "full"
            ? null
            : 2 + listRequests + (contender === "qstash-markdown" ? pages : s.blockListRequests) + childObjects;
        const { diagnostics, fileRequests, ...notionFigures } = notionStats;
        const files =
          contender === FILES_CONTENDER && s3
            ? filesFigures(
                outcome.product,
                await s3.call<S3Stats>("stats"),
                fileRequests ?? 0,
                notion.ready.hostedFiles,
              )
            : undefined;
        results.push({
          size,
          contender,
          run: o.paceCheck ? "full@speed1" : run,
          speed: runSpeed,
          budgetMs,
          ok: outcome.ok,
          failure: outcome.failure,
          wallMs,
          pages,
          rows,
          childPages: s.childPages,
          notion: notionFigures,
          notionVersion: versionOf(notionFigures.versions),
          minimum,
          kv: contender === "notion-to-md" ? null : kv,
          qstashMessages: q?.messages ?? null,
          invocations: inv ? inv.length : null,
          longestInvocationMs: inv ? Math.max(0, ...inv.map((i) => i.elapsedMs)) : null,
          heapPeakMB: outcome.heap / 1e6,
          ...(outcome.product
            ? {
                sections: outcome.product.sections,
                invocationLog: outcome.product.invocations.map((i) => ({
                  section: i.section,
                  elapsedMs: i.elapsedMs,
                  startMs: i.startedAt - t0,
                  endMs: i.endedAt - t0,
                })),
                busyShare: outcome.product.invocations.reduce((n, i) => n + i.elapsedMs, 0) / wallMs,
              }
            : {}),
          ...(run === "full" && diagnostics
            ? {
                rateDiagnostics: {
                  ...diagnostics,
                  leadMs: notionStats.total ? notionStats.firstAt - t0 : wallMs,
                  tailMs: notionStats.total ? t0 + wallMs - notionStats.lastAt : 0,
                },
              }
            : {}),
          ...(edited ? { edited } : {}),
          ...(files ? { files } : {}),
          ...(outcome.note ? { note: outcome.note } : {}),
        });
        progress(
          `  ${outcome.ok ? "done" : `FAILED: ${outcome.failure}`} in ${(wallMs / 1000).toFixed(1)} s, ${notionStats.total} Notion requests`,
        );
        if (!outcome.ok) {
          allOk = false;
          break;
        }
      }
      if (contender === "qstash-blocks" && o.withWebhook && allOk) {
        const w = await runWebhookPhase({
          size,
          speed: runSpeed,
          seed,
          env,
          setEnv: (e) => (currentEnv = e),
          app,
          redisUrl: redis.url,
          notion,
          qstash,
          bridge,
          progress,
        });
        webhooks.push(w);
        progress(
          w.ok && w.delayRealS
            ? `  done in ${(w.wallMs / 1000).toFixed(1)} s: edit → KV ${w.delayRealS.p50.toFixed(0)} / ${w.delayRealS.p95.toFixed(0)} / ${w.delayRealS.max.toFixed(0)} s (p50 / p95 / max at Notion's pace)`
            : `  FAILED: ${w.failure}`,
        );
      }
    } finally {
      await notion.stop();
    }
  }
  // One store per backend configuration in this process (lib/runtime.ts): this size's bridge is about to go.
  await sharedKvStore(currentEnv)
    .close()
    .catch(() => {});
  await cleanup();
}

/** What a qstash-files run uploaded (its cursors' counts) next to what the emulator and the S3 server saw. */
function filesFigures(
  product: ProductRun | undefined,
  store: S3Stats,
  fileRequests: number,
  hostedFiles: number | null,
): FilesFigures {
  const sum = (name: string) =>
    Object.values(product?.sections ?? {}).reduce((n, section) => n + (section.counts[name] ?? 0), 0);
  return {
    uploaded: sum("filesUploaded"),
    bytes: sum("bytesUploaded"),
    fileRequests,
    storePuts: store.puts,
    storeBytes: store.newBytes,
    objects: store.objects,
    hostedFiles,
  };
}

const contenderRank = (c: string) => (CONTENDER_ORDER.indexOf(c) + 100) % 100;
const byOrder = (a: Result, b: Result) =>
  a.size - b.size ||
  contenderRank(a.contender) - contenderRank(b.contender) ||
  RUN_ORDER.indexOf(a.run) - RUN_ORDER.indexOf(b.run);

/** Results files of separate bench processes (e.g. concurrent ones, each with its own --contenders) as one document, targets evaluated over the union. */
function mergeDocs(files: string[]): BenchDoc {
  if (files.length < 2) throw new Error("--merge needs at least two results files, comma-separated");
  const docs = files.map((file) => ({
    file,
    doc: JSON.parse(readFileSync(file, "utf8")) as Partial<BenchDoc> &
      Pick<BenchDoc, "options" | "results" | "generatedAt" | "elapsedMs">,
  }));
  const results = docs
    .flatMap(({ file, doc }) =>
      doc.results.map((r) => ({
        ...r,
        speed: r.speed ?? doc.options.speed,
        budgetMs: r.budgetMs ?? Number(doc.options.budgetMs ?? budgetAt(doc.options.speed)),
        process: file,
      })),
    )
    .sort(byOrder);
  const webhook = docs
    .flatMap(({ file, doc }) => (doc.webhook ?? []).map((w) => ({ ...w, process: file })))
    .sort((a, b) => a.size - b.size);
  const seen = new Set<string>();
  for (const r of results) {
    const key = `${r.size} ${r.contender} ${r.run}`;
    if (seen.has(key)) progress(`merge: ${key} is in more than one file (both kept)`);
    seen.add(key);
  }
  const speeds = [...new Set(docs.map(({ doc }) => doc.options.speed))];
  if (speeds.length > 1)
    progress(`merge: the files ran at different --speed (${speeds.join(", ")}); each row keeps its own`);
  const spans = docs.map(({ doc }) => ({
    end: Date.parse(doc.generatedAt),
    start: Date.parse(doc.generatedAt) - doc.elapsedMs,
  }));
  const start = Math.min(...spans.map((x) => x.start));
  const end = Math.max(...spans.map((x) => x.end));
  // Which processes shared the machine with which: any two whose wall times overlap.
  const overlaps = spans.map((a, i) =>
    docs.map((_, j) => j).filter((j) => j !== i && spans[j].start < a.end && a.start < spans[j].end),
  );
  const concurrent = overlaps.some((o) => o.length > 0);
  const markdown = docs.some(({ doc }) => doc.options.markdownMode === "available");
  const first = docs[0].doc.options;
  const commits = [...new Set(docs.map(({ doc }) => (doc.options.commit as string | null | undefined) ?? null))];
  const options = {
    ...first,
    // One commit only when every process measured the same one (each process's own is under merged.processes).
    commit: commits.length === 1 ? commits[0] : null,
    dirty: docs.some(({ doc }) => doc.options.dirty !== false),
    sizes: [...new Set(docs.flatMap(({ doc }) => (doc.options.sizes as number[] | undefined) ?? []))].sort(
      (a, b) => a - b,
    ),
    speed: speeds.length === 1 ? speeds[0] : Math.max(...speeds),
    markdownMode: markdown ? "available" : "not available",
    contenders: [...new Set(docs.flatMap(({ doc }) => (doc.options.contenders as string[] | undefined) ?? []))],
    paceCheck: docs.map(({ doc }) => doc.options.paceCheck).find(Boolean) ?? null,
    webhook: docs.map(({ doc }) => doc.options.webhook).find(Boolean) ?? null,
    merged: {
      concurrent,
      machine: args.machine ?? null,
      note: concurrent
        ? `${docs.length} bench processes, some running at the same time on one machine (see each process's overlapsWith): those shared its CPUs, which weighs on wall-time figures`
        : `${docs.length} bench processes, one after the other`,
      commits,
      spanMs: end - start,
      processes: docs.map(({ file, doc }, i) => ({
        file,
        commit: (doc.options.commit as string | null | undefined) ?? null,
        dirty: (doc.options.dirty as boolean | null | undefined) ?? null,
        generatedAt: doc.generatedAt,
        startedAt: new Date(spans[i].start).toISOString(),
        elapsedMs: doc.elapsedMs,
        overlapsWith: overlaps[i].map((j) => docs[j].file),
        options: doc.options,
      })),
    },
  };
  return {
    generatedAt: new Date().toISOString(),
    options,
    elapsedMs: end - start,
    results,
    webhook,
    targets: allTargets(results, webhook, markdown),
  };
}

function report(doc: BenchDoc): number {
  const { results, webhook, targets } = doc;
  const listingOnly = results.length > 0 && results.every((r) => r.contender === LISTING_CONTENDER);
  const out = path.resolve(args["json-out"] ?? (listingOnly ? BENCH_LISTING_RESULTS : BENCH_RESULTS));
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(doc, null, 2)}\n`);
  const runSpeed = doc.options.speed;
  const print = (line = "") => process.stdout.write(`${line}\n`);
  const merged = doc.options.merged as { note: string; commits?: (string | null)[] } | undefined;
  const pace = listingOnly
    ? "no-change-listing at Notion's real pace (3 req/s, latency 150–400 ms, SYNC_BUDGET_MS 20000)"
    : `--speed ${runSpeed} (Notion 3 req/s, latency 150–400 ms, SYNC_BUDGET_MS ${budgetAt(runSpeed)} = 20 s at Notion's pace)`;
  print(`notion-kv-sync bench: ${pace}, seed ${String(doc.options.seed)}${merged ? `; merged: ${merged.note}` : ""}`);
  const m = doc.options.machine as ReturnType<typeof machine> | undefined;
  if (m) print(`machine: ${m.cpus} × ${m.cpuModel}, ${m.totalMemGiB} GiB, ${m.os}, Node ${m.node}`);
  const commits = merged?.commits ?? [(doc.options.commit as string | null | undefined) ?? null];
  print(
    `commit: ${commits.map((c) => c?.slice(0, 7) ?? "unknown").join(", ")}${doc.options.dirty !== false ? " (the tree differed from it, or it is not known)" : ""}`,
  );
  print();
  const main = results.filter((r) => r.contender !== LISTING_CONTENDER);
  if (main.length) {
    print(renderTable(main));
    print();
  }
  if (main.length < results.length) {
    print("No-change runs, a full listing against an incremental one, at Notion's pace (no-change-listing):");
    print();
    print(renderListingTable(results));
    print();
  }
  if (results.some((r) => r.files)) {
    print("Files mirror (FILES_MIRROR=s3) against the same runs without it:");
    print();
    print(renderFilesTable(results));
    print();
  }
  if (webhook.length) {
    print("Webhook run (edit → page in KV, Notion's aggregation included; real s = wall × speed):");
    print();
    print(renderWebhookTable(webhook));
    print();
  }
  if (doc.options.markdownMode !== "available")
    print("qstash-markdown: not available (lib/config.ts does not accept SYNC_CONTENT=markdown yet)");
  for (const r of results.filter((x) => x.contender === "baseline")) {
    const real = (r.wallMs * r.speed) / 1000;
    print(
      `baseline ${r.size} pages: one request of ${real.toFixed(0)} s at Notion's pace: fits 30 s ${real <= 30 ? "yes" : "no"}, 60 s ${real <= 60 ? "yes" : "no"}, 300 s ${real <= 300 ? "yes" : "no"}`,
    );
  }
  for (const r of results.filter(
    (x) => x.rateDiagnostics && (x.contender.startsWith("qstash") || x.contender === "cron"),
  ))
    print(diagnosticsLine(r));
  print();
  for (const t of targets) print(targetLine(t));
  print(`\nwritten ${path.relative(process.cwd(), out)}${merged ? "" : ` in ${(doc.elapsedMs / 1000).toFixed(0)} s`}`);
  return results.every((r) => r.ok) && webhook.every((w) => w.ok) ? 0 : 1;
}

/** One line per full product run: where its Notion request slots went. */
function diagnosticsLine(r: Result): string {
  const d = r.rateDiagnostics!;
  const s = (ms: number | null) => (ms === null ? "-" : `${f(ms / 1000, 1)} s`);
  return (
    `rate diagnostics ${int(r.size)} ${r.contender} ${r.run} (--speed ${r.speed}, slot ${f(d.slotMs, 1)} ms): ` +
    `idle ${s(d.idle.ms)} of ${s(r.wallMs)} wall (${s(d.idle.insideMs)} inside invocations, ${s(d.idle.betweenMs)} between); ` +
    `first minute ${s(d.firstWindow.ms)} of ${s(d.firstWindow.windowMs)} (${s(d.firstWindow.insideMs)} inside, ${s(d.firstWindow.betweenMs)} between); ` +
    `0 in flight ${int(d.zeroInFlight.count)}× for ${s(d.zeroInFlight.ms)} (${s(d.zeroInFlight.insideMs)} inside); first request after ${s(d.leadMs)}, last ${s(d.tailMs)} before the end`
  );
}

const f = (n: number, d = 1) => n.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
const int = (n: number) => Math.round(n).toLocaleString("en-US");

function contentRequests(r: Result): number {
  const b = r.notion.byRoute;
  return (
    (b["blocks.children.list"] ?? 0) +
    (b["pages.retrieve"] ?? 0) +
    (b["pages.markdown"] ?? 0) +
    (b["pages.retrieveMarkdown"] ?? 0)
  );
}

function evaluateTargets(results: Result[], markdown: boolean): Target[] {
  const targets: Target[] = [];
  const find = (contender: string, run: Result["run"], size?: number) =>
    results.filter(
      (r) => r.contender === contender && r.run === run && (size === undefined || r.size === size) && r.ok,
    );
  for (const r of find("qstash-blocks", "full")) {
    const rate = rateOf(r);
    const longest = r.longestInvocationMs ?? 0;
    // The budget is when work stops being started; the last commit and the publish follow it, within maxDuration (30 s).
    const maxDurationMs = 30_000 / r.speed;
    const ok = (x: ReturnType<typeof rateOf>) => x.firstMinute >= 0.9 && x.share >= 0.9;
    const figures = (x: ReturnType<typeof rateOf>) => `first minute ${f(x.firstMinute, 2)}, whole run ${f(x.share, 2)}`;
    // --pace-check: the same run at --speed 1. It is the one judged: compressing time divides Notion's rate, its latency and
    // the budget by --speed, not the KV round trips, HTTP hops and QStash hand-offs, whose weight on the share grows × speed.
    const pace = r.speed === 1 ? undefined : find("qstash-blocks", "full@speed1", r.size)[0];
    const name = `${int(r.size)} pages: full sync ≥ 0.9 of the rate limit from the first minute`;
    const ceiling = "of 3 req/s (the pacer's own ceiling is 170/180 = 0.94)";
    if (pace) {
      const real = rateOf(pace);
      targets.push({
        name,
        met: ok(real),
        detail: `at Notion's real pace (--speed 1): ${figures(real)}; at --speed ${r.speed}: ${figures(rate)} ${ceiling}. Judged at real pace: time compression leaves KV and HTTP overheads uncompressed, so they weigh × ${r.speed} at --speed ${r.speed}`,
      });
    } else {
      targets.push({
        name,
        met: ok(rate),
        detail: `${figures(rate)} ${ceiling} at --speed ${r.speed}${r.speed === 1 ? " (real pace)" : `; no run at real pace for this size (--pace-check runs the ${PACE_CHECK_SIZE}-page workspace at --speed 1), so judged at --speed ${r.speed}, where uncompressed KV and HTTP overheads weigh × ${r.speed}`}`,
      });
    }
    targets.push({
      name: `${int(r.size)} pages: no invocation over budget`,
      met: longest <= maxDurationMs,
      detail: `longest ${int(longest)} ms: ${longest > r.budgetMs ? `${int(longest - r.budgetMs)} ms past SYNC_BUDGET_MS ${int(r.budgetMs)} (the last commit and publish), ` : ""}within maxDuration 30 s = ${int(maxDurationMs)} ms here`,
    });
    targets.push({
      name: `${int(r.size)} pages: block mode requests/page ≤ 1.05 × minimum`,
      met: r.notion.total <= 1.05 * r.minimum!,
      detail: `${f(r.notion.total / r.pages, 3)} requests/page against a minimum of ${f(r.minimum! / r.pages, 3)} (× ${f(r.notion.total / r.minimum!, 3)})`,
    });
  }
  for (const pace of find("qstash-blocks", "full@speed1").filter(
    (x) => find("qstash-blocks", "full", x.size).length === 0,
  )) {
    const real = rateOf(pace);
    targets.push({
      name: `${int(pace.size)} pages: full sync ≥ 0.9 of the rate limit from the first minute`,
      met: real.firstMinute >= 0.9 && real.share >= 0.9,
      detail: `at Notion's real pace (--speed 1, --pace-check): first minute ${f(real.firstMinute, 2)}, whole run ${f(real.share, 2)} of 3 req/s; no compressed run of this size`,
    });
  }
  if (!markdown)
    targets.push({
      name: "markdown mode ≤ 1.05 requests/page plus list requests",
      met: null,
      detail: "not available: lib/config.ts does not accept SYNC_CONTENT=markdown yet",
    });
  for (const r of find("qstash-markdown", "full")) {
    // As in the minimum: the list requests (databases.retrieve, the queries) and the search sweep that brings the child page objects.
    const list = (r.notion.byRoute["dataSources.query"] ?? 0) + (r.notion.byRoute["databases.retrieve"] ?? 0);
    const search = r.notion.byRoute.search ?? 0;
    targets.push({
      name: `${int(r.size)} pages: markdown mode ≤ 1.05 requests/page plus list requests`,
      met: r.notion.total - list - search <= 1.05 * r.pages,
      detail: `${f((r.notion.total - list - search) / r.pages, 3)} requests/page besides ${list} list and ${search} search requests`,
    });
  }
  for (const contender of ["qstash-blocks", "cron"]) {
    for (const r of find(contender, "no-change")) {
      const list = r.notion.byRoute["dataSources.query"] ?? 0;
      const search = r.notion.byRoute.search ?? 0;
      const content = contentRequests(r);
      const wantList = Math.ceil((r.rows * 0.6) / 100) + Math.ceil((r.rows * 0.4) / 100);
      targets.push({
        name: `${int(r.size)} pages, ${contender}: no-change run = ceil(N/100) list + ≤ ceil(C/100)+1 search + 0 content requests`,
        met: list <= wantList && search <= Math.ceil(r.childPages / 100) + 1 && content === 0,
        detail: `${list} list (ceil(N/100) = ${wantList}), ${search} search (≤ ${Math.ceil(r.childPages / 100) + 1}), ${content} content requests, ${r.notion.total} in all`,
      });
    }
  }
  for (const r of results.filter((x) => x.contender === "qstash-blocks" && x.ok && x.kv)) {
    const batches = (r.kv!.byCommand.eval ?? 0) + (r.kv!.byCommand.evalsha ?? 0);
    targets.push({
      name: `${int(r.size)} pages, ${r.run}: KV ≤ 1 round trip per committed batch`,
      met: batches > 0 ? r.kv!.evalRoundTrips <= batches : null,
      detail: `${batches} committed batches (fenced EVALs) in ${r.kv!.evalRoundTrips} round trips; all KV: ${r.kv!.roundTrips} round trips, ${r.kv!.commands} commands`,
    });
  }
  targets.push(...filesTargets(results));
  const daily = find("qstash-blocks", "no-change", 1000)[0];
  targets.push(
    daily
      ? {
          name: "a daily no-change run of 1,000 pages fits QStash's free plan (1,000 messages/day) ≥ 50×",
          met: (daily.qstashMessages ?? Infinity) * 50 <= 1000,
          detail: `${daily.qstashMessages} messages a run: ${f(1000 / Math.max(1, daily.qstashMessages ?? 1), 0)}× a day`,
        }
      : {
          name: "a daily no-change run of 1,000 pages fits QStash's free plan ≥ 50×",
          met: null,
          detail: "not measured (the 1,000-page workspace did not run)",
        },
  );
  const m1 = find("cron", "full", 1000)[0];
  const m5 = find("cron", "full", 5000)[0];
  targets.push(
    m1 && m5
      ? {
          name: "peak invocation memory flat from 1,000 to 5,000 pages (≤ 1.25 ×)",
          met: m5.heapPeakMB <= 1.25 * m1.heapPeakMB,
          detail: `cron full run, largest invocation: ${f(m1.heapPeakMB)} MB at 1,000, ${f(m5.heapPeakMB)} MB at 5,000 pages`,
        }
      : {
          name: "peak invocation memory flat from 1,000 to 5,000 pages",
          met: null,
          detail: "not measured (needs the 1,000 and 5,000-page workspaces)",
        },
  );
  return targets;
}

/** FILES_MIRROR (issue 25): a full run uploads each hosted file once; a no-change run uploads nothing and downloads nothing. */
function filesTargets(results: Result[]): Target[] {
  return results
    .filter((r) => r.contender === FILES_CONTENDER && r.files && r.ok)
    .map((r) => {
      const x = r.files!;
      const figures = `${int(x.uploaded)} objects (${f(x.bytes / 1024 / 1024, 2)} MB) uploaded, ${int(x.fileRequests)} file requests, ${int(x.storePuts)} store PUTs`;
      return r.run === "full"
        ? {
            name: `${int(r.size)} pages, files mirror: a full run uploads each hosted file once`,
            met: x.hostedFiles !== null && x.uploaded === x.hostedFiles && x.storePuts === x.uploaded,
            detail: `${figures}; ${x.hostedFiles ?? "?"} distinct hosted files in the workspace`,
          }
        : {
            name: `${int(r.size)} pages, files mirror: a ${r.run} run uploads nothing and makes no file request`,
            met: x.uploaded === 0 && x.fileRequests === 0 && x.storePuts === 0,
            detail: figures,
          };
    });
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
