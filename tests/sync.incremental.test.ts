/**
 * Incremental listing (lib/sync/listing-mode.ts, issue 27 item 3), over a real
 * redis-server and the Notion emulator over HTTP, through the route handler
 * (and, for kills, the engine in process behind tests/support/kill-points.ts):
 * - an edit, a new row and a row edited again within the minute Notion rounds
 *   to are picked up by the next (incremental) run, and only they are fetched;
 * - a trashed, an unshared and an unpublished row are NOT removed by an
 *   incremental run, are removed by the next full listing (SYNC_FULL_LIST_HOURS
 *   passed on the engine's clock, or a forced run), and at once by the webhook
 *   path (a targeted run) even when an incremental run started after their events;
 * - a scheduled row becoming due makes the run list in full (reason recorded);
 * - a children run after an incremental run of its parent section sees every parent;
 * - a kill at each list commit and each merge/finalize commit of an incremental run converges;
 * - a no-change run of 1,200 rows sends 1 query per database section and no other request, and writes no index.
 *
 * The engine's clock is this file's Date shifted (tests/support/shifted-date.ts), and the emulator's
 * clock runs with that Date, so Notion's last_edited_time and the watermark are on
 * one clock, as in production (tests/child-search.test.ts does the same).
 * The config module is replaced by a plain object (as tests/webhooks.sections.test.ts does).
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { Section } from "../lib/core/sections";
import { boundedByDeadline } from "../lib/kv/bounded-store";
import { readLarge } from "../lib/kv/large-value";
import * as shardedSet from "../lib/kv/sharded-set";
import type { KvOp } from "../lib/kv/store";
import { readIndexPage, readManifest } from "../lib/mirror/section-index";
import type { PageBundle } from "../lib/mirror/shapes";
import { createContentFetcher } from "../lib/notion/content-fetcher";
import { createNotionSource } from "../lib/notion/source";
import { engineDeps, loadRuntime } from "../lib/runtime";
import { type Cursor, parseCursor, startCursor } from "../lib/sync/cursor";
import { runInvocation } from "../lib/sync/engine";
import { editedSinceOf, fullListReason } from "../lib/sync/listing-mode";
import { type RunSummary, readHistory } from "../lib/sync/run-history";
import { addDirtyOps } from "../lib/webhooks/dirty";
import { webhookKeys } from "../lib/webhooks/keys";
import { runDirtyInvocation } from "../lib/webhooks/run";
import { expectedOrder } from "../scripts/emulator/notion/verify";
import { SIMPLE_ROWS } from "../scripts/scale/rows";
import { type Stack, startStack, syncUntilDone } from "./support/harness";
import { type KillKind, expireLease, killSwitch } from "./support/kill-points";
import { diffRedisStats, readRedisStats } from "./support/redis-meter";
import { shiftedClock } from "./support/shifted-date";

const config = vi.hoisted(() => ({ sections: undefined as Record<string, Record<string, unknown>> | undefined }));
vi.mock("@notion-kv-sync/root/notion-kv-sync.config", () => ({
  get default() {
    return config.sections ? { sections: config.sections } : undefined;
  },
}));

const clock = shiftedClock();
const HOUR = 3_600_000;

const PUBLISHED = { property: "Published", checkbox: { equals: true } };
const DUE = { property: "Date", date: { on_or_before: "now" } };

const isPublished = (stack: Stack, id: string) =>
  (stack.workspace.page(id)!.properties.Published as { checkbox: boolean }).checkbox;

/** Rows the section should hold, in public order (newest first). */
function expectedRows(stack: Stack, section: Section): string[] {
  const ws = stack.workspace;
  if (section === "docs") return expectedOrder(ws, ws.pagesDatabaseId);
  return expectedOrder(ws, ws.postsDatabaseId).filter((id) => isPublished(stack, id));
}

/** Every member of a sharded id set. */
async function idSet(stack: Stack, base: string): Promise<string[]> {
  const shards = await Promise.all(shardedSet.shardKeys(base).map((k) => stack.kv.smembers(k)));
  return shards.flat().sort();
}

