/**
 * Signed manual links (`?token=`, issue 13 item 4) through the real route
 * handlers, a real redis-server and the Notion emulator: a link runs once,
 * only on its endpoint, only with its force flag, only before it expires, and
 * a refused one writes nothing. `?secret=` keeps working. The CLI
 * (scripts/sync-url.ts) prints a URL the route accepts.
 */
import { execFile } from "node:child_process";
import { resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LinkTarget, manualLinkUrl } from "../lib/auth/manual-link";
import { handleStatus } from "../lib/http/status-route";
import { handleSync } from "../lib/http/sync-route";
import { handleTrigger } from "../lib/http/trigger-route";
import type { Section } from "../lib/core/sections";
import { type Stack, TEST_SECRET, invoke, startStack } from "./support/harness";

const run = promisify(execFile);
const ROOT = resolve(__dirname, "..");
const TSX = resolve(ROOT, "node_modules/.bin/tsx");
const BASE = "http://localhost";

let stack: Stack;

function link(target: LinkTarget, options: { force?: boolean; ttlMs?: number; now?: number } = {}): string {
  return manualLinkUrl(BASE, target, {
    force: options.force ?? false,
    ttlMs: options.ttlMs ?? 60_000,
    secret: TEST_SECRET,
    now: options.now,
  });
}

async function call(handler: (request: Request) => Promise<Response>, url: string, init?: RequestInit) {
  const response = await handler(new Request(url, init));
  const text = await response.text();
  return { status: response.status, text, body: JSON.parse(text) as Record<string, any> };
}
const section = (name: Section, url: string, init?: RequestInit) =>
  call((r) => handleSync(name, r, stack.env), url, init);
const trigger = (url: string, init?: RequestInit) =>
  call((r) => handleTrigger(r, { ...stack.env, SYNC_INLINE_FALLBACK: "1" }), url, init);

/** Every key under the test prefix and its value (null for sets): "nothing written" means this is unchanged. */
async function snapshot(): Promise<string> {
  const keys = await stack.kv.scanKeys(`${stack.keys.prefix}:`);
  const values = await stack.kv.mget(keys);
  return JSON.stringify(keys.map((k, i) => [k, values[i]]));
}
const nonceKeys = () => stack.kv.scanKeys(stack.keys.linkNonce(""));

/** Runs `fn` with the route logs on, and returns the JSON lines they wrote (the logs are the only place the caller shows). */
async function capturingLogs<T>(fn: () => Promise<T>): Promise<{ result: T; lines: Record<string, unknown>[] }> {
  const lines: Record<string, unknown>[] = [];
  const saved = { log: console.log, warn: console.warn, level: process.env.SYNC_LOG };
  const capture = (line: unknown) => {
    try {
      lines.push(JSON.parse(String(line)));
    } catch {
      /* not one of ours */
    }
  };
  process.env.SYNC_LOG = "on";
  console.log = capture;
  console.warn = capture;
  try {
    return { result: await fn(), lines };
  } finally {
    console.log = saved.log;
    console.warn = saved.warn;
    process.env.SYNC_LOG = saved.level;
  }
}

function expectUnauthorized(
  answer: { status: number; text: string; body: Record<string, any> },
  message: RegExp,
  url: string,
) {
  expect(answer.status, answer.text).toBe(401);
  expect(answer.body).toMatchObject({
    ok: false,
    error: { code: "unauthorized", message: expect.stringMatching(message) },
  });
  const token = new URL(url).searchParams.get("token")!;
  expect(answer.text).not.toContain(token.split(".")[1]);
  expect(answer.text).not.toContain(TEST_SECRET);
}

beforeAll(async () => {
  stack = await startStack({ workspace: { pages: 6, posts: 3, hugePages: 0 } });
});
afterAll(async () => stack?.close());

