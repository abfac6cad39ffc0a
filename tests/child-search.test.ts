/**
 * Change detection for child pages through Notion's search (lib/sync/child-check.ts),
 * against the Notion emulator's POST /v1/search (scripts/emulator/notion/search.ts),
 * a real redis-server and the route handler in process (tests/support/harness.ts).
 *
 * The emulated clock is the engine's: this file runs Date shifted (tests/support/shifted-date.ts)
 * (moved forward to pass SYNC_CHILD_FULL_CHECK_HOURS), and the workspace's
 * clock runs with that Date, so Notion's last_edited_time and the run's
 * watermark are on one clock, as in production.
 */
import { Client } from "@notionhq/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readSectionStatus } from "../lib/operator/status";
import { fullCheckReason, searchStopAt } from "../lib/sync/child-check";
import { readHistory } from "../lib/sync/run-history";
import type { BlockTree } from "../scripts/emulator/notion/workspace";
import { type Stack, diffKvWithWorkspace, startStack, syncAll, syncUntilDone } from "./support/harness";
import {
  listedChildIds,
  normalize,
  childRetrievedIds,
  scratchLeft,
  searchTotal,
  searchedChildIds,
  sorted,
} from "./support/search-sweep";
import { shiftedClock } from "./support/shifted-date";

const clock = shiftedClock();

const HOUR = 3_600_000;

