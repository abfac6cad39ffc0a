/**
 * `npm run kv:cursors` run as a child process (tsx scripts/kv-cursors.ts;
 * most runs start the same sources bundled by esbuild, see VIA_BUNDLE)
 * against a real redis-server with a password, after real syncs through the
 * route handler and the Notion emulator: its table, --json, --section, the
 * three actions, the exit codes, colours, what runs uploaded with FILES_MIRROR,
 * and that no output ever carries the KV URL, host, port or password.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { accessSync, constants, rmSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { build } from "esbuild";
import { createClient } from "redis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SECTIONS } from "./support/default-sections";
import type { Section } from "../lib/core/sections";
import { createRedisStore } from "../lib/kv/redis";
import type { KvStore } from "../lib/kv/store";
import { readManifest } from "../lib/mirror/section-index";
import { readSectionStatus, type SectionStatus } from "../lib/operator/status";
import { readActions } from "../lib/sync/run-history";
import { formatBytes, formatUploads } from "../lib/dashboard/format";
import { s3MirrorEnv } from "./support/files-mirror-env";
import { type Stack, invoke, startStack, syncAll, syncUntilDone } from "./support/harness";
import { startS3Server } from "./support/s3-server";

const ROOT = path.resolve(__dirname, "..");
const TSX = path.join(ROOT, "node_modules/.bin/tsx");
const SCRIPT = path.join(ROOT, "scripts/kv-cursors.ts");
/** The script as `npm run kv:cursors` starts it. */
const VIA_TSX = [TSX, SCRIPT];
/** Inside node_modules, so that the bundle's imports of packages resolve as the script's do. */
const BUNDLE = path.join(ROOT, "node_modules/.cache/kv-cursors-test", `kv-cursors-${process.pid}.mjs`);
/**
 * The same sources bundled once by esbuild (which tsx runs file by file), started by node: the
 * runs below cost a fraction of the CPU of compiling and resolving every module each time. The
 * first table, --help and --watch run through tsx, as an operator starts it.
 */
const VIA_BUNDLE = [process.execPath, BUNDLE];
const PASSWORD = "kvc-Pa55-w0rd-9f3k";
const ESC = "\x1b";

const hasScript = (() => {
  try {
    accessSync("/usr/bin/script", constants.X_OK);
    return true;
  } catch {
    return false;
  }
})();

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Everything any run printed: checked at the end for secrets. */
const printed: string[] = [];

/** The parent's environment without any KV variable, plus `env`. */
function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (
      v === undefined ||
      /^(REDIS_URL|KV_URL|KV_REST_API_URL|KV_REST_API_TOKEN|UPSTASH_REDIS_REST_URL|UPSTASH_REDIS_REST_TOKEN|KV_FILE_DIR|KV_PREFIX|NO_COLOR|FORCE_COLOR)$/.test(
        k,
      )
    )
      continue;
    base[k] = v;
  }
  return { ...base, ...env } as NodeJS.ProcessEnv;
}

