/**
 * npm run demo [-- --qstash | --manual] [-- --budget-ms 2000] [-- --notion-rate 60]
 *
 * With no environment at all: starts the Notion emulator (a generated
 * workspace of ~350 database pages, child pages three deep, a few pages of
 * 1,200 blocks), builds and starts the real Next.js app against it with the
 * embedded file KV store, and syncs every section with one cron-style call
 * each (crons alone: each invocation chains the next batch to its own URL),
 * checks that KV equals the workspace, edits a few pages and shows that the
 * next run fetches only those.
 * With --manual: every batch is one call, made by the demo (like a person with
 * manual URLs, SYNC_CHAIN=off).
 * With --qstash: one trigger call and the QStash test server carry the run.
 * With NOTION_API_KEY, NOTION_PAGES_DB and NOTION_POSTS_DB set: syncs that
 * real workspace into the KV your environment configures.
 */
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { createKeys } from "../lib/kv/keys";
import { createFileStore } from "../lib/kv/file";
import { createKvStore, describeKvBackend } from "../lib/kv/backend";
import type { KvStore } from "../lib/kv/store";
import type { Section } from "../lib/core/sections";
import { previewPath } from "../lib/preview/session";
import { getSectionIndex } from "../lib/read";
import { loadWorkspace } from "../lib/workspace/load";
import { generateWorkspace } from "./emulator/notion/generate";
import { type NotionEmulator, pickPages, startNotionEmulator } from "./emulator/notion/server";
import { compareKvWithWorkspace } from "./emulator/notion/verify";
import type { Workspace } from "./emulator/notion/workspace";
import { type QStashEmulator, startQStashEmulator } from "./emulator/qstash/server";
import { type InvocationAnswer, type SectionRun, callSection, runSection } from "./demo/driver";
import { invocationLine, runTable } from "./demo/report";
import { type NextApp, buildIfNeeded, freePort, startNextApp } from "./lib/next-app";

const { values: args } = parseArgs({
  options: {
    qstash: { type: "boolean", default: false },
    manual: { type: "boolean", default: false },
    "budget-ms": { type: "string", default: "2000" },
    "notion-rate": { type: "string", default: "60" },
    quiet: { type: "boolean", default: false },
  },
  strict: true,
});

const log = (line = "") => process.stdout.write(`${line}\n`);
const DEMO_KV_DIR = path.resolve(".data", "demo");
const realNotion = Boolean(process.env.NOTION_API_KEY && (process.env.NOTION_PAGES_DB || process.env.NOTION_POSTS_DB));
const budgetMs = Number(args["budget-ms"]);
const notionRate = Number(args["notion-rate"]);

interface Stack {
  app: NextApp;
  secret: string;
  kv: KvStore;
  prefix: string;
  workspace: Workspace | null;
  notion: NotionEmulator | null;
  qstash: QStashEmulator | null;
  /** The app's sections (lib/workspace, from the env the app gets): database sections, then children if any. */
  sections: { databases: Section[]; children: Section | null };
  stop(): Promise<void>;
}

