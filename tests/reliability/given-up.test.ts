/**
 * Part of the fault matrix (issue 12): what may never hold a run back. A
 * poison page (always 500) and a page too large for the KV store are given up
 * after MAX_ITEM_ATTEMPTS invocations; the run ends `partial` with those pages
 * named (answer, run history, status), keeps their previous content, and the
 * next run retries them. A 429 says which of Notion's limits was hit, and a
 * pause one section met is honoured by the others, from KV. Through the real
 * route handler against the Notion emulator, a real redis-server and the
 * Upstash REST bridge.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { handleStatus } from "../../lib/http/status-route";
import type { SectionStatus } from "../../lib/operator/status";
import { readIndexPage } from "../../lib/mirror/section-index";
import { MAX_ITEM_ATTEMPTS } from "../../lib/sync/cursor";
import { expectedOrder } from "../../scripts/emulator/notion/verify";
import {
  type Stack,
  TEST_SECRET,
  diffKvWithWorkspace,
  invoke,
  startStack,
  syncAll,
  syncUntilDone,
} from "../support/harness";

async function statusOf(stack: Stack, section: string): Promise<SectionStatus> {
  const response = await handleStatus(
    new Request(`http://localhost/api/sync/status?secret=${TEST_SECRET}&section=${section}`),
    stack.env,
  );
  expect(response.status).toBe(200);
  return ((await response.json()) as { sections: SectionStatus[] }).sections[0];
}

describe("a poison page (its blocks always answer 500)", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ workspace: { pages: 12, posts: 4, hugePages: 0 } });
  });
  afterAll(async () => stack?.close());

  it("is given up after the bounded attempts: the run ends partial, names it, keeps its old content, and the next run retries it", async () => {
    await syncAll(stack);
    const poison = stack.workspace.visibleRows(stack.workspace.pagesDatabaseId)[3];
    const slugBefore = (await stack.kv.get<{ entry: { slug: string } }>(stack.keys.entry("pages", poison.id)))!.entry
      .slug;
    const bundleBefore = await stack.kv.get(stack.keys.page("pages", slugBefore));
    stack.workspace.editPageTitle(poison.id, "Poisoned edit");
    stack.emulator.injectFault({ route: "blocks.children.list", status: 500, matchId: poison.id, probability: 1 });

    const answers = await syncUntilDone(stack, "pages", { maxCalls: 50 });
    const last = answers.at(-1)!;
    expect(last).toMatchObject({ done: true, status: "partial" });
    expect(last.counts.failed).toBe(1);
    // Each invocation that met the failure said so.
    expect(answers.filter((a) => a.lastError?.message.includes(poison.id)).length).toBeGreaterThanOrEqual(
      MAX_ITEM_ATTEMPTS - 1,
    );
    // The old content stays for the site; the index still lists the page.
    expect(await stack.kv.get(stack.keys.page("pages", slugBefore))).toEqual(bundleBefore);

    const status = await statusOf(stack, "pages");
    expect(status.run).toMatchObject({ status: "partial", progress: { percent: 100 } });
    expect(status.runs[0]).toMatchObject({ status: "partial", failedPages: [{ id: poison.id }] });
    // (The invocation that gives the page up and finishes the run writes the summary before its own count.)
    expect(status.runs[0].counts.errors).toBeGreaterThanOrEqual(MAX_ITEM_ATTEMPTS - 1);
    expect(status.failedPages.count).toBe(1);
    expect(status.failedPages.pages[0]).toMatchObject({
      id: poison.id,
      queuedForRetry: true,
      notionUrl: `https://www.notion.so/${poison.id.replace(/-/g, "")}`,
    });
    expect(status.failedPages.pages[0].error).toMatch(/500/);

    // Notion heals: the next unforced run fetches it (refetch set), ends done, and the failed list empties.
    stack.emulator.clearFaults();
    const again = await syncUntilDone(stack, "pages");
    expect(again.at(-1)).toMatchObject({ done: true, status: "done" });
    expect((await statusOf(stack, "pages")).failedPages.count).toBe(0);
    await syncUntilDone(stack, "posts");
    await syncUntilDone(stack, "children");
    expect(await diffKvWithWorkspace(stack)).toEqual([]);
  });
});

describe("a page too large for the KV store (Upstash's request size limit)", () => {
  let stack: Stack;
  beforeAll(async () => {
    // A bridge limit of 256 KB a request stands in for Upstash's 10 MB, with a page of 1,200 blocks.
    stack = await startStack({
      workspace: { pages: 8, posts: 3, hugePages: 1, hugePageBlocks: 1200 },
      backend: "upstash",
      bridgeLimits: { maxRequestBytes: 256 * 1024 },
      env: { SYNC_BUDGET_MS: "3000" },
    });
  });
  afterAll(async () => stack?.close());

  it("counts against the page's attempts: the page is given up and the run ends partial instead of failing every invocation", async () => {
    const all = await syncAll(stack);
    const answers = [...all.pages, ...all.posts];
    const partial = answers.filter((a) => a.status === "partial");
    expect(partial).toHaveLength(1);
    expect(partial[0].counts.failed).toBe(1);
    expect(answers.some((a) => a.lastError?.code === "kv_size_limit")).toBe(true);
    const section = partial[0].section;
    const status = await statusOf(stack, section);
    expect(status.failedPages.pages).toHaveLength(1);
    expect(status.failedPages.pages[0].error).toMatch(/too large for the KV store.*max request size exceeded/);
    // The error text carries the store's words, not the megabytes of the refused command.
    expect(status.failedPages.pages[0].error.length).toBeLessThan(600);
    // Every other page is there: the index lists exactly the workspace's rows but the given-up one, in order,
    // and the only difference from the workspace is that one missing entry (every listed bundle equal, no orphan).
    const givenUp = status.failedPages.pages[0].id;
    const databaseId = section === "pages" ? stack.workspace.pagesDatabaseId : stack.workspace.postsDatabaseId;
    const expected = expectedOrder(stack.workspace, databaseId).filter((id) => id !== givenUp);
    const index = await readIndexPage(stack.kv, stack.keys, section);
    expect(index!.entries.map((e) => e.id)).toEqual(expected);
    expect(await diffKvWithWorkspace(stack)).toEqual([
      `${section}: index order/content differs (${expected.length} vs ${expected.length + 1} entries)`,
    ]);
  });
});

describe("a 429 says which limit was hit, and its pause holds for every section", () => {
  let stack: Stack;
  // A rate of its own gives this suite its own process pacer (keyed by token and rate).
  const RATE = "99871";
  beforeAll(async () => {
    stack = await startStack({ workspace: { pages: 6, posts: 3, hugePages: 0 }, env: { NOTION_RATE_PER_MIN: RATE } });
  });
  afterAll(async () => stack?.close());

  it("tells the per-workspace limit from the per-connection one, and another section (another instance) waits it out from KV", async () => {
    stack.emulator.injectFault({
      route: "dataSources.query",
      status: 429,
      retryAfterSeconds: 120,
      rateLimitReason: "public_api_space_request_rate_limit",
    });
    const paused = await invoke(stack, "pages");
    expect(paused.status).toBe(200);
    const cursor = (await stack.kv.get<{ rateLimit: { scope: string; until: string } }>(stack.keys.cursor("pages")))!;
    expect(cursor.rateLimit.scope).toBe("workspace");
    expect(Date.parse(cursor.rateLimit.until) - Date.now()).toBeGreaterThan(110_000);
    expect((await statusOf(stack, "pages")).run!.rateLimit).toMatchObject({ scope: "workspace" });

    // Posts, on "another instance" (a pacer of its own: another rate), sends Notion nothing.
    stack.emulator.resetRequestLog();
    const posts = await invoke(stack, "posts", { env: { NOTION_RATE_PER_MIN: String(Number(RATE) + 1) } });
    expect(posts.status).toBe(200);
    expect(stack.emulator.requests()).toHaveLength(0);
    expect(Date.parse((posts.body.next as { notBefore: string }).notBefore) - Date.now()).toBeGreaterThan(110_000);
    expect((await statusOf(stack, "posts")).run!.rateLimit).toMatchObject({ scope: "workspace" });

    // The per-connection limit is named as such (a fresh stack state: the pause key dropped, another pacer).
    await stack.kv.del([stack.keys.notionPause()]);
    stack.emulator.clearFaults();
    stack.emulator.injectFault({ route: "dataSources.query", status: 429, retryAfterSeconds: 60 });
    await invoke(stack, "pages", { query: "force=1", env: { NOTION_RATE_PER_MIN: String(Number(RATE) + 2) } });
    const forced = (await stack.kv.get<{ rateLimit: { scope: string } }>(stack.keys.cursor("pages")))!;
    expect(forced.rateLimit.scope).toBe("connection");
  });
});
