/**
 * The kill part of the reliability matrix through QStash (issue 12, item 6):
 * the real `next start`, SIGKILLed while it answers a QStash delivery with
 * the step mid-batch (pages being fetched and committed), and started again
 * on the same port; QStash redelivers the same step (same runId and seq).
 * After one trigger call nothing but QStash's deliveries reaches the app.
 *
 * QStash's retry backoff is set to a constant RETRY_MS (longer than a
 * restart of next start), its other waits are scaled as in qstash.e2e.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SECTIONS } from "../support/default-sections";
import type { Section } from "../../lib/core/sections";
import * as shardedSet from "../../lib/kv/sharded-set";
import { readIndexPage } from "../../lib/mirror/section-index";
import type { Cursor } from "../../lib/sync/cursor";
import { leaseHolderDeadline } from "../../lib/sync/lease";
import { type NextApp, buildIfNeeded, startNextApp } from "../../scripts/lib/next-app";
import { expireLease } from "../support/kill-points";
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
} from "../support/qstash-stack";

/** QStash waits this long before each retry: a restarted next start answers well before. */
const RETRY_MS = 4000;
const RUN_TIMEOUT_MS = 45_000;

const stepOf = (r: TapRecord) => JSON.parse(r.body) as { runId: string; seq: number };
const bareId = (id: string) => id.replace(/-/g, "");

/** The steps of each run form one chain: seq 0, 1, 2 … each run once to a 200, the cursor counting exactly those. */
function expectOneChain(records: TapRecord[], section: Section, cursor: Cursor) {
  const steps = ranSteps(records, section, cursor.runId);
  expect(
    steps.map((s) => s.seq),
    `${section}: seq of the steps that ran`,
  ).toEqual(steps.map((_, i) => i));
  for (const s of steps) expect(s.invocation, `${section} step ${s.seq}`).toBe(s.seq + 1);
  expect(cursor.seq, `${section}: the cursor counts exactly the QStash steps`).toBe(steps.length);
}

