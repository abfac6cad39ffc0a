/**
 * lib/notion/source.ts, errors.ts and pacer.ts against the Notion emulator over
 * real HTTP: how failures are classified, which are retried and within what
 * time, how a hanging request is cut at the deadline, and how requests are
 * paced. Every source gets its own pacer so a 429 pause never leaks between tests.
 */
import { Client } from "@notionhq/client";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { NotionSyncError, classifyNotionError, parseRetryAfterMs } from "../../lib/notion/errors";
import { createPacer, sharedPacer } from "../../lib/notion/pacer";
import { type NotionSourceOptions, createNotionSource } from "../../lib/notion/source";
import { BudgetExhaustedError, createDeadline } from "../../lib/core/deadline";
import { generateWorkspace } from "../../scripts/emulator/notion/generate";
import {
  type FaultRule,
  type NotionEmulator,
  type RouteName,
  startNotionEmulator,
} from "../../scripts/emulator/notion/server";
import type { Workspace } from "../../scripts/emulator/notion/workspace";

let emulator: NotionEmulator;
let ws: Workspace;
let pageId: string;

beforeAll(async () => {
  ws = generateWorkspace({ pages: 10, posts: 5 });
  emulator = await startNotionEmulator({ workspace: ws, ratePerSecond: Infinity });
  pageId = ws.visibleRows(ws.pagesDatabaseId)[0].id;
});

afterAll(async () => {
  await emulator?.close();
});

beforeEach(() => {
  emulator.clearFaults();
  emulator.resetRequestLog();
});

function source(options: Partial<NotionSourceOptions> & { budgetMs?: number } = {}) {
  const { budgetMs = 10_000, ...rest } = options;
  return createNotionSource({
    token: emulator.token,
    baseUrl: emulator.url,
    ratePerMin: 1_000_000,
    deadline: createDeadline(budgetMs),
    pacer: createPacer(Infinity),
    ...rest,
  });
}

