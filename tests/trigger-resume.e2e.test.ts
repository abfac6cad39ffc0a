/**
 * The trigger's resume (issue 22, item 11) over `next start` and the QStash
 * test server, whose deduplication window (10 minutes) behaves like QStash's:
 * a resume right after `chain_failed` is delivered and carries the run to its
 * end, and a resume of a run whose chain is alive forks nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Section } from "../lib/core/sections";
import { buildIfNeeded } from "../scripts/lib/next-app";
import { E2E_SECRET, type QStashStack, ranSteps, seeded, startQStashStack, waitFor } from "./support/qstash-stack";

const RUN_TIMEOUT_MS = 40_000;

interface Triggered {
  section: Section;
  mode: string;
  runId: string;
  resumedFrom?: string;
  messageId: string;
  deduplicated: boolean;
}

async function trigger(stack: QStashStack, query = ""): Promise<{ runId: string; messages: Triggered[] }> {
  const res = await stack.get(`/api/sync/trigger?secret=${E2E_SECRET}${query}`);
  expect(res.status, JSON.stringify(res.json)).toBe(200);
  return res.json as unknown as { runId: string; messages: Triggered[] };
}

function waitForDone(stack: QStashStack, section: Section, runId: string) {
  return waitFor(
    `${section} run ${runId} to be done`,
    async () => {
      const cursor = await stack.cursor(section);
      return cursor?.runId === runId && cursor.status === "done" ? cursor : null;
    },
    RUN_TIMEOUT_MS,
    100,
  );
}

describe("the trigger resumes an unfinished run with a delivery of its own", () => {
  let stack: QStashStack;
  beforeAll(async () => {
    buildIfNeeded();
    stack = await startQStashStack({
      workspace: { pages: 150, posts: 30, hugePages: 1 },
      qstash: { random: seeded(5) },
    });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it("right after chain_failed (the step's deduplication id still remembered), the resume is delivered and the run finishes", async () => {
    // Every attempt at pages' step 1 dies at the platform: QStash gives up, the failure callback marks the run failed.
    stack.tap.injectFault({
      path: "/api/sync/pages",
      status: 504,
      times: 4,
      match: (body) => (JSON.parse(body) as { seq: number }).seq === 1,
    });
    const { runId } = await trigger(stack, "&force=1");
    await waitFor(
      "pages to be marked chain_failed",
      async () => {
        const cursor = await stack.cursor("pages");
        return cursor?.runId === runId && cursor.status === "failed" && cursor.error?.code === "chain_failed";
      },
      RUN_TIMEOUT_MS,
    );
    await stack.qstash.idle(15_000);
    expect(await stack.cursor("pages")).toMatchObject({ runId, status: "failed", seq: 1 });

    const resumed = await trigger(stack);
    const pages = resumed.messages.find((m) => m.section === "pages")!;
    await waitForDone(stack, "pages", runId);
    expect(pages).toMatchObject({ mode: "resume", runId, resumedFrom: "failed", deduplicated: false });
    const steps = ranSteps(stack.tap.records(), "pages", runId).map((s) => s.seq);
    expect(steps.slice(0, 2)).toEqual([0, 1]);
    expect(new Set(steps).size, `pages steps ran once each: ${steps.join(",")}`).toBe(steps.length);
  });

  it("a resume of a run whose chain is alive is delivered and forks nothing: every step runs once", async () => {
    await stack.qstash.idle(15_000);
    const { runId } = await trigger(stack, "&force=1");
    await waitFor(
      "pages step 1 to have run",
      async () => {
        const cursor = await stack.cursor("pages");
        return cursor?.runId === runId && cursor.status === "running" && cursor.seq >= 2;
      },
      RUN_TIMEOUT_MS,
      20,
    );
    const resumed = await trigger(stack);
    const pages = resumed.messages.find((m) => m.section === "pages")!;
    await waitForDone(stack, "pages", runId);
    await stack.qstash.idle(15_000);
    expect(pages).toMatchObject({ mode: "resume", runId, resumedFrom: "running", deduplicated: false });
    const steps = ranSteps(stack.tap.records(), "pages", runId).map((s) => s.seq);
    expect(steps, "one chain: seq 0, 1, 2, ... each once").toEqual(steps.map((_, i) => i));
    // The resume was delivered: it ran its step (and the chain's own copy was then stale), or met the
    // lease (409) or a step already run (stale). Either way the steps above form one chain.
    const answers = stack.tap
      .records()
      .filter((r) => r.headers["upstash-message-id"] === pages.messageId)
      .map((r) => r.status);
    expect(answers.length).toBeGreaterThan(0);
    expect(answers.at(-1)).toBe(200);
    for (const status of answers) expect([200, 409]).toContain(status);
  });
});