describe("children: search since the watermark, full check every SYNC_CHILD_FULL_CHECK_HOURS", () => {
  let stack: Stack;
  let childIds: string[];

  // pages.retrieve: of child pages (database rows are retrieved for their expensive properties, lib/sync/list-properties.ts).
  const requestsOf = (route: string) =>
    route === "pages.retrieve"
      ? childRetrievedIds(stack).length
      : stack.emulator.requests().filter((r) => r.route === route).length;
  const children = () => syncUntilDone(stack, "children");
  const lastCheck = async () => (await readHistory(stack.kv, stack.keys, "children"))[0]?.childCheck;
  /** The first text block of a child page and an edit of it. */
  function textBlock(pageId: string): BlockTree {
    const find = (nodes: BlockTree[]): BlockTree | undefined => {
      for (const n of nodes) {
        if (n.type !== "child_page" && Array.isArray((n[n.type] as { rich_text?: unknown })?.rich_text)) return n;
        const inner = find(n.children ?? []);
        if (inner) return inner;
      }
      return undefined;
    };
    const block = find(stack.workspace.contentTree(pageId));
    if (!block) throw new Error(`no text block in ${pageId}`);
    return block;
  }
  const bundleText = async (pageId: string): Promise<string> =>
    JSON.stringify(await stack.kv.get(stack.keys.page("children", (await entryOf(pageId)).slug)));
  const entryOf = async (pageId: string) =>
    (await stack.kv.get<{ entry: { slug: string } }>(stack.keys.entry("children", pageId)))!.entry;

  beforeAll(async () => {
    clock.install();
    // Everything generated is an hour old; the clock then runs with (shifted) Date. No unshared child pages:
    // one answers 404 at every run (its parent still lists it, and no ledger entry says it is gone).
    stack = await startStack({
      workspace: { pages: 30, posts: 20, hugePages: 0, unsharedChildPages: 0, now: new Date(Date.now() - HOUR) },
    });
    stack.workspace.setNow(new Date());
    stack.workspace.setClockRunning(true);
    childIds = stack.workspace.reachableChildPages().map((c) => c.id);
    expect(childIds.length).toBeGreaterThan(5);
  });
  afterAll(async () => {
    clock.restore();
    await stack?.close();
  });

  it("the emulator answers POST /v1/search in Notion's shape, newest first, paginated, filtered by object", async () => {
    const client = new Client({
      auth: stack.emulator.token,
      baseUrl: stack.emulator.url,
      retry: false,
      logger: () => {},
    });
    const first = await client.search({
      filter: { property: "object", value: "page" },
      sort: { timestamp: "last_edited_time", direction: "descending" },
      page_size: 10,
    });
    expect(first).toMatchObject({
      object: "list",
      type: "page_or_data_source",
      page_or_data_source: {},
      has_more: true,
    });
    expect(first.results).toHaveLength(10);
    expect(first.results.every((r) => r.object === "page")).toBe(true);
    const times = first.results.map((r) => Date.parse((r as { last_edited_time: string }).last_edited_time));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    const all: string[] = first.results.map((r) => r.id);
    for (let cursor = first.next_cursor; cursor;) {
      const next = await client.search({
        filter: { property: "object", value: "page" },
        sort: { timestamp: "last_edited_time", direction: "descending" },
        start_cursor: cursor,
      });
      all.push(...next.results.map((r) => r.id));
      cursor = next.next_cursor;
    }
    const ws = stack.workspace;
    const expected =
      ws.visibleRows(ws.pagesDatabaseId).length + ws.visibleRows(ws.postsDatabaseId).length + new Set(childIds).size;
    expect(new Set(all).size).toBe(expected);
    expect(all).toHaveLength(expected);
    const sources = await client.search({ filter: { property: "object", value: "data_source" } });
    expect(sources.results.map((r) => r.object)).toEqual(["data_source", "data_source"]);
    await expect(client.search({ filter: { property: "object", value: "database" as "page" } })).rejects.toMatchObject({
      status: 400,
      code: "validation_error",
    });
  });

  it("a first run checks in full; a no-change run then sends ≤ ceil(C/100)+1 search requests, no pages.retrieve, no block request", async () => {
    const total = await searchTotal(stack);
    stack.emulator.resetRequestLog();
    await syncAll(stack);
    // A first run sweeps search to its end (100 a request) and takes every child page's object from it:
    // no pages.retrieve (this workspace has no unshared child page, and search does not lag here).
    expect(await lastCheck()).toMatchObject({
      mode: "full",
      reason: "first_run",
      requests: Math.ceil(total / 100),
      sweep: { complete: true, stopped: null },
    });
    expect(requestsOf("pages.retrieve")).toBe(0);
    expect(await scratchLeft(stack)).toEqual([]);
    expect(await diffKvWithWorkspace(stack)).toEqual([]);

    stack.emulator.resetRequestLog();
    const answers = await children();
    const C = (await stack.kv.get<{ total: number }>(stack.keys.index("children")))!.total;
    expect(C).toBeGreaterThan(5);
    expect(requestsOf("search")).toBeGreaterThanOrEqual(1);
    expect(requestsOf("search")).toBeLessThanOrEqual(Math.ceil(C / 100) + 1);
    expect(requestsOf("pages.retrieve")).toBe(0);
    expect(requestsOf("blocks.children.list")).toBe(0);
    expect(stack.emulator.requests().length).toBe(requestsOf("search"));
    const last = answers.at(-1)!;
    expect(last.counts.fetched).toBe(0);
    expect(last.counts.skipped).toBe(C);
    expect(await lastCheck()).toMatchObject({ mode: "search", reason: "search_since_watermark", found: 0 });
    const status = await readSectionStatus(stack.kv, stack.keys, "children");
    expect(status.run?.childCheck).toMatchObject({ mode: "search", reason: "search_since_watermark" });
    expect(status.runs[0].childCheck?.mode).toBe("search");
    expect(await diffKvWithWorkspace(stack)).toEqual([]);
  });

  it("an edited child page that search finds is retrieved and fetched, and only it", async () => {
    const child = childIds[1];
    stack.workspace.editBlockText(textBlock(child).id, "Found by search");
    stack.emulator.resetRequestLog();
    const last = (await children()).at(-1)!;
    expect(last.counts.fetched).toBe(1);
    expect(requestsOf("pages.retrieve")).toBe(1);
    expect(
      stack.emulator
        .requests()
        .find((r) => r.route === "pages.retrieve")!
        .path.replace(/-/g, ""),
    ).toContain(child.replace(/-/g, ""));
    expect(await lastCheck()).toMatchObject({ mode: "search", found: 1 });
    expect(await bundleText(child)).toContain("Found by search");
    expect(await diffKvWithWorkspace(stack)).toEqual([]);
  });

  it("an edit search misses (index lag) is caught by the next full check, once SYNC_CHILD_FULL_CHECK_HOURS have passed", async () => {
    const child = childIds[2];
    stack.emulator.setSearchLag(10 * 60_000);
    stack.workspace.editBlockText(textBlock(child).id, "Missed by search");
    stack.emulator.resetRequestLog();
    const missed = (await children()).at(-1)!;
    expect(missed.counts.fetched).toBe(0);
    expect(requestsOf("pages.retrieve")).toBe(0);
    expect(await lastCheck()).toMatchObject({ mode: "search", found: 0 });
    expect(await bundleText(child)).not.toContain("Missed by search");

    // 25 hours later (SYNC_CHILD_FULL_CHECK_HOURS is 24): the run retrieves every child page.
    clock.advance(25 * HOUR);
    stack.emulator.resetRequestLog();
    const C = (await stack.kv.get<{ total: number }>(stack.keys.index("children")))!.total;
    const caught = (await children()).at(-1)!;
    expect(await lastCheck()).toMatchObject({ mode: "full", reason: "periodic" });
    // The periodic check is the safety net against search's lag: it does not sweep, it retrieves every child page.
    expect((await lastCheck())?.sweep).toBeUndefined();
    expect(requestsOf("pages.retrieve")).toBe(C);
    // The missed page, and the one edited in the minute before the last run (needsFetch's rounding overlap).
    expect(caught.counts.fetched).toBeGreaterThanOrEqual(1);
    expect(caught.counts.fetched).toBeLessThanOrEqual(2);
    expect(await bundleText(child)).toContain("Missed by search");
    expect(await diffKvWithWorkspace(stack)).toEqual([]);
    stack.emulator.setSearchLag(0);
  });

  it("a failing search falls back to the full check for that run, and the next run searches again", async () => {
    const child = childIds[3];
    stack.workspace.editBlockText(textBlock(child).id, "Edited while search fails");
    stack.emulator.injectFault({ route: "search", status: 502, times: 3 });
    stack.emulator.resetRequestLog();
    const C = (await stack.kv.get<{ total: number }>(stack.keys.index("children")))!.total;
    const answers = await children();
    expect(await lastCheck()).toMatchObject({ mode: "full", reason: "search_failed: 502" });
    expect(requestsOf("pages.retrieve")).toBe(C);
    expect(answers.at(-1)!.counts.fetched).toBe(1);
    expect(answers.some((a) => a.lastError?.code === "notion_search_failed")).toBe(true);
    expect(await bundleText(child)).toContain("Edited while search fails");
    expect(await diffKvWithWorkspace(stack)).toEqual([]);

    // The fallback retrieved every child page, a full check like any other: the next run searches again.
    stack.emulator.resetRequestLog();
    await children();
    expect(await lastCheck()).toMatchObject({ mode: "search" });
    // Only what was edited in the minute before the last run (the rounding overlap) is retrieved again.
    expect(requestsOf("pages.retrieve")).toBeLessThan(C);
  });

  it("a permanent search error (400) falls back too, and does not fail the run", async () => {
    stack.emulator.injectFault({ route: "search", status: 400, times: 1 });
    const answers = await children();
    expect(answers.at(-1)!.status).toBe("done");
    expect(await lastCheck()).toMatchObject({ mode: "full", reason: "search_failed: 400" });
  });

  it("force=1 and SYNC_CHILD_FULL_CHECK_HOURS=0 check in full", async () => {
    await syncUntilDone(stack, "children", { query: "force=1" });
    expect(await lastCheck()).toMatchObject({ mode: "full", reason: "forced", sweep: { complete: true } });
    const previous = stack.env.SYNC_CHILD_FULL_CHECK_HOURS;
    stack.env.SYNC_CHILD_FULL_CHECK_HOURS = "0";
    try {
      await children();
      expect(await lastCheck()).toMatchObject({ mode: "full", reason: "disabled" });
      expect((await lastCheck())?.sweep).toBeUndefined();
    } finally {
      if (previous === undefined) delete stack.env.SYNC_CHILD_FULL_CHECK_HOURS;
      else stack.env.SYNC_CHILD_FULL_CHECK_HOURS = previous;
    }
  });
});

