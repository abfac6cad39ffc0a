/**
 * Targeted runs where they meet other runs (issue 22 items 2, 3, 4, 11), over
 * a real redis-server and the Notion emulator over HTTP, with the route
 * handlers and lib/webhooks/run.ts called in process: each targeted run and
 * each section invocation is its own invocation (its own runtime, deadline and
 * lease), as on Vercel; the emulator holds chosen requests until released to
 * put them in the order under test.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Section } from "../lib/core/sections";
import { readLarge } from "../lib/kv/large-value";
import { SET_SHARDS } from "../lib/kv/sharded-set";
import type { PageBundle } from "../lib/mirror/shapes";
import type { LedgerEntry } from "../lib/sync/ledger";
import { addDirtyOps } from "../lib/webhooks/dirty";
import { webhookKeys } from "../lib/webhooks/keys";
import { runDirtyInvocation } from "../lib/webhooks/run";
import { type Stack, invoke, startStack, syncAll, syncUntilDone } from "./support/harness";
import { diffRedisStats, readRedisStats } from "./support/redis-meter";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitUntil(what: string, probe: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function markDirty(stack: Stack, pageIds: string[], at: Date = new Date()): Promise<void> {
  const wk = webhookKeys(stack.keys);
  await stack.kv.atomic(
    addDirtyOps(
      wk.dirtyBase(),
      pageIds.map((pageId) => ({ pageId, timestamp: at.toISOString() })),
    ),
  );
}

function targeted(stack: Stack, budgetMs = 10_000) {
  return runDirtyInvocation({ env: stack.env, startedAt: Date.now(), budgetMs, caller: "test" });
}

async function ledger(stack: Stack, section: Section, id: string): Promise<LedgerEntry | null> {
  return stack.kv.get<LedgerEntry>(stack.keys.entry(section, id));
}

/** The title the mirror serves for the page: its ledger entry's, and its bundle's (null when not mirrored). */
async function mirroredTitle(
  stack: Stack,
  section: Section,
  id: string,
): Promise<{ entry: string; bundle: string | null } | null> {
  const l = await ledger(stack, section, id);
  if (!l?.entry) return null;
  const bundle =
    (await readLarge<PageBundle>(stack.kv, stack.keys, stack.keys.page(section, l.entry.slug)))?.value ?? null;
  return { entry: l.entry.title, bundle: bundle?.title ?? null };
}

function rowIds(stack: Stack, section: "pages" | "posts"): string[] {
  const ws = stack.workspace;
  return ws.visibleRows(section === "pages" ? ws.pagesDatabaseId : ws.postsDatabaseId).map((r) => r.id);
}

