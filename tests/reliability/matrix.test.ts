/**
 * Part of the fault and abuse matrix (issue 12), seeded and deterministic,
 * through the real route handler against the Notion emulator and a real
 * redis-server. Each case ends by comparing KV with the workspace, page by
 * page. (Kills, orphans, KV faults, signatures and secrets have their own
 * suites: sync.integration, sync.fencing, sync.kv-slow, http.kv-down,
 * qstash.e2e, e2e.next.)
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isSafeSlug } from "../../lib/mirror/slug";
import { type Stack, diffKvWithWorkspace, invoke, startStack, syncAll } from "../support/harness";

const SMALL = { pages: 30, posts: 12, hugePages: 0 } as const;
const STORM = { pages: 14, posts: 6, hugePages: 0 } as const;

describe("Notion faults: about 10 % of requests fail (500, 502, 503, 504, 529, connection resets)", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ workspace: SMALL });
    for (const [i, status] of ([500, 502, 503, 504, 529, "reset"] as const).entries()) {
      stack.emulator.injectFault({ route: "*", status, probability: 0.018, seed: 100 + i, retryAfterSeconds: 0 });
    }
  });
  afterAll(async () => stack?.close());

  it("the run converges to exactly the workspace", async () => {
    await syncAll(stack);
    const failed = stack.emulator.requests().filter((r) => r.status >= 500 || r.status === 0).length;
    const all = stack.emulator.requests().length;
    expect(failed / all).toBeGreaterThan(0.05);
    stack.emulator.clearFaults();
    // A page given up after repeated faults is retried by the next run (refetch set).
    await syncAll(stack);
    expect(await diffKvWithWorkspace(stack)).toEqual([]);
  });
});

describe("overlap: 5 concurrent invocations of one section", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ workspace: SMALL, latencyMs: 10, env: { SYNC_BUDGET_MS: "800" } });
  });
  afterAll(async () => stack?.close());

  it("one does the work, the others get 409 (a run is live: it goes on) or 202 queued (none was: the winner's run covers them) and write nothing, and the run converges", async () => {
    for (let wave = 0; wave < 4; wave++) {
      const answers = await Promise.all(Array.from({ length: 5 }, () => invoke(stack, "pages")));
      const statuses = answers.map((a) => a.status).sort();
      expect(statuses.filter((s) => s === 200)).toHaveLength(1);
      expect(statuses.filter((s) => s === 409 || s === 202)).toHaveLength(4);
      for (const a of answers.filter((x) => x.status === 409)) expect(a.body.error?.code).toBe("already_running");
      for (const a of answers.filter((x) => x.status === 202)) expect(a.body).toMatchObject({ ok: true, queued: true });
    }
    await syncAll(stack);
    expect(await diffKvWithWorkspace(stack)).toEqual([]);
  });
});

describe("old or damaged state", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ workspace: SMALL });
  });
  afterAll(async () => stack?.close());

  it.each([
    [
      "a cursor from an older release",
      { version: 1, section: "pages", runId: "old", status: "running", phase: "sync", position: 3, completedAhead: [] },
    ],
    ["a cursor that is not an object", "{not json"],
    [
      "a cursor with a damaged field",
      { version: 2, section: "pages", runId: "x", status: "running", phase: "sync", seq: -4 },
    ],
  ])("%s is reported, the run restarts once, and it converges", async (_name, stored) => {
    await stack.kv.set(stack.keys.cursor("pages"), stored);
    const first = await invoke(stack, "pages");
    expect(first.status).toBe(200);
    expect(first.body.cursorReset).toEqual(expect.any(String));
    const second = await invoke(stack, "pages");
    expect(second.status).toBe(200);
    expect(second.body.cursorReset).toBeUndefined(); // no loop: the new cursor loads
    await syncAll(stack);
    expect(await diffKvWithWorkspace(stack)).toEqual([]);
  });
});

describe("hostile titles", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ workspace: SMALL });
  });
  afterAll(async () => stack?.close());

  it("give safe, distinct slugs and keys, and the mirror converges", async () => {
    await syncAll(stack);
    stack.workspace.advanceClock(5 * 60_000);
    const titles = [
      "../../etc/passwd",
      "a:b:c",
      "日本語のタイトル",
      "Заголовок",
      "😀 emoji only 😀",
      "x".repeat(300),
      "  ",
      "a:b:c",
    ];
    const rows = stack.workspace.visibleRows(stack.workspace.pagesDatabaseId);
    titles.forEach((title, i) => stack.workspace.editPageTitle(rows[i].id, title));
    await syncAll(stack);
    expect(await diffKvWithWorkspace(stack)).toEqual([]);
    const bundles = await stack.kv.scanKeys(`${stack.keys.prefix}:page:pages:`);
    // Slugs keep letters and digits of every script (lib/mirror/slug.ts), never a separator, dot, colon, %, ?, # or space.
    for (const key of bundles) {
      const slug = key.slice(`${stack.keys.prefix}:page:pages:`.length);
      expect(isSafeSlug(slug), slug).toBe(true);
      expect(slug).not.toMatch(/[/\\.:%?#\s\p{Cc}\p{Cf}]/u);
    }
    expect(new Set(bundles).size).toBe(bundles.length);
  });
});

describe("Notion changes between runs: rows moved between the databases, a child page moved to another parent", () => {
  let stack: Stack;
  beforeAll(async () => {
    // A row that moved out of a database leaves its section at a full listing.
    stack = await startStack({ workspace: SMALL, env: { SYNC_FULL_LIST_HOURS: "0" } });
  });
  afterAll(async () => stack?.close());

  it("converge with no orphan bundle", async () => {
    await syncAll(stack);
    const ws = stack.workspace;
    ws.advanceClock(5 * 60_000);
    const pages = ws.visibleRows(ws.pagesDatabaseId);
    const posts = ws.visibleRows(ws.postsDatabaseId);
    ws.moveRow(pages[2].id, ws.postsDatabaseId);
    ws.moveRow(pages[5].id, ws.postsDatabaseId);
    ws.moveRow(posts[1].id, ws.pagesDatabaseId);
    const child = ws.reachableChildPages().find((c) => c.depth === 1)!;
    const newParent = ws.visibleRows(ws.pagesDatabaseId).find((r) => r.id !== child.parentId)!;
    ws.moveChildPage(child.id, newParent.id);
    await syncAll(stack);
    await syncAll(stack); // the new parent's index entry lists the child once its section has run
    // diffKvWithWorkspace also fails on any bundle the indexes do not list.
    expect(await diffKvWithWorkspace(stack)).toEqual([]);
    const inPosts = await stack.kv.scanKeys(`${stack.keys.prefix}:page:posts:`);
    expect(inPosts).toHaveLength(ws.visibleRows(ws.postsDatabaseId).length);
  });
});

describe("a 429 storm", () => {
  let stack: Stack;
  beforeAll(async () => {
    // Every 429 is a real second of Retry-After: a smaller workspace meets as many pauses per invocation in half the requests.
    stack = await startStack({ workspace: STORM });
  });
  afterAll(async () => stack?.close());

  it(
    "with Retry-After 1 s on 20 % of requests converges, no invocation sleeping past its budget",
    { timeout: 120_000 },
    async () => {
      stack.emulator.injectFault({ route: "*", status: 429, probability: 0.2, seed: 7, retryAfterSeconds: 1 });
      try {
        for (const section of ["pages", "posts", "children"] as const) {
          // As a cron or QStash would: the next call no earlier than the answer's next.notBefore.
          for (let call = 0; ; call++) {
            expect(call).toBeLessThan(300);
            const { status, body } = await invoke(stack, section);
            expect(status).toBe(200);
            expect(body.elapsedMs).toBeLessThan(3000);
            if (body.done) break;
            const notBefore = (body.next as { notBefore: string | null } | null)?.notBefore;
            if (notBefore)
              await new Promise((resolve) => setTimeout(resolve, Math.max(0, Date.parse(notBefore) - Date.now())));
          }
        }
      } finally {
        stack.emulator.clearFaults();
      }
      expect(stack.emulator.requests().filter((r) => r.status === 429).length).toBeGreaterThan(10);
      expect(await diffKvWithWorkspace(stack)).toEqual([]);
    },
  );

  it("with Retry-After 300 s checkpoints, says when to come back, and sends nothing to Notion before then", async () => {
    stack.emulator.injectFault({ route: "dataSources.query", status: 429, retryAfterSeconds: 300 });
    const paused = await invoke(stack, "pages", { query: "force=1" });
    expect(paused.status).toBe(200);
    expect(paused.body.elapsedMs).toBeLessThan(3000);
    const notBefore = Date.parse((paused.body.next as { notBefore: string }).notBefore);
    expect(notBefore - Date.now()).toBeGreaterThan(290_000);
    stack.emulator.resetRequestLog();
    const early = await invoke(stack, "pages");
    expect(early.status).toBe(200);
    expect(stack.emulator.requests()).toHaveLength(0); // the pause is honoured on any instance, from the cursor
    expect(Date.parse((early.body.next as { notBefore: string }).notBefore)).toBeGreaterThanOrEqual(notBefore - 1000);
    const cursor = (await stack.kv.get<{ retryAt: string; status: string }>(stack.keys.cursor("pages")))!;
    expect(cursor.status).toBe("running");
    expect(Date.parse(cursor.retryAt) - Date.now()).toBeGreaterThan(290_000);
    // (The run going on after the pause is the 1 s case above; this process's pacer keeps the
    // 300 s pause Notion asked for, as a warm instance would.)
  });
});