/**
 * The section's KV against the workspace: the index lists exactly the rows, in order, each
 * entry and bundle at the row's last_edited_time; the id set and ledger hold exactly them; no
 * scratch key of a finished run is left.
 */
async function converged(stack: Stack, section: Section): Promise<string[]> {
  const { kv, keys } = stack;
  const problems: string[] = [];
  const expected = expectedRows(stack, section);
  const index = await readIndexPage(kv, keys, section);
  const ids = index?.entries.map((e) => e.id) ?? [];
  if (JSON.stringify(ids) !== JSON.stringify(expected))
    problems.push(`${section}: index ${ids.length} entries, ${expected.length} rows, or not in order`);
  for (const entry of index?.entries ?? []) {
    const row = stack.workspace.page(entry.id);
    if (entry.last_edited_time !== row?.last_edited_time) problems.push(`${section}: entry of ${entry.id} is stale`);
    const bundle = (await readLarge<PageBundle>(kv, keys, keys.page(section, entry.slug)))?.value;
    if (bundle?.last_edited_time !== row?.last_edited_time) problems.push(`${section}: bundle ${entry.slug} stale`);
  }
  const manifest = await readManifest(kv, keys, section);
  if (manifest?.total !== ids.length) problems.push(`${section}: manifest total ${manifest?.total}`);
  const members = manifest?.idsKey ? await idSet(stack, manifest.idsKey) : [];
  if (JSON.stringify(members) !== JSON.stringify([...expected].sort()))
    problems.push(`${section}: id set holds ${members.length}, ${expected.length} rows`);
  const ledger = (await kv.scanKeys(`${keys.prefix}:entry:${section}:`)).map((k) => k.slice(k.lastIndexOf(":") + 1));
  if (JSON.stringify(ledger.sort()) !== JSON.stringify([...expected].sort()))
    problems.push(`${section}: ${ledger.length} ledger entries, ${expected.length} rows`);
  for (const what of ["work", "done", "removals", "partial"])
    for (const key of await kv.scanKeys(`${keys.prefix}:${what}:${section}:`)) problems.push(`scratch left: ${key}`);
  const idShards = new Set(manifest?.idsKey ? shardedSet.shardKeys(manifest.idsKey) : []);
  for (const key of await kv.scanKeys(`${keys.prefix}:ids:${section}:`))
    if (!idShards.has(key)) problems.push(`id set of no index: ${key}`);
  return problems;
}

async function lastRun(stack: Stack, section: Section): Promise<RunSummary> {
  return (await readHistory(stack.kv, stack.keys, section))[0];
}

async function cursorOf(stack: Stack, section: Section): Promise<Cursor> {
  const loaded = parseCursor(await stack.kv.get(stack.keys.cursor(section)));
  if (loaded.kind !== "ok") throw new Error(`no cursor for ${section}`);
  return loaded.cursor;
}

const requestsOf = (stack: Stack, route?: string) =>
  stack.emulator.requests().filter((r) => route === undefined || r.route === route);

/** One run of the section to its end; its last answer. */
async function run(stack: Stack, section: Section, query?: string) {
  const answers = await syncUntilDone(stack, section, { query });
  return answers.at(-1)!;
}

async function markDirty(stack: Stack, pageIds: string[], at: Date): Promise<void> {
  const wk = webhookKeys(stack.keys);
  await stack.kv.atomic(
    addDirtyOps(
      wk.dirtyBase(),
      pageIds.map((pageId) => ({ pageId, timestamp: at.toISOString() })),
    ),
  );
}

