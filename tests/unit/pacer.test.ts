/**
 * lib/notion/pacer.ts at the limit: a 429 pauses everything until Retry-After
 * and halves the rate once per burst (AIMD); each minute without a 429 gives a
 * tenth of the configured rate back. Clock-driven (no real waits), plus one
 * check through createNotionSource against the emulator's real 429.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BudgetExhaustedError, createDeadline } from "../../lib/core/deadline";
import { NotionSyncError } from "../../lib/notion/errors";
import { AIMD_FLOOR_SHARE, BURST_SLOTS, createPacer } from "../../lib/notion/pacer";
import { createNotionSource } from "../../lib/notion/source";
import { generateWorkspace } from "../../scripts/emulator/notion/generate";
import { type NotionEmulator, startNotionEmulator } from "../../scripts/emulator/notion/server";

function clocked(ratePerMin: number) {
  let clock = 0;
  const now = () => clock;
  const pacer = createPacer(ratePerMin, now);
  return {
    pacer,
    at(t: number) {
      clock = t;
    },
    /** Takes the slot due now (no wait), or fails the test. */
    async take(budgetMs = 1) {
      await pacer.acquire(createDeadline(budgetMs, clock, now));
    },
    /** True when the next slot is more than `ms` away. */
    async farther(ms: number) {
      const r = await pacer.acquire(createDeadline(ms, clock, now)).then(
        () => false,
        (e: unknown) => e instanceof BudgetExhaustedError || NotionSyncError.is(e, "rate_limited"),
      );
      return r;
    },
  };
}

describe("pacer AIMD", () => {
  it("a 429 halves the rate: slots twice as far apart", async () => {
    const c = clocked(60); // one a second
    await c.take();
    expect(await c.farther(990)).toBe(true); // next at 1000
    c.at(1_000);
    await c.take();
    c.pacer.rateLimited(0, 1_000);
    expect(c.pacer.currentRatePerMin()).toBe(30);
    // The slot after the one taken at 1000 was booked at the old spacing (2000); the one after it at 2 s.
    c.at(2_000);
    await c.take();
    expect(await c.farther(1_990)).toBe(true);
    c.at(4_000);
    await c.take();
  });

  it("the 429s of one burst (requests sent before the halving) halve it once", () => {
    const c = clocked(120);
    c.at(10_000);
    c.pacer.rateLimited(0, 9_000);
    c.pacer.rateLimited(0, 9_500);
    c.pacer.rateLimited(0, 9_999);
    expect(c.pacer.currentRatePerMin()).toBe(60);
    // A request sent after the halving that still meets a 429: halve again.
    c.at(11_000);
    c.pacer.rateLimited(0, 10_500);
    expect(c.pacer.currentRatePerMin()).toBe(30);
  });

  it("never goes below a sixteenth of the configured rate", () => {
    const c = clocked(160);
    for (let i = 1; i <= 10; i++) {
      c.at(i * 1_000);
      c.pacer.rateLimited(0, i * 1_000);
    }
    expect(c.pacer.currentRatePerMin()).toBe(160 * AIMD_FLOOR_SHARE);
  });

  it("recovers a tenth of the configured rate per minute without a 429, up to it", () => {
    const c = clocked(170);
    c.pacer.rateLimited(0, 0);
    expect(c.pacer.currentRatePerMin()).toBe(85);
    c.at(59_999);
    expect(c.pacer.currentRatePerMin()).toBe(85);
    c.at(60_000);
    expect(c.pacer.currentRatePerMin()).toBeCloseTo(102, 6);
    c.at(3 * 60_000 + 5);
    expect(c.pacer.currentRatePerMin()).toBeCloseTo(136, 6);
    c.at(60 * 60_000);
    expect(c.pacer.currentRatePerMin()).toBe(170);
    // A new 429 halves from where it stands, and the minute counts from it.
    c.at(60 * 60_000 + 1);
    c.pacer.rateLimited(0, 60 * 60_000);
    expect(c.pacer.currentRatePerMin()).toBe(85);
    c.at(61 * 60_000);
    expect(c.pacer.currentRatePerMin()).toBe(85);
    c.at(61 * 60_000 + 1);
    expect(c.pacer.currentRatePerMin()).toBeCloseTo(102, 6);
  });

  it("Retry-After holds back every request, queued ones included, and reads as a rate limit", async () => {
    const c = clocked(600);
    await c.take();
    c.pacer.rateLimited(5_000, 0);
    const refused = await c.pacer.acquire(createDeadline(3_000, 0, () => 0)).then(
      () => null,
      (e: unknown) => e,
    );
    expect(NotionSyncError.is(refused, "rate_limited")).toBe(true);
    expect((refused as NotionSyncError).details.retryAfterMs).toBe(5_000);
    c.at(5_000);
    await c.take();
  });

  it("an unlimited pacer only pauses", () => {
    const pacer = createPacer(Infinity, () => 0);
    pacer.rateLimited(1_000, 0);
    expect(pacer.currentRatePerMin()).toBe(Infinity);
  });
});

describe("pacer burst: idle slots banked, at most BURST_SLOTS", () => {
  it("a new pacer banks nothing: its first requests keep the spacing", async () => {
    const c = clocked(60);
    await c.take();
    expect(await c.farther(990)).toBe(true);
  });

  it("after idling, BURST_SLOTS requests go at once, then the spacing again; any window holds at most BURST_SLOTS + T × rate", async () => {
    const c = clocked(60); // one a second
    await c.take(); // slot 0
    c.at(10_000); // idle for 10 s: only BURST_SLOTS of those slots are banked
    for (let i = 0; i < BURST_SLOTS; i++) await c.take();
    // The next one is due one interval after the last banked slot: at 10 s, the spacing again.
    await c.take();
    expect(await c.farther(990)).toBe(true);
    c.at(11_000);
    await c.take();
    // 10 s → 11 s: BURST_SLOTS + 2 requests in a window of 1 s at 1/s, no more.
    expect(await c.farther(990)).toBe(true);
  });

  it("a 429 pause banks nothing: right at its end one request, then the spacing", async () => {
    const c = clocked(60);
    await c.take();
    c.pacer.pauseUntil(5_000);
    c.at(5_000);
    await c.take();
    expect(await c.farther(990)).toBe(true);
  });
});

describe("the source tells its pacer about Notion's 429", () => {
  let emulator: NotionEmulator;
  beforeAll(async () => {
    const ws = generateWorkspace({ pages: 5, posts: 1, hugePages: 0, trashedRows: 0 });
    emulator = await startNotionEmulator({ workspace: ws, ratePerSecond: Infinity });
  });
  afterAll(async () => emulator?.close());

  it("a 429 with Retry-After 0 is retried, and the shared rate is halved", async () => {
    const pacer = createPacer(6_000);
    const src = createNotionSource({
      token: emulator.token,
      baseUrl: emulator.url,
      ratePerMin: 6_000,
      deadline: createDeadline(10_000),
      pacer,
    });
    emulator.injectFault({ route: "pages.retrieve", status: 429, retryAfterSeconds: 0, times: 2 });
    const id = emulator.workspace.visibleRows(emulator.workspace.pagesDatabaseId)[0].id;
    await expect(src.retrievePage(id)).resolves.toMatchObject({ id });
    // Two 429s in a row: the second request was sent after the first halving.
    expect(pacer.currentRatePerMin()).toBe(1_500);
  });
});
