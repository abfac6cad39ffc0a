/**
 * What an invocation's commits leave when it dies or meets a KV error between
 * them, on a real redis-server and the emulated workspace:
 * - a kill after page commits loses neither the run's counts nor the
 *   revalidation of the pages they changed (SITE_REVALIDATE_URL is a local
 *   server recording every signed call);
 * - a batch whose outcome is unknown (applied by KV, answered by a timeout)
 *   ends the invocation's writes: nothing more is committed from its cursor in
 *   memory, and the next invocation resumes from what KV holds;
 * - the sync phase keeps a finished piece that it stopped before reaching
 *   (cursor.finishedAhead from lowestOpen).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDeadline } from "../lib/core/deadline";
import type { Section } from "../lib/core/sections";
import { boundedByDeadline } from "../lib/kv/bounded-store";
import type { KvStore } from "../lib/kv/store";
import { readIndexPage } from "../lib/mirror/section-index";
import { createBlockTreeFetcher } from "../lib/notion/block-tree";
import { createNotionSource } from "../lib/notion/source";
import { engineDeps, loadRuntime } from "../lib/runtime";
import { type EngineDeps, createRunContext } from "../lib/sync/context";
import { type Cursor, parseCursor, startCursor } from "../lib/sync/cursor";
import { runInvocation } from "../lib/sync/engine";
import { readHistory } from "../lib/sync/run-history";
import { runSyncPhase } from "../lib/sync/sync-phase";
import { packPiece } from "../lib/sync/worklist";
import { type Stack, diffKvWithWorkspace, startStack, syncUntilDone } from "./support/harness";
import { type KillPlan, expireLease, killSwitch, timeoutAfterApplying } from "./support/kill-points";
import { type RevalidationSite, startRevalidationSite } from "./support/revalidation-site";

let stack: Stack;
let site: RevalidationSite;

beforeAll(async () => {
  site = await startRevalidationSite();
  stack = await startStack({
    workspace: { pages: 12, posts: 12, hugePages: 0, trashedRows: 0 },
    // The trashed row below leaves at a full listing.
    env: { ...site.env, SYNC_BUDGET_MS: "5000", SYNC_FULL_LIST_HOURS: "0" },
  });
});
afterAll(async () => {
  await stack?.close();
  await site?.close();
});

/** One invocation of the engine with its KV behind `wrap` (and the deadline bound above it, as in production). */
function engineWith(section: Section, wrap: (kv: KvStore) => KvStore, fetch?: typeof globalThis.fetch) {
  const runtime = loadRuntime(section, stack.env);
  const deps = engineDeps(runtime, section, Date.now());
  const notion = createNotionSource({
    token: runtime.notionSettings.token,
    baseUrl: runtime.settings.notionBaseUrl,
    ratePerMin: runtime.settings.notionRatePerMin,
    deadline: deps.deadline,
    fetch,
  });
  return runInvocation(
    {
      ...deps,
      kv: boundedByDeadline(wrap(runtime.kv), deps.deadline),
      notion,
      content: createBlockTreeFetcher(notion),
    },
    { section, force: false },
  );
}

async function storedCursor(section: Section): Promise<Cursor> {
  const loaded = parseCursor(await stack.kv.get(stack.keys.cursor(section)));
  if (loaded.kind !== "ok") throw new Error(`no cursor for ${section}`);
  return loaded.cursor;
}

async function slugOf(section: Section, id: string): Promise<string | undefined> {
  return (await readIndexPage(stack.kv, stack.keys, section))?.entries.find((e) => e.id === id)?.slug;
}

