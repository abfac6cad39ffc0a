/**
 * One children run per trigger, started once both database runs of that trigger are done
 * (lib/orchestration/children-kick.ts), with QStash's FIFO flow control (parallelism 1 for
 * the integration): the real `next start`, the QStash emulator, the Notion emulator and a real
 * redis-server (tests/support/qstash-stack.ts).
 *
 * The sequence that kicked children twice: a trigger whose pages run has nothing to fetch
 * finishes in its step 0, before posts' step 0 is delivered (FIFO: it was queued behind it);
 * the kick paired that "done" with posts' previous one and started children, whose steps then
 * alternated with the posts run's; posts finishing kicked a second children pass.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Section } from "../lib/core/sections";
import { buildIfNeeded } from "../scripts/lib/next-app";
import {
  E2E_SECRET,
  type QStashStack,
  sectionDeliveries,
  seeded,
  startQStashStack,
  waitFor,
} from "./support/qstash-stack";

const RUN_TIMEOUT_MS = 45_000;

describe("children: one run per trigger, after both database runs of that trigger", () => {
  let stack: QStashStack;

  beforeAll(async () => {
    buildIfNeeded();
    // Notion at 20 requests/s: a posts run with edits takes several steps, pages with none one.
    stack = await startQStashStack({
      workspace: { pages: 20, posts: 40, hugePages: 0 },
      notionRatePerSecond: 20,
      qstash: { random: seeded(22) },
    });
  }, 180_000);
  afterAll(async () => stack?.close());

  async function trigger(): Promise<{ runId: string; modes: Record<string, string> }> {
    const res = await stack.get(`/api/sync/trigger?secret=${E2E_SECRET}`);
    expect(res.status, JSON.stringify(res.json)).toBe(200);
    const messages = res.json.messages as Array<{ section: string; mode: string }>;
    return { runId: String(res.json.runId), modes: Object.fromEntries(messages.map((m) => [m.section, m.mode])) };
  }

  /** Waits for the given database runs, then for QStash to go idle and children to be done; returns the cursors. */
  async function settle(runIds: { pages: string; posts: string }) {
    for (const section of ["pages", "posts"] as const) {
      await waitFor(
        `${section} run ${runIds[section]} to be done`,
        async () => {
          const c = await stack.cursor(section);
          return c?.runId === runIds[section] && c.status === "done";
        },
        RUN_TIMEOUT_MS,
        100,
      );
    }
    await stack.qstash.idle(RUN_TIMEOUT_MS);
    const children = await waitFor(
      "children to be done",
      async () => {
        const c = await stack.cursor("children");
        return c && c.status === "done" ? c : null;
      },
      RUN_TIMEOUT_MS,
      100,
    );
    return { pages: (await stack.cursor("pages"))!, posts: (await stack.cursor("posts"))!, children };
  }

  /** Children runs started since `since`: step-0 deliveries that began a run (invocation 1, not stale). */
  function childrenRunsSince(since: number) {
    return sectionDeliveries(stack.tap.records(), "children")
      .filter((r) => r.startedAt >= since && r.status === 200 && r.json?.stale !== true && r.json?.invocation === 1)
      .map((r) => ({ runId: String(r.json!.runId), startedAt: r.startedAt }));
  }

  /** Exactly one children run since `since`, the trigger's, started after both database runs finished. */
  function expectOneRoundOf(triggerId: string, since: number, cursors: Awaited<ReturnType<typeof settle>>) {
    const runs = childrenRunsSince(since);
    expect(
      runs.map((r) => r.runId),
      "children runs started for this trigger",
    ).toEqual([triggerId]);
    const lastDatabaseFinish = Math.max(
      ...(["pages", "posts"] as Section[]).map((s) => Date.parse(cursors[s as "pages" | "posts"].finishedAt!)),
    );
    expect(runs[0].startedAt, "children step 0 began after both database runs finished").toBeGreaterThanOrEqual(
      lastDatabaseFinish,
    );
    expect(cursors.children).toMatchObject({ runId: triggerId, trigger: triggerId, status: "done" });
  }

  it("a first trigger: one children run, after pages and posts", async () => {
    const since = Date.now();
    const { runId } = await trigger();
    const cursors = await settle({ pages: runId, posts: runId });
    expectOneRoundOf(runId, since, cursors);
  }, 120_000);

  it("a trigger whose pages run finishes before posts' step 0 is delivered: still one children run, after posts", async () => {
    const ws = stack.workspace;
    ws.advanceClock(5 * 60_000);
    for (const [i, p] of ws.visibleRows(ws.postsDatabaseId).entries()) ws.editPageTitle(p.id, `Edited post ${i}`);
    const since = Date.now();
    const { runId } = await trigger();
    const cursors = await settle({ pages: runId, posts: runId });
    // The sequence itself: pages finished in its step 0, posts took several.
    expect(cursors.pages.seq, "pages steps").toBe(1);
    expect(cursors.posts.seq, "posts steps").toBeGreaterThan(1);
    expectOneRoundOf(runId, since, cursors);
  }, 120_000);

  it("a trigger that resumes an unfinished posts run: one children run, after the resumed run finished", async () => {
    const ws = stack.workspace;
    ws.advanceClock(5 * 60_000);
    // A forced posts run started by a cron-like call, carried on by QStash.
    const started = await stack.get(`/api/sync/posts?secret=${E2E_SECRET}&force=1`);
    expect(started.json).toMatchObject({ ok: true, done: false, next: { via: "qstash", published: true } });
    const since = Date.now();
    const { runId, modes } = await trigger();
    expect(modes).toEqual({ pages: "start", posts: "resume" });
    const cursors = await settle({ pages: runId, posts: String(started.json.runId) });
    expectOneRoundOf(runId, since, cursors);
  }, 120_000);
});
