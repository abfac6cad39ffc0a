/**
 * The QStash orchestration end to end, with nothing mocked: the real
 * `next start` (production build) publishes with the real @upstash/qstash
 * Client to the QStash emulator, which delivers signed requests back over
 * HTTP (through a recording tap, see tests/support/qstash-stack.ts); the app
 * reads the Notion emulator and writes a real redis-server.
 *
 * QStash-side waits are scaled (delayScale 0.02: a 120 s delay takes 2.4 s)
 * and retries back off in 100·2ⁿ ms; every random choice of the emulator
 * comes from a seeded PRNG.
 */
import { Client, Receiver } from "@upstash/qstash";
import { createClient } from "redis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { handleTrigger } from "../lib/http/trigger-route";
import type { Cursor } from "../lib/sync/cursor";
import { SECTIONS } from "./support/default-sections";
import type { Section } from "../lib/core/sections";
import type { EmulatedMessage } from "../scripts/emulator/qstash/server";
import { buildIfNeeded } from "../scripts/lib/next-app";
import { TEST_SECRET, startStack } from "./support/harness";
import {
  E2E_SECRET,
  type QStashStack,
  type TapRecord,
  ranSteps,
  sectionDeliveries,
  seeded,
  startQStashStack,
  waitFor,
  waitForRunDone,
} from "./support/qstash-stack";

/** Under the 60 s test timeout, so a stalled chain fails with waitForRunDone's diagnostics. */
const RUN_TIMEOUT_MS = 45_000;
const figures: Record<string, unknown> = {};

/** Messages of the sync chains (the app's own publishes: a body with runId and seq). */
function syncMessages(stack: QStashStack): EmulatedMessage[] {
  return stack.qstash.messages().filter((m) => {
    if (!SECTIONS.some((s) => m.destination === `${stack.baseUrl}/api/sync/${s}`)) return false;
    try {
      const body = JSON.parse(m.body) as { runId?: unknown; seq?: unknown };
      return typeof body.runId === "string" && typeof body.seq === "number";
    } catch {
      return false;
    }
  });
}

/** Invocations, deliveries, duplicates and retries of the sync endpoints, per section. */
function measure(stack: QStashStack, runIds: Partial<Record<Section, string>>, since = 0) {
  const records = stack.tap.records().filter((r) => r.startedAt >= since);
  const out: Record<string, unknown> = {};
  for (const section of SECTIONS) {
    const messages = syncMessages(stack).filter(
      (m) => m.createdAt >= since && m.destination.endsWith(`/api/sync/${section}`),
    );
    const deliveries = messages.flatMap((m) => m.deliveries);
    out[section] = {
      invocations: runIds[section] ? ranSteps(records, section, runIds[section]!).length : undefined,
      published: messages.filter((m) => m.state !== "deduplicated").length,
      deduplicatedPublishes: messages.filter((m) => m.state === "deduplicated").length,
      deliveries: deliveries.length,
      duplicateDeliveries: deliveries.filter((d) => d.duplicate).length,
      retries: deliveries.filter((d) => d.retried > 0 && !d.duplicate).length,
      lost: deliveries.filter((d) => d.injected).length,
      statuses: countBy(deliveries.map((d) => String(d.status))),
      maxDeliveryMs: Math.max(0, ...deliveries.map((d) => d.duration ?? 0)),
      maxElapsedMs: Math.max(0, ...sectionDeliveries(records, section).map((r) => Number(r.json?.elapsedMs ?? 0))),
    };
  }
  return out;
}

function countBy(values: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}

/**
 * The steps of a run that really ran form one chain: seq 0, 1, 2, ... in
 * the order they ran, each answered with the cursor's next step, none
 * overlapping another, and the cursor counts exactly these invocations.
 * Two chains of one section would show as a repeated or skipped seq.
 */
function expectOneChain(records: TapRecord[], section: Section, cursor: Cursor) {
  const steps = ranSteps(records, section, cursor.runId);
  expect(steps.length, `${section}: invocations that ran`).toBeGreaterThan(0);
  expect(
    steps.map((s) => s.seq),
    `${section}: seq of the steps that ran`,
  ).toEqual(steps.map((_, i) => i));
  for (const s of steps) expect(s.invocation, `${section} step ${s.seq}: answered invocation`).toBe(s.seq + 1);
  expect(cursor.seq, `${section}: the cursor counts exactly the QStash steps`).toBe(steps.length);
  return steps;
}

/**
 * Every delivery QStash made to a sync endpoint was answered 2xx, or 409
 * while another request to the same section held the lease, or was lost on
 * purpose by the emulator (failureRate). A message may end in the DLQ only
 * when all its attempts met the lease of a duplicate that ran that very step.
 */
