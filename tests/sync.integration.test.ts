/**
 * The route handlers against the Notion emulator and a real redis-server:
 * a full chunked sync, incremental runs, convergence after edits, deletions
 * and unsharing, and kills at random points.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KvStore } from "../lib/kv/store";
import { engineDeps, loadRuntime } from "../lib/runtime";
import { runInvocation } from "../lib/sync/engine";
import { readIndexPage } from "../lib/mirror/section-index";
import { seeded } from "./support/random";
import { type Stack, diffKvWithWorkspace, invoke, startStack, syncAll, syncUntilDone } from "./support/harness";

describe("chunked sync of the default emulated workspace", () => {
  let stack: Stack;
  beforeAll(async () => {
    // 150 req/s in the emulator and a matching pace in the client: every
    // section needs several 2 s invocations, as it would against Notion.
    stack = await startStack({ rate: 150, env: { NOTION_RATE_PER_MIN: "8400" } });
  });
  afterAll(async () => stack?.close());

  it("completes through repeated invocations, none over 3 s, and KV equals the workspace", async () => {
    const runs = await syncAll(stack);
    for (const [section, answers] of Object.entries(runs)) {
      expect(answers.length, `${section} invocations`).toBeGreaterThan(1);
      for (const a of answers) expect(a.elapsedMs, `${section} invocation ${a.invocation}`).toBeLessThan(3000);
      expect(new Set(answers.map((a) => a.runId)).size).toBe(1);
      expect(answers.at(-1)!.remaining).toBe(0);
    }
    const stats = stack.workspace.stats();
    expect(runs.pages.at(-1)!.counts.fetched).toBe(stats.pages);
    expect(runs.posts.at(-1)!.counts.fetched).toBe(stats.posts);
    expect(await diffKvWithWorkspace(stack)).toEqual([]);
  });

  it("a second run with no edits fetches zero blocks", async () => {
    stack.emulator.resetRequestLog();
    const runs = await syncAll(stack);
    for (const answers of Object.values(runs)) {
      const last = answers.at(-1)!;
      expect(last.counts.fetched).toBe(0);
      expect(last.counts.blocks).toBe(0);
    }
    expect(stack.emulator.requests().filter((r) => r.route === "blocks.children.list")).toHaveLength(0);
    expect(await diffKvWithWorkspace(stack)).toEqual([]);
  });

  it("after edits, trashing, unsharing and additions a run converges to the new workspace, fetching only what changed", async () => {
    // Removals (the unshared post) are found by a full listing (tests/sync.incremental.test.ts: when else).
    stack.env.SYNC_FULL_LIST_HOURS = "0";
    const ws = stack.workspace;
    ws.advanceClock(5 * 60_000);
    const pages = ws.visibleRows(ws.pagesDatabaseId);
    const posts = ws.visibleRows(ws.postsDatabaseId);
    ws.editPageTitle(pages[3].id, "A renamed page");
    ws.editPageTitle(posts[7].id, "A renamed post");
    ws.trashPage(pages[10].id);
    ws.unsharePage(posts[12].id);
    ws.addPage(ws.pagesDatabaseId, { title: "Brand new page" });
    const withChild = [...pages, ...posts].find((p) => ws.reachableChildPages().some((c) => c.parentId === p.id))!;
    const child = ws.reachableChildPages().find((c) => c.parentId === withChild.id)!;
    ws.editPageTitle(child.id, "Renamed child");
    ws.trashPage(ws.reachableChildPages().filter((c) => c.depth === 2)[0].id);

    stack.emulator.resetRequestLog();
    const runs = await syncAll(stack);
    expect(runs.pages.at(-1)!.counts.fetched).toBe(2); // renamed + new
    expect(runs.posts.at(-1)!.counts.fetched).toBe(1); // renamed (the unshared one is simply not listed)
    // Renaming a child page does not bump its parent's last_edited_time in
    // Notion: the children section marks the parent, whose section re-reads it
    // on its next run, and only it.
    const again = await syncAll(stack);
    expect(again.pages.at(-1)!.counts.fetched + again.posts.at(-1)!.counts.fetched).toBe(1);
    expect(again.children.at(-1)!.counts.fetched).toBe(0);
    expect(await diffKvWithWorkspace(stack)).toEqual([]);
    const index = await readIndexPage(stack.kv, stack.keys, "pages");
    expect(index!.entries.some((e) => e.id === pages[10].id)).toBe(false);
    expect(index!.entries.some((e) => e.title === "Brand new page")).toBe(true);
    delete stack.env.SYNC_FULL_LIST_HOURS;
  });

  it("force=1 re-fetches everything", async () => {
    const answers = await syncUntilDone(stack, "posts", { query: "force=1" });
    expect(answers.at(-1)!.counts.fetched).toBe(stack.workspace.visibleRows(stack.workspace.postsDatabaseId).length);
  });
});

/** A KV store that dies after `n` atomic commits: later writes never land, like a killed function. */
function killAfter(kv: KvStore, n: number): KvStore {
  let commits = 0;
  const dead = () => Promise.reject(new Error("killed"));
  return new Proxy(kv, {
    get(target, prop, receiver) {
      if (prop === "atomic") {
        return (ops: Parameters<KvStore["atomic"]>[0]) => (++commits > n ? dead() : target.atomic(ops));
      }
      if (prop === "set" || prop === "del" || prop === "deleteIfEquals") {
        return (...args: unknown[]) =>
          commits >= n ? dead() : (target[prop] as (...a: unknown[]) => Promise<unknown>)(...args);
      }
      return Reflect.get(target, prop, receiver);
    },
  });
}