describe("fullListReason and the watermark", () => {
  const base = {
    force: false,
    since: "2026-12-07T09:59:00.000Z",
    startedAt: "2026-12-07T10:00:30.000Z",
    lastFullList: "2026-12-07T08:00:00.000Z",
    lastListing: { highWater: "2026-12-07T09:58:00.000Z", spec: "s", nextPublishAt: null, held: false },
  };
  const options = { fullListHours: 24, spec: "s", indexUsable: true, retryPending: false };
  it("lists incrementally only when nothing an edit filter cannot see is pending", () => {
    expect(fullListReason(base, options)).toBeNull();
    expect(fullListReason(base, { ...options, fullListHours: 0 })).toBe("disabled");
    expect(fullListReason({ ...base, force: true }, options)).toBe("forced");
    expect(fullListReason({ ...base, since: "1970-01-01T00:00:00.000Z" }, options)).toBe("refetch_all");
    expect(fullListReason({ ...base, lastFullList: null }, options)).toBe("first_run");
    expect(fullListReason({ ...base, lastListing: null }, options)).toBe("first_run");
    expect(fullListReason(base, { ...options, indexUsable: false })).toBe("no_index");
    expect(fullListReason({ ...base, lastListing: { ...base.lastListing, held: true } }, options)).toBe("held_before");
    expect(fullListReason(base, { ...options, spec: "t" })).toBe("config_changed");
    expect(fullListReason(base, { ...options, fullListHours: 2 })).toBe("periodic");
    const due = { ...base.lastListing, nextPublishAt: "2026-12-07T10:00:00.000Z" };
    expect(fullListReason({ ...base, lastListing: due }, options)).toBe("scheduled_due");
    expect(fullListReason(base, { ...options, retryPending: true })).toBe("retry_pages");
  });
  it("a held run makes the next ones list in full until one completes; a completed run carries its listing", () => {
    const now = new Date("2026-12-07T10:00:30.000Z");
    const done = {
      ...startCursor("pages", { force: false, previous: null, now }),
      status: "done" as const,
      listing: {
        mode: "incremental" as const,
        reason: "x",
        editedSince: null,
        highWater: "2026-12-07T09:00:00.000Z",
        spec: "s",
      },
      lastFullList: "2026-12-07T08:00:00.000Z",
      nextPublishAt: "2026-12-08T00:00:00.000Z",
    };
    const next = startCursor("pages", { force: false, previous: done, now });
    expect(next.lastFullList).toBe("2026-12-07T08:00:00.000Z");
    expect(next.lastListing).toEqual({
      highWater: "2026-12-07T09:00:00.000Z",
      spec: "s",
      nextPublishAt: "2026-12-08T00:00:00.000Z",
      held: false,
    });
    const full = startCursor("pages", {
      force: false,
      previous: { ...done, listing: { ...done.listing, mode: "full" } },
      now,
    });
    expect(full.lastFullList).toBe(done.startedAt);
    const held = startCursor("pages", {
      force: false,
      previous: { ...next, status: "held", listing: { ...done.listing, mode: "full" } },
      now,
    });
    expect(held.lastListing?.held).toBe(true);
    expect(held.lastFullList).toBe(next.lastFullList);
    const heldAgain = startCursor("pages", { force: false, previous: { ...held, status: "held" }, now });
    expect(heldAgain.lastListing?.held).toBe(true);
    const completed = startCursor("pages", {
      force: false,
      previous: { ...held, status: "done", listing: { ...done.listing, mode: "full" } },
      now,
    });
    expect(completed.lastListing?.held).toBe(false);
  });

  it("the edit filter starts at since, or at Notion's high water when that is earlier (its minute included)", () => {
    expect(editedSinceOf(base.since, base.lastListing.highWater)).toBe("2026-12-07T09:58:00.000Z");
    expect(editedSinceOf(base.since, "2026-12-07T10:05:00.000Z")).toBe(base.since);
    expect(editedSinceOf(base.since, null)).toBe(base.since);
  });
});