function expectDeliveriesAnswered(stack: QStashStack, options: { allow409: boolean; since?: number }) {
  const since = options.since ?? 0;
  const records = stack.tap.records().filter((r) => r.startedAt >= since);
  for (const m of syncMessages(stack)) {
    if (m.createdAt < since || m.state === "deduplicated") continue;
    expect(["delivered", "dlq"], `${m.messageId} → ${m.destination}`).toContain(m.state);
    for (const d of m.deliveries) {
      if (d.injected) continue; // failureRate: the emulator lost the request or the answer on purpose
      if (d.status !== null && d.status >= 200 && d.status < 300) continue;
      expect(options.allow409 && d.status === 409, `${m.destination} answered ${d.status} (${d.error ?? ""})`).toBe(
        true,
      );
    }
    if (m.state === "dlq") {
      const section = m.destination.split("/").pop() as Section;
      const step = JSON.parse(m.body) as { runId: string; seq: number };
      expect(
        ranSteps(records, section, step.runId).map((s) => s.seq),
        `${section} step ${step.seq} dead-lettered but never ran`,
      ).toContain(step.seq);
    }
  }
  for (const r of records) {
    if (r.status !== 409 || !SECTIONS.some((s) => r.path === `/api/sync/${s}`)) continue;
    const holder = records.find(
      (o) =>
        o !== r &&
        o.path === r.path &&
        o.status !== 409 &&
        o.startedAt <= r.endedAt! &&
        (o.endedAt ?? Infinity) >= r.startedAt,
    );
    expect(holder, `409 on ${r.path} at ${r.startedAt} without another request to the section in flight`).toBeDefined();
  }
}

/** No invocation ran past its budget plus a second, seen from QStash and from the app. */
function expectWithinBudget(stack: QStashStack) {
  const limit = stack.budgetMs + 1000;
  for (const m of syncMessages(stack)) {
    for (const d of m.deliveries)
      if (d.duration !== null && d.status !== null)
        expect(d.duration, `delivery to ${m.destination}`).toBeLessThanOrEqual(limit);
  }
  for (const section of SECTIONS) {
    for (const r of sectionDeliveries(stack.tap.records(), section)) {
      if (typeof r.json?.elapsedMs === "number")
        expect(r.json.elapsedMs, `${section} elapsedMs`).toBeLessThanOrEqual(limit);
    }
  }
}

async function trigger(stack: QStashStack, path = "/api/sync/trigger", query = "") {
  const res = await stack.get(`${path}?secret=${E2E_SECRET}${query}`);
  expect(res.status, JSON.stringify(res.json)).toBe(200);
  return res;
}

async function status(stack: QStashStack) {
  const res = await stack.get(`/api/sync/status?secret=${E2E_SECRET}`);
  expect(res.status).toBe(200);
  return res.json.sections as Array<{
    section: Section;
    run: { runId: string; status: string; error: { code: string; message: string } | null } | null;
  }>;
}

/** Edits `n` rows of each database so the next run fetches their blocks again. */
function editRows(stack: QStashStack, n: number, label: string) {
  const ws = stack.workspace;
  ws.advanceClock(5 * 60_000);
  const pages = ws.visibleRows(ws.pagesDatabaseId).slice(0, n);
  const posts = ws.visibleRows(ws.postsDatabaseId).slice(0, n);
  for (const [i, p] of [...pages, ...posts].entries()) ws.editPageTitle(p.id, `${label} ${i}`);
  return { pages, posts };
}

async function signedPost(stack: QStashStack, section: string, body: string, signature: string, query = "") {
  return stack.get(`/api/sync/${section}${query}`, {
    method: "POST",
    headers: { "content-type": "application/json", "upstash-signature": signature },
    body,
  });
}

// ---------------------------------------------------------------------------