describe("kills at random points", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ workspace: { pages: 40, posts: 30, hugePages: 1 } });
  });
  afterAll(async () => stack?.close());

  it("converge to the same KV content with no page lost or duplicated", async () => {
    const random = seeded(7);
    for (const section of ["pages", "posts", "children"] as const) {
      for (let call = 0; call < 400; call++) {
        const runtime = loadRuntime(section, stack.env);
        const deps = engineDeps(runtime, section, Date.now());
        const killAt = Math.floor(random() * 6);
        const killed = random() < 0.5;
        const kv = killed ? killAfter(runtime.kv, killAt) : runtime.kv;
        const outcome = await runInvocation({ ...deps, kv }, { section, force: false }).catch((e: Error) => e);
        if (outcome instanceof Error) {
          expect(outcome.message).toBe("killed");
          await runtime.kv.del([stack.keys.lease(section)]); // the dead invocation's lease expires
          continue;
        }
        if (outcome.kind === "ran" && outcome.cursor.status === "done") break;
      }
    }
    expect(await diffKvWithWorkspace(stack)).toEqual([]);
    const index = await readIndexPage(stack.kv, stack.keys, "pages");
    const ids = index!.entries.map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe("bad input and configuration", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ workspace: { pages: 60, posts: 5, hugePages: 0 }, latencyMs: 15 });
  });
  afterAll(async () => stack?.close());

  it("rejects a wrong or missing secret with 401 JSON, and an unset CRON_SECRET with 503", async () => {
    const wrong = await invoke(stack, "pages", { env: { CRON_SECRET: "something-else" } });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error!.code).toBe("unauthorized");
    const unset = await invoke(stack, "pages", { env: { CRON_SECRET: "" } });
    expect(unset.status).toBe(503);
    expect(JSON.stringify(unset.body)).not.toContain(stack.env.NOTION_API_KEY);
  });

  it("rejects a bad force value and a malformed body with 400 JSON", async () => {
    expect((await invoke(stack, "pages", { query: "force=maybe" })).status).toBe(400);
    const bad = await invoke(stack, "pages", { method: "POST", body: "{not json" });
    expect(bad.status).toBe(400);
    expect(bad.body.error!.code).toBe("bad_body");
    expect((await invoke(stack, "pages", { method: "POST", body: JSON.stringify({ force: "yes" }) })).status).toBe(400);
  });

  it("names a missing Notion variable (never a value) with 503", async () => {
    const res = await invoke(stack, "posts", { env: { NOTION_POSTS_DB: "" } });
    expect(res.status).toBe(503);
    expect(res.body.error!.message).toContain("NOTION_POSTS_DB");
    const res2 = await invoke(stack, "children", { env: { NOTION_API_KEY: "" } });
    expect(res2.status).toBe(503);
    expect(res2.body.error!.message).toContain("NOTION_API_KEY");
  });

  it("stops the run on Notion 401 with a clear error, keeping the cursor where it was", async () => {
    let first = await invoke(stack, "pages", { env: { SYNC_BUDGET_MS: "500" } });
    while (first.body.phase !== "sync" || first.body.processed === 0)
      first = await invoke(stack, "pages", { env: { SYNC_BUDGET_MS: "500" } });
    expect(first.body.done).toBe(false);
    const before = await stack.kv.get<{ position: number; phase: string }>(stack.keys.cursor("pages"));
    const res = await invoke(stack, "pages", { env: { NOTION_API_KEY: "secret_wrong_token" } });
    expect(res.status).toBe(502);
    expect(res.body.error!.code).toBe("notion_unauthorized");
    expect(res.body.status).toBe("failed");
    const after = await stack.kv.get<{ position: number; phase: string; status: string }>(stack.keys.cursor("pages"));
    expect(after!.position).toBe(before!.position);
    expect(after!.status).toBe("failed");
    const resumed = await syncUntilDone(stack, "pages");
    expect(resumed.at(-1)!.done).toBe(true);
  });

  it("gives up on a page that keeps failing (502) after a few invocations, keeping its previous content", async () => {
    await syncUntilDone(stack, "pages");
    const ws = stack.workspace;
    ws.advanceClock(10 * 60_000);
    const row = ws.visibleRows(ws.pagesDatabaseId)[2];
    const before = (await readIndexPage(stack.kv, stack.keys, "pages"))!.entries.find((e) => e.id === row.id)!;
    ws.editPageTitle(row.id, "Never arrives");
    stack.emulator.injectFault({ route: "blocks.children.list", status: 502, times: 10_000, matchId: row.id });
    const answers = await syncUntilDone(stack, "pages");
    stack.emulator.clearFaults();
    const last = answers.at(-1)!;
    expect(last.counts.failed).toBe(1);
    expect(answers.length).toBeGreaterThanOrEqual(5);
    const index = (await readIndexPage(stack.kv, stack.keys, "pages"))!;
    expect(index.entries.find((e) => e.id === row.id)).toEqual(before);
    const bundle = await stack.kv.get<{ title: string }>(stack.keys.page("pages", before.slug));
    expect(bundle!.title).toBe(before.title);
    const runs = await stack.kv.get<{ failedPages: { id: string; error: string }[] }[]>(stack.keys.runs("pages"));
    expect(runs![0].failedPages.map((f) => f.id)).toEqual([row.id]);
    expect(runs![0].failedPages[0].error).toContain("502");
    // The next run picks the page up again once Notion is healthy.
    const healed = await syncUntilDone(stack, "pages");
    expect(healed.at(-1)!.counts.fetched).toBe(1);
  });

  it("queues a call that meets another holder of the lease while no run is live (202), and writes nothing else", async () => {
    await stack.kv.set(stack.keys.lease("posts"), "someone-else", { pxMs: 5000 });
    const res = await invoke(stack, "posts");
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ ok: true, section: "posts", queued: true, force: false });
    expect(await stack.kv.get(stack.keys.cursor("posts"))).toBeNull();
    await stack.kv.del([stack.keys.lease("posts"), `${stack.keys.prefix}:startreq:posts`]);
  });
});