describe("incremental listing of a filtered blog and docs with child pages", () => {
  let stack: Stack;
  const blogRows = () => stack.workspace.visibleRows(stack.workspace.postsDatabaseId).map((r) => r.id);
  const published = () => blogRows().filter((id) => isPublished(stack, id));

  beforeAll(async () => {
    clock.install();
    stack = await startStack({
      workspace: {
        pages: 10,
        posts: 30,
        hugePages: 0,
        trashedRows: 0,
        unsharedChildPages: 0,
        childDepth: 1,
        now: new Date(Date.now() - HOUR),
      },
      env: { SYNC_BUDGET_MS: "8000", SYNC_CHILD_DEPTH: "1", WEBHOOK_DEBOUNCE_S: "1" },
    });
    const ws = stack.workspace;
    ws.setNow(new Date());
    ws.setClockRunning(true);
    config.sections = {
      blog: { database: ws.postsDatabaseId, filter: PUBLISHED, content: "blocks", children: false },
      docs: { database: ws.pagesDatabaseId, content: "blocks", children: true },
      sched: { database: ws.postsDatabaseId, filter: DUE, content: "none", children: false },
      "by-name": {
        database: ws.postsDatabaseId,
        content: "none",
        children: false,
        sort: { property: "Name", direction: "ascending" },
      },
    };
    for (const section of ["blog", "docs", "children", "sched", "by-name"]) {
      await run(stack, section);
      expect((await lastRun(stack, section)).listing?.mode ?? "children").not.toBe("incremental");
    }
    expect((await lastRun(stack, "blog")).listing).toMatchObject({ mode: "full", reason: "first_run" });
  }, 60_000);
  afterAll(async () => {
    clock.restore();
    config.sections = undefined;
    await stack?.close();
  });

  it("a no-change run lists incrementally: one query, no other request, no index written", async () => {
    const manifest = await readManifest(stack.kv, stack.keys, "blog");
    await stack.kv.atomic([{ op: "del", key: stack.keys.changedPages("blog") }]);
    stack.emulator.resetRequestLog();
    const last = await run(stack, "blog");
    expect(last.counts.fetched).toBe(0);
    expect(requestsOf(stack).map((r) => r.route)).toEqual(["dataSources.query"]);
    expect((await lastRun(stack, "blog")).listing).toMatchObject({
      mode: "incremental",
      reason: "edited_since_watermark",
    });
    expect(await readManifest(stack.kv, stack.keys, "blog")).toEqual(manifest);
    expect(await stack.kv.smembers(stack.keys.changedPages("blog"))).toEqual([]);
    expect(await converged(stack, "blog")).toEqual([]);
  });

  it("an edit is reflected at the next run, and only the edited row is fetched", async () => {
    const [edited] = published();
    stack.workspace.editPageTitle(edited, "Edited since the last run");
    stack.emulator.resetRequestLog();
    const last = await run(stack, "blog");
    expect(last.counts.fetched).toBe(1);
    expect((await cursorOf(stack, "blog")).listing?.mode).toBe("incremental");
    const others = requestsOf(stack).filter((r) => r.route !== "dataSources.query");
    expect(others.length).toBeGreaterThan(0);
    expect(others.every((r) => r.path.includes(edited) || r.route === "blocks.children.list")).toBe(true);
    expect(requestsOf(stack, "dataSources.query")).toHaveLength(1);
    const entry = (await readIndexPage(stack.kv, stack.keys, "blog"))!.entries.find((e) => e.id === edited);
    expect(entry?.title).toBe("Edited since the last run");
    expect(await converged(stack, "blog")).toEqual([]);
  });

  it("a new row and a row edited again within the rounding minute are both picked up", async () => {
    const ws = stack.workspace;
    const [, again] = published();
    // Two minutes on: the last test's edit is out of the rounding overlap (it would be fetched again).
    clock.advance(2 * 60_000);
    await run(stack, "blog");
    // Frozen: the first edit, the run and the second edit fall in one minute of Notion's clock.
    ws.setClockRunning(false);
    try {
      ws.editPageTitle(again, "First edit of the minute");
      expect((await run(stack, "blog")).counts.fetched).toBe(1);
      ws.editPageTitle(again, "Second edit of the minute");
      const added = ws.addPage(ws.postsDatabaseId, { title: "A brand new post" });
      ws.updateRow(added.id, { Published: true });
      const last = await run(stack, "blog");
      expect((await cursorOf(stack, "blog")).listing?.mode).toBe("incremental");
      expect(last.counts.fetched).toBe(2);
      const index = (await readIndexPage(stack.kv, stack.keys, "blog"))!;
      expect(index.entries.find((e) => e.id === again)?.title).toBe("Second edit of the minute");
      expect(index.entries[0].id).toBe(added.id);
    } finally {
      ws.setClockRunning(true);
    }
    expect(await converged(stack, "blog")).toEqual([]);
  });

  it("a children run after an incremental run of its parent section sees every parent", async () => {
    const ws = stack.workspace;
    const parent = ws.reachableChildPages(1, [ws.pagesDatabaseId])[0].parentId;
    ws.editPageTitle(parent, "A parent edited");
    const added = ws.addPage(ws.pagesDatabaseId, { title: "A new parent" });
    const child = ws.addChildPage(added.id, "Child of the new parent");
    await run(stack, "docs");
    expect((await lastRun(stack, "docs")).listing?.mode).toBe("incremental");
    expect(await converged(stack, "docs")).toEqual([]);
    await run(stack, "children");
    const children = (await readIndexPage(stack.kv, stack.keys, "children"))!.entries.map((e) => e.id).sort();
    expect(children).toEqual(
      ws
        .reachableChildPages(1, [ws.pagesDatabaseId])
        .map((c) => c.id)
        .sort(),
    );
    expect(children).toContain(child.id);
  });

  it("a section with a sort of its own: the merged index is the one a full listing builds", async () => {
    const ws = stack.workspace;
    const rows = ws.visibleRows(ws.postsDatabaseId).map((r) => r.id);
    ws.editPageTitle(rows[3], "Aardvark, now first");
    ws.editPageTitle(rows[4], "Zebra, now last");
    ws.addPage(ws.postsDatabaseId, { title: "Middle of the alphabet" });
    await run(stack, "by-name");
    expect((await lastRun(stack, "by-name")).listing?.mode).toBe("incremental");
    const merged = (await readIndexPage(stack.kv, stack.keys, "by-name"))!.entries.map((e) => [e.id, e.title]);
    expect(merged.map(([, title]) => title)).toContain("Aardvark, now first");
    await run(stack, "by-name", "force=1");
    const rebuilt = (await readIndexPage(stack.kv, stack.keys, "by-name"))!.entries.map((e) => [e.id, e.title]);
    expect(merged).toEqual(rebuilt);
  });

  it("a row an incremental run lists and then finds gone (404 on its content) leaves the merged index and its id set", async () => {
    const ws = stack.workspace;
    const [row] = published();
    ws.editPageTitle(row, "Edited, then gone before its content is read");
    stack.emulator.injectFault({ route: "blocks.children.list", status: 404, matchId: row });
    const last = await run(stack, "blog");
    expect((await lastRun(stack, "blog")).listing?.mode).toBe("incremental");
    expect(last.counts.gone).toBe(1);
    expect((await readIndexPage(stack.kv, stack.keys, "blog"))!.entries.map((e) => e.id)).not.toContain(row);
    const manifest = (await readManifest(stack.kv, stack.keys, "blog"))!;
    expect(await idSet(stack, manifest.idsKey!)).not.toContain(row);
    // Notion agrees once the row is trashed there.
    ws.trashPage(row);
    expect(await converged(stack, "blog")).toEqual([]);
  });

  it("a trashed, an unshared and an unpublished row stay through an incremental run and go at the next full listing", async () => {
    const ws = stack.workspace;
    const [trashed, unshared, unpublished] = published().slice(2, 5);
    ws.trashPage(trashed);
    ws.unsharePage(unshared);
    ws.updateRow(unpublished, { Published: false });
    const incremental = await run(stack, "blog");
    expect((await lastRun(stack, "blog")).listing?.mode).toBe("incremental");
    expect(incremental.counts.removed).toBe(0);
    const kept = (await readIndexPage(stack.kv, stack.keys, "blog"))!.entries.map((e) => e.id);
    expect(kept).toEqual(expect.arrayContaining([trashed, unshared, unpublished]));

    // SYNC_FULL_LIST_HOURS (24) later on the engine's clock: the run lists in full.
    clock.advance(25 * HOUR);
    const full = await run(stack, "blog");
    expect((await lastRun(stack, "blog")).listing).toMatchObject({ mode: "full", reason: "periodic" });
    expect(full.counts.removed).toBe(3);
    expect(await converged(stack, "blog")).toEqual([]);
    // And the next run is incremental again.
    await run(stack, "blog");
    expect((await lastRun(stack, "blog")).listing?.mode).toBe("incremental");

    // A forced run lists in full too.
    const [another] = published();
    ws.trashPage(another);
    await run(stack, "blog");
    expect((await readIndexPage(stack.kv, stack.keys, "blog"))!.entries.map((e) => e.id)).toContain(another);
    const forced = await run(stack, "blog", "force=1");
    expect((await lastRun(stack, "blog")).listing).toMatchObject({ mode: "full", reason: "forced" });
    expect(forced.counts.removed).toBe(1);
    expect(await converged(stack, "blog")).toEqual([]);
  });

  it("by webhook, a trashed, an unshared and an unpublished row go at once, even after an incremental run began after their events", async () => {
    const ws = stack.workspace;
    const [trashed, unshared, unpublished] = published().slice(0, 3);
    // A minute after the last full listing, the events, ten seconds old when recorded: well before the run below starts.
    clock.advance(60_000);
    const at = new Date(Date.now() - 10_000);
    ws.trashPage(trashed);
    ws.unsharePage(unshared);
    ws.updateRow(unpublished, { Published: false });
    await markDirty(stack, [trashed, unshared, unpublished], at);
    // The section's incremental run, started after the events, removes none of them ...
    await run(stack, "blog");
    expect((await lastRun(stack, "blog")).listing?.mode).toBe("incremental");
    const kept = (await readIndexPage(stack.kv, stack.keys, "blog"))!.entries.map((e) => e.id);
    expect(kept).toEqual(expect.arrayContaining([trashed, unshared, unpublished]));
    // ... so it does not cover their events: the targeted run reads the three pages and removes them.
    const { result } = await runDirtyInvocation({
      env: stack.env,
      startedAt: Date.now(),
      budgetMs: 8000,
      caller: "test",
    });
    // From the blog (and from sched, which holds the trashed and unshared rows too).
    expect(result.removed).toBeGreaterThanOrEqual(3);
    expect(await converged(stack, "blog")).toEqual([]);
    const sched = (await readIndexPage(stack.kv, stack.keys, "sched"))!.entries.map((e) => e.id);
    expect(sched).not.toContain(trashed);
    expect(sched).not.toContain(unshared);
    // The next incremental run keeps the merged index and id set as the webhook left them.
    await run(stack, "blog");
    expect(await converged(stack, "blog")).toEqual([]);
  });

  it("a scheduled row becoming due is picked up by a full listing, reason recorded", async () => {
    const ws = stack.workspace;
    const sched = () => readIndexPage(stack.kv, stack.keys, "sched").then((i) => i!.entries.map((e) => e.id));
    // Whatever the last runs left: start from a settled index.
    await run(stack, "sched");
    // A new row dated two hours ahead: the filter keeps it out until then.
    const row = ws.addPage(ws.postsDatabaseId, { title: "Scheduled post" }).id;
    const due = new Date(Date.now() + 2 * HOUR).toISOString();
    ws.updateRow(row, { Date: due });
    await run(stack, "sched");
    expect((await lastRun(stack, "sched")).listing?.mode).toBe("incremental");
    expect((await cursorOf(stack, "sched")).nextPublishAt).not.toBeNull();
    expect(await sched()).not.toContain(row);
    // Before it is due: incremental, still not there.
    await run(stack, "sched");
    expect((await lastRun(stack, "sched")).listing?.mode).toBe("incremental");
    // Three hours later (under SYNC_FULL_LIST_HOURS): the row is due, without any edit.
    clock.advance(3 * HOUR);
    await run(stack, "sched");
    expect((await lastRun(stack, "sched")).listing).toMatchObject({ mode: "full", reason: "scheduled_due" });
    expect(await sched()).toContain(row);
  });
});