describe("QStash end to end: one trigger, the emulator carries the run", () => {
  let stack: QStashStack;
  let firstRunId = "";

  beforeAll(async () => {
    buildIfNeeded();
    stack = await startQStashStack({ qstash: { random: seeded(1) } });
  });
  afterAll(async () => {
    console.log(
      "[qstash.e2e] figures",
      JSON.stringify(
        {
          clean: figures.clean,
          rateLimited: figures.rateLimited,
          notionRefused: figures.notionRefused,
          chainFailed: figures.chainFailed,
          crashRepaired: figures.crashRepaired,
        },
        null,
        1,
      ),
    );
    await stack?.close();
  });

  it("1. one trigger call answers within a second and QStash alone drives pages, posts and children to done", async () => {
    // A cold `next start` loads a route's module on first use; warm it the
    // way any earlier request would (a refused call publishes nothing).
    expect((await stack.get("/api/sync/trigger?secret=wrong")).status).toBe(401);

    const started = Date.now();
    const res = await trigger(stack);
    expect(res.ms, "trigger answer time").toBeLessThan(1000);
    expect(res.json).toMatchObject({
      ok: true,
      mode: "qstash",
      children: "children",
      statusUrl: `${stack.baseUrl}/api/sync/status`,
    });
    const runId = res.json.runId as string;
    expect(runId).toMatch(/\S/);
    const messages = res.json.messages as Array<{ section: string; messageId: string; mode: string }>;
    expect(messages.map((m) => m.section).sort()).toEqual(["pages", "posts"]);
    for (const m of messages) {
      expect(m.mode).toBe("start");
      expect(stack.qstash.messages().some((q) => q.messageId === m.messageId)).toBe(true);
    }

    // No other call to the app from here on: only redis is read.
    const cursors = await waitForRunDone(stack, { pages: runId, posts: runId }, RUN_TIMEOUT_MS);
    const runMs = Date.now() - started;
    await stack.qstash.idle(15_000);
    expect(await stack.diffKv()).toEqual([]);

    expectDeliveriesAnswered(stack, { allow409: false, since: started });
    expect(stack.qstash.dlq()).toEqual([]);
    expectWithinBudget(stack);
    const records = stack.tap.records();
    for (const section of SECTIONS) expectOneChain(records, section, cursors[section]);
    // Children was started by whichever database section finished last.
    const kicks = records.filter((r) => r.json?.childrenStarted);
    expect(kicks.length).toBeGreaterThanOrEqual(1);
    expect((kicks[0].json!.childrenStarted as { runId: string }).runId).toBe(runId);

    firstRunId = runId;
    figures.clean = {
      triggerMs: res.ms,
      runMs,
      ...measure(stack, { pages: runId, posts: runId, children: runId }, started),
      emulator: stack.qstash.stats(),
    };
  });

  it("3. every delivery carries an Upstash-Signature that the real Receiver verifies for the URL it was sent to", async () => {
    expect(firstRunId).not.toBe("");
    const receiver = new Receiver({
      currentSigningKey: stack.qstash.currentSigningKey,
      nextSigningKey: stack.qstash.nextSigningKey,
    });
    const delivered = stack.tap.records().filter((r) => r.headers["upstash-message-id"] !== undefined);
    expect(delivered.length).toBeGreaterThan(3);
    for (const r of delivered) {
      const signature = r.headers["upstash-signature"];
      expect(signature, `${r.path} delivery without signature`).toBeTruthy();
      await expect(
        receiver.verify({ signature, body: r.body, url: `${stack.baseUrl}${r.path}`, clockTolerance: 600 }),
      ).resolves.toBe(true);
      // And the app accepted it as QStash's (a refused signature is a 401).
      expect(r.status).not.toBe(401);
    }
  });

  it("4. forged deliveries are refused with 401 and write nothing", async () => {
    await stack.qstash.idle(15_000);
    const before = await stack.snapshot();
    const cursorBefore = await stack.cursor("pages");
    const url = (section: string) => `${stack.baseUrl}/api/sync/${section}`;
    // Accepted, this body would start a forced run "attacker" of the section.
    const evil = JSON.stringify({ runId: "attacker", seq: 0, force: true });
    const genuine = JSON.stringify({ runId: firstRunId, seq: 99, force: false });
    const q = stack.qstash;
    const attacks: Array<[string, () => Promise<{ status: number; json: Record<string, unknown> }>, RegExp]> = [
      [
        "tampered body",
        () => signedPost(stack, "pages", evil, q.signForTest({ url: url("pages"), body: genuine })),
        /body does not match/,
      ],
      [
        "wrong signing key",
        () =>
          signedPost(
            stack,
            "pages",
            evil,
            q.signForTest({ url: url("pages"), body: evil, key: "sig_not_the_right_key" }),
          ),
        /invalid signature/,
      ],
      [
        "expired token",
        () => signedPost(stack, "pages", evil, q.signForTest({ url: url("pages"), body: evil, expiresInSec: -60 })),
        /expired/,
      ],
      [
        "replayed to another URL",
        () => signedPost(stack, "pages", evil, q.signForTest({ url: url("posts"), body: evil })),
        /another URL/,
      ],
      ["garbage signature", () => signedPost(stack, "pages", evil, "garbage"), /malformed/],
      ["three garbage parts", () => signedPost(stack, "pages", evil, "aaa.bbb.ccc"), /invalid QStash signature/],
      [
        "forged signature next to the right secret",
        () => signedPost(stack, "pages", evil, "garbage", `?secret=${E2E_SECRET}`),
        /invalid QStash signature/,
      ],
      [
        "wrong issuer",
        () => signedPost(stack, "pages", evil, q.signForTest({ url: url("pages"), body: evil, issuer: "NotUpstash" })),
        /invalid QStash signature/,
      ],
      [
        "GET with a signature",
        () =>
          stack.get("/api/sync/pages", {
            headers: { "upstash-signature": q.signForTest({ url: url("pages"), body: "" }) },
          }),
        /must be POST/,
      ],
      [
        "no signature and no secret",
        () =>
          stack.get("/api/sync/pages", { method: "POST", headers: { "content-type": "application/json" }, body: evil }),
        /missing credentials/,
      ],
      [
        "forged failure callback",
        () => {
          const body = JSON.stringify({
            status: 500,
            url: url("pages"),
            sourceBody: Buffer.from(genuine).toString("base64"),
            retried: 3,
          });
          return stack.get("/api/sync/failed", {
            method: "POST",
            headers: {
              "upstash-signature": q.signForTest({
                url: `${stack.baseUrl}/api/sync/failed`,
                body,
                key: "sig_not_the_right_key",
              }),
            },
            body,
          });
        },
        /invalid QStash signature/,
      ],
      [
        "unsigned failure callback",
        () =>
          stack.get(`/api/sync/failed?secret=${E2E_SECRET}`, {
            method: "POST",
            body: JSON.stringify({ status: 500, url: url("pages"), sourceBody: "" }),
          }),
        /missing Upstash-Signature/,
      ],
    ];
    for (const [name, attack, reason] of attacks) {
      const res = await attack();
      expect(res.status, `${name}: ${JSON.stringify(res.json)}`).toBe(401);
      expect((res.json.error as { code: string; message: string }).code, name).toBe("unauthorized");
      expect((res.json.error as { message: string }).message, name).toMatch(reason);
    }
    expect(await stack.cursor("pages")).toEqual(cursorBefore);
    expect(await stack.snapshot()).toEqual(before);
  });

  it("5. a bad payload from QStash is answered 489 non-retryable, and QStash dead-letters it without retrying", async () => {
    const before = await stack.snapshot();
    const url = `${stack.baseUrl}/api/sync/pages`;
    for (const body of ['{"seq":"x"}', "not json", '{"runId":"r"}', '{"runId":"r","seq":1,"extra":true}']) {
      const res = await signedPost(stack, "pages", body, stack.qstash.signForTest({ url, body }));
      expect(res.status, `${body}: ${JSON.stringify(res.json)}`).toBe(489);
      expect(res.headers.get("upstash-nonretryable-error"), body).toBe("true");
      expect((res.json.error as { code: string }).code).toBe("bad_body");
    }
    expect(await stack.snapshot()).toEqual(before);

    // The same through the emulator, published with the real SDK.
    const client = new Client({ token: stack.qstash.token, baseUrl: stack.qstash.url });
    const ids: string[] = [];
    for (const body of ['{"seq":"x"}', "not json"]) {
      const { messageId } = await client.publish({
        url,
        body,
        headers: { "content-type": "application/json" },
        retries: 3,
      });
      ids.push(messageId);
    }
    await waitFor(
      "the bad messages to reach the DLQ",
      async () => ids.every((id) => stack.qstash.dlq().some((m) => m.messageId === id)),
      10_000,
    );
    for (const id of ids) {
      const m = stack.qstash.messages().find((x) => x.messageId === id)!;
      expect(m.state).toBe("dlq");
      expect(m.maxRetries).toBe(3);
      expect(m.deliveries.map((d) => [d.retried, d.status])).toEqual([[0, 489]]);
      expect(m.lastResponse?.headers["upstash-nonretryable-error"]).toEqual(["true"]);
    }
    expect(await stack.snapshot()).toEqual(before);
  });

  it("6. a Notion 429 with Retry-After: 120 is answered by a successor delayed ≥ 120 s, and the run still completes", async () => {
    await stack.qstash.idle(15_000);
    // The instance the delayed steps land on lives 121 s later (see below).
    const spare = stack.startSpareApp({ clockShiftMs: 121_000 });
    const firstApp = stack.app.url;
    editRows(stack, 8, "Rate limited edit");
    stack.notion.injectFault({ route: "blocks.children.list", status: 429, retryAfterSeconds: 120, times: 1 });
    const knownBefore = new Set(stack.qstash.messages().map((m) => m.messageId));
    const started = Date.now();
    // The alias /api/sync is the same trigger.
    const res = await trigger(stack, "/api/sync");
    const runId = res.json.runId as string;

    const delayed = await waitFor(
      "a successor published with a delay",
      async () => stack.qstash.messages().find((m) => !knownBefore.has(m.messageId) && m.requestedDelayMs > 0) ?? null,
      RUN_TIMEOUT_MS,
      50,
    );
    expect(delayed.requestedDelayMs).toBeGreaterThanOrEqual(120_000);
    expect(delayed.requestedDelayMs).toBeLessThanOrEqual(123_000); // Retry-After plus at most 2 s of jitter
    expect(JSON.parse(delayed.body)).toMatchObject({ runId });
    // The invocation that met the 429 published it and answered 200 well within its budget.
    const publisher = await waitFor(
      "the answer of the rate-limited invocation",
      async () =>
        stack.tap
          .records()
          .find((r) => (r.json?.next as { messageId?: string } | null)?.messageId === delayed.messageId) ?? null,
      10_000,
      50,
    );
    expect(publisher.status).toBe(200);
    expect(publisher.json!.elapsedMs as number).toBeLessThan(stack.budgetMs);
    const notBefore = Date.parse((publisher.json!.next as { notBefore: string }).notBefore);
    expect(notBefore - publisher.endedAt!).toBeGreaterThan(115_000);

    // The app honours Retry-After in real time (the instance's pacer and the
    // cursor's retryAt hold Notion requests for 120 s) while QStash's waits
    // are scaled: the delayed step arrives after 2.4 s. Each invocation that
    // meets the pause meanwhile must defer its successor again rather than
    // chain at once. Then let the delayed steps land where they would in
    // real life: on an instance whose clock is two minutes later.
    const duringPause = (r: TapRecord) =>
      r.upstream === firstApp &&
      r.startedAt > publisher.startedAt &&
      r.headers["upstash-signature"] !== undefined &&
      r.status === 200 &&
      r.json?.stale !== true;
    // Posts' first step follows at once; it never met a 429 itself, only the instance's pause.
    await waitFor(
      "another step answered during the pause",
      async () => stack.tap.records().some(duringPause),
      10_000,
      20,
    );
    await stack.switchApp(await spare);
    const answeredDuringPause = stack.tap.records().filter(duringPause);
    for (const r of answeredDuringPause) {
      if (r.json!.done === true) continue;
      const next = r.json!.next as { notBefore: string | null };
      expect(next.notBefore, `${r.path} answered during the pause: ${r.responseBody}`).not.toBeNull();
      expect(Date.parse(next.notBefore!) - r.endedAt!).toBeGreaterThan(100_000);
    }

    const cursors = await waitForRunDone(stack, { pages: runId, posts: runId }, RUN_TIMEOUT_MS);
    await stack.qstash.idle(15_000);
    const sent = stack.qstash.messages().find((m) => m.messageId === delayed.messageId)!;
    expect(sent.state).toBe("delivered");
    expect(sent.deliveries[0].startedAt - sent.createdAt).toBeGreaterThanOrEqual(120_000 * 0.02 - 50);
    expect(await stack.diffKv()).toEqual([]);
    expectDeliveriesAnswered(stack, { allow409: false, since: started });
    const records = stack.tap.records();
    for (const section of SECTIONS) {
      const steps = expectOneChain(records, section, cursors[section]);
      expect(steps.length, `${section}: invocations of a run that met one 429`).toBeLessThan(12);
    }
    figures.rateLimited = {
      requestedDelayMs: delayed.requestedDelayMs,
      answeredDuringPause: answeredDuringPause.map((r) => [r.path, r.json!.next]),
      runMs: Date.now() - started,
      ...measure(stack, { pages: runId, posts: runId, children: runId }, started),
    };
  });

  it("8a. Notion refusing a step (401) dead-letters it at once; the status shows the run failed with Notion's reason; a manual call resumes it", async () => {
    await stack.qstash.idle(15_000);
    const { posts } = editRows(stack, 1, "Unauthorized edit");
    // Notion refuses the edited post's content: the posts endpoint answers 489, QStash dead-letters the step.
    stack.notion.injectFault({ route: "blocks.children.list", status: 401, matchId: posts[0].id, times: 1 });
    const dlqBefore = stack.qstash.dlq().length;
    const res = await trigger(stack);
    const runId = res.json.runId as string;

    const callback = await waitForFailureCallback(stack, "posts", runId);
    const dead = stack.qstash.dlq().slice(dlqBefore);
    expect(dead.map((m) => m.destination)).toEqual([`${stack.baseUrl}/api/sync/posts`]);
    expect(
      dead[0].deliveries.map((d) => d.status),
      "no retry after a 489",
    ).toEqual([489]);
    expect(callback.answer.status).toBe(200);

    const failed = (await status(stack)).find((s) => s.section === "posts")!;
    expect(failed.run).toMatchObject({ runId, status: "failed" });
    // The engine's own reason stays: the callback adds nothing to it.
    expect(failed.run!.error!.code).toBe("notion_unauthorized");
    expect(failed.run!.error!.message).toMatch(/401/);
    figures.notionRefused = { error: failed.run!.error, callbackAnswer: callback.answer.json };

    await expectStaysFailedThenResumes(stack, "posts", runId);
  });

  it("8b. when QStash gives up on a step (every attempt fails before reaching the app), the failure callback marks the run failed and a manual call resumes it", async () => {
    await stack.qstash.idle(15_000);
    // A forced run: pages needs two steps. Every attempt at step 1 dies at the platform (504).
    stack.tap.injectFault({
      path: "/api/sync/pages",
      status: 504,
      times: 4,
      match: (body) => (JSON.parse(body) as { seq: number }).seq === 1,
    });
    const dlqBefore = stack.qstash.dlq().length;
    const res = await trigger(stack, "/api/sync/trigger", "&force=1");
    const runId = res.json.runId as string;

    const callback = await waitForFailureCallback(stack, "pages", runId);
    const dead = stack.qstash.dlq().slice(dlqBefore);
    expect(dead.map((m) => [m.destination, JSON.parse(m.body).seq])).toEqual([[`${stack.baseUrl}/api/sync/pages`, 1]]);
    expect(dead[0].deliveries.map((d) => [d.retried, d.status])).toEqual([
      [0, 504],
      [1, 504],
      [2, 504],
      [3, 504],
    ]);
    expect(callback.answer.status).toBe(200);
    expect(callback.answer.json).toMatchObject({ ok: true, section: "pages", runId, marked: true });

    const failed = (await status(stack)).find((s) => s.section === "pages")!;
    expect(failed.run).toMatchObject({ runId, status: "failed" });
    expect(failed.run!.error!.code).toBe("chain_failed");
    expect(failed.run!.error!.message).toContain("step 1");
    expect(failed.run!.error!.message).toContain("504");
    figures.chainFailed = { error: failed.run!.error, callbackAnswer: callback.answer.json };

    await expectStaysFailedThenResumes(stack, "pages", runId);
  });

  it("8c. an invocation that dies after persisting its step is continued by QStash's redelivery of that step", async () => {
    await stack.qstash.idle(15_000);
    const admin = createClient({ url: stack.redis.url });
    admin.on("error", () => {}); // the stack's redis-server stops at the end of the describe
    await admin.connect();
    try {
      const res = await trigger(stack, "/api/sync/trigger", "&force=1");
      const runId = res.json.runId as string;
      // Step 0 of pages has persisted its new seq: from now on redis refuses every write
      // (maxmemory), so the invocation dies half way (503 sync_error) with no successor published.
      await waitFor(
        "pages step 0 to persist its seq",
        async () => {
          const c = await stack.cursor("pages");
          return c?.runId === runId && c.seq === 1;
        },
        10_000,
        5,
      );
      await admin.configSet("maxmemory", "1");
      let died: TapRecord;
      try {
        died = await waitFor(
          "the invocation to die",
          async () =>
            stack.tap
              .records()
              .find((r) => r.path === "/api/sync/pages" && r.status === 503 && r.body.includes(runId)) ?? null,
          10_000,
          5,
        );
      } finally {
        await admin.configSet("maxmemory", "0");
      }
      expect((died.json!.error as { code: string }).code).toBe("sync_error");
      await waitForRunDone(stack, { pages: runId, posts: runId }, RUN_TIMEOUT_MS);
      await stack.qstash.idle(15_000);
      expect(await stack.diffKv()).toEqual([]);
      // QStash redelivered step 0, and that delivery repaired the run: it ran step 1 again (same seq,
      // so its successor keeps its deduplication id).
      const redelivered = sectionDeliveries(stack.tap.records(), "pages").filter(
        (r) => r.startedAt > died.startedAt && (JSON.parse(r.body) as { seq: number }).seq === 0,
      );
      expect(redelivered.map((r) => [r.status, r.json?.stale ?? false, r.json?.invocation])).toEqual([[200, false, 1]]);
      figures.crashRepaired = { died: died.json, redelivered: redelivered[0].json };
    } finally {
      await admin.quit();
    }
  });

  it("8d. the failure callback of a step that already ran leaves the live run alone, and marks a run whose chain died", async () => {
    await stack.qstash.idle(15_000);
    const cursorKey = stack.keys.cursor("posts");
    const runsKey = stack.keys.runs("posts");
    const [savedCursor, savedRuns] = [await stack.kv.get(cursorKey), await stack.kv.get(runsKey)];
    const done = (await stack.cursor("posts"))!;
    // Step 5 is on its way (published); step 4 ran, by a duplicate whose original's attempts all met the lease.
    const live: Cursor = {
      ...done,
      status: "running",
      phase: "sync",
      finishedAt: null,
      seq: 5,
      chain: {
        seq: 5,
        published: true,
        messageId: "msg_step5",
        via: "qstash",
        link: 0,
        at: null,
        stopped: null,
        error: null,
      },
    };
    const callback = (seq: number, status = 409) => {
      // The body QStash posts to a failure callback (see the QStash docs / the emulator).
      const sourceBody = Buffer.from(JSON.stringify({ runId: live.runId, seq, force: false })).toString("base64");
      const body = JSON.stringify({
        status,
        header: {},
        body: "",
        retried: 3,
        maxRetries: 3,
        sourceMessageId: "msg_src",
        url: `${stack.baseUrl}/api/sync/posts`,
        method: "POST",
        sourceHeader: {},
        sourceBody,
        dlqId: "1-0",
      });
      const signature = stack.qstash.signForTest({ url: `${stack.baseUrl}/api/sync/failed`, body });
      return stack.get("/api/sync/failed", {
        method: "POST",
        headers: { "content-type": "application/json", "upstash-signature": signature },
        body,
      });
    };
    try {
      await stack.kv.set(cursorKey, live);
      const superseded = await callback(4);
      expect(superseded.status, JSON.stringify(superseded.json)).toBe(200);
      expect(superseded.json).toMatchObject({ ok: true, section: "posts", runId: live.runId, marked: false });
      expect(await stack.cursor("posts")).toEqual(live);

      // Step 4 ran but died before publishing step 5, and its redeliveries failed too: the chain is dead.
      const dead: Cursor = {
        ...live,
        chain: {
          seq: 4,
          published: true,
          messageId: "msg_step4",
          via: "qstash",
          link: 0,
          at: null,
          stopped: null,
          error: null,
        },
      };
      await stack.kv.set(cursorKey, dead);
      const marked = await callback(4, 504);
      expect(marked.json).toMatchObject({ ok: true, marked: true });
      expect(await stack.cursor("posts")).toMatchObject({ status: "failed", error: { code: "chain_failed" } });

      // QStash gave up on the very step the cursor waits for: the chain is dead.
      await stack.kv.set(cursorKey, live);
      expect((await callback(5, 504)).json).toMatchObject({ ok: true, marked: true });
    } finally {
      await stack.kv.set(cursorKey, savedCursor);
      await stack.kv.set(runsKey, savedRuns);
    }
  });
});