describe("counts and revalidation survive a kill between page commits and the invocation's last commit", () => {
  it("the resumed run counts the killed invocation's pages and revalidates their tags", async () => {
    await syncUntilDone(stack, "pages");
    const ws = stack.workspace;
    const [renamed, edited, trashed] = ws.visibleRows(ws.pagesDatabaseId).slice(0, 3);
    const before = { renamed: await slugOf("pages", renamed.id), trashed: await slugOf("pages", trashed.id) };
    ws.advanceClock(10 * 60_000);
    ws.editPageTitle(renamed.id, "Renamed before the kill");
    ws.editPageTitle(edited.id, `${edited.id} edited`);
    ws.trashPage(trashed.id);
    site.calls.length = 0;

    // Dies once its second page commit has landed: both edited pages are in KV, no count in the cursor yet.
    const plan: KillPlan = { kind: "batch-landed", at: 2, target: "page commit" };
    const kill = killSwitch(stack.kv, plan, stack.keys, stack.keys.lease("pages"));
    const zombie = engineWith("pages", () => kill.kv, kill.fetch).catch(() => null);
    const report = await Promise.race([kill.died, zombie.then(() => null)]);
    expect(report?.batch, "killed at its second page commit").toBe("page commit");
    await expireLease(stack.redis.url, stack.keys.lease("pages"));

    const answers = await syncUntilDone(stack, "pages");
    await zombie;
    const last = answers.at(-1)!;
    expect(last.status).toBe("done");
    // The trashed row is no longer listed: finalize removes it.
    expect(last.counts, "the run's counts include the killed invocation's pages").toMatchObject({
      fetched: 2,
      gone: 0,
      removed: 1,
    });
    expect((await readHistory(stack.kv, stack.keys, "pages"))[0].counts).toMatchObject({ fetched: 2, removed: 1 });

    const tags = site.tags();
    const after = { renamed: await slugOf("pages", renamed.id), edited: await slugOf("pages", edited.id) };
    for (const slug of [before.renamed, after.renamed, after.edited, before.trashed])
      expect([...tags], `notion:pages:${slug}`).toContain(`notion:pages:${slug}`);
    expect([...tags]).toContain("notion:pages");
    expect(site.calls.every((c) => c.verified)).toBe(true);
    expect(await stack.kv.scard(stack.keys.changedPages("pages")), "the record is drained").toBe(0);
  });
});

describe("a batch of unknown outcome ends the invocation's writes", () => {
  it("no later commit reuses the cursor in memory (a landed piece is never overwritten)", async () => {
    const { keys } = stack;
    const runId = "r-unknown";
    await stack.kv.set(keys.lease("children"), "token-unknown");
    const cursor: Cursor = {
      ...startCursor("children", { force: false, previous: null, now: new Date(), runId }),
      phase: "sync",
    };
    cursor.list.pieces = 2;
    const store = timeoutAfterApplying(stack.kv, keys, "listing step");
    const ctx = createRunContext(testDeps(store.kv), "children", cursor, "token-unknown");
    const addPiece = (value: string) =>
      ctx.commit((c) => {
        const n = c.list.pieces++;
        return [{ op: "set", key: keys.workPiece("children", runId, n), value }];
      });
    // Queued behind each other, as two workers' discoveries are.
    const [first, second] = await Promise.allSettled([addPiece("first"), addPiece("second")]);
    expect(await stack.kv.get(keys.workPiece("children", runId, 2)), "the landed commit's piece").toBe("first");
    expect(first).toMatchObject({ status: "rejected", reason: { name: "KvTimeoutError" } });
    expect(second).toMatchObject({ status: "rejected", reason: { name: "WritesEndedError" } });
    expect(await stack.kv.get(keys.workPiece("children", runId, 3))).toBeNull();
    expect((await storedCursor("children")).list.pieces).toBe(3);
    expect(ctx.shouldStop(), "workers stop").toBe(true);
    await expect(ctx.write([{ op: "set", key: `${keys.prefix}:probe`, value: 1 }])).rejects.toMatchObject({
      name: "WritesEndedError",
    });
    expect(store.batchesAfter(), "nothing was sent after the timeout").toBe(0);
    await stack.kv.del([keys.lease("children"), keys.cursor("children")]);
  });

  it("the engine stops its workers at once, and the next invocation resumes from KV with the right counts", async () => {
    const ws = stack.workspace;
    const rows = ws.visibleRows(ws.postsDatabaseId);
    const store = timeoutAfterApplying(stack.kv, stack.keys, "page commit", 2);
    // The error of the batch itself, or of a worker's write refused after it.
    await expect(engineWith("posts", () => store.kv)).rejects.toMatchObject({
      name: expect.stringMatching(/^(KvTimeoutError|WritesEndedError)$/),
    });
    expect(store.timedOut()).toBe("page commit");
    expect(store.batchesAfter(), "no batch after the one of unknown outcome").toBe(0);
    // The page commits that landed are counted, whatever the invocation knew of them.
    expect(
      (await stack.kv.get<{ counts: Record<string, number> }>(stack.keys.pendingCounts("posts")))?.counts,
    ).toMatchObject({ fetched: 2 });

    const answers = await syncUntilDone(stack, "posts");
    expect(answers.at(-1)!.counts).toMatchObject({ fetched: rows.length, gone: 0, failed: 0 });
    expect(await stack.kv.get(stack.keys.pendingCounts("posts"))).toBeNull();
    expect(await diffKvWithWorkspace(stack)).toEqual(expect.not.arrayContaining([expect.stringMatching(/^posts/)]));
  });
});