/** Where each atomic batch of one invocation leaves the run: the phase (and finalize stage) of the cursor it writes. */
function batchPhases(ops: KvOp[], cursorKey: string): string {
  const cursor = ops.find((o) => o.op === "set" && o.key === cursorKey) as { value?: Cursor } | undefined;
  if (!cursor?.value) return "page";
  return cursor.value.finalize ? `finalize:${cursor.value.finalize.stage}` : cursor.value.phase;
}

describe("kills at every list and merge commit of an incremental run", () => {
  let stack: Stack;
  const EDITED = 12;
  const published = () =>
    stack.workspace
      .visibleRows(stack.workspace.postsDatabaseId)
      .map((r) => r.id)
      .filter((id) => isPublished(stack, id));

  beforeAll(async () => {
    stack = await startStack({
      workspace: { pages: 2, posts: 40, hugePages: 0, trashedRows: 0, unsharedChildPages: 0, childDepth: 0 },
      env: { SYNC_BUDGET_MS: "8000", SYNC_CHILD_DEPTH: "0" },
    });
    stack.workspace.setNow(new Date());
    stack.workspace.setClockRunning(true);
    config.sections = { blog: { database: stack.workspace.postsDatabaseId, filter: PUBLISHED, children: false } };
    await run(stack, "blog");
    // Two rows a query: the edited rows take six list commits, six work pieces and two merge steps.
    stack.emulator.setQueryResultLimit(2);
  }, 60_000);
  afterAll(async () => {
    config.sections = undefined;
    await stack?.close();
  });

  let edits = 0;
  /** The same rows edited again: every run below has the same work. */
  function editRows(): string[] {
    edits++;
    const rows = published().slice(0, EDITED);
    for (const id of rows) stack.workspace.editPageTitle(id, `Edit ${edits} of ${id.slice(0, 8)}`);
    return rows;
  }

  /** One engine invocation of the blog behind a kill switch (the route's wiring, as tests/reliability/kills.test.ts). */
  async function invocation(kind: KillKind | null, at: number, record?: string[]) {
    const runtime = loadRuntime("blog", stack.env);
    const deps = engineDeps(runtime, "blog", Date.now());
    const kill = killSwitch(
      runtime.kv,
      { kind: kind ?? "batch-dropped", at: kind ? at : 1e9 },
      stack.keys,
      stack.keys.lease("blog"),
    );
    const recording = new Proxy(kill.kv, {
      get(target, prop, receiver) {
        if (prop === "atomic" && record)
          return (ops: KvOp[]) => {
            record.push(batchPhases(ops, stack.keys.cursor("blog")));
            return target.atomic(ops);
          };
        return Reflect.get(target, prop, receiver);
      },
    });
    const notion = createNotionSource({
      token: runtime.notionSettings.token,
      baseUrl: runtime.settings.notionBaseUrl,
      ratePerMin: runtime.settings.notionRatePerMin,
      deadline: deps.deadline,
      fetch: kill.fetch,
    });
    const kv = boundedByDeadline(recording, deps.deadline);
    const content = createContentFetcher("blocks", notion);
    const settled = runInvocation({ ...deps, kv, notion, content }, { section: "blog", force: false }).then(
      (outcome) => ({ outcome }),
      (error: unknown) => ({ error }),
    );
    const first = await Promise.race([settled, kill.died.then((report) => ({ report }))]);
    if ("report" in first || kill.isDead()) return { killed: true as const };
    if ("error" in first) throw first.error;
    return { killed: false as const, outcome: first.outcome };
  }

  it("each kill converges: KV equals the workspace, the index merged once, nothing left over", async () => {
    // A run without a kill: which of its batches are list commits and which finalize commits.
    editRows();
    const phases: string[] = [];
    const clean = await invocation(null, 0, phases);
    expect(clean.killed).toBe(false);
    expect(await converged(stack, "blog")).toEqual([]);
    expect((await lastRun(stack, "blog")).listing?.mode).toBe("incremental");
    expect(phases.filter((p) => p === "finalize:merge").length).toBeGreaterThanOrEqual(2);
    // Every list commit, every finalize commit, and the final one (after it, only the counts are written).
    const final = phases.indexOf("done") + 1;
    const points = phases.flatMap((p, i) => (p === "list" || p.startsWith("finalize") ? [i + 1] : []));
    points.push(final);
    const listCommits = phases.filter((p) => p === "list").length;
    expect(listCommits).toBeGreaterThanOrEqual(EDITED / 2);

    const killed: string[] = [];
    for (const at of points) {
      for (const kind of ["batch-dropped", "batch-landed"] as const) {
        const rows = editRows();
        const outcome = await invocation(kind, at);
        expect(outcome.killed, `${kind} at batch ${at} (${phases[at - 1]})`).toBe(true);
        killed.push(`${kind}@${phases[at - 1]}`);
        await expireLease(stack.redis.url, stack.keys.lease("blog"));
        await run(stack, "blog");
        const problems = await converged(stack, "blog");
        expect(problems, `${kind} at batch ${at} (${phases[at - 1]})`).toEqual([]);
        const index = (await readIndexPage(stack.kv, stack.keys, "blog"))!;
        for (const id of rows)
          expect(index.entries.find((e) => e.id === id)?.title).toBe(`Edit ${edits} of ${id.slice(0, 8)}`);
        expect((await lastRun(stack, "blog")).listing?.mode).toBe("incremental");
      }
    }
    console.log(
      `[incremental kills] batches ${phases.join(" ")}; ${killed.length} kills: ${[...new Set(killed)].join(", ")}`,
    );
  }, 240_000);
});

