/**
 * `npm run doctor` against real parts: redis-server, the Notion emulator and
 * the QStash emulator over HTTP. A working setup passes; a revoked Notion
 * token, an unshared database, an unreachable KV and a missing secret each
 * fail naming their variable; no secret value ever reaches stdout or stderr.
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DoctorOptions, type DoctorReport, formatDoctorReport, runDoctor } from "../lib/doctor";
import { checkQStashToken } from "../lib/doctor/qstash";
import { createKvStore } from "../lib/kv/backend";
import { createKeys } from "../lib/kv/keys";
import { webhookKeys } from "../lib/webhooks/keys";
import { storeHandshake } from "../lib/webhooks/token";
import { generateWorkspace } from "../scripts/emulator/notion/generate.js";
import { type NotionEmulator, startNotionEmulator } from "../scripts/emulator/notion/server.js";
import { startQStashEmulator } from "../scripts/emulator/qstash/server.js";
import { readConfigFile } from "../scripts/lib/workspace-file";
import type { QStashEmulator } from "../scripts/emulator/qstash/types.js";
import { type RedisServerHandle, startRedisServer } from "./support/redis-server";
import { startS3Server } from "./support/s3-server";
import { s3MirrorEnv } from "./support/files-mirror-env";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const TSX_LOADER = pathToFileURL(path.join(ROOT, "node_modules/tsx/dist/loader.mjs")).href;

/** Distinctive values: none may appear in anything the doctor prints. */
const SECRETS = {
  NOTION_API_KEY: "ntn_doctorNotionSecretA1b2C3d4E5f6G7h8",
  CRON_SECRET: "doctor-cron-secret-Zq9Wx8Vu7Ts6Rq5Po4Nm3",
  QSTASH_TOKEN: "doctor-qstash-token-Kj2Hg3Fd4Sa5",
  QSTASH_CURRENT_SIGNING_KEY: "sig_doctorCurrentKey7Yt6Re5",
  QSTASH_NEXT_SIGNING_KEY: "sig_doctorNextKey3Lk4Jh5Gf6",
  REDIS_PASSWORD: "doctorRedisPassword9x8c7v",
};

let redis: RedisServerHandle;
let notion: NotionEmulator;
let qstash: QStashEmulator;
let cwd: string;
let env: Record<string, string>;

beforeAll(async () => {
  [redis, notion, qstash] = await Promise.all([
    startRedisServer(),
    startNotionEmulator({
      workspace: generateWorkspace({ pages: 2, posts: 2, childDepth: 0, hugePages: 0 }),
      token: SECRETS.NOTION_API_KEY,
      ratePerSecond: Infinity,
    }),
    startQStashEmulator({
      token: SECRETS.QSTASH_TOKEN,
      currentSigningKey: SECRETS.QSTASH_CURRENT_SIGNING_KEY,
      nextSigningKey: SECRETS.QSTASH_NEXT_SIGNING_KEY,
    }),
  ]);
  // A directory of its own: no .env file or config file of this checkout is read.
  cwd = await mkdtemp(path.join(os.tmpdir(), "nks-doctor-"));
  env = {
    REDIS_URL: redis.url,
    KV_PREFIX: "doctortest",
    NOTION_API_KEY: SECRETS.NOTION_API_KEY,
    NOTION_BASE_URL: notion.url,
    NOTION_PAGES_DB: notion.workspace.pagesDatabaseId,
    NOTION_POSTS_DB: notion.workspace.postsDatabaseId,
    CRON_SECRET: SECRETS.CRON_SECRET,
    QSTASH_URL: qstash.url,
    QSTASH_TOKEN: SECRETS.QSTASH_TOKEN,
    QSTASH_CURRENT_SIGNING_KEY: SECRETS.QSTASH_CURRENT_SIGNING_KEY,
    QSTASH_NEXT_SIGNING_KEY: SECRETS.QSTASH_NEXT_SIGNING_KEY,
  };
});

afterAll(async () => {
  await Promise.all([redis?.stop(), notion?.close(), qstash?.close()]);
  if (cwd) await rm(cwd, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The CLI as a user runs it, with only `vars` (and PATH) in its environment. */
function doctor(vars: Record<string, string>, args: string[] = []): Promise<Run> {
  // tsx's loader in this node: one process (the tsx binary starts a second).
  const childEnv: Record<string, string> = { PATH: process.env.PATH ?? "", HOME: os.homedir(), NO_COLOR: "1", ...vars };
  const script = path.join(ROOT, "scripts/doctor.ts");
  // A generous timeout: a loaded machine must not turn a slow answer into a failed check.
  const child = spawn(process.execPath, ["--import", TSX_LOADER, script, "--timeout", "30", ...args], {
    cwd,
    env: childEnv as NodeJS.ProcessEnv,
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d));
  child.stderr.on("data", (d: Buffer) => (stderr += d));
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr })));
}

