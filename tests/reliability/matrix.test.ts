/**
 * Part of the fault and abuse matrix (issue 12), seeded and deterministic,
 * through the real route handler against the Notion emulator and a real
 * redis-server. Each case ends by comparing KV with the workspace, page by
 * page. (Kills, orphans, KV faults, signatures and secrets have their own
 * suites: sync.integration, sync.fencing, sync.kv-slow, http.kv-down,
 * qstash.e2e, e2e.next.)
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Stack, diffKvWithWorkspace, invoke, startStack, syncAll } from "../support/harness";

const SMALL = { pages: 30, posts: 12, hugePages: 0 } as const;

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

  it("one does the work, the others get 409 and write nothing, and the run converges", async () => {
    for (let wave = 0; wave < 4; wave++) {
      const answers = await Promise.all(Array.from({ length: 5 }, () => invoke(stack, "pages")));
      const statuses = answers.map((a) => a.status).sort();
      expect(statuses.filter((s) => s === 200)).toHaveLength(1);
      expect(statuses.filter((s) => s === 409)).toHaveLength(4);
      for (const a of answers.filter((x) => x.status === 409)) expect(a.body.error?.code).toBe("already_running");
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
    ["a cursor from an older release", { version: 1, section: "pages", runId: "old", status: "running", phase: "sync", position: 3, completedAhead: [] }],
    ["a cursor that is not an object", "{not json"],
    ["a cursor with a damaged field", { version: 2, section: "pages", runId: "x", status: "running", phase: "sync", seq: -4 }],
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
    const titles = ["../../etc/passwd", "a:b:c", "日本語のタイトル", "Заголовок", "😀 emoji only 😀", "x".repeat(300), "  ", "a:b:c"];
    const rows = stack.workspace.visibleRows(stack.workspace.pagesDatabaseId);
    titles.forEach((title, i) => stack.workspace.editPageTitle(rows[i].id, title));
    await syncAll(stack);
    expect(await diffKvWithWorkspace(stack)).toEqual([]);
    const bundles = await stack.kv.scanKeys(`${stack.keys.prefix}:page:pages:`);
    for (const key of bundles) expect(key.slice(`${stack.keys.prefix}:page:pages:`.length)).toMatch(/^[a-z0-9][a-z0-9-]{0,100}$/);
    expect(new Set(bundles).size).toBe(bundles.length);
  });
});