async function startStack(): Promise<Stack> {
  const secret = randomBytes(18).toString("base64url");
  const prefix = process.env.KV_PREFIX ?? "nks";
  const env: Record<string, string> = {
    CRON_SECRET: secret,
    SYNC_BUDGET_MS: String(budgetMs),
    KV_PREFIX: prefix,
    SYNC_LOG: "off",
    // The demo triggers run 2 right after run 1 (a deployment keeps the default, 600 s).
    SYNC_MIN_FORCE_INTERVAL_S: "0",
  };
  let notion: NotionEmulator | null = null;
  let workspace: Workspace | null = null;
  let kv: KvStore;
  if (realNotion) {
    for (const name of [
      "NOTION_API_KEY",
      "NOTION_PAGES_DB",
      "NOTION_POSTS_DB",
      "NOTION_BASE_URL",
      "NOTION_RATE_PER_MIN",
      "KV_REST_API_URL",
      "KV_REST_API_TOKEN",
      "UPSTASH_REDIS_REST_URL",
      "UPSTASH_REDIS_REST_TOKEN",
      "REDIS_URL",
      "KV_FILE_DIR",
      "SYNC_CONCURRENCY",
      "SYNC_CHILD_DEPTH",
    ]) {
      if (process.env[name]) env[name] = process.env[name]!;
    }
    // No KV configured: the embedded store, asked for explicitly (next start runs with NODE_ENV=production).
    if (!env.KV_REST_API_URL && !env.REDIS_URL && !env.KV_URL && !env.KV_FILE_DIR) env.KV_FILE_DIR = ".data";
    kv = createKvStore(env);
    log(`Notion: your workspace (NOTION_PAGES_DB, NOTION_POSTS_DB)   KV: ${describeKvBackend(env)}`);
  } else {
    workspace = generateWorkspace();
    notion = await startNotionEmulator({ workspace, ratePerSecond: notionRate, burst: 10 });
    rmSync(DEMO_KV_DIR, { recursive: true, force: true });
    Object.assign(env, {
      NOTION_API_KEY: notion.token,
      NOTION_PAGES_DB: workspace.pagesDatabaseId,
      NOTION_POSTS_DB: workspace.postsDatabaseId,
      NOTION_BASE_URL: notion.url,
      // The client paces itself a little under the emulator's limit, as it does under Notion's 3/s.
      NOTION_RATE_PER_MIN: String(Math.floor(notionRate * 60 * 0.95)),
      KV_FILE_DIR: DEMO_KV_DIR,
    });
    kv = createFileStore({ dir: DEMO_KV_DIR });
    const stats = workspace.stats();
    log(
      `Notion emulator at ${notion.url}: ${stats.pages} pages, ${stats.posts} posts, ${stats.childPages} child pages, ${stats.blocks} blocks`,
    );
    log(
      `  limited to ${notionRate} requests/s (Notion allows 3/s: a real workspace this size takes ${Math.round(stats.blockListRequests / 3 / 60)} min or so)`,
    );
    log(`KV: ${describeKvBackend(env)} (fresh)`);
  }

  let qstash: QStashEmulator | null = null;
  if (args.qstash) {
    qstash = await startQStashEmulator({
      duplicateRate: 0.15,
      failureRate: 0.05,
      retryBackoffMs: (n) => 100 * 2 ** n,
      delayScale: 0.05,
    });
    Object.assign(env, {
      QSTASH_URL: qstash.url,
      QSTASH_TOKEN: qstash.token,
      QSTASH_CURRENT_SIGNING_KEY: qstash.currentSigningKey,
      QSTASH_NEXT_SIGNING_KEY: qstash.nextSigningKey,
    });
    log(`QStash test server at ${qstash.url} (15% duplicate deliveries, 5% lost deliveries injected)`);
  }

  if (args.manual) env.SYNC_CHAIN = "off";
  buildIfNeeded(log);
  // The app must know its own public URL: QStash destinations and signatures name it.
  const port = await freePort();
  const app = await startNextApp({ ...env, SYNC_BASE_URL: `http://127.0.0.1:${port}` }, { port });
  log(`App: next start at ${app.url}, SYNC_BUDGET_MS=${budgetMs}`);
  const configured = loadWorkspace(env);
  return {
    app,
    secret,
    kv,
    prefix,
    workspace,
    notion,
    qstash,
    sections: {
      databases: configured.databaseSections.map((d) => d.name),
      children: configured.children?.name ?? null,
    },
    async stop() {
      await app.stop();
      await qstash?.close();
      await notion?.close();
      await kv.close();
    },
  };
}

const printAnswer = (a: InvocationAnswer) => {
  if (!args.quiet) log(invocationLine(a));
};

/** Like the staggered crons: the database sections (overlapping, as crons may), then children. */
async function runLikeCrons(stack: Stack, style: "cron" | "manual"): Promise<SectionRun[]> {
  const { databases, children } = stack.sections;
  const runs = await Promise.all(
    databases.map((section) => runSection(stack.app.url, stack.secret, section, { style, onAnswer: printAnswer })),
  );
  if (children) runs.push(await runSection(stack.app.url, stack.secret, children, { style, onAnswer: printAnswer }));
  return runs;
}

interface StatusSection {
  section: Section;
  run: {
    runId: string;
    status: string;
    phase: string;
    invocations: number;
    counts: InvocationAnswer["counts"];
    startedAt: string;
    chain: { via: string; link: number; stopped: string | null } | null;
  } | null;
}