/** The SDK with no retries of its own: the raw errors classifyNotionError sees. */
function rawClient(options: { auth?: string; timeoutMs?: number; fetch?: typeof fetch } = {}) {
  return new Client({
    auth: options.auth ?? emulator.token,
    baseUrl: emulator.url,
    retry: false,
    timeoutMs: options.timeoutMs ?? 5_000,
    logger: () => {},
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (error) {
    return error;
  }
  throw new Error("expected the promise to reject");
}

function fault(route: RouteName, status: FaultRule["status"], extra: Partial<FaultRule> = {}) {
  emulator.injectFault({ route, status, ...extra });
}

const statusesOf = (route: RouteName) =>
  emulator
    .requests()
    .filter((r) => r.route === route)
    .map((r) => r.status);

describe("classifyNotionError on the SDK's real errors", () => {
  it.each([500, 502, 503, 504] as const)("%i is transient", async (status) => {
    fault("pages.retrieve", status);
    const error = classifyNotionError(await rejection(rawClient().pages.retrieve({ page_id: pageId })));
    expect(error.kind).toBe("transient");
    expect(error.details.status).toBe(status);
  });

  it.each([400, 401, 403] as const)("%i is permanent", async (status) => {
    fault("pages.retrieve", status);
    const error = classifyNotionError(await rejection(rawClient().pages.retrieve({ page_id: pageId })));
    expect(error.kind).toBe("permanent");
    expect(error.details.status).toBe(status);
    expect(error.details.requestId).toBeTruthy();
  });

  it("404 is gone", async () => {
    fault("pages.retrieve", 404);
    const error = classifyNotionError(await rejection(rawClient().pages.retrieve({ page_id: pageId })));
    expect(error.kind).toBe("gone");
    expect(error.details.status).toBe(404);
  });

  it("429 is rate_limited with retryAfterMs from Retry-After", async () => {
    fault("pages.retrieve", 429, { retryAfterSeconds: 7 });
    const error = classifyNotionError(await rejection(rawClient().pages.retrieve({ page_id: pageId })));
    expect(error.kind).toBe("rate_limited");
    expect(error.details.retryAfterMs).toBe(7_000);
  });

  it("classifies what the emulator answers without faults: a wrong token, an unknown page, a malformed id", async () => {
    const wrongToken = classifyNotionError(
      await rejection(rawClient({ auth: "secret_wrong" }).pages.retrieve({ page_id: pageId })),
    );
    expect([wrongToken.kind, wrongToken.details.status]).toEqual(["permanent", 401]);
    const unknown = classifyNotionError(
      await rejection(rawClient().pages.retrieve({ page_id: "0000000000004000800000000000dead" })),
    );
    expect([unknown.kind, unknown.details.status]).toEqual(["gone", 404]);
    const malformed = classifyNotionError(await rejection(rawClient().pages.retrieve({ page_id: "not-a-uuid" })));
    expect([malformed.kind, malformed.details.status]).toEqual(["permanent", 400]);
  });

  it("a connection reset is transient", async () => {
    fault("pages.retrieve", "reset");
    const error = classifyNotionError(await rejection(rawClient().pages.retrieve({ page_id: pageId })));
    expect(error.kind).toBe("transient");
  });

  it("a hang cut by an abort signal or by the SDK timeout is transient", async () => {
    fault("pages.retrieve", "hang");
    const aborting: typeof fetch = (url, init) => fetch(url, { ...init, signal: AbortSignal.timeout(100) });
    const aborted = classifyNotionError(
      await rejection(rawClient({ fetch: aborting }).pages.retrieve({ page_id: pageId })),
    );
    expect(aborted.kind).toBe("transient");
    fault("pages.retrieve", "hang");
    const timedOut = classifyNotionError(
      await rejection(rawClient({ timeoutMs: 100 }).pages.retrieve({ page_id: pageId })),
    );
    expect(timedOut.kind).toBe("transient");
  });

  it("keeps an already classified error and calls anything unknown permanent", () => {
    const original = new NotionSyncError("gone", "x");
    expect(classifyNotionError(original)).toBe(original);
    expect(classifyNotionError(new Error("boom")).kind).toBe("permanent");
    expect(classifyNotionError("a string").kind).toBe("permanent");
  });
});

describe("parseRetryAfterMs", () => {
  const now = Date.parse("Sun, 01 Jun 2025 00:00:00 GMT");
  it.each([
    ["2", 2_000],
    ["0", 0],
    ["1.5", 1_500],
    ["Sun, 01 Jun 2025 00:00:05 GMT", 5_000],
    ["Sat, 31 May 2025 23:00:00 GMT", 0],
    ["soon", undefined],
    ["", undefined],
    [undefined, undefined],
  ])("%j → %j", (value, expected) => {
    expect(parseRetryAfterMs(value, now)).toBe(expected);
  });
});

describe("createNotionSource", () => {
  // Every 5xx is classified transient above; here the retry itself, for a status and for a dropped connection.
  it.each([503, "reset"] as const)("retries a single %s transparently", async (status) => {
    const src = source();
    fault("pages.retrieve", status);
    const page = await src.retrievePage(pageId);
    expect(page.id).toBe(pageId);
    expect(src.requests["pages.retrieve"]).toBe(2);
    expect(statusesOf("pages.retrieve")).toEqual([status === "reset" ? 0 : status, 200]);
  });

  it("retries a request that hung past maxRequestMs", async () => {
    const src = source({ maxRequestMs: 150 });
    fault("blocks.children.list", "hang");
    const started = Date.now();
    const list = await src.listBlockChildren(pageId, null);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(list.results.map((b) => b.id)).toEqual(ws.contentTree(pageId).map((b) => b.id));
    expect(src.requests["blocks.children.list"]).toBe(2);
  });

  it("gives up on a transient failure after three attempts, still classified", async () => {
    const src = source();
    fault("pages.retrieve", 503, { times: 10 });
    const started = Date.now();
    const error = await rejection(src.retrievePage(pageId));
    expect(NotionSyncError.is(error, "transient")).toBe(true);
    expect(src.requests["pages.retrieve"]).toBe(3);
    expect(statusesOf("pages.retrieve")).toEqual([503, 503, 503]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(550); // backed off 200 + 400 ms
  });

  it("does not retry permanent or gone failures", async () => {
    const src = source();
    fault("pages.retrieve", 403);
    expect(NotionSyncError.is(await rejection(src.retrievePage(pageId)), "permanent")).toBe(true);
    expect(NotionSyncError.is(await rejection(src.retrievePage("0000000000004000800000000000dead")), "gone")).toBe(
      true,
    );
    const wrong = source({ token: "secret_wrong" });
    const unauthorized = await rejection(wrong.retrievePage(pageId));
    expect(NotionSyncError.is(unauthorized, "permanent") && unauthorized.details.status).toBe(401);
    expect(src.requests["pages.retrieve"] + wrong.requests["pages.retrieve"]).toBe(3);
    expect(emulator.requests()).toHaveLength(3);
  });

  it("waits out a short Retry-After and succeeds", async () => {
    const src = source({ budgetMs: 10_000 });
    fault("pages.retrieve", 429, { retryAfterSeconds: 1 });
    const started = Date.now();
    const page = await src.retrievePage(pageId);
    expect(page.id).toBe(pageId);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(statusesOf("pages.retrieve")).toEqual([429, 200]);
  });

  it("throws a Retry-After longer than the budget at once, and sends nothing more before it", async () => {
    const src = source({ budgetMs: 5_000 });
    fault("pages.retrieve", 429, { retryAfterSeconds: 30 });
    const started = Date.now();
    const error = await rejection(src.retrievePage(pageId));
    expect(NotionSyncError.is(error, "rate_limited")).toBe(true);
    expect((error as NotionSyncError).details.retryAfterMs).toBe(30_000);
    expect(Date.now() - started).toBeLessThan(1_000);
    // The pacer is paused for 30 s: the next call is refused without a request, as a rate limit
    // (so the engine schedules its successor after the pause, not at once).
    const next = await rejection(src.listBlockChildren(pageId, null));
    expect(NotionSyncError.is(next, "rate_limited")).toBe(true);
    expect((next as NotionSyncError).details.retryAfterMs).toBeGreaterThan(28_000);
    expect((next as NotionSyncError).details.retryAfterMs).toBeLessThanOrEqual(30_000);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(emulator.requests()).toHaveLength(1);
    expect(src.requests["blocks.children.list"]).toBe(0);
  });

  it("cuts a hanging request at the deadline and does not outlive it", async () => {
    const budgetMs = 600;
    const src = source({ budgetMs });
    fault("blocks.children.list", "hang", { times: 10 });
    const started = Date.now();
    const error = await rejection(src.listBlockChildren(pageId, null));
    const elapsed = Date.now() - started;
    expect(error instanceof BudgetExhaustedError || NotionSyncError.is(error, "transient")).toBe(true);
    expect(elapsed).toBeLessThanOrEqual(budgetMs + 300);
    // It did wait for the answer while the budget allowed (up to the 250 ms reserve).
    expect(elapsed).toBeGreaterThanOrEqual(budgetMs - 250 - 100);
  });

  it("counts requests per route, matching what Notion received", async () => {
    const src = source();
    expect(await src.dataSourceIdOf(ws.pagesDatabaseId)).toBe(ws.pagesDataSourceId);
    const rows = await src.queryDataSource(ws.pagesDataSourceId, { windowStart: null, startCursor: null });
    expect(rows.incomplete).toBe(false);
    expect(rows.nextCursor).toBeNull();
    expect(rows.results.map((r) => r.id).sort()).toEqual(
      ws
        .visibleRows(ws.pagesDatabaseId)
        .map((r) => r.id)
        .sort(),
    );
    expect(rows.results.length).toBeGreaterThanOrEqual(3);
    for (const row of rows.results.slice(0, 2)) await src.retrievePage(row.id);
    for (const row of rows.results.slice(0, 3)) await src.listBlockChildren(row.id, null);
    fault("blocks.children.list", 502); // a retry counts as a request too
    await src.listBlockChildren(rows.results[0].id, null);

    // Routes this test does not call (blocks.retrieve, pages.properties.retrieve…) stay at 0.
    const sent = Object.fromEntries(Object.entries(src.requests).filter(([, n]) => n > 0));
    expect(sent).toEqual({
      "databases.retrieve": 1,
      "dataSources.query": 1,
      "pages.retrieve": 2,
      "blocks.children.list": 5,
    });
    const received: Record<string, number> = {};
    for (const r of emulator.requests()) received[r.route] = (received[r.route] ?? 0) + 1;
    expect(received).toEqual(sent);
  });

  it("paginates block children with the cursor Notion returned", async () => {
    const big = generateWorkspace({ pages: 3, posts: 1, hugePages: 1, hugePageBlocks: 250 });
    const em = await startNotionEmulator({ workspace: big, ratePerSecond: Infinity });
    try {
      const hugeId = [...big.visibleRows(big.pagesDatabaseId), ...big.visibleRows(big.postsDatabaseId)].find(
        (r) => big.contentTree(r.id).length === 250,
      )!.id;
      const src = createNotionSource({
        token: em.token,
        baseUrl: em.url,
        ratePerMin: 1e6,
        deadline: createDeadline(10_000),
        pacer: createPacer(Infinity),
      });
      const ids: string[] = [];
      let cursor: string | null = null;
      let calls = 0;
      do {
        const list = await src.listBlockChildren(hugeId, cursor);
        ids.push(...list.results.map((b) => b.id));
        cursor = list.nextCursor;
        calls++;
      } while (cursor);
      expect(calls).toBe(3);
      expect(ids).toEqual(big.contentTree(hugeId).map((b) => b.id));
    } finally {
      await em.close();
    }
  });

  it("spaces its requests with its pacer (600/min → ~100 ms apart)", async () => {
    // The pacer's schedule starts when it is made: measure from there, not after the setup below.
    const started = Date.now();
    const src = source({ pacer: createPacer(600) });
    const rows = ws.visibleRows(ws.pagesDatabaseId).slice(0, 4);
    await Promise.all(rows.map((r) => src.retrievePage(r.id)));
    const at = emulator
      .requests()
      .map((r) => r.at)
      .sort((a, b) => a - b);
    expect(at).toHaveLength(4);
    // Slots are 100 ms apart from the first: the i-th request never arrives before start + i × 100 ms.
    at.forEach((t, i) => expect(t - started).toBeGreaterThanOrEqual(i * 100 - 2));
  });
});

describe("createPacer", () => {
  it("spaces acquisitions to the configured rate", async () => {
    const pacer = createPacer(600);
    const deadline = createDeadline(10_000);
    const started = performance.now();
    const times: number[] = [];
    for (let i = 0; i < 10; i++) {
      await pacer.acquire(deadline);
      times.push(performance.now() - started);
    }
    // Slots run on a fixed 100 ms schedule: a late wake-up does not push later slots back,
    // so one gap may be short after a late one, but no acquisition comes before its slot.
    times.forEach((t, i) => expect(t).toBeGreaterThanOrEqual(i * 100 - 2));
    expect(times[0]).toBeLessThan(50);
    // And it does not throttle harder than asked: ~100 ms a slot on average.
    const mean = (times[9] - times[0]) / 9;
    expect(mean).toBeGreaterThanOrEqual(98);
    expect(mean).toBeLessThan(170);
  });

  it("gives concurrent callers successive slots", async () => {
    const pacer = createPacer(600);
    const deadline = createDeadline(10_000);
    const started = performance.now();
    const done: number[] = [];
    await Promise.all(
      Array.from({ length: 3 }, () => pacer.acquire(deadline).then(() => done.push(performance.now() - started))),
    );
    done.sort((a, b) => a - b);
    expect(done[0]).toBeLessThan(50);
    done.forEach((t, i) => expect(t).toBeGreaterThanOrEqual(i * 100 - 2));
  });

  it("refuses a slot past the deadline at once, without taking it", async () => {
    let clock = 0;
    const now = () => clock;
    const pacer = createPacer(60, now); // one slot a second
    const deadline = createDeadline(1_500, 0, now);
    await pacer.acquire(deadline); // slot 0; the next is at 1000
    await expect(pacer.acquire(deadline, 600)).rejects.toBeInstanceOf(BudgetExhaustedError); // 1000 + 600 > 1500
    clock = 1_000;
    await pacer.acquire(deadline, 400); // the refused slot is still free: no wait
    await expect(pacer.acquire(deadline)).rejects.toBeInstanceOf(BudgetExhaustedError); // next at 2000, deadline 1500
  });

  it("pauseUntil holds everyone back until then, and never brings a slot forward", async () => {
    let clock = 0;
    const now = () => clock;
    const pacer = createPacer(60, now);
    await pacer.acquire(createDeadline(10_000, 0, now)); // next slot 1000
    pacer.pauseUntil(500); // earlier than the next slot: no effect
    clock = 600;
    // 400 ms wait > 300 left: the slot is still at 1000, and it is plain spacing, not a 429.
    await expect(pacer.acquire(createDeadline(300, 600, now))).rejects.toBeInstanceOf(BudgetExhaustedError);
    pacer.pauseUntil(60_000);
    // A pause out of reach is reported as a rate limit with the time left until the slot.
    const paused = await pacer.acquire(createDeadline(50_000, 600, now)).then(
      () => null,
      (e: unknown) => e,
    );
    expect(NotionSyncError.is(paused, "rate_limited")).toBe(true);
    expect((paused as NotionSyncError).details.retryAfterMs).toBe(59_400);
    clock = 60_000;
    await pacer.acquire(createDeadline(100, 60_000, now)); // the pause is over: no wait; next slot 61000
    await expect(pacer.acquire(createDeadline(500, 60_000, now))).rejects.toBeInstanceOf(BudgetExhaustedError);
  });

  it("pauseUntil delays the next acquisition in real time", async () => {
    const pacer = createPacer(Infinity);
    const started = performance.now();
    pacer.pauseUntil(Date.now() + 150);
    await pacer.acquire(createDeadline(5_000));
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
  });

  it("sharedPacer is one per integration and rate", () => {
    expect(sharedPacer("k1", 170)).toBe(sharedPacer("k1", 170));
    expect(sharedPacer("k1", 170)).not.toBe(sharedPacer("k2", 170));
    expect(sharedPacer("k1", 170)).not.toBe(sharedPacer("k1", 60));
  });
});