describe("QStash: the process answering a delivery is killed mid-batch", () => {
  let stack: QStashStack;
  let app: NextApp;
  const figures: Record<string, unknown> = {};

  beforeAll(async () => {
    buildIfNeeded();
    stack = await startQStashStack({
      workspace: { pages: 150, posts: 8, hugePages: 1 },
      qstash: { random: seeded(12), retryBackoffMs: () => RETRY_MS },
    });
    app = await startNextApp(stack.env);
    await stack.switchApp(app);
    // A cold next start loads a route's module on first use; warm them the way any earlier request would.
    expect((await stack.get("/api/sync/trigger?secret=wrong")).status).toBe(401);
    expect((await stack.get("/api/sync/pages?secret=wrong")).status).toBe(401);
  });
  afterAll(async () => {
    console.log("[qstash-kills]", JSON.stringify(figures, null, 1));
    await app?.stop();
    await stack?.close();
  });

  async function doneIds(runId: string): Promise<string[]> {
    const base = stack.keys.doneIds("pages", runId);
    return (await Promise.all(shardedSet.shardKeys(base).map((k) => stack.kv.smembers(k)))).flat();
  }

  /**
   * Waits for a pages delivery of `runId` (the step `seq`, or any step ≥ 1
   * when not given; attempt `retried`) to be in flight with at least two
   * pages committed since it began, then SIGKILLs the app and starts it again
   * on the same port. Returns the killed delivery.
   */
  async function killMidBatch(
    runId: string,
    want: { seq?: number; retried: number },
  ): Promise<{ record: TapRecord; committed: number; killedAt: number; restartMs: number }> {
    const delivery = await waitFor(
      `a pages delivery of ${runId} (${JSON.stringify(want)}) in flight in the sync phase`,
      async () => {
        const posts = await stack.cursor("posts");
        const pages = await stack.cursor("pages");
        if (posts?.runId !== runId || posts.status !== "done" || pages?.runId !== runId || pages.phase !== "sync")
          return null;
        return (
          sectionDeliveries(stack.tap.records(), "pages").find((r) => {
            const step = stepOf(r);
            const seqOk = want.seq === undefined ? step.seq >= 1 && step.seq === pages.seq - 1 : step.seq === want.seq;
            return (
              r.endedAt === null &&
              step.runId === runId &&
              seqOk &&
              Number(r.headers["upstash-retried"]) === want.retried
            );
          }) ?? null
        );
      },
      RUN_TIMEOUT_MS,
      5,
    );
    const before = (await doneIds(runId)).length;
    const committed = await waitFor(
      "two pages committed by that delivery",
      async () => {
        const n = (await doneIds(runId)).length - before;
        if (stack.tap.records().find((r) => r.id === delivery.id)?.endedAt !== null)
          throw new Error(`the delivery ended before it was killed (${n} pages committed)`);
        return n >= 2 ? n : null;
      },
      10_000,
      3,
    );
    await app.kill();
    const killedAt = Date.now();
    app = await startNextApp(stack.env, { port: app.port });
    return { record: delivery, committed, killedAt, restartMs: Date.now() - killedAt };
  }

  it(
    "twice in a row for the same step: QStash's redeliveries alone finish the run, each step's effect once",
    { timeout: 90_000 },
    async () => {
      stack.notion.resetRequestLog();
      const res = await stack.get(`/api/sync/trigger?secret=${E2E_SECRET}`);
      expect(res.status, JSON.stringify(res.json)).toBe(200);
      const runId = res.json.runId as string;
      const since = Date.now();

      // Death 1, mid-batch. Its lease would expire long before a later QStash retry (35 s against
      // minutes): here it ends at once, the way its expiry would (PEXPIRE), before the redelivery.
      const first = await killMidBatch(runId, { retried: 0 });
      const step = stepOf(first.record).seq;
      const committedByFirst = await doneIds(runId);
      expect(await stack.kv.get(stack.keys.lease("pages")), "the dead process's lease").not.toBeNull();
      await expireLease(stack.redis.url, stack.keys.lease("pages"));

      // Death 2: the redelivery of the same step (same runId and seq), mid-batch again.
      const second = await killMidBatch(runId, { seq: step, retried: 1 });
      expect(stepOf(second.record)).toEqual(stepOf(first.record));
      const committedBeforeSecondDeath = await doneIds(runId);
      expect(committedBeforeSecondDeath.length).toBeGreaterThan(committedByFirst.length);
      await expireLease(stack.redis.url, stack.keys.lease("pages"));

      // Nothing but QStash from here: the run finishes.
      const cursors = await waitForRunDone(stack, { pages: runId, posts: runId }, RUN_TIMEOUT_MS);
      await stack.qstash.idle(15_000);
      expect(await stack.diffKv()).toEqual([]);
      expect(stack.qstash.dlq()).toEqual([]);

      // Only QStash called the app after the trigger.
      const records = stack.tap.records().filter((r) => r.startedAt >= since);
      for (const r of records)
        expect(r.headers["upstash-signature"], `${r.method} ${r.path}: not a QStash delivery`).toBeDefined();

      // The killed step: three attempts of the same message, the first two died, the third ran it (a repair: same seq).
      const attempts = sectionDeliveries(records, "pages").filter(
        (r) => stepOf(r).runId === runId && stepOf(r).seq === step,
      );
      expect(attempts.map((r) => [Number(r.headers["upstash-retried"]), r.status])).toEqual([
        [0, null],
        [1, null],
        [2, 200],
      ]);
      expect(new Set(attempts.map((r) => r.headers["upstash-message-id"])).size).toBe(1);
      expect(attempts[2].json).toMatchObject({ ok: true, runId, invocation: step + 1 });
      expect(attempts[2].json!.stale ?? false).toBe(false);
      expect(attempts[2].json!.duplicate ?? false).toBe(false);
      const message = stack.qstash.messages().find((m) => m.messageId === attempts[0].headers["upstash-message-id"])!;
      expect(message.state).toBe("delivered");
      expect(message.deliveries.map((d) => d.status)).toEqual([502, 502, 200]);

      // Each step once: one chain per section, every successor published once.
      for (const section of SECTIONS) expectOneChain(stack.tap.records(), section, cursors[section]);
      const successors = stack.qstash
        .messages()
        .filter((m) => m.createdAt >= since && m.destination.endsWith("/api/sync/pages") && m.state !== "deduplicated")
        .map((m) => JSON.parse(m.body) as { runId: string; seq: number })
        .filter((b) => b.runId === runId)
        .map((b) => b.seq);
      expect(successors).toEqual([...new Set(successors)]);
      for (const section of SECTIONS) {
        const ids = (await readIndexPage(stack.kv, stack.keys, section))!.entries.map((e) => e.id);
        expect(new Set(ids).size, `${section}: indexed once each`).toBe(ids.length);
      }

      // What a dead attempt committed stays: no page committed before a death is read from Notion
      // after it; a page in flight at a death is read once more.
      const firstReads = new Map<string, number[]>();
      for (const r of stack.notion.requests()) {
        const match = /^\/v1\/blocks\/([^/?]+)\/children(\?.*)?$/.exec(r.path);
        if (r.route !== "blocks.children.list" || !match || /start_cursor=/.test(match[2] ?? "")) continue;
        firstReads.set(bareId(match[1]), [...(firstReads.get(bareId(match[1])) ?? []), r.at]);
      }
      const readAfter = (id: string, at: number) => (firstReads.get(bareId(id)) ?? []).filter((t) => t >= at).length;
      for (const id of committedByFirst)
        expect(readAfter(id, first.killedAt), `page ${id}, committed before the first death, read again`).toBe(0);
      for (const id of committedBeforeSecondDeath)
        expect(readAfter(id, second.killedAt), `page ${id}, committed before the second death, read again`).toBe(0);
      const rows = stack.workspace.visibleRows(stack.workspace.pagesDatabaseId);
      const reread = rows.filter((r) => (firstReads.get(bareId(r.id))?.length ?? 0) > 1).length;
      for (const row of rows)
        expect(firstReads.get(bareId(row.id))?.length ?? 0, `page ${row.id} reads`).toBeGreaterThanOrEqual(1);
      // At most SYNC_CONCURRENCY (3) pages in flight when a step dies or its budget cuts it.
      expect(reread, "pages read again").toBeLessThanOrEqual(3 * (2 + cursors.pages.seq));

      figures.twice = {
        step,
        committedBeforeFirstDeath: committedByFirst.length,
        committedBeforeSecondDeath: committedBeforeSecondDeath.length,
        restartMs: [first.restartMs, second.restartMs],
        pagesReadAgain: reread,
        pagesSteps: cursors.pages.seq,
      };
    },
  );

  // Was a bug (found here): a redelivery that met the lease a killed process left behind was
  // answered 200 {"duplicate": true}, so QStash dropped the step and nothing ever ran it. A copy
  // of the running step now waits for its holder up to the end the holder's token records (or
  // answers a retryable 409), then takes the abandoned lease over and repairs the step.
  it(
    "once, with QStash's redelivery arriving while the dead process's lease is still held: the run still finishes",
    { timeout: 90_000 },
    async () => {
      let setup: { runId: string; step: number; since: number } | null = null;
      try {
        await stack.qstash.idle(15_000);
        // A forced run, so pages has several steps of fetching again.
        const res = await stack.get(`/api/sync/trigger?secret=${E2E_SECRET}&force=1`);
        expect(res.status, JSON.stringify(res.json)).toBe(200);
        const runId = res.json.runId as string;
        const since = Date.now();
        const killed = await killMidBatch(runId, { retried: 0 });
        expect(await stack.kv.pttl(stack.keys.lease("pages")), "the dead process's lease, still held").toBeGreaterThan(
          RETRY_MS + 10_000,
        );
        // QStash's retry comes while the dead holder could still be working (its token says until when):
        // before the engine would take an abandoned lease over, as a real retry (~12 s) comes within a 20 s budget.
        const endsBy = leaseHolderDeadline(await stack.kv.get(stack.keys.lease("pages")));
        expect(endsBy! - killed.killedAt, "the dead holder's window left at the kill").toBeGreaterThan(RETRY_MS + 1000);
        setup = { runId, step: stepOf(killed.record).seq, since };
      } catch (error) {
        console.error("[qstash-kills] setup of the held-lease case failed:", error);
        throw error;
      }
      const { runId, step, since } = setup;
      await stack.qstash.idle(RUN_TIMEOUT_MS).catch(() => {});
      const redelivered = sectionDeliveries(stack.tap.records(), "pages").filter(
        (r) => r.startedAt >= since && stepOf(r).runId === runId && stepOf(r).seq === step,
      );
      figures.heldLease = {
        step,
        attempts: redelivered.map((r) => [
          Number(r.headers["upstash-retried"]),
          r.status,
          r.responseBody.slice(0, 160),
        ]),
        cursor: await stack.cursor("pages"),
      };
      // The redelivery of the dead step is never acknowledged without the step being run.
      expect(
        redelivered.some((r) => r.status === 200 && r.json?.duplicate === true),
        "a redelivery of the dead step acknowledged as a duplicate",
      ).toBe(false);
      await waitForRunDone(stack, { pages: runId, posts: runId }, RUN_TIMEOUT_MS);
      expect(await stack.diffKv()).toEqual([]);
    },
  );
});