const isComplete = (s: StatusSection) => s.run !== null && (s.run.status === "done" || s.run.status === "partial");

async function readStatus(stack: Stack): Promise<StatusSection[]> {
  return (
    (await (await fetch(`${stack.app.url}/api/sync/status?secret=${stack.secret}`)).json()) as {
      sections: StatusSection[];
    }
  ).sections;
}

/**
 * Crons alone: one cron-style call per section (pages and posts, then
 * children, as the staggered crons fire), each carried to the end by the
 * self-chain; the demo only watches the status. Returns the final status.
 */
async function runSelfChained(stack: Stack, since: number): Promise<StatusSection[]> {
  const waitDone = async (sections: Section[]) => {
    let lastLine = "";
    const deadline = Date.now() + 15 * 60_000;
    for (;;) {
      const status = (await readStatus(stack)).filter((s) => sections.includes(s.section));
      const fresh = (s: StatusSection) => s.run !== null && Date.parse(s.run.startedAt) >= since;
      const line = `  ${status.map((s) => `${s.section} ${fresh(s) ? `${s.run!.status}/${s.run!.phase} #${s.run!.invocations} ${s.run!.counts.fetched + s.run!.counts.skipped}/${s.run!.counts.listed}` : "waiting"}`).join(" | ")}`;
      if (line !== lastLine && !args.quiet) log(line);
      lastLine = line;
      if (status.every((s) => fresh(s) && isComplete(s))) return;
      if (status.some((s) => fresh(s) && s.run!.status === "failed"))
        throw new Error(`a run failed: ${JSON.stringify(status)}`);
      if (Date.now() > deadline) throw new Error("the self-chained run did not finish in 15 minutes");
      await new Promise((r) => setTimeout(r, 1000));
    }
  };
  const cronCall = async (section: Section) => {
    const { status, body } = await callSection(stack.app.url, stack.secret, section, "cron");
    if (status !== 200) throw new Error(`${section} answered ${status}: ${JSON.stringify(body)}`);
    log(
      `  cron → /api/sync/${section}: ${(body as unknown as { next: unknown }).next ? JSON.stringify((body as unknown as { next: unknown }).next) : "done in one call"}`,
    );
  };
  const { databases, children } = stack.sections;
  await Promise.all(databases.map(cronCall));
  await waitDone(databases);
  if (children) {
    await cronCall(children);
    await waitDone([children]);
  }
  const final = await readStatus(stack);
  for (const s of final)
    log(
      `  ${s.section}: ${s.run!.status} in ${s.run!.invocations} invocations, ${s.run!.invocations - 1} self-chain links (1 cron call), ${s.run!.counts.fetched} pages fetched`,
    );
  return final;
}