describe("targeted runs meeting other runs", () => {
  let stack: Stack;
  beforeEach(async () => {
    stack = await startStack({
      workspace: { pages: 8, posts: 6, hugePages: 0, childDepth: 2, trashedRows: 0, unsharedChildPages: 0 },
      env: { SYNC_BUDGET_MS: "8000", WEBHOOK_DEBOUNCE_S: "1", SYNC_CHILD_DEPTH: "2" },
    });
    await syncAll(stack);
  });
  afterEach(async () => stack?.close());

  it("a children run in search mode covers only the child pages it read: an edited (search lags) or trashed child page is still re-read", async () => {
    const children = (await stack.kv.scanKeys(`${stack.keys.prefix}:entry:children:`)).map((k) =>
      k.slice(k.lastIndexOf(":") + 1),
    );
    expect(children.length).toBeGreaterThanOrEqual(2);
    const [edited, trashed] = children;
    // Search's index is ten minutes behind every edit from here on; trashed pages are never in it.
    stack.emulator.setSearchLag(10 * 60_000);
    stack.workspace.advanceClock(2 * 60_000);
    stack.workspace.editPageTitle(edited, "Edited while search lags");
    stack.workspace.trashPage(trashed);
    // The events (a few seconds old when recorded), then a children run that starts after them.
    await markDirty(stack, [edited, trashed], new Date(Date.now() - 5000));
    const run = await syncUntilDone(stack, "children");
    const cursor = await stack.kv.get<{ childCheck: { mode: string } | null }>(stack.keys.cursor("children"));
    expect(cursor?.childCheck?.mode).toBe("search");
    expect(run.at(-1)?.done).toBe(true);

    const { result } = await targeted(stack);
    expect((await ledger(stack, "children", edited))?.entry?.title).toBe("Edited while search lags");
    expect(await ledger(stack, "children", trashed)).toBeNull();
    expect(result.fetched).toBeGreaterThanOrEqual(1);
    expect(result.removed).toBeGreaterThanOrEqual(1);
  });

  it("of two concurrent targeted runs, the one with the older read never commits over the newer one", async () => {
    const [other] = rowIds(stack, "pages");
    const [page] = rowIds(stack, "posts");
    stack.workspace.advanceClock(2 * 60_000);
    stack.workspace.editPageTitle(page, "Older title");
    await markDirty(stack, [other, page]);
    // Run A reads both pages, then waits on the pages section's content (under its lease).
    const hold = stack.emulator.hold({ route: "blocks.children.list", matchId: other });
    const first = targeted(stack, 20_000);
    await waitUntil("run A to hold the pages lease", () => stack.emulator.held(hold) === 1);
    // Edited again within the same minute (same last_edited_time): run B reads it and commits first.
    stack.workspace.editPageTitle(page, "Newer title");
    await markDirty(stack, [page]);
    const second = await targeted(stack, 10_000);
    expect(second.result.fetched).toBeGreaterThanOrEqual(1);
    expect((await mirroredTitle(stack, "posts", page))?.entry).toBe("Newer title");
    const readAfterB = await stack.kv.get<string>(webhookKeys(stack.keys).readAt(page));
    const newerSlug = (await ledger(stack, "posts", page))!.entry!.slug;

    stack.emulator.release(hold);
    await first;
    const mirrored = await mirroredTitle(stack, "posts", page);
    expect(mirrored?.entry).toBe("Newer title");
    expect(mirrored?.bundle).toBe("Newer title");
    // The newer read's slug and its bundle stay (an older read's slug flip would delete them).
    expect((await ledger(stack, "posts", page))!.entry!.slug).toBe(newerSlug);
    expect(await stack.kv.get(stack.keys.slugOwner("posts", newerSlug))).toBe(page);
    // The page's read time never goes back.
    expect(Date.parse((await stack.kv.get<string>(webhookKeys(stack.keys).readAt(page)))!)).toBeGreaterThanOrEqual(
      Date.parse(readAfterB!),
    );
  });

  it("a page deferred for a live full run is read after it, even when the run finishes before the targeted run ends", async () => {
    const [changed, page] = rowIds(stack, "posts");
    const [other] = rowIds(stack, "pages");
    stack.workspace.advanceClock(2 * 60_000);
    stack.workspace.editPageTitle(changed, "Makes the posts run fetch");
    // A posts run lists (the page unchanged), then is cut by its budget on the changed page: it stays live.
    const block = stack.emulator.hold({ route: "blocks.children.list", matchId: changed });
    const step = await invoke(stack, "posts", { env: { SYNC_BUDGET_MS: "1500" } });
    expect(step.body.done).toBe(false);
    stack.emulator.release(block);

    stack.workspace.editPageTitle(page, "Edited during the posts run");
    await markDirty(stack, [page, other]);
    // The targeted run defers the page (posts is live), then waits on another page's retrieve.
    const hold = stack.emulator.hold({ route: "pages.retrieve", matchId: other });
    const run = targeted(stack, 20_000);
    await waitUntil("the targeted run to wait on the other page", () => stack.emulator.held(hold) === 1);
    // Meanwhile the posts run finishes (its last invocation looks for deferred pages).
    await syncUntilDone(stack, "posts");
    stack.emulator.release(hold);
    await run;
    await waitUntil(
      "the deferred page to be read",
      async () => (await mirroredTitle(stack, "posts", page))?.entry === "Edited during the posts run",
      15_000,
    );
  });

  it("reads the dirty set once an invocation, however many batches it takes", async () => {
    // 120 pages nothing mirrors (Notion answers 404): three batches of at most 50.
    const ids = Array.from({ length: 120 }, () => crypto.randomUUID());
    await markDirty(stack, ids);
    const before = await readRedisStats(stack.redis.url);
    const { result } = await targeted(stack, 20_000);
    const used = diffRedisStats(before, await readRedisStats(stack.redis.url));
    expect(result.pages).toBe(120);
    expect(result.leftover).toBe(0);
    expect(used.byCommand.smembers ?? 0).toBeLessThanOrEqual(SET_SHARDS);
  });
});
