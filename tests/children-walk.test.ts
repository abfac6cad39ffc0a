/**
 * The children listing walks one snapshot of each parent index (lib/sync/list-phase.ts
 * indexWalkStep): a posts run that finalizes removals, in-place updates of an index (what a
 * webhook targeted run writes), or a pinned chunk gone, landing between the listing's manifest
 * read and its chunk read, never make the child pages of a kept parent count as removals.
 *
 * The engine is driven directly (runInvocation) over a real redis-server and the Notion
 * emulator; the store it gets runs the interfering write just before the listing's first read
 * of a chunk of the index named, which is the interleaving QStash's flow control produces
 * when children steps alternate with the steps of a posts run.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { KvStore } from "../lib/kv/store";
import { readIndexPage, readManifest, updateEntryInPlace } from "../lib/mirror/section-index";
import type { IndexEntry } from "../lib/mirror/shapes";
import { engineDeps, loadRuntime } from "../lib/runtime";
import { type Cursor, isFinished } from "../lib/sync/cursor";
import { runInvocation } from "../lib/sync/engine";
import type { LedgerEntry } from "../lib/sync/ledger";
import { type Stack, startStack, syncAll, syncUntilDone } from "./support/harness";

type Hook = { index: "pages" | "posts"; run: () => Promise<void>; times: number };

/** The store, but `hook.run()` goes first when the engine reads a chunk of `hook.index` (up to `times` reads). */
function interleaved(kv: KvStore, stack: Stack, hooks: Hook[]): KvStore {
  const get = async (key: string) => {
    const hook = hooks.find((h) => h.times > 0 && key.startsWith(`${stack.keys.prefix}:ichunk:${h.index}:`));
    if (hook) {
      hook.times--;
      await hook.run();
    }
    return kv.get(key);
  };
  return new Proxy(kv, {
    get(target, prop) {
      if (prop === "get") return get;
      const value = Reflect.get(target, prop) as unknown;
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** Runs children to the end of its run, every invocation on the interleaved store. */
async function childrenRun(stack: Stack, hooks: Hook[], force = false): Promise<Cursor> {
  const runtime = loadRuntime("children", stack.env);
  const kv = interleaved(runtime.kv, stack, hooks);
  for (let i = 0; i < 100; i++) {
    const outcome = await runInvocation(engineDeps({ ...runtime, kv }, "children", Date.now(), 10_000), {
      section: "children",
      force,
    });
    if (outcome.kind !== "ran") throw new Error(`children invocation ${i}: ${outcome.kind}`);
    if (outcome.failure) throw new Error(`children failed: ${outcome.failure.message}`);
    if (isFinished(outcome.cursor)) return outcome.cursor;
  }
  throw new Error("children did not finish in 100 invocations");
}

/** Rewrites one entry of an index in place, as a webhook targeted run does (a new chunk, the manifest swapped). */
async function updateInPlace(
  stack: Stack,
  section: "pages" | "posts",
  edit: (e: IndexEntry) => IndexEntry,
): Promise<void> {
  const manifest = (await readManifest(stack.kv, stack.keys, section))!;
  const entry = (await readIndexPage(stack.kv, stack.keys, section))!.entries[0];
  const update = await updateEntryInPlace(
    stack.kv,
    stack.keys,
    manifest,
    { kind: "upsert", entry: edit(entry) },
    { cache: new Map(), now: new Date() },
  );
  await stack.kv.atomic(update.ops);
}

/** Child pages (depth 1) with a bundle, by parent. */
async function childBundles(stack: Stack): Promise<Map<string, string[]>> {
  const index = (await readIndexPage(stack.kv, stack.keys, "children"))!;
  const out = new Map<string, string[]>();
  for (const e of index.entries) {
    if (e.depth !== 1 || !e.parentId) continue;
    if ((await stack.kv.get(stack.keys.page("children", e.slug))) === null) continue;
    out.set(e.parentId, [...(out.get(e.parentId) ?? []), e.id]);
  }
  return out;
}

/** Child pages of parents still indexed by pages or posts that lost their bundle or ledger entry. */
async function lostChildren(stack: Stack, before: Map<string, string[]>): Promise<string[]> {
  const parents = new Set<string>();
  for (const section of ["pages", "posts"] as const)
    for (const e of (await readIndexPage(stack.kv, stack.keys, section))!.entries) parents.add(e.id);
  const lost: string[] = [];
  for (const [parent, ids] of before) {
    if (!parents.has(parent)) continue;
    for (const id of ids) {
      const ledger = await stack.kv.get<LedgerEntry>(stack.keys.entry("children", id));
      const bundle = ledger?.entry ? await stack.kv.get(stack.keys.page("children", ledger.entry.slug)) : null;
      if (bundle === null) lost.push(`${id} (child of ${parent})`);
    }
  }
  return lost;
}

describe("children: the listing walks one snapshot of each parent index", () => {
  let stack: Stack;
  let before: Map<string, string[]>;

  beforeEach(async () => {
    // The posts run below removes a trashed post: a full listing does (an incremental one removes nothing).
    stack = await startStack({
      workspace: { pages: 6, posts: 8, hugePages: 0, unsharedChildPages: 0 },
      env: { SYNC_FULL_LIST_HOURS: "0" },
    });
    await syncAll(stack);
    // Posts hold fewer child pages than pages: losing them all stays under the brake's 50 %.
    const indexed = async (section: "pages" | "posts") =>
      (await readIndexPage(stack.kv, stack.keys, section))!.entries.map((e) => e.id);
    const [pageIds, postIds] = [await indexed("pages"), await indexed("posts")];
    for (const id of pageIds) for (let i = 0; i < 3; i++) stack.workspace.addChildPage(id, `Under a page ${i}`);
    for (const id of postIds.slice(0, 3)) stack.workspace.addChildPage(id, "Under a post");
    await syncAll(stack);
    before = await childBundles(stack);
    expect(postIds.filter((p) => before.has(p)).length, "posts with child pages").toBeGreaterThanOrEqual(2);
  }, 60_000);
  afterEach(async () => stack?.close());

  it("a posts run that finalizes a removal between the listing's manifest read and its chunk read: no kept parent's child page loses its bundle", async () => {
    const posts = (await readIndexPage(stack.kv, stack.keys, "posts"))!.entries;
    const gone = posts.find((p) => before.has(p.id))!;
    const removePost = async () => {
      stack.workspace.trashPage(gone.id);
      const answers = await syncUntilDone(stack, "posts");
      expect(answers.at(-1)!.counts.removed).toBe(1);
    };
    const cursor = await childrenRun(stack, [{ index: "posts", run: removePost, times: 1 }]);
    expect(cursor.status).toBe("done");
    expect(await lostChildren(stack, before)).toEqual([]);
    // The trashed post's own child pages were walked in the snapshot: kept until a walk without them.
    expect(cursor.counts.removed).toBe(0);
  }, 60_000);

  it("in-place updates of both indexes at every chunk read of a forced run: nothing lost, the walk never restarts", async () => {
    const chunks =
      (await readManifest(stack.kv, stack.keys, "pages"))!.chunks.length +
      (await readManifest(stack.kv, stack.keys, "posts"))!.chunks.length;
    let n = 0;
    const edit = (section: "pages" | "posts") => () =>
      updateInPlace(stack, section, (e) => ({ ...e, title: `${e.title} (edit ${++n})` }));
    const cursor = await childrenRun(
      stack,
      [
        { index: "pages", run: edit("pages"), times: 50 },
        { index: "posts", run: edit("posts"), times: 50 },
      ],
      true,
    );
    expect(cursor.status).toBe("done");
    // One update before every chunk read, and each chunk read once: the walk never started again.
    expect(n, "in-place updates made, one per chunk read").toBe(chunks);
    expect(await lostChildren(stack, before)).toEqual([]);
    expect(cursor.counts.removed).toBe(0);
  }, 60_000);

  it("a pinned chunk gone (expired while the run was parked): the walk starts again on the current index and loses nothing", async () => {
    const swapAndExpire = async () => {
      const old = (await readManifest(stack.kv, stack.keys, "posts"))!.chunks.map((c) => c.key);
      await updateInPlace(stack, "posts", (e) => ({ ...e, title: `${e.title} (renamed)` }));
      await stack.kv.del(old);
    };
    const cursor = await childrenRun(stack, [{ index: "posts", run: swapAndExpire, times: 1 }]);
    expect(cursor.status).toBe("done");
    expect(await lostChildren(stack, before)).toEqual([]);
    expect(cursor.counts.removed).toBe(0);
  }, 60_000);
});
