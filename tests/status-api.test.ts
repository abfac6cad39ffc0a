/**
 * GET /api/sync/status (issue 13, item 2) after a full, a partial, a failed
 * and a stalled run, through the real handlers against the Notion emulator and
 * a real redis-server: per section the active run's progress, lastError and
 * stalled, the lease, and the run history with its figures; `?runId=` narrows
 * it to one run. With FILES_MIRROR=s3, the objects and bytes each run uploaded.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { handleStatus } from "../lib/http/status-route";
import type { SectionStatus } from "../lib/operator/status";
import { s3MirrorEnv } from "./support/files-mirror-env";
import { type Stack, TEST_SECRET, invoke, startStack, syncUntilDone } from "./support/harness";
import { type S3Server, startS3Server } from "./support/s3-server";

describe("the status API", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      workspace: { pages: 10, posts: 4, hugePages: 0 },
      env: { SYNC_STALL_AFTER: "2", SYNC_BUDGET_MS: "1500" },
    });
  });
  afterAll(async () => stack?.close());

  const status = async (query = "") => {
    const response = await handleStatus(
      new Request(`http://localhost/api/sync/status?secret=${TEST_SECRET}${query}`),
      stack.env,
    );
    return {
      code: response.status,
      body: (await response.json()) as { ok: boolean; sections: SectionStatus[]; error?: { code: string } },
    };
  };
  const pages = async (query = "") => (await status(query)).body.sections.find((s) => s.section === "pages")!;

  it("after a full run: done at 100 %, the lease free, one run in the history with its figures", async () => {
    const answers = await syncUntilDone(stack, "pages");
    const rows = stack.workspace.visibleRows(stack.workspace.pagesDatabaseId).length;
    const s = await pages();
    expect(s.run).toMatchObject({
      status: "done",
      phase: "done",
      stalled: false,
      lastError: null,
      progress: { done: rows, total: rows, percent: 100 },
    });
    expect(s.lease).toEqual({ held: false, expiresAt: null, holderEndsBy: null, abandoned: false });
    expect(s.indexed).toBe(rows);
    expect(s.runs).toHaveLength(1);
    const run = s.runs[0];
    expect(run).toMatchObject({
      runId: answers[0].runId,
      status: "done",
      invocations: answers.length,
      failedPages: [],
    });
    expect(run.startedAt < run.finishedAt!).toBe(true);
    expect(run.counts).toMatchObject({ fetched: rows, skipped: 0, gone: 0, failed: 0, removed: 0, errors: 0 });
    expect(run.counts.notionRequests).toBeGreaterThan(rows);
  });

  it("after a partial run: partial, never ok, with the failed page named", async () => {
    const poison = stack.workspace.visibleRows(stack.workspace.pagesDatabaseId)[2];
    stack.emulator.injectFault({ route: "blocks.children.list", status: 500, matchId: poison.id, probability: 1 });
    try {
      await syncUntilDone(stack, "pages", { query: "force=1" });
    } finally {
      stack.emulator.clearFaults();
    }
    const s = await pages();
    expect(s.run!.status).toBe("partial");
    expect(s.runs[0]).toMatchObject({ status: "partial", failedPages: [{ id: poison.id }] });
    expect(s.runs[0].counts.failed).toBe(1);
    expect(s.runs[0].counts.errors).toBeGreaterThan(0);
    expect(s.failedPages).toMatchObject({ count: 1, pages: [{ id: poison.id, queuedForRetry: true }] });
    expect(s.runs).toHaveLength(2);
  });

  it("after a failed run: failed with Notion's reason, and the history says so", async () => {
    stack.emulator.injectFault({ route: "*", status: 401, probability: 1 });
    try {
      const answer = await invoke(stack, "pages", { query: "force=1" });
      expect(answer.status).toBe(502);
    } finally {
      stack.emulator.clearFaults();
    }
    const s = await pages();
    expect(s.run).toMatchObject({ status: "failed", error: { code: "notion_unauthorized" } });
    expect(s.runs[0]).toMatchObject({ status: "failed", error: { code: "notion_unauthorized" } });
  });

  it("after a stalled run: stalled, with the error and the count of invocations in a row", async () => {
    const down = { NOTION_BASE_URL: "http://127.0.0.1:1" };
    await invoke(stack, "pages", { query: "force=1", env: down });
    await invoke(stack, "pages", { env: down });
    const s = await pages();
    expect(s.run).toMatchObject({
      status: "stalled",
      stalled: true,
      consecutiveErrors: 2,
      lastError: { code: expect.stringMatching(/^notion_/) },
    });
  });

  it("?runId= narrows to one run; a bad runId or section is a 400", async () => {
    const all = await pages();
    const partial = all.runs.find((r) => r.status === "partial")!;
    const narrowed = await pages(`&runId=${partial.runId}`);
    expect(narrowed.runs.map((r) => r.runId)).toEqual([partial.runId]);
    expect(narrowed.run).toBeNull(); // the active run is another one
    const one = await status("&section=posts");
    expect(one.body.sections.map((s) => s.section)).toEqual(["posts"]);
    expect((await status("&runId=../../x")).code).toBe(400);
    expect((await status("&section=nope")).code).toBe(400);
  });
});

describe("the status API with FILES_MIRROR=s3: what each run uploaded", () => {
  let stack: Stack;
  let s3: S3Server;
  beforeAll(async () => {
    s3 = await startS3Server();
    stack = await startStack({
      workspace: { pages: 8, posts: 2, hugePages: 0, childDepth: 1, trashedRows: 0, unsharedChildPages: 0 },
      emulator: { hostedFiles: "self" },
      env: s3MirrorEnv(s3),
    });
    // Signed for an hour from the workspace clock: fresh while the sync copies them.
    stack.workspace.setNow(new Date());
  });
  afterAll(async () => {
    await stack?.close();
    await s3?.close();
  });

  const pages = async () => {
    const response = await handleStatus(
      new Request(`http://localhost/api/sync/status?secret=${TEST_SECRET}&section=pages`),
      stack.env,
    );
    return ((await response.json()) as { sections: SectionStatus[] }).sections[0];
  };

  it("a full run's objects and bytes are in the run and its summary, as the store holds them; a no-change run's are 0", async () => {
    await syncUntilDone(stack, "pages");
    const objects = [...s3.objects].filter(([key]) => key.startsWith(`${stack.env.KV_PREFIX}/pages/`));
    const bytes = objects.reduce((n, [, object]) => n + object.bytes.length, 0);
    expect(objects.length, "the pages hold hosted files").toBeGreaterThan(0);
    const full = await pages();
    expect(full.run!.counts).toMatchObject({ filesUploaded: objects.length, bytesUploaded: bytes });
    expect(full.runs[0].counts).toMatchObject({ filesUploaded: objects.length, bytesUploaded: bytes });

    const puts = s3.counts.put;
    const fileGets = stack.emulator.requests().filter((r) => r.route === "files.get").length;
    await syncUntilDone(stack, "pages");
    const again = await pages();
    expect(again.runs).toHaveLength(2);
    expect(again.run!.counts).toMatchObject({ filesUploaded: 0, bytesUploaded: 0 });
    expect(again.runs[0].counts).toMatchObject({ filesUploaded: 0, bytesUploaded: 0 });
    expect(again.runs[1].counts).toMatchObject({ filesUploaded: objects.length, bytesUploaded: bytes });
    expect(s3.counts.put).toBe(puts);
    expect(stack.emulator.requests().filter((r) => r.route === "files.get")).toHaveLength(fileGets);
  });
});
