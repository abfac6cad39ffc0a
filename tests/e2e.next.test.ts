/**
 * End to end over a real `next start`: the built route handlers, real HTTP,
 * the Notion emulator and a real redis-server, driven the way crons and
 * people drive them.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createKeys } from "../lib/kv/keys";
import { createRedisStore } from "../lib/kv/redis";
import type { KvStore } from "../lib/kv/store";
import { type SectionRun, callSection, runSection } from "../scripts/demo/driver";
import { generateWorkspace } from "../scripts/emulator/notion/generate";
import { type NotionEmulator, startNotionEmulator } from "../scripts/emulator/notion/server";
import { compareKvWithWorkspace } from "../scripts/emulator/notion/verify";
import type { Workspace } from "../scripts/emulator/notion/workspace";
import { type NextApp, buildIfNeeded, startNextApp } from "../scripts/lib/next-app";
import { startRedisServer } from "./support/redis-server";

const SECRET = "e2e-secret-abcdefghijklmnop";

describe("next start + Notion emulator + redis-server", () => {
  let app: NextApp;
  let notion: NotionEmulator;
  let workspace: Workspace;
  let redis: { url: string; stop(): Promise<void> };
  let kv: KvStore;
  const keys = createKeys("e2e");

  beforeAll(async () => {
    buildIfNeeded();
    workspace = generateWorkspace({ pages: 80, posts: 50, hugePages: 1 });
    notion = await startNotionEmulator({ workspace, ratePerSecond: 80 });
    redis = await startRedisServer();
    kv = createRedisStore({ url: redis.url });
    app = await startNextApp({
      CRON_SECRET: SECRET,
      NOTION_API_KEY: notion.token,
      NOTION_PAGES_DB: workspace.pagesDatabaseId,
      NOTION_POSTS_DB: workspace.postsDatabaseId,
      NOTION_BASE_URL: notion.url,
      NOTION_RATE_PER_MIN: "4500",
      REDIS_URL: redis.url,
      KV_PREFIX: "e2e",
      SYNC_BUDGET_MS: "2000",
      SYNC_MIN_FORCE_INTERVAL_S: "0",
      // These suites make every call themselves; the self-chain has its own suite.
      SYNC_CHAIN: "off",
    });
  });
  afterAll(async () => {
    await app?.stop();
    await kv?.close();
    await notion?.close();
    await redis?.stop();
  });

  it("syncs the whole workspace through bounded invocations, as staggered crons would", async () => {
    const runs: SectionRun[] = [];
    for (const section of ["pages", "posts", "children"] as const)
      runs.push(await runSection(app.url, SECRET, section, { style: "cron" }));
    for (const run of runs) {
      expect(run.answers.length).toBeGreaterThan(1);
      for (const a of run.answers) expect(a.elapsedMs).toBeLessThan(3000);
    }
    expect(await compareKvWithWorkspace(kv, keys, workspace)).toEqual([]);
  });

  it("an incremental run through the manual URLs fetches only the edited page", async () => {
    workspace.advanceClock(10 * 60_000);
    const row = workspace.visibleRows(workspace.postsDatabaseId)[5];
    workspace.editPageTitle(row.id, "Edited over HTTP");
    const posts = await runSection(app.url, SECRET, "posts", { style: "manual" });
    expect(posts.answers.at(-1)!.counts.fetched).toBe(1);
    expect(await compareKvWithWorkspace(kv, keys, workspace)).toEqual([]);
  });

  it("answers bad requests with JSON errors and the right status, never a 500", async () => {
    const get = async (path: string, init?: RequestInit) => {
      const res = await fetch(`${app.url}${path}`, init);
      const body = (await res.json()) as { ok: boolean; error?: { code: string; message: string } };
      expect(body.ok).toBe(false);
      return { status: res.status, code: body.error!.code, text: JSON.stringify(body) };
    };
    expect(await get(`/api/sync/pages`)).toMatchObject({ status: 401, code: "unauthorized" });
    expect(await get(`/api/sync/pages?secret=wrong`)).toMatchObject({ status: 401 });
    expect(await get(`/api/sync/pages`, { headers: { authorization: "Bearer nope" } })).toMatchObject({ status: 401 });
    expect(await get(`/api/sync/nothing?secret=${SECRET}`)).toMatchObject({ status: 404, code: "unknown_section" });
    expect(await get(`/api/sync/pages?secret=${SECRET}`, { method: "DELETE" })).toMatchObject({
      status: 405,
      code: "method_not_allowed",
    });
    expect(await get(`/api/sync/pages?secret=${SECRET}&force=perhaps`)).toMatchObject({
      status: 400,
      code: "bad_query",
    });
    expect(await get(`/api/sync/pages?secret=${SECRET}`, { method: "POST", body: "{oops" })).toMatchObject({
      status: 400,
      code: "bad_body",
    });
    expect(await get(`/api/sync/trigger?secret=${SECRET}`)).toMatchObject({
      status: 503,
      code: "qstash_not_configured",
    });
    // A body far larger than any sync request is refused before it is read in full or parsed.
    const huge = JSON.stringify({ force: true, padding: "x".repeat(70 * 1024) });
    expect(await get(`/api/sync/pages?secret=${SECRET}`, { method: "POST", body: huge })).toMatchObject({
      status: 413,
      code: "body_too_large",
    });
    expect(await get(`/api/sync/trigger?secret=${SECRET}`, { method: "POST", body: huge })).toMatchObject({
      status: 413,
      code: "body_too_large",
    });
    // HEAD must not run a sync (Next.js would answer it by running GET).
    const cursorBefore = await kv.get(keys.cursor("pages"));
    const head = await fetch(`${app.url}/api/sync/pages?secret=${SECRET}`, { method: "HEAD" });
    expect(head.status).toBe(405);
    expect(await kv.get(keys.cursor("pages"))).toEqual(cursorBefore);
    const forged = await get(`/api/sync/pages`, {
      method: "POST",
      body: "{}",
      headers: { "upstash-signature": "x.y.z" },
    });
    expect(forged.status).toBe(503); // QStash keys are not configured here: closed, not open
    for (const r of [forged]) expect(r.text).not.toContain(SECRET);
    expect(app.output()).not.toContain(SECRET);
    expect(app.output()).not.toContain(notion.token);
  });

  it("a cron firing twice at once: one invocation works, the other gets 409 (or 202 queued, covered by the winner's run) and does nothing", async () => {
    workspace.advanceClock(10 * 60_000);
    for (const row of workspace.visibleRows(workspace.pagesDatabaseId).slice(0, 30))
      workspace.editPageTitle(row.id, `${row.id} again`);
    const [a, b] = await Promise.all([
      callSection(app.url, SECRET, "pages", "cron"),
      callSection(app.url, SECRET, "pages", "cron"),
    ]);
    const statuses = [a.status, b.status].sort();
    expect(statuses[0]).toBe(200);
    expect([202, 409]).toContain(statuses[1]);
    await runSection(app.url, SECRET, "pages", { style: "cron" });
    expect(await compareKvWithWorkspace(kv, keys, workspace)).toEqual([]);
  });
});
