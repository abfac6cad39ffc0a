/**
 * The overlap part of the reliability matrix (issue 12, item 6), over a real
 * `next start` with QStash chaining (tests/support/qstash-stack.ts: the QStash
 * emulator delivering through the recording tap, the Notion emulator, a real
 * redis-server):
 *
 * 1. a Vercel cron firing twice at the same moment (two concurrent GETs with
 *    the bearer), for pages and posts at once;
 * 2. a cron GET sent while a QStash delivery of the same section is mid-batch,
 *    together with a copy of that very delivery, for each section;
 * 3. the other way round: a cron that starts between two QStash steps, while
 *    the next step's delivery waits for a retry, and that delivery arriving
 *    while the cron runs the step.
 *
 * Exactly one invocation does the work: the other cron gets 409
 * already_running while a run is live (it goes on), or 202 queued when none
 * was (the winner's run covers it); a copy of the running step waits for a
 * QStash holder and is then 200 stale (its holder published the successor),
 * and is answered a retryable 409 at once when the holder is a cron (waiting
 * would hold the flow-control key every section shares). Neither counts as a step: the
 * steps that ran form one chain (seq 0, 1, 2 … as they ran, one published
 * message each) and the cursor counts exactly them. The run converges to the
 * workspace and nothing lands in the DLQ.
 *
 * 4. in process (route handler, signed deliveries made by the test): a cron
 *    holding the lease whose successor publish fails while QStash delivers that
 *    step: the delivery gets a retryable 409 at once, and its retry repairs the
 *    step (the cursor records who runs each step).
 *
 * (In process, without QStash: 5 concurrent invocations in reliability/matrix;
 * a doubled cron without QStash in e2e.next; duplicated deliveries injected at
 * random in qstash.e2e 2.)
 */
import { Client } from "@upstash/qstash";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SECTIONS } from "../support/default-sections";
import type { Section } from "../../lib/core/sections";
import { handleSync } from "../../lib/http/sync-route";
import type { Cursor } from "../../lib/sync/cursor";
import { type QStashEmulator, startQStashEmulator } from "../../scripts/emulator/qstash/server";
import { buildIfNeeded } from "../../scripts/lib/next-app";
import { type Stack, TEST_SECRET, startStack } from "../support/harness";
import {
  E2E_SECRET,
  type QStashStack,
  type TapRecord,
  childrenRunId,
  ranSteps,
  sectionDeliveries,
  startQStashStack,
  waitFor,
  waitForRunDone,
} from "../support/qstash-stack";

const RUN_TIMEOUT_MS = 45_000;

interface Timed {
  status: number;
  json: Record<string, unknown>;
  startedAt: number;
  endedAt: number;
}

/** A request straight to `next start` (not through the tap, so not mistaken for a QStash delivery). */
async function timed(stack: QStashStack, path: string, init?: RequestInit): Promise<Timed> {
  const startedAt = Date.now();
  const res = await stack.get(path, init);
  return { status: res.status, json: res.json, startedAt, endedAt: Date.now() };
}

const cron = (stack: QStashStack, section: Section) =>
  timed(stack, `/api/sync/${section}`, { headers: { authorization: `Bearer ${E2E_SECRET}` } });

function stepOf(body: string): { runId: string; seq: number } {
  return JSON.parse(body) as { runId: string; seq: number };
}

/** The seq of every message QStash accepted (not deduplicated) for one run of one section. */
function publishedSeqs(stack: QStashStack, section: Section, runId: string): number[] {
  return stack.qstash
    .messages()
    .filter((m) => m.destination === `${stack.baseUrl}/api/sync/${section}` && m.state !== "deduplicated")
    .map((m) => stepOf(m.body))
    .filter((s) => s.runId === runId)
    .map((s) => s.seq)
    .sort((a, b) => a - b);
}

const range = (from: number, to: number) => Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);

/**
 * One chain: the QStash steps of the run ran in order with consecutive seqs from `firstSeq`
 * (1 when a cron ran step 0), each answered with the cursor's next step; the cursor counts them
 * and nothing else; QStash got exactly one message per step it delivered.
 */
