/**
 * A posts-only blog (NOTION_PAGES_DB unset, no config file) over `next start`
 * with QStash: the trigger starts posts, the children kick waits for posts
 * alone, status and the crons' URLs know only posts and children, and an
 * unknown section is a 404 listing them (issue 24).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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
    await waitFor(
      "the cron's posts run to finish",
      async () =>
        (await stack.cursor("posts"))?.runId === posts.json.runId && (await stack.cursor("posts"))!.status === "done",
      60_000,
      200,
    );
    const children = await stack.get("/api/sync/children", bearer);
    expect([200, 202], JSON.stringify(children.json)).toContain(children.status);
    expect(children.json).toMatchObject({ ok: true, section: "children" });
  });
});