/** One trigger call; then only watches while QStash carries the run. */
async function runThroughQStash(stack: Stack, since: number): Promise<void> {
  const res = await fetch(`${stack.app.url}/api/sync/trigger?secret=${stack.secret}`);
  const trigger = (await res.json()) as {
    ok: boolean;
    runId: string;
    messages: { section: string; messageId: string }[];
  };
  if (!trigger.ok) throw new Error(`trigger failed: ${JSON.stringify(trigger)}`);
  log(`  trigger: run ${trigger.runId}, ${trigger.messages.map((m) => `${m.section} → ${m.messageId}`).join(", ")}`);
  let lastLine = "";
  const deadline = Date.now() + 15 * 60_000;
  for (;;) {
    const status = (await (await fetch(`${stack.app.url}/api/sync/status?secret=${stack.secret}`)).json()) as {
      sections: StatusSection[];
    };
    const q = stack.qstash!.stats();
    const fresh = (s: StatusSection) => s.run !== null && Date.parse(s.run.startedAt) >= since;
    const line = status.sections
      .map(
        (s) =>
          `${s.section} ${fresh(s) ? `${s.run!.status}/${s.run!.phase} #${s.run!.invocations} ${s.run!.counts.fetched + s.run!.counts.skipped}/${s.run!.counts.listed}` : "waiting"}`,
      )
      .join(" | ");
    const full = `  ${line} || QStash: ${q.deliveries} deliveries, ${q.retries} retried, ${q.deduplicated} deduplicated, ${q.duplicatesInjected} duplicates`;
    if (full !== lastLine && !args.quiet) log(full);
    lastLine = full;
    if (status.sections.every((s) => fresh(s) && (s.run!.status === "done" || s.run!.status === "partial"))) return;
    if (Date.now() > deadline) throw new Error("the QStash-carried run did not finish in 15 minutes");
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function verify(stack: Stack): Promise<boolean> {
  if (!stack.workspace) return true;
  const problems = await compareKvWithWorkspace(stack.kv, createKeys(stack.prefix), stack.workspace);
  if (problems.length === 0) {
    const s = stack.workspace.stats();
    log(
      `✓ KV equals the workspace: ${s.pages} pages, ${s.posts} posts, ${s.childPages} child pages, every block, indexes in order`,
    );
    return true;
  }
  log(`✗ KV differs from the workspace (${problems.length} problems):`);
  for (const p of problems.slice(0, 20)) log(`  - ${p}`);
  return false;
}

/** One line: where the newest synced page is previewed (app/preview; behind the dashboard's sign-in, no secret in the URL). */
async function previewLine(stack: Stack): Promise<string> {
  const section = stack.sections.databases[0];
  const newest = (
    await getSectionIndex(section, { kv: stack.kv, prefix: stack.prefix, files: false, offset: 0, limit: 1 })
  )?.entries[0];
  return newest
    ? `Preview of a synced page (sign in at /sync): ${stack.app.url}${previewPath(section, newest.slug)}`
    : "Preview: no page was synced";
}

async function main(): Promise<number> {
  log("notion-kv-sync demo");
  const stack = await startStack();
  try {
    const started = Date.now();
    log();
    log(
      args.qstash
        ? "Run 1: one trigger call, QStash carries every section to the end"
        : args.manual
          ? "Run 1: full sync, each section called until its cursor is done"
          : "Run 1: crons alone: one cron call per section, each invocation chains the next batch to its own URL",
    );
    if (args.qstash) await runThroughQStash(stack, started);
    else if (args.manual) log(runTable(await runLikeCrons(stack, "cron")));
    else await runSelfChained(stack, started);
    log(`Run 1 took ${((Date.now() - started) / 1000).toFixed(1)} s`);
    if (!(await verify(stack))) return 1;
    if (!stack.workspace) return 0;

    const ws = stack.workspace;
    ws.advanceClock(5 * 60_000);
    const edited = pickPages(ws, 4);
    for (const [i, page] of edited.entries()) ws.editPageTitle(page.id, `${page.title} (edited ${i + 1})`);
    log();
    log(`Edited ${edited.length} pages in Notion: ${edited.map((p) => `"${p.title}"`).join(", ")}`);
    log(
      args.qstash
        ? "Run 2: another trigger call"
        : args.manual
          ? "Run 2: incremental, through the manual URLs (?secret=)"
          : "Run 2: incremental, one cron call per section again",
    );
    const second = Date.now();
    if (args.qstash) await runThroughQStash(stack, second);
    else if (!args.manual) {
      const final = await runSelfChained(stack, second);
      const fetched = final.reduce((n, s) => n + s.run!.counts.fetched, 0);
      log(
        `Run 2 fetched ${fetched} page(s): only the ${edited.length} edited (no block of an unchanged page was read)`,
      );
      if (fetched !== edited.length) return 1;
    } else {
      const runs = await runLikeCrons(stack, "manual");
      log(runTable(runs));
      const fetched = runs.reduce((n, r) => n + r.answers.at(-1)!.counts.fetched, 0);
      log(
        `Run 2 fetched ${fetched} page(s): only the ${edited.length} edited (no block of an unchanged page was read)`,
      );
      if (fetched !== edited.length) return 1;
    }
    if (!(await verify(stack))) return 1;
    if (stack.qstash) {
      const q = stack.qstash.stats();
      log(
        `QStash: ${q.published} published, ${q.deliveries} deliveries, ${q.retries} retries, ${q.deduplicated} deduplicated publishes, ${q.duplicatesInjected} duplicate deliveries absorbed, ${q.dlq} in DLQ`,
      );
    }
    log(await previewLine(stack));
    log();
    log(
      'Done. Next: deploy (README, "Deploying on Vercel") or point the demo at your workspace with NOTION_API_KEY, NOTION_PAGES_DB and NOTION_POSTS_DB.',
    );
    return 0;
  } finally {
    await stack.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