describe("a page too large for one invocation", () => {
  let stack: Stack;
  beforeAll(async () => {
    // 1,500 top-level blocks = 15 block lists at 40 ms each: more than a 500 ms budget holds.
    stack = await startStack({
      workspace: { pages: 2, posts: 1, hugePages: 1, hugePageBlocks: 1500, childDepth: 0 },
      latencyMs: 40,
      env: { SYNC_BUDGET_MS: "500" },
    });
  });
  afterAll(async () => stack?.close());

  it("continues from a block-level checkpoint, no invocation over budget, and stores the whole tree", async () => {
    const seenPartial: boolean[] = [];
    const answers = [];
    for (const section of ["pages", "posts"] as const) {
      for (let i = 0; i < 100; i++) {
        const { body } = await invoke(stack, section);
        answers.push(body);
        const cursor = await stack.kv.get<{ partials: string[] }>(stack.keys.cursor(section));
        seenPartial.push((cursor?.partials.length ?? 0) > 0);
        if (body.done) break;
      }
    }
    expect(seenPartial.some(Boolean)).toBe(true);
    for (const a of answers) expect(a.elapsedMs).toBeLessThan(1500);
    await syncUntilDone(stack, "children");
    expect(await diffKvWithWorkspace(stack)).toEqual([]);
    expect(await stack.kv.scanKeys(`${stack.keys.prefix}:partial:`)).toEqual([]);
  });
});

describe("a work list lost mid-run (evicted or deleted by hand)", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      workspace: { pages: 40, posts: 3, hugePages: 0 },
      latencyMs: 15,
      env: { SYNC_BUDGET_MS: "500" },
    });
  });
  afterAll(async () => stack?.close());

  it("is listed again instead of finalizing on nothing, and the run converges", async () => {
    await syncAll(stack);
    for (const section of ["pages", "children"] as const) {
      const indexed = (await readIndexPage(stack.kv, stack.keys, section))!.entries.length;
      expect(indexed).toBeGreaterThan(3);
      let answer = await invoke(stack, section, { query: "force=1" });
      while (answer.body.phase !== "sync") answer = await invoke(stack, section);
      expect(answer.body.done).toBe(false);
      // Every piece of the work list goes (the listed set stays: the relisting must not trust it).
      await stack.kv.del(await stack.kv.scanKeys(`${stack.keys.prefix}:work:${section}:${answer.body.runId}:`));
      const rest = await syncUntilDone(stack, section);
      expect(rest.at(-1)!.runId).toBe(answer.body.runId);
      expect((await readIndexPage(stack.kv, stack.keys, section))!.entries).toHaveLength(indexed);
    }
    expect(await diffKvWithWorkspace(stack)).toEqual([]);
  });
});