/** In process, printed as the CLI prints it. */
async function check(
  vars: Record<string, string>,
  options: DoctorOptions = {},
): Promise<Run & { report: DoctorReport }> {
  const report = await runDoctor(vars, { timeoutMs: 30_000, ...options });
  return { report, code: report.ok ? 0 : 1, stdout: formatDoctorReport(report, vars), stderr: "" };
}

function expectNoSecret(run: Run): void {
  for (const secret of Object.values(SECRETS)) {
    expect(run.stdout).not.toContain(secret);
    expect(run.stderr).not.toContain(secret);
  }
}

/** The ✗ lines of a run. */
const failures = (run: Run) => run.stdout.split("\n").filter((line) => line.startsWith("✗"));

const without = (name: string) => Object.fromEntries(Object.entries(env).filter(([k]) => k !== name));

describe("npm run doctor", () => {
  it("passes a working setup: every line ✓, exit 0, no secret printed", async () => {
    const run = await doctor(env);
    expect(run.stderr).toBe("");
    expect(failures(run)).toEqual([]);
    for (const name of [
      "KV reachable",
      "Notion token",
      "section pages",
      "section posts",
      "CRON_SECRET",
      "QStash token",
    ])
      expect(run.stdout).toMatch(new RegExp(`^✓ ${name} `, "m"));
    expect(run.stdout).toMatch(/all \d+ checks passed/);
    expect(run.code).toBe(0);
    expectNoSecret(run);
  });

  it("a missing secret and an unreachable KV fail, exit 1, naming their variables (--json; no password printed)", async () => {
    const closed = `redis://default:${SECRETS.REDIS_PASSWORD}@127.0.0.1:${await closedPort()}`;
    const run = await doctor({ ...without("CRON_SECRET"), REDIS_URL: closed }, ["--json"]);
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout) as DoctorReport;
    expect(report.ok).toBe(false);
    expect(report.checks.filter((c) => !c.ok)).toEqual([
      expect.objectContaining({
        name: "KV reachable",
        variable: "REDIS_URL",
        message: expect.stringMatching(/connection refused/),
      }),
      expect.objectContaining({
        name: "CRON_SECRET",
        variable: "CRON_SECRET",
        message: expect.stringMatching(/not set/),
      }),
    ]);
    expectNoSecret(run);
  });

  it("a revoked Notion token fails, naming NOTION_API_KEY (each section not checked, for the same reason)", async () => {
    const run = await check({ ...env, NOTION_API_KEY: "ntn_revokedTokenOfAnotherIntegration00" });
    expect(run.code).toBe(1);
    expect(failures(run)).toEqual([
      expect.stringMatching(/^✗ Notion token .*NOTION_API_KEY \(401 unauthorized\)/),
      expect.stringMatching(/^✗ section pages .*not checked/),
      expect.stringMatching(/^✗ section posts .*not checked/),
    ]);
    expect(run.report.checks.filter((c) => !c.ok).map((c) => c.variable)).toEqual(Array(3).fill("NOTION_API_KEY"));
    expectNoSecret(run);
  });

  it("a database not shared with the integration fails, naming its variable", async () => {
    const run = await check({ ...env, NOTION_POSTS_DB: "0123456789abcdef0123456789abcdef" });
    expect(failures(run)).toEqual([
      expect.stringMatching(/^✗ section posts .*NOTION_POSTS_DB not found \(404\): share it/),
    ]);
    expect(run.report.checks.find((c) => !c.ok)?.variable).toBe("NOTION_POSTS_DB");
    // Without a config file the id is used as it is: a pasted URL is refused before Notion is asked.
    const url = await check({
      ...env,
      NOTION_POSTS_DB: `https://www.notion.so/Posts-${notion.workspace.postsDatabaseId}`,
    });
    expect(url.report.checks.filter((c) => !c.ok)).toEqual([
      expect.objectContaining({ name: "sections", variable: "NOTION_POSTS_DB" }),
    ]);
  });

  it("an unreachable Upstash REST endpoint fails, naming the Upstash console's variables", async () => {
    const run = await check({
      ...without("REDIS_URL"),
      UPSTASH_REDIS_REST_URL: `http://127.0.0.1:${await closedPort()}`,
      UPSTASH_REDIS_REST_TOKEN: SECRETS.REDIS_PASSWORD,
    });
    expect(run.stdout).toMatch(/^✓ KV variables +Upstash REST \(UPSTASH_REDIS_REST_URL, UPSTASH_REDIS_REST_TOKEN\)/m);
    expect(failures(run)).toEqual([
      expect.stringMatching(/^✗ KV reachable .*check UPSTASH_REDIS_REST_URL, UPSTASH_REDIS_REST_TOKEN/),
    ]);
    expectNoSecret(run);
  });

  it("a KV URL of the wrong kind fails before any connection, naming its variable", async () => {
    const redis = await check({ ...env, REDIS_URL: "http://127.0.0.1:6379" });
    expect(redis.report.checks.filter((c) => !c.ok)).toEqual([
      expect.objectContaining({ name: "KV variables", variable: "REDIS_URL" }),
    ]);
    const rest = await check({ ...without("REDIS_URL"), KV_REST_API_URL: "not a url", KV_REST_API_TOKEN: "abcdefgh" });
    expect(rest.report.checks.filter((c) => !c.ok)).toEqual([
      expect.objectContaining({ name: "KV variables", variable: "KV_REST_API_URL" }),
    ]);
  });

  it("a Notion token under another name fails, naming NOTION_API_KEY and the name used", async () => {
    const run = await check({ ...without("NOTION_API_KEY"), NOTION_TOKEN: SECRETS.NOTION_API_KEY });
    expect(run.report.checks.filter((c) => !c.ok)).toEqual([
      expect.objectContaining({
        name: "Notion token",
        variable: "NOTION_API_KEY",
        message: expect.stringMatching(/NOTION_TOKEN is/),
      }),
    ]);
    expectNoSecret(run);
  });

  it("the printer scrubs secret values and URL passwords a message might carry", () => {
    const vars = { ...env, REDIS_URL: `redis://default:${SECRETS.REDIS_PASSWORD}@127.0.0.1:6379` };
    const leaky = Object.values(SECRETS).join(" ");
    const text = formatDoctorReport({ ok: false, checks: [{ name: "leak", ok: false, message: leaky }] }, vars);
    expect(text).toMatch(/^✗ leak +… … … … … …$/m);
  });

  it("the files mirror: its variables, a probe object stored, read at its public URL and deleted", async () => {
    const s3 = await startS3Server({ secretAccessKey: "doctorS3SecretAccessKey0123456789" });
    try {
      const mirror = {
        ...env,
        ...s3MirrorEnv(s3),
      };
      const good = await check(mirror);
      expect(good.report.checks.find((c) => c.name === "files mirror")).toMatchObject({ ok: true });
      expect(s3.objects.size).toBe(0);
      expect(s3.counts.put).toBe(1);
      const fails = async (vars: Record<string, string>) => (await check(vars)).report.checks.filter((c) => !c.ok);
      expect(await fails({ ...mirror, FILES_PUBLIC_BASE_URL: `${s3.endpoint}/elsewhere` })).toEqual([
        expect.objectContaining({ name: "files mirror", variable: "FILES_PUBLIC_BASE_URL" }),
      ]);
      expect(s3.objects.size).toBe(0);
      const wrongKey = await check({ ...mirror, S3_SECRET_ACCESS_KEY: "another-secret-key-entirely" });
      expect(wrongKey.report.checks.filter((c) => !c.ok)).toEqual([
        expect.objectContaining({ name: "files mirror", variable: expect.stringContaining("S3_SECRET_ACCESS_KEY") }),
      ]);
      expect(wrongKey.stdout).not.toContain("another-secret-key-entirely");
      expect(await fails({ ...mirror, S3_BUCKET: "" })).toEqual([
        expect.objectContaining({ name: "files mirror", variable: "S3_BUCKET" }),
      ]);
    } finally {
      await s3.close();
    }
  });

  it("a short CRON_SECRET fails, naming it", async () => {
    const short = await check({ ...env, CRON_SECRET: "short-secret" });
    expect(short.report.checks.filter((c) => !c.ok)).toEqual([
      expect.objectContaining({
        name: "CRON_SECRET",
        variable: "CRON_SECRET",
        message: expect.stringMatching(/12 characters/),
      }),
    ]);
  });

  it("QStash: a wrong token, a token of another region and signing keys of another region each name their variable", async () => {
    const fails = async (vars: Record<string, string>) => (await check(vars)).report.checks.filter((c) => !c.ok);
    expect(await fails({ ...env, QSTASH_TOKEN: "another-token-entirely" })).toEqual([
      expect.objectContaining({ name: "QStash token", variable: "QSTASH_TOKEN" }),
    ]);
    expect(await fails({ ...env, QSTASH_NEXT_SIGNING_KEY: "sig_other" })).toEqual([
      expect.objectContaining({ name: "QStash token", variable: "QSTASH_CURRENT_SIGNING_KEY" }),
    ]);
    expect(
      await fails({ ...env, QSTASH_CURRENT_SIGNING_KEY: "sig_other1", QSTASH_NEXT_SIGNING_KEY: "sig_other2" }),
    ).toEqual([
      expect.objectContaining({ variable: "QSTASH_CURRENT_SIGNING_KEY", message: expect.stringMatching(/refused/) }),
    ]);
    expect(await fails({ ...without("QSTASH_TOKEN"), SYNC_CHAIN: "qstash" })).toEqual([
      expect.objectContaining({ name: "sync settings", variable: "QSTASH_TOKEN" }),
    ]);
    // QStash's answer to a token used in another region (its multi-region docs), from a server standing in for the EU one.
    const eu = await answering(
      401,
      '{"error":"user (1b2c) not found in this region (eu-central-1). Check that you are using the correct endpoint."}',
    );
    const region = await checkQStashToken(
      { token: SECRETS.QSTASH_TOKEN, url: eu.url, currentSigningKey: "a", nextSigningKey: "b" },
      fetch,
      30_000,
    );
    await eu.close();
    expect(region).toMatchObject({
      ok: false,
      variable: "QSTASH_URL",
      message: expect.stringMatching(/another region/),
    });
  });

  it("with a config file: a filter or slug property missing from the data source names the config field", async () => {
    const posts = notion.workspace.postsDatabaseId;
    const STATUS = `{ property: "Status", status: { equals: "Done" } }`;
    /** A config file of its own (the module is imported once per path), read as the CLI reads it. */
    const load = async (name: string, filter: string, slug: string) => {
      const file = `${name}.config.ts`;
      const section = `{ database: "${posts}", filter: ${filter}, slug: ${JSON.stringify(slug)} }`;
      await writeFile(path.join(cwd, file), `export default { sections: { blog: ${section} } };\n`);
      const vars = { ...env, NKS_CONFIG_FILE: file };
      const read = await readConfigFile(cwd, vars);
      expect(read.file).toBe(file);
      return check(vars, { config: read.config, configFile: read.file });
    };
    const good = await load("good", STATUS, "Name");
    expect(failures(good)).toEqual([]);
    expect(good.stdout).toMatch(/^✓ section blog +shared with the integration/m);
    expect(
      failures(await load("filter", `{ and: [{ property: "Nope", checkbox: { equals: true } }] }`, "Name")),
    ).toEqual([
      expect.stringMatching(/^✗ section blog +sections\.blog\.filter names "Nope", not a property of its data source/),
    ]);
    expect(failures(await load("slug", STATUS, "Missing Slug"))).toEqual([
      expect.stringMatching(/^✗ section blog +sections\.blog\.slug names "Missing Slug"/),
    ]);
    // Unshared: named by the variable the config file reads the database from, else by the field.
    const unshared = { sections: { blog: { database: "fedcba9876543210fedcba9876543210" } } };
    const named = (
      await check({ ...env, NOTION_BLOG_DB: "fedcba98-7654-3210-fedc-ba9876543210" }, { config: unshared })
    ).report;
    expect(named.checks.filter((c) => !c.ok)).toEqual([
      expect.objectContaining({ name: "section blog", variable: "NOTION_BLOG_DB" }),
    ]);
    const field = (await check(env, { config: unshared })).report;
    expect(field.checks.filter((c) => !c.ok)).toEqual([
      expect.objectContaining({ name: "section blog", variable: "sections.blog.database" }),
    ]);
  });

  it("reports the webhook token's state, never the token", async () => {
    const vars = { ...env, KV_PREFIX: "doctorwebhook" };
    const kv = createKvStore(vars);
    const wk = webhookKeys(createKeys("doctorwebhook"));
    try {
      const before = (await check(vars)).report;
      expect(before.checks.find((c) => c.name === "webhook token")).toMatchObject({
        ok: true,
        message: /no subscription/,
      });
      const token = "secret_webhookVerificationToken0123456789";
      await storeHandshake(kv, wk, token);
      const run = await check(vars);
      expect(failures(run)).toEqual([
        expect.stringMatching(/^✗ webhook token +received .*never shown: npm run kv:cursors -- --webhook-token/),
      ]);
      expect(run.stdout + run.stderr).not.toContain(token);
    } finally {
      await kv.close();
    }
  });
});

/** A port nobody listens on. */
async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** An HTTP server giving every request the same answer. */
async function answering(status: number, body: string): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    req.resume();
    res.writeHead(status, { "content-type": "application/json" }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