describe("cursor.finishedAhead", () => {
  it("keeps a piece finished by an earlier invocation that this one stopped right before", async () => {
    const { keys } = stack;
    const runId = "r-ahead";
    await stack.kv.set(keys.lease("pages"), "token-ahead");
    const cursor: Cursor = {
      ...startCursor("pages", { force: false, previous: null, now: new Date(), runId }),
      phase: "sync",
      syncPiece: 3,
      finishedAhead: [[4, 6]],
    };
    cursor.list.pieces = 7;
    // Rows unchanged at listing: nothing to fetch, each piece is finished once read.
    for (let n = 3; n < 7; n++)
      await stack.kv.set(keys.workPiece("pages", runId, n), packPiece({ rows: [{ id: `row-${n}` }] }));
    const pieceReads: number[] = [];
    let stopAfterPiece: number | null = 3;
    const counting = new Proxy(stack.kv, {
      get(store, prop, receiver) {
        const value = Reflect.get(store, prop, receiver);
        if (prop !== "get") return typeof value === "function" ? value.bind(store) : value;
        return (key: string) => {
          const match = /:work:pages:r-ahead:(\d+)$/.exec(key);
          if (match) pieceReads.push(Number(match[1]));
          return store.get(key);
        };
      },
    });
    const phase = async (c: Cursor) => {
      const ctx = createRunContext(testDeps(counting), "pages", c, "token-ahead");
      // The budget runs out once piece `stopAfterPiece` is loaded, before the finished piece after it.
      ctx.shouldStop = () => stopAfterPiece !== null && pieceReads.includes(stopAfterPiece);
      await runSyncPhase(ctx);
      return ctx.cursor;
    };
    const first = await phase(cursor);
    expect(first.syncPiece).toBe(4);
    expect(first.finishedAhead, "piece 4 was finished before").toEqual([[4, 6]]);
    stopAfterPiece = null;
    pieceReads.length = 0;
    const second = await phase(await storedCursor("pages"));
    expect(pieceReads, "no finished piece is read again").toEqual([]);
    expect(second.phase).toBe("finalize");
    await stack.kv.del([keys.lease("pages"), keys.cursor("pages")]);
  });
});

/** Engine dependencies for a context built by hand (no Notion request is made through them). */
function testDeps(kv: KvStore): EngineDeps {
  return {
    kv,
    keys: stack.keys,
    notion: {} as EngineDeps["notion"],
    content: { mode: "blocks" } as EngineDeps["content"],
    settings: { concurrency: 2, childDepth: 5, maxDeleteRatio: 0.5, stallAfter: 3 },
    deadline: createDeadline(10_000),
  };
}