describe("signed manual links on the section routes", () => {
  it('a valid link runs a sync as caller "link" and spends its nonce until the link expires', async () => {
    const url = link("pages", { ttlMs: 90_000 });
    const { result, lines } = await capturingLogs(() => section("pages", url));
    expect(result.status, result.text).toBe(200);
    expect(result.body).toMatchObject({ ok: true, section: "pages", runId: expect.any(String) });
    expect(result.body.processed).toBeGreaterThan(0);
    expect(lines.some((l) => l.section === "pages" && l.caller === "link")).toBe(true);
    expect(JSON.stringify(lines)).not.toContain(new URL(url).searchParams.get("token")!);
    const [nonce] = await nonceKeys();
    const ttl = await stack.kv.pttl(nonce);
    expect(ttl).toBeGreaterThan(60_000);
    expect(ttl).toBeLessThanOrEqual(90_000);
  });

  it("the same link again is refused as already used, and nothing is written", async () => {
    const url = link("posts");
    expect((await section("posts", url)).status).toBe(200);
    const before = await snapshot();
    for (const init of [undefined, { method: "POST", body: "{}" }]) {
      expectUnauthorized(await section("posts", url, init), /already used/, url);
    }
    expect(await snapshot()).toBe(before);
  });

  it("expired, tampered, misdirected, force-mismatched or unsigned links are refused, saying which, and write nothing", async () => {
    const before = await snapshot();
    const expired = link("pages", { now: Date.now() - 120_000, ttlMs: 60_000 });
    expectUnauthorized(await section("pages", expired), /expired at/, expired);

    const good = new URL(link("pages"));
    const token = good.searchParams.get("token")!;
    const [payload, signature] = token.split(".");
    const otherClaims = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(payload, "base64url").toString()), t: "posts" }),
    ).toString("base64url");
    for (const forged of [
      `${otherClaims}.${signature}`,
      `${payload}.${signature.slice(0, -1)}${signature.endsWith("A") ? "B" : "A"}`,
    ]) {
      const url = `${BASE}/api/sync/posts?token=${forged}`;
      expectUnauthorized(await section("posts", url), /bad signature/, url);
    }
    const truncated = `${BASE}/api/sync/pages?token=${payload}`;
    expectUnauthorized(await section("pages", truncated), /malformed/, truncated);
    const signedByAnother = manualLinkUrl(BASE, "pages", {
      force: false,
      secret: "another-cron-secret",
      ttlMs: 60_000,
    });
    expectUnauthorized(await section("pages", signedByAnother), /bad signature/, signedByAnother);

    // A pages link sent to posts (path changed, token intact).
    const onPosts = good.toString().replace("/api/sync/pages", "/api/sync/posts");
    expectUnauthorized(await section("posts", onPosts), /not for this endpoint.*\/api\/sync\/pages/, onPosts);

    // An unforced link asked to force, in the query or the body; a forced link asked not to.
    const unforced = link("pages");
    expectUnauthorized(
      await section("pages", `${unforced}&force=1`),
      /signed for force=0 and the request asks force=1/,
      unforced,
    );
    expectUnauthorized(
      await section("pages", unforced, { method: "POST", body: '{"force":true}' }),
      /signed for force=0/,
      unforced,
    );
    const forced = link("pages", { force: true });
    expectUnauthorized(
      await section("pages", forced.replace("force=1&", "")),
      /signed for force=1 and the request asks force=0/,
      forced,
    );

    // Links do not open the status endpoint.
    const status = await call(
      (r) => handleStatus(r, stack.env),
      link("pages").replace("/api/sync/pages", "/api/sync/status"),
    );
    expect(status.status).toBe(401);
    expect(status.body.error.message).toMatch(/not for this endpoint/);

    expect(await snapshot()).toBe(before);
    // A force mismatch is checked before the nonce is spent: the same link still works as signed.
    expect((await section("pages", unforced)).status).toBe(200);
  });

  it("?secret= still works", async () => {
    const { status, body } = await invoke(stack, "children");
    expect(status).toBe(200);
    expect(body.ok).toBe(true);
  });
});

describe("signed manual links on the trigger route", () => {
  it("a trigger link starts a run once; a section's link is not a trigger link", async () => {
    const url = link("trigger");
    const first = await trigger(url);
    expect(first.status, first.text).toBe(200);
    expect(first.body).toMatchObject({ ok: true, mode: "inline" });
    const before = await snapshot();
    expectUnauthorized(await trigger(url), /already used/, url);
    const pagesLink = link("pages").replace("/api/sync/pages", "/api/sync/trigger");
    expectUnauthorized(await trigger(pagesLink), /not for this endpoint/, pagesLink);
    expect(await snapshot()).toBe(before);
  });
});

describe("npm run sync:url", () => {
  const script = (args: string[], env: Record<string, string>) =>
    run(TSX, ["scripts/sync-url.ts", ...args], {
      cwd: ROOT,
      encoding: "utf8",
      env: { NODE_ENV: "test", PATH: process.env.PATH ?? "", ...env },
    }).then(
      (r) => ({ code: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
    );

  it("prints only a URL (never CRON_SECRET) whose token the route accepts; exits 2 on bad arguments or without the secret", async () => {
    const [printed, forcedDefaultBase, noSecret, badTtl, badTarget, help] = await Promise.all([
      script(["posts", "--base", `${BASE}/`, "--ttl", "2m"], { CRON_SECRET: TEST_SECRET }),
      script(["pages", "--force"], { CRON_SECRET: ` ${TEST_SECRET} ` }),
      script(["pages"], {}),
      script(["pages", "--ttl", "25h"], { CRON_SECRET: TEST_SECRET }),
      script(["status"], { CRON_SECRET: TEST_SECRET }),
      script(["--help"], {}),
    ]);
    expect(printed.code, printed.stderr).toBe(0);
    expect(printed.stdout).toMatch(/^http:\/\/localhost\/api\/sync\/posts\?token=[A-Za-z0-9_.-]+\n$/);
    for (const out of [printed, forcedDefaultBase]) expect(out.stdout + out.stderr).not.toContain(TEST_SECRET);
    expect(printed.stderr).toMatch(/posts.*works once/);

    const answer = await section("posts", printed.stdout.trim());
    expect(answer.status, answer.text).toBe(200);
    expectUnauthorized(await section("posts", printed.stdout.trim()), /already used/, printed.stdout.trim());

    // No --base and none of the base variables: the local dev server, force=1 in the URL.
    expect(forcedDefaultBase.stdout).toMatch(/^http:\/\/localhost:3000\/api\/sync\/pages\?force=1&token=/);
    const forced = await section("pages", forcedDefaultBase.stdout.trim());
    expect(forced.status, forced.text).toBe(200);

    expect(noSecret).toMatchObject({ code: 2, stdout: "" });
    expect(noSecret.stderr).toMatch(/CRON_SECRET is not set/);
    expect(badTtl).toMatchObject({ code: 2, stdout: "" });
    expect(badTtl.stderr).toMatch(/--ttl/);
    expect(badTarget).toMatchObject({ code: 2, stdout: "" });
    expect(badTarget.stderr).toMatch(/unknown target "status"/);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--force[\s\S]*--ttl[\s\S]*--base[\s\S]*--help/);
  });
});