function collect(child: ChildProcess, started: number, onOutput?: (all: string) => void): Promise<CliRun> {
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d) => {
    stdout += d;
    onOutput?.(stdout);
  });
  child.stderr?.on("data", (d) => (stderr += d));
  return new Promise((resolve) => {
    child.on("close", (code) => {
      printed.push(stdout, stderr);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

function cli(args: string[], env: Record<string, string>, via = VIA_BUNDLE): Promise<CliRun> {
  const started = Date.now();
  const [bin, ...pre] = via;
  const child = spawn(bin, [...pre, ...args], { env: childEnv(env), stdio: ["ignore", "pipe", "pipe"] });
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  return collect(child, started).finally(() => clearTimeout(timer));
}

/** The script on a pseudo-terminal (util-linux `script`); `answer` is typed once `prompt` shows. */
function cliOnTty(
  args: string[],
  env: Record<string, string>,
  reply?: { prompt: string; answer: string },
): Promise<CliRun> {
  const started = Date.now();
  const command = [...VIA_BUNDLE, ...args].map((a) => `'${a}'`).join(" ");
  const child = spawn("/usr/bin/script", ["-qec", command, "/dev/null"], {
    env: childEnv(env),
    stdio: ["pipe", "pipe", "pipe"],
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  let answered = false;
  return collect(child, started, (all) => {
    if (reply && !answered && all.includes(reply.prompt)) {
      answered = true;
      child.stdin?.write(reply.answer);
    }
  }).finally(() => {
    clearTimeout(timer);
    child.stdin?.destroy();
  });
}

/** A port nobody listens on. */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** The table row (first line) of a section. */
function row(table: string, section: Section): string {
  const line = table.split("\n").find((l) => l.startsWith(`│ ${section} `));
  expect(line, `no row for ${section} in:\n${table}`).toBeDefined();
  return line!;
}

const COLUMNS = [
  "section",
  "run",
  "status",
  "phase",
  "progress",
  "inv.",
  "failed",
  "last error",
  "lease",
  "retry at",
  "since",
  "last run",
] as const;

/** The first line of a section's row, cell by cell. */
function cells(table: string, section: Section): Record<(typeof COLUMNS)[number], string> {
  const values = row(table, section)
    .split("│")
    .slice(1, -1)
    .map((c) => c.trim());
  expect(values).toHaveLength(COLUMNS.length);
  return Object.fromEntries(COLUMNS.map((c, i) => [c, values[i]])) as Record<(typeof COLUMNS)[number], string>;
}

/** The row's line and its continuation lines (cells on two lines), up to the next separator. */
function rowBlock(table: string, section: Section): string {
  const lines = table.split("\n");
  const start = lines.findIndex((l) => l.startsWith(`│ ${section} `));
  expect(start, `no row for ${section}`).toBeGreaterThanOrEqual(0);
  const end = lines.findIndex((l, i) => i > start && !l.startsWith("│"));
  return lines.slice(start, end).join("\n");
}

interface JsonDoc {
  version: number;
  generatedAt: string;
  sections: SectionStatus[];
  attention: string[];
}

describe("npm run kv:cursors", () => {
  let stack: Stack;
  let kv: KvStore;
  let env: Record<string, string>;
  let passwordUrl: string;

  const keys = () => stack.keys;
  const redisPort = () => Number(new URL(stack.redis.url).port);
  const cursorOf = async (section: Section) =>
    (await kv.get<{ runId: string; status: string; seq: number }>(keys().cursor(section)))!;

  beforeAll(async () => {
    await build({
      entryPoints: [SCRIPT],
      bundle: true,
      platform: "node",
      format: "esm",
      packages: "external",
      outfile: BUNDLE,
      logLevel: "warning",
    });
    stack = await startStack({ workspace: { pages: 12, posts: 4, hugePages: 0, childDepth: 1 } });
    // A password on the server, so the test can prove it is never printed.
    const admin = createClient({ url: stack.redis.url });
    await admin.connect();
    await admin.configSet("requirepass", PASSWORD);
    await admin.quit();
    passwordUrl = stack.redis.url.replace("redis://", `redis://:${PASSWORD}@`);
    stack.env.REDIS_URL = passwordUrl;
    kv = createRedisStore({ url: passwordUrl });
    env = { REDIS_URL: passwordUrl, KV_PREFIX: stack.env.KV_PREFIX };
    await syncAll(stack);
  });
  afterAll(async () => {
    rmSync(BUNDLE, { force: true });
    await kv?.close();
    await stack?.close();
  });

  it("after a full run: a table row per section, done at 100 %, exit 0, no colour off a terminal", async () => {
    const run = await cli([], env, VIA_TSX);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("redis (REDIS_URL)");
    expect(run.stdout).toContain(`prefix ${stack.env.KV_PREFIX}`);
    for (const section of SECTIONS) {
      const cursor = await cursorOf(section);
      const line = row(run.stdout, section);
      expect(line).toContain(cursor.runId);
      expect(cells(run.stdout, section)).toMatchObject({
        status: "done",
        phase: "done",
        "inv.": String(cursor.seq),
        failed: "0",
        lease: "free",
        "last error": "—",
      });
      expect(cells(run.stdout, section).progress).toMatch(/^█+ 100 %$/);
      expect(rowBlock(run.stdout, section)).toContain("free");
      const listed = (await readSectionStatus(kv, keys(), section)).run!.progress.total;
      expect(rowBlock(run.stdout, section)).toContain(`${listed}/${listed}`);
    }
    expect(run.stdout).not.toContain(ESC);
    expect(run.stdout).not.toMatch(/^!/m);
  });

  it("--json is one document matching the KV state", async () => {
    const [run, oneSection] = await Promise.all([cli(["--json"], env), cli(["--json", "--section", "posts"], env)]);
    expect(run.code).toBe(0);
    const doc = JSON.parse(run.stdout) as JsonDoc;
    expect(Object.keys(doc).sort()).toEqual(["attention", "generatedAt", "sections", "version"]);
    expect(doc.version).toBe(1);
    expect(Math.abs(Date.parse(doc.generatedAt) - Date.now())).toBeLessThan(30_000);
    expect(doc.attention).toEqual([]);
    expect(doc.sections.map((s) => s.section)).toEqual([...SECTIONS]);
    // No lease is held, so nothing in the status depends on the instant it was read.
    expect(doc.sections).toEqual(await Promise.all(SECTIONS.map((s) => readSectionStatus(kv, keys(), s))));
    for (const s of doc.sections) {
      const cursor = await cursorOf(s.section);
      expect(s.run).toMatchObject({ runId: cursor.runId, status: "done", phase: "done", progress: { percent: 100 } });
      expect(s.indexed).toBe((await readManifest(kv, keys(), s.section))!.total);
      expect(s.lease).toEqual({ held: false, expiresAt: null, holderEndsBy: null, abandoned: false });
    }
    const one = JSON.parse(oneSection.stdout) as JsonDoc;
    expect(one.sections.map((s) => s.section)).toEqual(["posts"]);
  });

  it("a page given up: partial in the table, listed by --section with its error and Notion link; --retry-failed queues it", async () => {
    const ws = stack.workspace;
    const poisoned = ws.visibleRows(ws.pagesDatabaseId)[2];
    ws.advanceClock(10 * 60_000);
    ws.editPageTitle(poisoned.id, "A poisoned page");
    stack.emulator.injectFault({ route: "blocks.children.list", status: 500, matchId: poisoned.id, probability: 1 });
    const budget = stack.env.SYNC_BUDGET_MS;
    stack.env.SYNC_BUDGET_MS = "600";
    let answers;
    try {
      answers = await syncUntilDone(stack, "pages");
    } finally {
      stack.env.SYNC_BUDGET_MS = budget;
      stack.emulator.clearFaults();
    }
    expect(answers.at(-1)).toMatchObject({ status: "partial", counts: { failed: 1 } });
    const runId = answers.at(-1)!.runId;

    const [table, detail] = await Promise.all([cli([], env), cli(["--section", "pages"], env)]);
    expect(table.code, "a partial run needs no attention").toBe(0);
    expect(cells(table.stdout, "pages")).toMatchObject({ status: "partial", phase: "done", failed: "1" });
    expect(rowBlock(table.stdout, "pages")).toContain("1 given up");
    expect(table.stdout).toContain("pages: 1 page given up");

    expect(detail.code).toBe(0);
    const out = detail.stdout;
    expect(out).toContain(`Cursor (${keys().cursor("pages")}, as stored)`);
    const stored = await kv.get(keys().cursor("pages"));
    expect(out).toContain(JSON.stringify(stored, null, 2));
    expect(out).toMatch(/Run history \(2\)/);
    const history = out.slice(out.indexOf("Run history"), out.indexOf("Failed pages"));
    for (const r of (await readSectionStatus(kv, keys(), "pages")).runs) expect(history).toContain(r.runId);
    const failed = out.slice(out.indexOf("Failed pages (1)"), out.indexOf("Action history"));
    expect(failed).toContain(poisoned.id);
    expect(failed).toContain(`https://www.notion.so/${poisoned.id.replace(/-/g, "")}`);
    expect(failed).toContain(runId);
    expect(failed).toMatch(/500|internal|notion/i);
    expect(out).toContain("Action history (0)");

    // Given up pages go to the refetch set by themselves; take it out to see the action put it back.
    await kv.atomic([{ op: "srem", key: keys().refetch(), members: [poisoned.id] }]);
    const retry = await cli(["--retry-failed", "pages"], env);
    expect(retry.code).toBe(0);
    expect(retry.stdout).toBe("retry-failed pages: 1 given-up page queued for the next run\n");
    expect(await kv.smembers(keys().refetch())).toContain(poisoned.id);
    expect((await readActions(kv, keys(), "pages"))[0]).toMatchObject({
      action: "retry-failed",
      section: "pages",
      by: "script",
      runId,
    });
    const after = await cli(["--section", "pages"], env);
    const actions = after.stdout.slice(after.stdout.indexOf("Action history (1)"));
    expect(actions).toContain("retry-failed");
    expect(actions).toContain("script");

    // The next run fetches it and it leaves the failed set.
    ws.advanceClock(10 * 60_000);
    const healed = await syncUntilDone(stack, "pages");
    expect(healed.at(-1)).toMatchObject({ status: "done" });
    expect(await kv.scard(keys().failedPages("pages"))).toBe(0);
  });

  it("--reset: refused off a terminal without --yes (exit 2), asks on a terminal, and clears cursor, lease and scratch keys but not the index or bundles", async () => {
    const p = keys().prefix;
    // A run left mid-way: one page's blocks hang until the invocation's budget is spent.
    const ws = stack.workspace;
    const hung = ws.visibleRows(ws.pagesDatabaseId)[4];
    stack.emulator.injectFault({ route: "blocks.children.list", status: "hang", matchId: hung.id, times: 1 });
    const first = await invoke(stack, "pages", { query: "force=1", env: { SYNC_BUDGET_MS: "1000" } });
    stack.emulator.clearFaults();
    expect(first.status).toBe(200);
    expect(first.body.done).toBe(false);
    const runId = first.body.runId;
    await kv.set(keys().lease("pages"), `${randomUUID()}~${Date.now() + 60_000}`, { pxMs: 120_000 });

    const running = await cli([], env);
    expect(cells(running.stdout, "pages")).toMatchObject({ run: runId, status: "running", lease: "held" });
    expect(cells(running.stdout, "pages").progress).not.toContain("100 %");
    expect(rowBlock(running.stdout, "pages")).toMatch(/held\s/);

    const manifest = (await readManifest(kv, keys(), "pages"))!;
    const bundles = await kv.scanKeys(`${p}:page:pages:`);
    expect(bundles.length).toBeGreaterThan(0);
    const scratch = async () => ({
      work: await kv.scanKeys(`${p}:work:pages:`),
      done: await kv.scanKeys(`${p}:done:pages:`),
      partial: await kv.scanKeys(`${p}:partial:pages:`),
      removals: await kv.scanKeys(`${p}:removals:pages:`),
      ids: (await kv.scanKeys(`${p}:ids:pages:`)).filter((k) => !k.startsWith(`${manifest.idsKey}:`)),
    });
    const before = await scratch();
    expect(before.work.length).toBeGreaterThan(0);
    expect(before.ids.length).toBeGreaterThan(0);

    const refused = await cli(["--reset", "pages"], env);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("--yes");
    expect(refused.stdout).toBe("");
    expect((await cursorOf("pages")).runId).toBe(runId);

    if (hasScript) {
      const declined = await cliOnTty(["--reset", "pages"], env, {
        prompt: "Reset the pages cursor? [y/N]",
        answer: "n\r",
      });
      expect(declined.stdout).toContain("Reset the pages cursor? [y/N]");
      expect(declined.stdout).toContain(runId);
      expect(declined.stdout).toContain("Nothing changed.");
      expect(declined.code).toBe(0);
      expect((await cursorOf("pages")).runId).toBe(runId);
    }

    const reset = await cli(["--reset", "pages", "--yes"], env);
    expect(reset.code).toBe(0);
    expect(reset.stdout).toContain(`reset pages: cleared the cursor of run ${runId} (running,`);
    expect(reset.stdout).toContain("the published index and bundles are kept");
    expect(await kv.get(keys().cursor("pages"))).toBeNull();
    expect(await kv.get(keys().lease("pages"))).toBeNull();
    expect(await scratch()).toEqual({ work: [], done: [], partial: [], removals: [], ids: [] });
    expect(await readManifest(kv, keys(), "pages")).toEqual(manifest);
    expect(await kv.scanKeys(`${p}:page:pages:`)).toEqual(bundles);
    expect((await kv.scanKeys(`${manifest.idsKey}:`)).length).toBeGreaterThan(0);
    expect((await readActions(kv, keys(), "pages"))[0]).toMatchObject({ action: "reset", by: "script", runId });

    const none = await cli([], env);
    expect(cells(none.stdout, "pages")).toMatchObject({ run: "—", status: "no run", lease: "free" });
    expect((await syncUntilDone(stack, "pages")).at(-1)!.status).toBe("done");
  });

  it("--release-lease: frees an abandoned lease, refuses a live one without --force (exit 2), frees it with --force", async () => {
    await kv.set(keys().lease("posts"), `${randomUUID()}~${Date.now() - 60_000}`, { pxMs: 120_000 });
    const [table, json] = await Promise.all([cli([], env), cli(["--json"], env)]);
    expect(table.code).toBe(0);
    expect(rowBlock(table.stdout, "posts")).toContain("held, abandoned");
    expect(table.stdout).toContain("--release-lease posts");
    const doc = JSON.parse(json.stdout) as JsonDoc;
    expect(doc.sections.find((s) => s.section === "posts")!.lease).toMatchObject({ held: true, abandoned: true });

    const freed = await cli(["--release-lease", "posts"], env);
    expect(freed.code).toBe(0);
    expect(freed.stdout).toMatch(/^release-lease posts: freed a lease left by an invocation that ended by /);
    expect(await kv.get(keys().lease("posts"))).toBeNull();
    expect((await readActions(kv, keys(), "posts"))[0]).toMatchObject({ action: "release-lease", by: "script" });

    const live = `${randomUUID()}~${Date.now() + 60_000}`;
    await kv.set(keys().lease("posts"), live, { pxMs: 120_000 });
    const refused = await cli(["--release-lease", "posts"], env);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("the posts lease is live");
    expect(await kv.get(keys().lease("posts"))).toBe(live);

    const forced = await cli(["--release-lease", "posts", "--force"], env);
    expect(forced.code).toBe(0);
    expect(forced.stdout).toContain("freed a live lease (forced)");
    expect(await kv.get(keys().lease("posts"))).toBeNull();

    const nothing = await cli(["--release-lease", "posts"], env);
    expect(nothing.code).toBe(0);
    expect(nothing.stdout).toContain("posts holds no lease; nothing to do");
  });

  it("exit 1 for a failed section and for a stalled one, with the reason in attention", async () => {
    stack.emulator.injectFault({ route: "dataSources.query", status: 401, times: 1 });
    const failed = await invoke(stack, "posts");
    expect(failed.body.status).toBe("failed");
    const [table, json, pagesOnly, postsOnly] = await Promise.all([
      cli([], env),
      cli(["--json"], env),
      cli(["--section", "pages"], env),
      cli(["--section", "posts"], env),
    ]);
    expect(table.code).toBe(1);
    expect(cells(table.stdout, "posts")).toMatchObject({ status: "failed" });
    expect(cells(table.stdout, "posts")["last error"]).toMatch(/^notion_/);
    expect(table.stdout).toMatch(/^! posts: run \S+ failed/m);
    expect(json.code).toBe(1);
    const doc = JSON.parse(json.stdout) as JsonDoc;
    expect(doc.attention).toHaveLength(1);
    expect(doc.attention[0]).toMatch(new RegExp(`^posts: run ${failed.body.runId} failed \\(notion_`));
    expect(pagesOnly.code, "--section looks at its section only").toBe(0);
    expect(postsOnly.code).toBe(1);
    expect(postsOnly.stdout).toMatch(/^! posts: run \S+ failed/m);
    expect((await syncUntilDone(stack, "posts")).at(-1)!.status).toBe("done");

    const stalled = await invoke(stack, "pages", {
      env: { NOTION_BASE_URL: "http://127.0.0.1:1", SYNC_STALL_AFTER: "1", SYNC_BUDGET_MS: "800" },
    });
    expect(stalled.body.status).toBe("stalled");
    const [again, text] = await Promise.all([cli(["--json"], env), cli([], env)]);
    expect(again.code).toBe(1);
    expect((JSON.parse(again.stdout) as JsonDoc).attention).toEqual([
      expect.stringMatching(
        /^pages: run \S+ stalled: 1 invocation in a row met errors without progress; last error notion_/,
      ),
    ]);
    expect(text.code).toBe(1);
    expect(cells(text.stdout, "pages")).toMatchObject({ status: "stalled" });
    expect((await syncUntilDone(stack, "pages")).at(-1)!.status).toBe("done");
    expect((await cli([], env)).code).toBe(0);
  });

  it("exit 1 for a run whose carrier died (a self-chain step that ended without handing over), shown as lost", async () => {
    const done = await kv.get<Record<string, unknown>>(keys().cursor("posts"));
    // As a killed link leaves it: running, its step run by a link, no successor recorded, the lease free.
    await kv.set(keys().cursor("posts"), {
      ...done,
      status: "running",
      phase: "sync",
      finishedAt: null,
      stepBy: "chain",
      chain: null,
    });
    try {
      const [json, table, detail] = await Promise.all([
        cli(["--json"], env),
        cli([], env),
        cli(["--section", "posts"], env),
      ]);
      expect(json.code).toBe(1);
      const doc = JSON.parse(json.stdout) as JsonDoc;
      expect(doc.sections.find((s) => s.section === "posts")!.run!.chain).toMatchObject({
        state: "lost",
        lost: true,
        relaunchedAt: null,
      });
      expect(doc.attention).toEqual([
        expect.stringMatching(
          /^posts: run \S+ lost its carrier \(step \d+ \(a self-chain link\) ended without handing over its successor\)/,
        ),
      ]);
      expect(table.code).toBe(1);
      expect(rowBlock(table.stdout, "posts")).toContain("carrier lost");
      expect(detail.stdout).toMatch(/carrier\s+lost: step \d+/);
    } finally {
      await kv.set(keys().cursor("posts"), done);
    }
  });

  it("exit 2 for usage errors, with the reason on stderr; --help lists every flag and exit code", async () => {
    const cases: [string[], RegExp][] = [
      [["--bogus"], /Unknown option '--bogus'/],
      [["--section", "nope"], /unknown section "nope"; expected one of pages, posts, children/],
      [["--reset", "nope", "--yes"], /unknown section "nope"/],
      [["--reset", "pages", "--retry-failed", "posts"], /one action at a time/],
      [["--json", "--watch"], /cannot be combined with --watch/],
      [["--release-lease", "posts", "--json"], /cannot be combined with --json/],
      [["--force"], /--force only goes with --release-lease/],
      [["--retry-failed", "pages", "--force"], /--force only goes with --release-lease/],
      [["stray"], /Unexpected argument 'stray'/],
      [["--json", "--json"], /--json given 2 times/],
    ];
    const runs = await Promise.all(cases.map(([args]) => cli(args, env)));
    runs.forEach((run, i) => {
      expect(run.code, cases[i][0].join(" ")).toBe(2);
      expect(run.stderr).toMatch(cases[i][1]);
      expect(run.stdout).toBe("");
    });
    const help = await cli(["--help"], env, VIA_TSX);
    expect(help.code).toBe(0);
    for (const flag of [
      "--json",
      "--watch",
      "--section",
      "--reset",
      "--retry-failed",
      "--release-lease",
      "--yes",
      "--force",
      "--help",
      "NO_COLOR",
    ])
      expect(help.stdout).toContain(flag);
    for (const code of ["0", "1", "2", "3"]) expect(help.stdout).toMatch(new RegExp(`^  ${code}  `, "m"));
  });

  it("exit 3 naming the variable, never the host, port or password, when KV is unreachable, silent or misconfigured", async () => {
    const port = await closedPort();
    const silent = net.createServer(() => {}); // accepts, never answers
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const silentPort = (silent.address() as net.AddressInfo).port;
    try {
      const [refused, hung, wrongPassword, halfUpstash, notUrl] = await Promise.all([
        cli([], { REDIS_URL: `redis://:${PASSWORD}@127.0.0.1:${port}` }),
        cli(["--json"], { REDIS_URL: `redis://127.0.0.1:${silentPort}` }),
        cli([], { REDIS_URL: `redis://:wrong-${PASSWORD}@127.0.0.1:${redisPort()}`, KV_PREFIX: stack.env.KV_PREFIX }),
        cli([], { KV_REST_API_URL: `https://default:${PASSWORD}@example-kv.upstash.io` }),
        cli([], { REDIS_URL: "not a url" }),
      ]);
      for (const run of [refused, hung, wrongPassword, halfUpstash, notUrl]) {
        expect(run.code, run.stderr).toBe(3);
        expect(run.stdout).toBe("");
        expect(run.stderr).not.toMatch(/127\.0\.0\.1|localhost|example-kv|upstash\.io/);
        expect(run.stderr).not.toContain(PASSWORD);
        for (const p of [port, silentPort, redisPort()]) expect(run.stderr).not.toContain(String(p));
      }
      expect(refused.stderr).toBe("kv:cursors: cannot reach redis (REDIS_URL): connection refused; check REDIS_URL\n");
      expect(hung.stderr).toContain("no answer within 5 s; check REDIS_URL");
      // The same start-up as the refused run, plus the 5 s bound (not the client's own retries).
      expect(hung.ms - refused.ms, "the wait is bounded").toBeLessThan(8_000);
      expect(wrongPassword.stderr).toContain("the credentials were refused; check REDIS_URL");
      expect(halfUpstash.stderr).toContain("KV_REST_API_TOKEN");
      expect(notUrl.stderr).toContain("REDIS_URL");
    } finally {
      silent.close();
    }
  });

  it("FILES_MIRROR: --section shows what each run uploaded (counts line and history), --json the counts", async () => {
    const s3 = await startS3Server();
    try {
      // From here on the pages section copies its files to a real S3-compatible server.
      Object.assign(stack.env, s3MirrorEnv(s3));
      stack.emulator.setHostedFiles("self");
      stack.workspace.setNow(new Date());
      const answers = await syncUntilDone(stack, "pages", { query: "force=1" });
      expect(answers.at(-1)!.status).toBe("done");
      const objects = [...s3.objects.values()];
      const bytes = objects.reduce((n, o) => n + o.bytes.length, 0);
      expect(objects.length, "the pages hold hosted files").toBeGreaterThan(0);
      const [detail, json] = await Promise.all([cli(["--section", "pages"], env), cli(["--json"], env)]);
      expect(detail.code).toBe(0);
      const counts = detail.stdout.split("\n").find((l) => l.trimStart().startsWith("counts"))!;
      expect(counts).toContain(
        `files uploaded ${formatUploads({ filesUploaded: objects.length, bytesUploaded: bytes })}`,
      );
      const history = detail.stdout.slice(detail.stdout.indexOf("Run history"), detail.stdout.indexOf("Failed pages"));
      expect(history).toMatch(/│ uploaded │/);
      const newest = history.split("\n").findIndex((l) => l.includes(answers.at(-1)!.runId));
      // The run's row: its uploaded cell holds the object count, the byte size on the row's next line.
      const cellsOf = (line: string) => line.split("│").map((c) => c.trim());
      const column = cellsOf(history.split("\n").find((l) => l.includes("│ uploaded │"))!).indexOf("uploaded");
      const lines = history.split("\n");
      expect(cellsOf(lines[newest])[column]).toBe(String(objects.length));
      expect(cellsOf(lines[newest + 1])[column]).toBe(formatBytes(bytes));
      const pages = (JSON.parse(json.stdout) as JsonDoc).sections.find((x) => x.section === "pages")!;
      expect(pages.run!.counts).toMatchObject({ filesUploaded: objects.length, bytesUploaded: bytes });
      expect(pages.runs[0].counts).toMatchObject({ filesUploaded: objects.length, bytesUploaded: bytes });
    } finally {
      for (const name of Object.keys(s3MirrorEnv(s3))) delete stack.env[name];
      stack.emulator.setHostedFiles("notion");
      await s3.close();
    }
  });

  it("--watch redraws every second until Ctrl-C (a frame a second off a terminal)", async () => {
    const started = Date.now();
    const child = spawn(TSX, [SCRIPT, "--watch"], { env: childEnv(env), stdio: ["ignore", "pipe", "pipe"] });
    let interrupted = false;
    const run = await collect(child, started, (all) => {
      if (!interrupted && (all.match(/^kv:cursors · /gm) ?? []).length >= 3) {
        interrupted = true;
        child.kill("SIGINT");
      }
    });
    expect(run.code).toBe(0);
    const frames = run.stdout.split(/^kv:cursors · /m).slice(1);
    expect(frames.length).toBeGreaterThanOrEqual(3);
    for (const frame of frames) for (const section of SECTIONS) expect(frame).toContain(`│ ${section} `);
    const stamps = [...run.stdout.matchAll(/^kv:cursors · .* · (\S+Z)$/gm)].map((m) => Date.parse(m[1]));
    expect(stamps[2] - stamps[0]).toBeGreaterThanOrEqual(1_800);
    expect(run.stdout).not.toContain(ESC);
  });

  it.skipIf(!hasScript)("colours on a terminal, none with NO_COLOR set (even empty)", async () => {
    const [coloured, plain, plainSection] = await Promise.all([
      cliOnTty([], env),
      cliOnTty([], { ...env, NO_COLOR: "" }),
      cliOnTty(["--section", "pages"], { ...env, NO_COLOR: "1" }),
    ]);
    expect(coloured.stdout).toContain(`${ESC}[32mdone${ESC}[39m`);
    expect(plain.stdout).toContain("│ pages ");
    expect(plainSection.stdout).toContain(`Cursor (${keys().cursor("pages")}, as stored)`);
    for (const run of [plain, plainSection]) expect(run.stdout).not.toContain(ESC);
  });

  it("no output ever carried the KV URL, host:port or password", () => {
    expect(printed.length).toBeGreaterThan(40);
    const all = printed.join("\n");
    expect(all).not.toContain(PASSWORD);
    expect(all).not.toContain(passwordUrl);
    expect(all).not.toContain(stack.redis.url);
    expect(all).not.toContain(`127.0.0.1:${redisPort()}`);
    expect(all).not.toContain(`:${redisPort()}`);
  });
});