describe("a no-change run of 1,200 rows", () => {
  const ROWS = 1_200;
  let stack: Stack;
  beforeAll(async () => {
    config.sections = undefined;
    stack = await startStack({
      workspace: { pages: ROWS, ...SIMPLE_ROWS },
      emulator: { queryResultLimit: 1_000 },
      env: { SYNC_BUDGET_MS: "8000", SYNC_CONCURRENCY: "8", SYNC_CHILD_DEPTH: "0" },
    });
    stack.workspace.setNow(new Date());
    stack.workspace.setClockRunning(true);
    for (const section of ["pages", "posts"]) await syncUntilDone(stack, section, { maxCalls: 100 });
  }, 180_000);
  afterAll(async () => stack?.close());

  /** One run of each database section: its Notion requests by route, KV commands, and whether it wrote an index. */
  async function noChangeRun(env: Record<string, string> = {}) {
    const figures: Record<
      string,
      { requests: Record<string, number>; commands: number; byCommand: Record<string, number>; indexWritten: boolean }
    > = {};
    for (const section of ["pages", "posts"] as const) {
      const manifest = await readManifest(stack.kv, stack.keys, section);
      stack.emulator.resetRequestLog();
      const before = await readRedisStats(stack.redis.url);
      const answers = await syncUntilDone({ env: { ...stack.env, ...env } }, section, { maxCalls: 100 });
      const used = diffRedisStats(before, await readRedisStats(stack.redis.url));
      expect(answers.at(-1)!.counts.fetched).toBe(0);
      const requests: Record<string, number> = {};
      for (const r of requestsOf(stack)) requests[r.route] = (requests[r.route] ?? 0) + 1;
      const after = await readManifest(stack.kv, stack.keys, section);
      figures[section] = {
        requests,
        commands: used.commands,
        byCommand: used.byCommand,
        indexWritten: JSON.stringify(after) !== JSON.stringify(manifest),
      };
    }
    return figures;
  }

  it("lists incrementally: one query per database section, no other Notion request, no index written", async () => {
    // Before: every run lists in full (what SYNC_FULL_LIST_HOURS=0 keeps).
    const full = await noChangeRun({ SYNC_FULL_LIST_HOURS: "0" });
    expect(full.pages.requests["dataSources.query"]).toBeGreaterThan(ROWS / 100);
    const incremental = await noChangeRun();
    console.log(
      `[incremental no-change ${ROWS} rows] full listing: ${JSON.stringify(full)}; incremental: ${JSON.stringify(incremental)}`,
    );
    for (const section of ["pages", "posts"] as const) {
      expect(incremental[section].requests, section).toEqual({ "dataSources.query": 1 });
      expect(incremental[section].indexWritten, section).toBe(false);
      expect(incremental[section].commands).toBeLessThan(full[section].commands);
    }
    expect((await lastRun(stack, "pages")).listing).toMatchObject({ mode: "incremental" });
    expect(await readIndexPage(stack.kv, stack.keys, "pages").then((i) => i!.total)).toBe(ROWS);
  }, 120_000);
});