/** The failure callback QStash delivered for a step of `section`'s run, and the app's answer to it. */
async function waitForFailureCallback(stack: QStashStack, section: Section, runId: string) {
  const callback = await waitFor(
    `the failure callback for ${section}`,
    async () =>
      stack.qstash.callbacks().find((c) => {
        if (c.kind !== "failure-callback" || c.state !== "delivered") return false;
        const payload = JSON.parse(c.body) as { url: string; sourceBody: string };
        const source = JSON.parse(Buffer.from(payload.sourceBody, "base64").toString("utf8")) as { runId?: string };
        return payload.url.endsWith(`/api/sync/${section}`) && source.runId === runId;
      }) ?? null,
    RUN_TIMEOUT_MS,
  );
  expect(callback.destination).toBe(`${stack.baseUrl}/api/sync/failed`);
  const answer = stack.tap
    .records()
    .find(
      (r) =>
        r.path === "/api/sync/failed" && r.headers["upstash-message-id"] === callback.messageId && r.status === 200,
    )!;
  expect(answer, "the app's answer to the failure callback").toBeDefined();
  return { callback, answer };
}

/** Nothing moves by itself any more; a manual call resumes the run and QStash carries it to the end. */
async function expectStaysFailedThenResumes(stack: QStashStack, section: Section, runId: string) {
  await stack.qstash.idle(15_000);
  expect((await stack.cursor(section))!).toMatchObject({ runId, status: "failed" });
  expect((await stack.cursor("children"))!.runId).not.toBe(runId);
  const manual = await stack.get(`/api/sync/${section}?secret=${E2E_SECRET}`);
  expect(manual.status, JSON.stringify(manual.json)).toBe(200);
  expect(manual.json).toMatchObject({ ok: true, runId });
  await waitForRunDone(stack, { pages: runId, posts: runId }, RUN_TIMEOUT_MS);
  await stack.qstash.idle(15_000);
  expect(await stack.diffKv()).toEqual([]);
  const after = (await status(stack)).find((s) => s.section === section)!;
  expect(after.run).toMatchObject({ runId, status: "done", error: null });
}