function expectOneChain(stack: QStashStack, section: Section, cursor: Cursor, firstSeq: number) {
  const steps = ranSteps(stack.tap.records(), section, cursor.runId);
  expect(steps.length, `${section}: QStash steps that ran`).toBeGreaterThan(0);
  expect(
    steps.map((s) => s.seq),
    `${section}: seq of the steps, in the order they ran`,
  ).toEqual(range(firstSeq, firstSeq + steps.length));
  for (const s of steps) expect(s.invocation, `${section} step ${s.seq}`).toBe(s.seq + 1);
  expect(cursor.seq, `${section}: the cursor counts exactly the steps that ran`).toBe(firstSeq + steps.length);
  expect(publishedSeqs(stack, section, cursor.runId), `${section}: one message per step`).toEqual(
    range(firstSeq === 0 ? 0 : 1, firstSeq + steps.length),
  );
  return steps;
}

/**
 * Nothing in the DLQ, every sync message delivered, and every QStash delivery answered 200,
 * or 409 while another invocation of that section (a delivery or one of `others`) was running.
 */
function expectDeliveriesClean(stack: QStashStack, others: Array<Timed & { section: Section }>) {
  expect(stack.qstash.dlq(), "DLQ").toEqual([]);
  const records = stack.tap.records();
  for (const m of stack.qstash.messages()) {
    if (m.state === "deduplicated") continue;
    expect(m.state, `${m.destination} ${m.body}`).toBe("delivered");
  }
  for (const section of SECTIONS) {
    for (const r of sectionDeliveries(records, section)) {
      if (r.status === 200 || r.upstream === "tap-fault") continue; // a platform error injected on purpose
      expect(r.status, `${section}: ${r.body} → ${r.responseBody}`).toBe(409);
      const overlaps = (start: number, end: number) => start <= r.endedAt! && end >= r.startedAt;
      // The holder may also be one of `others`: the crons, and the copies this file sends itself
      // without the tap (a copy that waited for a holder that ended may repair the step and hold the
      // lease; a later QStash delivery then meets it; found in a CI-style run under load).
      const holder =
        records.some(
          (o) => o !== r && o.path === r.path && o.status === 200 && overlaps(o.startedAt, o.endedAt ?? Infinity),
        ) || others.some((o) => o.section === section && o.status === 200 && overlaps(o.startedAt, o.endedAt));
      expect(holder, `409 to ${r.path} ${r.body} with nothing else of the section running`).toBe(true);
    }
  }
}

