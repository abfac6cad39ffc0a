/**
 * Honest answers: with Notion unreachable, an invocation that made no
 * progress says why, the run shows as "stalled" after SYNC_STALL_AFTER such
 * invocations in a row (not "running"), and it goes on once Notion is back.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { handleStatus } from "../lib/http/status-route";
import { handleTrigger } from "../lib/http/trigger-route";
import { type InvocationBody, type Stack, diffKvWithWorkspace, invoke, startStack, syncAll } from "./support/harness";

describe("Notion unreachable", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      workspace: { pages: 12, posts: 4, hugePages: 0 },
      env: { SYNC_STALL_AFTER: "3", SYNC_BUDGET_MS: "1500" },
    });
  });
  afterAll(async () => stack?.close());

  it("every answer names the error, the run turns stalled after 3 invocations without progress, and resumes when Notion is back", async () => {
    const down = { NOTION_BASE_URL: "http://127.0.0.1:1" }; // connection refused
    const answers: InvocationBody[] = [];
    for (let i = 0; i < 4; i++) answers.push((await invoke(stack, "pages", { env: down })).body);
    for (const [i, a] of answers.entries()) {
      expect(a.processed).toBe(0);
      expect(a.lastError, `answer ${i + 1}`).toMatchObject({
        code: expect.stringMatching(/^notion_/),
        message: expect.any(String),
      });
      expect(a.consecutiveErrors).toBe(i + 1);
    }
    expect(answers.map((a) => a.status)).toEqual(["running", "running", "stalled", "stalled"]);
    expect(answers.every((a) => new Set(answers.map((b) => b.runId)).size === 1)).toBe(true);

    const status = await handleStatus(
      new Request(`http://localhost/api/sync/status?secret=${stack.env.CRON_SECRET}`),
      stack.env,
    );
    const pages = (
      (await status.json()) as { sections: { section: string; run: Record<string, unknown> }[] }
    ).sections.find((s) => s.section === "pages")!;
    expect(pages.run).toMatchObject({
      status: "stalled",
      consecutiveErrors: 4,
      lastError: { code: answers[0].lastError!.code },
    });

    // Notion is back: the same run goes on and finishes; the error count is reset.
    const back = (await invoke(stack, "pages")).body;
    expect(back.runId).toBe(answers[0].runId);
    expect(back.status === "running" || back.status === "done").toBe(true);
    expect(back.lastError).toBeUndefined();
    await syncAll(stack);
    expect(await diffKvWithWorkspace(stack)).toEqual([]);
  });
});

describe("forced-run and trigger spam", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      workspace: { pages: 6, posts: 2, hugePages: 0 },
      env: { SYNC_MIN_FORCE_INTERVAL_S: "600", SYNC_INLINE_FALLBACK: "1" },
    });
  });
  afterAll(async () => stack?.close());

  it("a second forced run within SYNC_MIN_FORCE_INTERVAL_S gets 429 with Retry-After and writes nothing; continuing the forced run is not limited", async () => {
    const first = await invoke(stack, "posts", { query: "force=1" });
    expect(first.status).toBe(200);
    const cursor = await stack.kv.get(stack.keys.cursor("posts"));
    // The posts run is done (tiny): a new force=1 would start another forced run.
    const again = await invoke(stack, "posts", { query: "force=1" });
    expect(again.status).toBe(429);
    expect(again.body).toMatchObject({ ok: false, error: { code: "too_many_starts" } });
    expect(Number(again.headers.get("retry-after"))).toBeGreaterThan(590);
    expect(await stack.kv.get(stack.keys.cursor("posts"))).toEqual(cursor);
    // Other sections have their own slot; unforced calls are never limited.
    expect((await invoke(stack, "pages", { query: "force=1" })).status).toBe(200);
    expect((await invoke(stack, "posts")).status).toBe(200);

    const trigger = (n: number) =>
      handleTrigger(new Request(`http://localhost/api/sync/trigger?secret=${stack.env.CRON_SECRET}&n=${n}`), stack.env);
    expect((await trigger(1)).status).toBe(200);
    const spam = await trigger(2);
    expect(spam.status).toBe(429);
    expect(spam.headers.get("retry-after")).toBeTruthy();
  });
});