describe("forced and first runs take the child pages' objects from a search sweep", () => {
  let stack: Stack;
  // pages.retrieve: of child pages (database rows are retrieved for their expensive properties, lib/sync/list-properties.ts).
  const requestsOf = (route: string) =>
    route === "pages.retrieve"
      ? childRetrievedIds(stack).length
      : stack.emulator.requests().filter((r) => r.route === route).length;
  const lastCheck = async () => (await readHistory(stack.kv, stack.keys, "children"))[0]?.childCheck;
  const forcedChildren = () => syncUntilDone(stack, "children", { query: "force=1" });
  /** Child pages listed but not returned by search now: the ones a sweeping run retrieves. */
  const notSearched = async () => {
    const searched = await searchedChildIds(stack);
    return { searched, hidden: [...listedChildIds(stack.workspace)].filter((id) => !searched.has(id)) };
  };

  beforeAll(async () => {
    // More pages than one search request returns; two unshared child pages (listed by their parents, 404, not in search).
    stack = await startStack({ workspace: { pages: 80, posts: 40, hugePages: 0, unsharedChildPages: 2 } });
  });
  afterAll(async () => stack?.close());

  it("a first run sweeps search to its end and retrieves only the child pages it does not return", async () => {
    const { searched, hidden } = await notSearched();
    expect(hidden).toHaveLength(2);
    const total = await searchTotal(stack);
    expect(total).toBeGreaterThan(100);
    stack.emulator.resetRequestLog();
    const runs = await syncAll(stack);
    expect(requestsOf("search")).toBe(Math.ceil(total / 100));
    expect(sorted(childRetrievedIds(stack))).toEqual(sorted(hidden));
    expect(await lastCheck()).toMatchObject({
      mode: "full",
      reason: "first_run",
      requests: Math.ceil(total / 100),
      found: 0,
      sweep: { found: searched.size, complete: true, stopped: null },
    });
    expect(runs.children.at(-1)!.counts.fetched).toBe(stack.workspace.reachableChildPages(5).length);
    expect(await diffKvWithWorkspace(stack)).toEqual([]);
    expect(await scratchLeft(stack)).toEqual([]);
  });

  it("a forced run in block mode: no pages.retrieve for the child pages search returns, one that search misses (lag) is retrieved and synced", async () => {
    const ws = stack.workspace;
    const child = ws.reachableChildPages(5)[3].id;
    const block = ws.contentTree(child).find((b) => Array.isArray((b[b.type] as { rich_text?: unknown })?.rich_text));
    expect(block).toBeDefined();
    // Edited just now: search's index has not caught up with it.
    stack.emulator.setSearchLag(10 * 60_000);
    try {
      ws.advanceClock(60_000);
      ws.editBlockText(block!.id, "Hidden from the sweep");
      const { hidden } = await notSearched();
      expect(hidden).toContain(normalize(child));
      stack.emulator.resetRequestLog();
      const answers = await forcedChildren();
      expect(sorted(childRetrievedIds(stack))).toEqual(sorted(hidden));
      expect(answers.at(-1)!.counts.fetched).toBe(ws.reachableChildPages(5).length);
      const entry = (await stack.kv.get<{ entry: { slug: string } }>(stack.keys.entry("children", child)))!.entry;
      expect(JSON.stringify(await stack.kv.get(stack.keys.page("children", entry.slug)))).toContain(
        "Hidden from the sweep",
      );
      expect(await lastCheck()).toMatchObject({ mode: "full", reason: "forced", sweep: { complete: true } });
      expect(await diffKvWithWorkspace(stack)).toEqual([]);
      expect(await scratchLeft(stack)).toEqual([]);
    } finally {
      stack.emulator.setSearchLag(0);
    }
  });

  it("a search error ends the sweep: the run retrieves what it did not find, and completes", async () => {
    const listed = listedChildIds(stack.workspace);
    stack.emulator.injectFault({ route: "search", status: 400, times: 1 });
    stack.emulator.resetRequestLog();
    const answers = await forcedChildren();
    expect(answers.at(-1)!.status).toBe("done");
    expect(await lastCheck()).toMatchObject({
      mode: "full",
      reason: "forced",
      requests: 0,
      sweep: { found: 0, complete: false, stopped: "search_failed: 400" },
    });
    // One retrieve a child page; a retrieve cut by an invocation's deadline is sent again by the next
    // (at most SYNC_CONCURRENCY in flight when one ends: the 2 s budget spans several invocations).
    const cutAtMost = (answers.length - 1) * Number(stack.env.SYNC_CONCURRENCY ?? 3);
    expect(requestsOf("pages.retrieve")).toBeGreaterThanOrEqual(listed.size);
    expect(requestsOf("pages.retrieve")).toBeLessThanOrEqual(listed.size + cutAtMost);
    expect(await diffKvWithWorkspace(stack)).toEqual([]);
    expect(await scratchLeft(stack)).toEqual([]);
  });
});