// ---------------------------------------------------------------------------

describe("QStash end to end: duplicated and lost deliveries", () => {
  let stack: QStashStack;
  beforeAll(async () => {
    buildIfNeeded();
    // The default workspace (about 14 steps at 100 req/s). Seed 2 makes, among others, a lost
    // first attempt whose duplicate runs the step while the retries meet its lease and end in the
    // DLQ; QSTASH_E2E_SEED tries other interleavings.
    stack = await startQStashStack({
      workspace: { pages: 200, posts: 150, hugePages: 3 },
      qstash: { duplicateRate: 0.3, failureRate: 0.1, random: seeded(Number(process.env.QSTASH_E2E_SEED ?? 2)) },
    });
  });
  afterAll(async () => {
    console.log(
      "[qstash.e2e] duplicates/failures figures",
      JSON.stringify({ ...(figures.chaos as object), callbacks: figures.chaosCallbacks }, null, 1),
    );
    await stack?.close();
  });

  it("2. reach the same KV content, and no section ever runs two chains", async () => {
    const started = Date.now();
    const res = await trigger(stack);
    const runId = res.json.runId as string;
    const cursors = await waitForRunDone(stack, { pages: runId, posts: runId }, RUN_TIMEOUT_MS);
    const runMs = Date.now() - started;
    await stack.qstash.idle(20_000);
    expect(await stack.diffKv()).toEqual([]);

    const stats = stack.qstash.stats();
    expect(stats.duplicatesInjected).toBeGreaterThan(0);
    expect(stats.failuresInjected).toBeGreaterThan(0);
    expectDeliveriesAnswered(stack, { allow409: true });
    expectWithinBudget(stack);
    const records = stack.tap.records();
    for (const section of SECTIONS) expectOneChain(records, section, cursors[section]);
    // Duplicates were recognised as such: of all the deliveries of one step (duplicates, retries), at most
    // one ran it; every other that reached the app was answered stale (and ran nothing) or 409.
    let repeated = 0;
    for (const section of SECTIONS) {
      const byMessage = new Map<string, TapRecord[]>();
      for (const r of sectionDeliveries(records, section)) {
        const id = r.headers["upstash-message-id"] ?? "";
        byMessage.set(id, [...(byMessage.get(id) ?? []), r]);
      }
      for (const [messageId, deliveries] of byMessage) {
        const ran = deliveries.filter((r) => r.status === 200 && r.json?.stale !== true);
        expect(ran.length, `${section} ${messageId}: deliveries that ran the step`).toBeLessThanOrEqual(1);
        for (const r of deliveries.filter((d) => !ran.includes(d))) {
          const recognised =
            r.status === 409 || (r.status === 200 && r.json?.stale === true && r.json.invocation === undefined);
          expect(recognised, `${section} ${messageId}: ${r.status} ${r.responseBody}`).toBe(true);
        }
        repeated += deliveries.length - ran.length;
      }
    }
    // Not vacuous: injected duplicates reached the app, and some deliveries were answered stale or 409.
    expect(
      syncMessages(stack)
        .flatMap((m) => m.deliveries)
        .filter((d) => d.duplicate && d.status !== null).length,
    ).toBeGreaterThan(0);
    expect(repeated, "deliveries answered stale or 409").toBeGreaterThan(0);
    // A step can reach the DLQ when all its attempts met the lease of a duplicate running that very
    // step; its failure callback must then leave the live run alone: "not marked", or 409 while
    // the section's lease is held (QStash retries the callback later).
    for (const r of records.filter((x) => x.path === "/api/sync/failed")) {
      if (r.status === 409) {
        const section = new URL((JSON.parse(r.body) as { url: string }).url).pathname;
        expect(
          records.some(
            (o) => o.path === section && o.status === 200 && o.startedAt <= r.endedAt! && o.endedAt! >= r.startedAt,
          ),
          `409 to the callback at ${r.startedAt} with nothing running`,
        ).toBe(true);
        continue;
      }
      expect(r.status, r.responseBody).toBe(200);
      expect(r.json).toMatchObject({ ok: true, marked: false });
    }
    figures.chaosCallbacks = records
      .filter((x) => x.path === "/api/sync/failed")
      .map((r) => [r.status, r.responseBody]);
    figures.chaos = { runMs, ...measure(stack, { pages: runId, posts: runId, children: runId }), emulator: stats };
  });
});