describe("overlap over next start with QStash: one invocation works, the other writes nothing", () => {
  let stack: QStashStack;
  /** Cron calls that ran, as holders of the lease for expectDeliveriesClean. */
  const cronCalls: Array<Timed & { section: Section }> = [];
  // The copies this file sends itself (not through the tap): a copy that repaired or ran a step is a holder too.
  const copyCalls: Array<Timed & { section: Section }> = [];
  const figures: Record<string, unknown> = {};

  beforeAll(async () => {
    buildIfNeeded();
    // 40 requests/s and a 2 s budget: a forced step 0 of any section has far more than one
    // budget of work, so a step caught in its first 300 ms is still running 1.5 s later.
    // Retries enough for a copy answered 409 while a cron holds the lease (100 ms · 2^n apart) to outlast that cron.
    stack = await startQStashStack({
      workspace: { pages: 40, posts: 30, hugePages: 1 },
      notionRatePerSecond: 40,
      qstash: { defaultRetries: 6 },
    });
  });
  afterAll(async () => {
    console.log("[overlap] figures", JSON.stringify(figures));
    await stack?.close();
  });

  it("a cron firing twice at the same moment (pages and posts): one 200 and one 409 or 202 queued each, one run, one chain, converges, DLQ empty", async () => {
    const answers = await Promise.all([
      cron(stack, "pages"),
      cron(stack, "pages"),
      cron(stack, "posts"),
      cron(stack, "posts"),
    ]);
    const runIds = {} as Record<"pages" | "posts", string>;
    for (const [i, section] of (["pages", "posts"] as const).entries()) {
      const pair = answers.slice(i * 2, i * 2 + 2);
      cronCalls.push(...pair.map((a) => ({ ...a, section })));
      const statuses = pair.map((a) => a.status).sort();
      expect(statuses[0], `${section}: ${JSON.stringify(pair.map((a) => a.json))}`).toBe(200);
      expect([202, 409], `${section}: ${JSON.stringify(pair.map((a) => a.json))}`).toContain(statuses[1]);
      const winner = pair.find((a) => a.status === 200)!;
      const loser = pair.find((a) => a.status !== 200)!;
      // Queued when it looked before the winner's run began: that run covers it (no second run, no extra step).
      expect(loser.json).toMatchObject(
        loser.status === 409
          ? { ok: false, section, error: { code: "already_running" } }
          : { ok: true, section, queued: true },
      );
      // The loser was answered while the winner still held the lease: it did not wait, it did nothing.
      expect(loser.endedAt, `${section}: the 409 came before the 200`).toBeLessThanOrEqual(winner.endedAt);
      expect(winner.json).toMatchObject({
        ok: true,
        section,
        invocation: 1,
        done: false,
        next: { via: "qstash", published: true },
      });
      runIds[section] = String(winner.json.runId);
      figures[`${section}DoubleCron`] = {
        winnerMs: winner.endedAt - winner.startedAt,
        loserMs: loser.endedAt - loser.startedAt,
      };
    }

    const cursors = await waitForRunDone(stack, runIds, RUN_TIMEOUT_MS);
    await stack.qstash.idle(20_000);
    // Step 0 of pages and posts was the winning cron; QStash carried steps 1, 2 … Children was
    // started by the kick (step 0 through QStash).
    expectOneChain(stack, "pages", cursors.pages, 1);
    expectOneChain(stack, "posts", cursors.posts, 1);
    expect(cursors.children.runId).toBe(childrenRunId(runIds.pages, runIds.posts));
    expectOneChain(stack, "children", cursors.children, 0);
    expectDeliveriesClean(stack, cronCalls);
    expect(await stack.diffKv()).toEqual([]);
  });

  it("a cron sent while a QStash delivery of the same section is mid-batch gets 409 and writes nothing; a copy of that delivery waits for it and gets 200 stale", async () => {
    await stack.qstash.idle(20_000);
    // A forced run: every page is fetched again, so each step has a full budget of work.
    const trigger = await stack.get(`/api/sync/trigger?secret=${E2E_SECRET}&force=1`);
    expect(trigger.status, JSON.stringify(trigger.json)).toBe(200);
    const runId = String(trigger.json.runId);

    const overlaps: Record<string, unknown> = {};
    const caught: Array<{ section: Section; holder: TapRecord; cron: Timed; copy: Timed }> = [];
    // pages and posts in whichever order QStash delivers them (flow control runs one at a time),
    // then children, which the last of them starts.
    for (const candidates of [["pages", "posts"], ["pages", "posts"], ["children"]] as Section[][]) {
      const want = candidates.filter((s) => !caught.some((c) => c.section === s));
      // A QStash delivery of one of them caught in its first 300 ms, once its invocation holds
      // the lease and has persisted the step (cursor seq = step + 1).
      const holder = await waitFor(
        `a QStash delivery of ${want.join(" or ")} in flight`,
        async () => {
          for (const r of stack.tap.records()) {
            const section = r.path.split("/").pop() as Section;
            if (!want.includes(section) || r.endedAt !== null || r.headers["upstash-signature"] === undefined) continue;
            if (Date.now() - r.startedAt > 300) continue;
            const step = stepOf(r.body);
            if (step.runId !== (section === "children" ? childrenRunId(runId, runId) : runId)) continue;
            const cursor = await stack.cursor(section);
            const lease = await stack.kv.pttl(stack.keys.lease(section));
            if (
              cursor?.runId === step.runId &&
              cursor.seq === step.seq + 1 &&
              cursor.status === "running" &&
              lease !== null
            )
              return r;
          }
          return null;
        },
        RUN_TIMEOUT_MS,
        5,
      );
      const section = holder.path.split("/").pop() as Section;
      // The copy QStash sends for a duplicated delivery: the same body, signed for the same URL.
      const signature = stack.qstash.signForTest({ url: `${stack.baseUrl}${holder.path}`, body: holder.body });
      const [cronAnswer, copy] = await Promise.all([
        cron(stack, section),
        timed(stack, holder.path, {
          method: "POST",
          headers: { "content-type": "application/json", "upstash-signature": signature },
          body: holder.body,
        }),
      ]);
      cronCalls.push({ ...cronAnswer, section });
      expect(cronAnswer.status, `${section} cron: ${JSON.stringify(cronAnswer.json)}`).toBe(409);
      expect(cronAnswer.json).toMatchObject({ ok: false, section, error: { code: "already_running" } });
      // The copy waits for its holder (within its own budget), then finds the step done and its
      // successor published: stale, 200. If the holder's tail (last commit, publish) outlasts the
      // copy's budget, the copy gets a retryable 409 marked duplicate: never a 200 that would drop
      // the step were the holder to die.
      const runIdOfStep = stepOf(holder.body).runId;
      if (copy.status === 200) expect(copy.json).toMatchObject({ ok: true, section, stale: true, runId: runIdOfStep });
      else
        expect(copy, `${section} copy`).toMatchObject({
          status: 409,
          json: { ok: false, duplicate: true, runId: runIdOfStep },
        });
      caught.push({ section, holder, cron: cronAnswer, copy });
      copyCalls.push({ ...copy, section });
      overlaps[section] = {
        step: stepOf(holder.body).seq,
        caughtAfterMs: cronAnswer.startedAt - holder.startedAt,
        cronMs: cronAnswer.endedAt - cronAnswer.startedAt,
        copyMs: copy.endedAt - copy.startedAt,
      };
    }
    figures.midBatch = overlaps;
    expect(caught.map((c) => c.section).sort()).toEqual(["children", "pages", "posts"]);

    const cursors = await waitForRunDone(stack, { pages: runId, posts: runId }, RUN_TIMEOUT_MS);
    await stack.qstash.idle(20_000);
    const records = stack.tap.records();
    for (const c of caught) {
      // The holder really was mid-batch: it started before both and answered after the cron; a
      // copy that waited for it answered after it (stale), one that ran out of budget before it (409).
      const holder = records.find((r) => r.id === c.holder.id)!;
      expect(holder.status, `${c.section} holder`).toBe(200);
      expect(holder.endedAt!, `${c.section}: the holder answered after the cron`).toBeGreaterThanOrEqual(
        c.cron.endedAt,
      );
      if (c.copy.status === 200)
        expect(c.copy.endedAt, `${c.section}: the copy waited for the holder`).toBeGreaterThanOrEqual(
          holder.endedAt! - 50,
        );
      expect(holder.json).toMatchObject({
        ok: true,
        runId: stepOf(holder.body).runId,
        invocation: stepOf(holder.body).seq + 1,
      });
    }
    // Neither the cron nor the copy counted as a step or published anything: one chain each.
    for (const section of SECTIONS) expectOneChain(stack, section, cursors[section], 0);
    expectDeliveriesClean(stack, [...cronCalls, ...copyCalls]);
    expect(await stack.diffKv()).toEqual([]);
  });

  it("a cron that starts between two QStash steps runs the step itself; that step's delivery, arriving mid-cron, gets a retryable 409 at once, and its retry 200 stale", async () => {
    await stack.qstash.idle(20_000);
    // The platform fails the first two attempts at pages step 1 (QStash retries after 100 and
    // 200 ms): the cron comes in while the lease is free and the step is waiting for its retry.
    stack.tap.injectFault({ path: "/api/sync/pages", status: 503, times: 2, match: (body) => stepOf(body).seq === 1 });
    // Step 0 of a new forced pages run, published as the trigger would, but for pages alone:
    // no other section's step holds the flow-control slot when step 1 is retried.
    const runId = "overlap-cron-between-steps";
    const qstash = new Client({ baseUrl: stack.qstash.url, token: stack.qstash.token });
    await qstash.publishJSON({ url: `${stack.baseUrl}/api/sync/pages`, body: { runId, seq: 0, force: true } });
    const isStep1 = (r: TapRecord) =>
      r.path === "/api/sync/pages" &&
      r.headers["upstash-signature"] !== undefined &&
      stepOf(r.body).runId === runId &&
      stepOf(r.body).seq === 1;
    await waitFor(
      "pages step 1 to fail once at the platform",
      async () => stack.tap.records().some((r) => isStep1(r) && r.upstream === "tap-fault"),
      RUN_TIMEOUT_MS,
      5,
    );
    await waitFor(
      "the pages lease to be free",
      async () => (await stack.kv.pttl(stack.keys.lease("pages"))) === null,
      5_000,
      5,
    );
    const cronAnswer = await cron(stack, "pages");
    cronCalls.push({ ...cronAnswer, section: "pages" });
    // The cron ran step 1 (the cursor went from seq 1 to 2) and published step 2 itself.
    expect(cronAnswer.status, JSON.stringify(cronAnswer.json)).toBe(200);
    expect(cronAnswer.json).toMatchObject({
      ok: true,
      section: "pages",
      runId,
      invocation: 2,
      next: { via: "qstash", published: true },
    });

    await waitFor(
      "the pages run to finish",
      async () => {
        const c = await stack.cursor("pages");
        return c?.runId === runId && c.status === "done";
      },
      RUN_TIMEOUT_MS,
    );
    await stack.qstash.idle(20_000); // children too: the finished pages run started a round
    const pagesCursor = (await stack.cursor("pages"))!;
    const attempts = stack.tap.records().filter(isStep1);
    expect(attempts.slice(0, 2).map((r) => [r.upstream === "tap-fault" ? "platform" : "app", r.status])).toEqual([
      ["platform", 503],
      ["platform", 503],
    ]);
    const [delivered, ...retries] = attempts.slice(2);
    expect(delivered.startedAt, "the delivery of step 1 arrived while the cron ran it").toBeGreaterThanOrEqual(
      cronAnswer.startedAt,
    );
    expect(delivered.startedAt).toBeLessThanOrEqual(cronAnswer.endedAt);
    // A copy waiting for a cron holder would hold the flow-control key every section shares: it is
    // answered a retryable 409 at once, before the cron ends ...
    expect(delivered.status).toBe(409);
    expect(delivered.json).toMatchObject({ ok: false, duplicate: true, runId });
    expect(delivered.endedAt!, "answered before the cron ended").toBeLessThan(cronAnswer.endedAt);
    // ... and QStash's retry finds the step done and its successor published by the cron.
    expect(retries.length).toBeGreaterThan(0);
    for (const r of retries.slice(0, -1)) expect(r.status).toBe(409);
    expect(retries.at(-1)!.json).toMatchObject({ ok: true, section: "pages", stale: true, runId });
    figures.cronBetweenSteps = {
      cronMs: cronAnswer.endedAt - cronAnswer.startedAt,
      duplicateAfterMs: delivered.startedAt - cronAnswer.startedAt,
      duplicateMs: delivered.endedAt! - delivered.startedAt,
    };

    // One chain: QStash ran step 0, the cron step 1, QStash steps 2, 3 …; one message per step.
    const steps = ranSteps(stack.tap.records(), "pages", runId);
    expect(steps.map((x) => x.seq)).toEqual([0, ...range(2, steps.length + 1)]);
    for (const x of steps) expect(x.invocation).toBe(x.seq + 1);
    expect(pagesCursor.seq).toBe(steps.length + 1);
    expect(publishedSeqs(stack, "pages", runId)).toEqual(range(0, steps.length + 1));
    const children = (await stack.cursor("children"))!;
    expect(children).toMatchObject({
      status: "done",
      runId: childrenRunId(runId, (await stack.cursor("posts"))!.runId),
    });
    expectOneChain(stack, "children", children, 0);
    expectDeliveriesClean(stack, [...cronCalls, ...copyCalls]);
    expect(await stack.diffKv()).toEqual([]);
  });
});

