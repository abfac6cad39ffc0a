/**
 * A posts-only blog (NOTION_PAGES_DB unset, no config file) over `next start`
 * with QStash: the trigger starts posts, the children kick waits for posts
 * alone, status and the crons' URLs know only posts and children, and an
 * unknown section is a 404 listing them; on the self-chain, a scheduled run
 * whose time has come is started by the reviver (issue 24).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { handleSync } from "../lib/http/sync-route";
import { scheduledRunKey } from "../lib/orchestration/scheduled-run";
import type { Cursor } from "../lib/sync/cursor";
import { E2E_SECRET, type QStashStack, startQStashStack, waitFor } from "./support/qstash-stack";

describe("a posts-only deployment over next start", () => {
  let stack: QStashStack;
  beforeAll(async () => {
    stack = await startQStashStack({
      workspace: { pages: 3, posts: 12, hugePages: 0 },
      env: { NOTION_PAGES_DB: "" },
    });
  });
  afterAll(async () => stack?.close());

  it("the trigger runs posts, then children once posts is done; status lists just those", async () => {
    const trigger = await stack.get(`/api/sync/trigger?secret=${E2E_SECRET}`);
    expect(trigger.status, JSON.stringify(trigger.json)).toBe(200);
    const messages = trigger.json.messages as { section: string; mode: string }[];
    expect(messages.map((m) => m.section)).toEqual(["posts"]);
    const runId = trigger.json.runId as string;
    const [posts, children] = await waitFor(
      "posts and then children to finish the trigger's run",
      async () => {
        const cursors = [await stack.cursor("posts"), await stack.cursor("children")];
        return cursors.every((c) => c?.runId === runId && c.status === "done") && cursors;
      },
      90_000,
      200,
    );
    expect(posts!.counts.listed).toBe(stack.workspace.visibleRows(stack.workspace.postsDatabaseId).length);
    expect(Date.parse(children!.startedAt)).toBeGreaterThanOrEqual(Date.parse(posts!.finishedAt!));
    expect(await stack.cursor("pages")).toBeNull();

    const status = await stack.get(`/api/sync/status?secret=${E2E_SECRET}`);
    expect((status.json.sections as { section: string }[]).map((s) => s.section)).toEqual(["posts", "children"]);
  });

  it("answers an unknown section 404 listing the configured ones, and pages 503 naming its variable", async () => {
    const unknown = await stack.get(`/api/sync/nope`);
    expect(unknown.status).toBe(404);
    expect(unknown.json).toMatchObject({ error: { code: "unknown_section" }, sections: ["posts", "children"] });
    const pages = await stack.get(`/api/sync/pages?secret=${E2E_SECRET}`);
    expect(pages.status).toBe(503);
    expect(pages.json).toMatchObject({ error: { code: "config_error" }, variables: ["NOTION_PAGES_DB"] });
    for (const path of ["/api/sync/posts", "/api/sync/children"]) {
      const other = await stack.get(`${path}?secret=${E2E_SECRET}`, { method: "DELETE" });
      expect(other.status, path).toBe(405);
    }
  });

  it("the crons' URLs (GET with the bearer) start posts and children", async () => {
    const bearer = { headers: { authorization: `Bearer ${E2E_SECRET}` } };
    const posts = await stack.get("/api/sync/posts", bearer);
    expect(posts.status, JSON.stringify(posts.json)).toBe(200);
    expect(posts.json).toMatchObject({ ok: true, section: "posts" });
    const postsDone = await waitFor(
      "the cron's posts run to finish",
      async () => {
        const c = await stack.cursor("posts");
        return c && c.runId === posts.json.runId && c.status === "done" && c;
      },
      60_000,
      200,
    );
    // Its completion kicks children through QStash (posts finished after children last started): let that run end.
    await waitFor(
      "the children run posts kicked to finish",
      async () => {
        const c = await stack.cursor("children");
        return c && c.startedAt >= postsDone.finishedAt! && c.status === "done";
      },
      60_000,
      200,
    );
    const children = await stack.get("/api/sync/children", bearer);
    expect(children.status, JSON.stringify(children.json)).toBe(200);
    expect(children.json).toMatchObject({ ok: true, section: "children" });
  });
});

describe("a scheduled run on the self-chain over next start", () => {
  let stack: QStashStack;
  beforeAll(async () => {
    stack = await startQStashStack({
      workspace: { pages: 2, posts: 6, hugePages: 0 },
      env: { NOTION_PAGES_DB: "", SYNC_CHAIN: "self" },
    });
  });
  afterAll(async () => stack?.close());

  it("once due, the reviver after another section's invocation starts it", async () => {
    const bearer = { headers: { authorization: `Bearer ${E2E_SECRET}` } };
    // The first run, driven call by call in process (no chain to lose under load), on the app's store.
    const manual = {
      ...stack.env,
      SYNC_CHAIN: "off",
      QSTASH_TOKEN: "",
      QSTASH_CURRENT_SIGNING_KEY: "",
      QSTASH_NEXT_SIGNING_KEY: "",
    };
    let done: Cursor | null = null;
    for (let i = 0; i < 100 && !done; i++) {
      const response = await handleSync(
        "posts",
        new Request(`http://localhost/api/sync/posts?secret=${E2E_SECRET}`),
        manual,
      );
      expect(response.status).toBe(200);
      const c = await stack.cursor("posts");
      done = c && c.status === "done" ? c : null;
    }
    if (!done) throw new Error("the first posts run did not finish");
    // What a completed run whose filter compares a date with "now" leaves (scheduleNextPublish, no QStash carrier).
    const at = new Date(Date.now() + 1000).toISOString();
    const record = { at, via: "kv", messageId: null, byRunId: done.runId, recordedAt: done.finishedAt, error: null };
    await stack.kv.set(scheduledRunKey(stack.keys, "posts"), record);
    const status = await stack.get(`/api/sync/status?secret=${E2E_SECRET}&section=posts`);
    expect((status.json.sections as { scheduled: unknown }[])[0].scheduled).toEqual(record);

    await new Promise((r) => setTimeout(r, Date.parse(at) - Date.now() + 100));
    const children = await stack.get("/api/sync/children", bearer);
    expect([200, 202, 409]).toContain(children.status);
    // Started by the reviver once due (a self-chain link, or inline when the link is not accepted in time).
    const scheduled = await waitFor(
      "the scheduled posts run to start",
      async () => {
        const c = await stack.cursor("posts");
        return c && c.runId !== done.runId && c;
      },
      30_000,
      100,
    );
    expect(Date.parse(scheduled.startedAt)).toBeGreaterThanOrEqual(Date.parse(at));
    expect(await stack.kv.get(scheduledRunKey(stack.keys, "posts"))).toBeNull();
  });
});