// ---------------------------------------------------------------------------

describe("the trigger without QStash", () => {
  it("7. answers 503 naming QSTASH_TOKEN, or runs one batch of each section inline with SYNC_INLINE_FALLBACK=1", async () => {
    const stack = await startStack({ workspace: { pages: 12, posts: 8, hugePages: 0 } });
    try {
      const request = () => new Request(`http://localhost/api/sync/trigger?secret=${TEST_SECRET}`);
      const refused = await handleTrigger(request(), { ...stack.env });
      expect(refused.status).toBe(503);
      const body = (await refused.json()) as { ok: boolean; error: { code: string; message: string } };
      expect(body.ok).toBe(false);
      expect(body.error.message).toContain("QSTASH_TOKEN");

      const inline = await handleTrigger(request(), { ...stack.env, SYNC_INLINE_FALLBACK: "1" });
      expect(inline.status).toBe(200);
      const result = (await inline.json()) as {
        ok: boolean;
        mode: string;
        statusUrl: string;
        sections: Array<{ section: string; runId?: string; processed?: number }>;
      };
      expect(result).toMatchObject({ ok: true, mode: "inline", statusUrl: "http://localhost/api/sync/status" });
      expect(result.sections.map((s) => s.section)).toEqual(["pages", "posts", "children"]);
      for (const s of result.sections.slice(0, 2)) expect(s.runId, JSON.stringify(s)).toMatch(/\S/);
    } finally {
      await stack.close();
    }
  });
});