describe("fullCheckReason and searchStopAt", () => {
  const now = new Date("2026-01-02T12:00:00.000Z");
  const base = {
    force: false,
    since: "2026-01-02T11:00:00.000Z",
    lastFullCheck: "2026-01-02T00:00:00.000Z",
    lastHighWater: "2026-01-02T11:30:00.000Z",
  };
  const opts = { fullCheckHours: 24, now, indexedChildren: 10 };

  it("searches only with a watermark, a children index and a recent full check", () => {
    expect(fullCheckReason(base, opts)).toBeNull();
    expect(fullCheckReason({ ...base, force: true }, opts)).toBe("forced");
    expect(fullCheckReason({ ...base, since: null }, opts)).toBe("first_run");
    expect(fullCheckReason({ ...base, lastFullCheck: null }, opts)).toBe("first_run");
    expect(fullCheckReason(base, { ...opts, indexedChildren: null })).toBe("first_run");
    expect(fullCheckReason(base, { ...opts, fullCheckHours: 12 })).toBe("periodic");
    expect(fullCheckReason({ ...base, lastHighWater: null }, opts)).toBe("no_watermark");
    expect(fullCheckReason(base, { ...opts, fullCheckHours: 0 })).toBe("disabled");
  });

  it("stops at since, or at Notion's high water when its clock is behind", () => {
    expect(searchStopAt(base.since, "2026-01-02T11:30:00.000Z")).toBe(base.since);
    expect(searchStopAt(base.since, "2025-06-01T00:00:00.000Z")).toBe("2025-06-01T00:00:00.000Z");
    expect(searchStopAt(base.since, null)).toBe(base.since);
  });
});