// ---------------------------------------------------------------------------

const NOWHERE = "http://127.0.0.1:9"; // the public URL in process: deliveries are made by the test itself

describe("in process: a cron holding the lease whose successor cannot be published, while QStash delivers that step", () => {
  let stack: Stack;
  let qstash: QStashEmulator;
  const runId = "run-cron-publish-failed";
  const qstashEnv = (qstashUrl: string) => ({
    ...stack.env,
    QSTASH_URL: qstashUrl,
    QSTASH_TOKEN: qstash.token,
    QSTASH_CURRENT_SIGNING_KEY: qstash.currentSigningKey,
    QSTASH_NEXT_SIGNING_KEY: qstash.nextSigningKey,
    SYNC_BASE_URL: NOWHERE,
    SYNC_CHAIN: "qstash",
  });
  const deliver = (body: string, budgetMs = "1000") => {
    const target = `${NOWHERE}/api/sync/pages`;
    const request = new Request(target, {
      method: "POST",
      body,
      headers: { "content-type": "application/json", "upstash-signature": qstash.signForTest({ url: target, body }) },
    });
    // The delivery waits for a cron holder within its own budget: it came later, so it has more
    // of it left than the cron (as with equal budgets on a deployment); 4 s covers the cron's end.
    return handleSync("pages", request, { ...qstashEnv(qstash.url), SYNC_BUDGET_MS: budgetMs });
  };
  let delivery: { status: number; body: Record<string, unknown> };
  let cronAnswer: { status: number; body: Record<string, unknown> };

  beforeAll(async () => {
    stack = await startStack({
      workspace: { pages: 80, posts: 3, hugePages: 0 },
      latencyMs: 30,
      env: { SYNC_BUDGET_MS: "1000" },
    });
    qstash = await startQStashEmulator({ defaultRetries: 0 });
  });
  afterAll(async () => {
    await qstash?.close();
    await stack?.close();
  });

  it("a cron runs step 1 and cannot publish step 2; step 1's delivery, arriving mid-cron, is answered a retryable 409 at once, and its retry repairs the step", async () => {
    // Step 0 through QStash: it publishes step 1.
    const step0 = await deliver(JSON.stringify({ runId, seq: 0, force: false }));
    expect(step0.status).toBe(200);
    expect(await stack.kv.get<Cursor>(stack.keys.cursor("pages"))).toMatchObject({
      runId,
      seq: 1,
      chain: { seq: 1, published: true },
    });
    // Before QStash delivers step 1, a cron takes the lease and runs it; its publish fails (QStash unreachable from it).
    const cronCall = handleSync(
      "pages",
      new Request("http://localhost/api/sync/pages", { headers: { authorization: `Bearer ${TEST_SECRET}` } }),
      qstashEnv("http://127.0.0.1:1"),
    );
    await waitFor(
      "the cron to hold the lease and persist seq 2",
      async () => {
        const c = await stack.kv.get<Cursor>(stack.keys.cursor("pages"));
        return c?.seq === 2 && (await stack.kv.pttl(stack.keys.lease("pages"))) !== null;
      },
      5_000,
      2,
    );
    const copy = await deliver(JSON.stringify({ runId, seq: 1, force: false }), "4000");
    const leaseWhenAnswered = await stack.kv.get(stack.keys.lease("pages"));
    // Not waiting for a cron holder (it would hold the flow-control key of every section): retryable, at once.
    expect({ status: copy.status, body: await copy.json() }).toMatchObject({
      status: 409,
      body: { ok: false, duplicate: true, runId },
    });
    expect(leaseWhenAnswered, "the copy was answered while the cron still held the lease").not.toBeNull();
    const cronResponse = await cronCall;
    cronAnswer = { status: cronResponse.status, body: (await cronResponse.json()) as Record<string, unknown> };
    // What happens: the cron answers 200 with an unpublished successor (a cron is never redelivered) ...
    expect(cronAnswer.status).toBe(200);
    expect(cronAnswer.body).toMatchObject({
      ok: true,
      runId,
      invocation: 2,
      next: { via: "qstash", published: false },
    });
    expect(cronAnswer.body).toMatchObject({ status: "running" });
    // The invocation's reviver tried to relaunch the lost step once (QStash is unreachable from it too).
    await waitFor(
      "the reviver's attempt",
      async () => (await stack.kv.get<Cursor>(stack.keys.cursor("pages")))?.chain?.relaunchedSeq === 2,
      5_000,
      10,
    );
    // ... and QStash's retry of step 1's delivery (only a QStash holder is trusted to get the
    // successor out; the cursor records who runs each step, `stepBy`) repairs the step under the
    // same seq and publishes step 2.
    const retry = await deliver(JSON.stringify({ runId, seq: 1, force: false }), "4000");
    delivery = { status: retry.status, body: (await retry.json()) as Record<string, unknown> };
    expect(delivery).toMatchObject({ status: 200, body: { ok: true, runId, invocation: 2 } });
    const after = (await stack.kv.get<Cursor>(stack.keys.cursor("pages")))!;
    expect(after.seq).toBe(2); // the repair ran under the cron's seq: no step was counted twice
    expect(after.status === "done" || (delivery.body.next as { published?: boolean } | null)?.published === true).toBe(
      true,
    );
  });

  // Was a bug (found here): the duplicate answer assumed the lease holder was a QStash delivery of
  // that step, which answers 503 when its publish fails and so is redelivered. A cron holder is
  // never redelivered, and the acknowledged copy ended the chain.
  it("the run keeps a way forward through QStash (a retryable answer to the delivery, or a published step 2)", () => {
    expect(delivery?.status).toBeDefined();
    const successor = qstash
      .messages()
      .some(
        (m) => (JSON.parse(m.body) as { runId: string; seq: number }).runId === runId && JSON.parse(m.body).seq === 2,
      );
    const done = delivery.body.status === "done";
    expect(delivery.status !== 200 || successor || done, "the chain has a way forward").toBe(true);
  });
});
