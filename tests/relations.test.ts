/**
 * Relations past the 25 references a page object holds, end to end: the
 * emulator's property item route (shaped like the recording
 * page-property-item-relation-26), the paced client call, and the engine
 * completing such properties after the page is read and before its content,
 * checkpointed like the block fetch. Real redis-server, real route handler.
 */
import { Client } from "@notionhq/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDeadline } from "../lib/core/deadline";
import { readLarge } from "../lib/kv/large-value";
import type { KvStore } from "../lib/kv/store";
import { readIndexPage } from "../lib/mirror/section-index";
import type { IndexEntry, PageBundle } from "../lib/mirror/shapes";
import { createNotionSource } from "../lib/notion/source";
import { createPacer } from "../lib/notion/pacer";
import { engineDeps, loadRuntime } from "../lib/runtime";
import { runInvocation } from "../lib/sync/engine";
import { type RelationRecord, setRelation } from "../scripts/emulator/notion/property-items";
import { startNotionEmulator, type NotionEmulator } from "../scripts/emulator/notion/server";
import { generateWorkspace } from "../scripts/emulator/notion/generate";
import { seeded } from "./support/random";
import { type Stack, diffKvWithWorkspace, startStack, syncAll, syncUntilDone } from "./support/harness";

const propertyRequests = (emulator: NotionEmulator, pageId?: string) =>
  emulator
    .requests()
    .filter((r) => r.route === "pages.properties.retrieve" && (!pageId || r.path.includes(pageId)))
    .map((r) => ({
      ...r,
      cursor: new URL(r.path, "http://x").searchParams.get("start_cursor"),
      pageSize: new URL(r.path, "http://x").searchParams.get("page_size"),
    }));

async function stored(stack: Stack, pageId: string): Promise<{ entry: IndexEntry; bundle: PageBundle }> {
  const index = await readIndexPage(stack.kv, stack.keys, "pages");
  const entry = index!.entries.find((e) => e.id === pageId)!;
  const bundle = (await readLarge<PageBundle>(stack.kv, stack.keys, stack.keys.page("pages", entry.slug)))!.value;
  return { entry, bundle };
}

function expectComplete(found: { entry: IndexEntry; bundle: PageBundle }, record: RelationRecord) {
  const prop = found.bundle.properties[record.name];
  expect(prop.relation).toEqual(record.ids.map((id) => ({ id })));
  expect(prop.has_more).toBe(false);
  expect(prop.id).toBe(record.propertyId);
  expect(found.entry.properties[record.name]).toEqual(record.ids);
}

describe("the emulator's property item route, through @notionhq/client", () => {
  let emulator: NotionEmulator;
  let client: Client;
  let pageId: string;
  let record: RelationRecord;
  beforeAll(async () => {
    const workspace = generateWorkspace({ pages: 6, posts: 4, hugePages: 0 });
    emulator = await startNotionEmulator({ workspace, ratePerSecond: Infinity });
    client = new Client({ auth: emulator.token, baseUrl: emulator.url, logger: () => {} });
    pageId = workspace.visibleRows(workspace.pagesDatabaseId)[0].id;
    record = setRelation(workspace, pageId, { count: 130 });
  });
  afterAll(async () => emulator?.close());

  it("a page object shows the first 25 references and has_more: true, in query rows too", async () => {
    const page = (await client.pages.retrieve({ page_id: pageId })) as unknown as {
      properties: Record<string, { relation: { id: string }[]; has_more: boolean }>;
    };
    expect(page.properties.Related.relation).toEqual(record.ids.slice(0, 25).map((id) => ({ id })));
    expect(page.properties.Related.has_more).toBe(true);
    const dataSourceId = emulator.workspace.pagesDataSourceId;
    const rows = await client.dataSources.query({ data_source_id: dataSourceId });
    const row = rows.results.find((r) => r.id === pageId) as unknown as typeof page;
    expect(row.properties.Related.has_more).toBe(true);
    expect(row.properties.Related.relation).toHaveLength(25);
  });

  it("lists every reference, 100 a page, in the recorded shape", async () => {
    const first = await client.pages.properties.retrieve({ page_id: pageId, property_id: record.propertyId });
    expect(Object.keys(first)).toEqual([
      "object",
      "results",
      "next_cursor",
      "has_more",
      "type",
      "property_item",
      "request_id",
    ]);
    if (first.object !== "list") throw new Error("expected a list");
    expect(first.results).toHaveLength(100);
    expect(first.results[0]).toEqual({
      object: "property_item",
      type: "relation",
      id: record.propertyId,
      relation: { id: record.ids[0] },
    });
    expect(first.has_more).toBe(true);
    expect(first.property_item).toMatchObject({ id: record.propertyId, type: "relation", relation: {} });
    expect(first.property_item.next_url).toContain(`start_cursor=${first.next_cursor}`);
    const second = await client.pages.properties.retrieve({
      page_id: pageId,
      property_id: record.propertyId,
      start_cursor: first.next_cursor!,
    });
    if (second.object !== "list") throw new Error("expected a list");
    expect(second.results.map((r) => (r as { relation: { id: string } }).relation.id)).toEqual(record.ids.slice(100));
    expect(second).toMatchObject({ has_more: false, next_cursor: null, property_item: { next_url: null } });
  });

  it("serves the title as rich text items and answers 404 / 400 like Notion", async () => {
    const title = await client.pages.properties.retrieve({ page_id: pageId, property_id: "title" });
    expect(title.object).toBe("list");
    await expect(client.pages.properties.retrieve({ page_id: pageId, property_id: "nope" })).rejects.toMatchObject({
      status: 404,
    });
    await expect(
      client.pages.properties.retrieve({ page_id: pageId, property_id: record.propertyId, start_cursor: "bogus" }),
    ).rejects.toMatchObject({ status: 400 });
    await expect(
      client.pages.properties.retrieve({ page_id: pageId, property_id: record.propertyId, page_size: 101 }),
    ).rejects.toMatchObject({ status: 400 });
  });

  it("the paced client call retries a 502 and counts every request", async () => {
    const notion = createNotionSource({
      token: emulator.token,
      baseUrl: emulator.url,
      ratePerMin: 100_000,
      deadline: createDeadline(10_000),
      pacer: createPacer(100_000),
    });
    emulator.injectFault({ route: "pages.properties.retrieve", status: 502 });
    const page = await notion.listPropertyItems(pageId, record.propertyId, null);
    expect(page.results).toHaveLength(100);
    expect(page.nextCursor).not.toBeNull();
    expect(notion.requests["pages.properties.retrieve"]).toBe(2);
  });
});

describe("a page with a relation of 60 references", () => {
  let stack: Stack;
  let sixty: RelationRecord;
  let many: RelationRecord;
  let exactly25: RelationRecord;
  let ids: string[];
  beforeAll(async () => {
    stack = await startStack({ workspace: { pages: 8, posts: 3, hugePages: 0 } });
    const ws = stack.workspace;
    ids = ws.visibleRows(ws.pagesDatabaseId).map((r) => r.id);
    sixty = setRelation(ws, ids[0], { count: 60 });
    many = setRelation(ws, ids[1], { count: 250, name: "Sources" });
    exactly25 = setRelation(ws, ids[2], { count: 25 });
  });
  afterAll(async () => stack?.close());

  it("syncs with all of them in the bundle's page properties and the index entry, 1 request per 100 references", async () => {
    stack.emulator.resetRequestLog();
    await syncAll(stack);
    expectComplete(await stored(stack, ids[0]), sixty);
    expectComplete(await stored(stack, ids[1]), many);
    const found25 = await stored(stack, ids[2]);
    expect(found25.entry.properties.Related).toEqual(exactly25.ids);
    expect(found25.bundle.properties.Related.has_more).toBe(false);

    const requests = propertyRequests(stack.emulator);
    expect(propertyRequests(stack.emulator, ids[0])).toHaveLength(1); // 60 → 1
    expect(propertyRequests(stack.emulator, ids[1])).toHaveLength(3); // 250 → 3
    expect(requests).toHaveLength(4); // 25 references (has_more false) and pages without relations: none
    for (const r of requests) expect(r.pageSize).toBe("100");
    expect(await diffKvWithWorkspace(stack)).toEqual([]);
  });

  it("a run with no edits sends no property request and keeps every reference in the index", async () => {
    stack.emulator.resetRequestLog();
    await syncAll(stack);
    expect(propertyRequests(stack.emulator)).toHaveLength(0);
    expectComplete(await stored(stack, ids[0]), sixty);
    expectComplete(await stored(stack, ids[1]), many);
  });

  // Relations are expensive (lib/sync/list-properties.ts): lists leave them out, so a change that does not
  // edit the page is seen at a forced run (or the page's next edit), not by a listing.
  it("a relation edited from the related pages' side (no last_edited_time bump) is re-read at a forced run", async () => {
    stack.workspace.advanceClock(5 * 60_000);
    const changed = setRelation(stack.workspace, ids[0], {
      ids: [...sixty.ids.slice(1), "0000aaaa-0000-4000-8000-00000000beef"],
      touch: false,
    });
    stack.emulator.resetRequestLog();
    const quiet = await syncUntilDone(stack, "pages");
    expect(quiet.at(-1)!.counts.fetched).toBe(0);
    expect(propertyRequests(stack.emulator)).toHaveLength(0);
    expectComplete(await stored(stack, ids[0]), sixty);
    const forced = await syncUntilDone(stack, "pages", { query: "force=1" });
    expect(forced.at(-1)!.counts.fetched).toBeGreaterThan(1);
    expect(propertyRequests(stack.emulator, ids[0])).toHaveLength(1);
    expectComplete(await stored(stack, ids[0]), changed);
    sixty = changed;
  });

  it("an edited relation (bumping the page) is read again in full", async () => {
    stack.workspace.advanceClock(5 * 60_000);
    const grown = setRelation(stack.workspace, ids[0], { count: 120 });
    stack.emulator.resetRequestLog();
    await syncAll(stack);
    expect(propertyRequests(stack.emulator, ids[0])).toHaveLength(2);
    expectComplete(await stored(stack, ids[0]), grown);
    expect(await diffKvWithWorkspace(stack)).toEqual([]);
  });
});

/** A KV store that dies after `n` atomic commits: later writes never land, like a killed function (tests/sync.integration.test.ts). */
function killAfter(kv: KvStore, n: number): KvStore {
  let commits = 0;
  const dead = () => Promise.reject(new Error("killed"));
  return new Proxy(kv, {
    get(target, prop, receiver) {
      if (prop === "atomic")
        return (ops: Parameters<KvStore["atomic"]>[0]) => (++commits > n ? dead() : target.atomic(ops));
      if (prop === "set" || prop === "del" || prop === "deleteIfEquals") {
        return (...args: unknown[]) =>
          commits >= n ? dead() : (target[prop] as (...a: unknown[]) => Promise<unknown>)(...args);
      }
      return Reflect.get(target, prop, receiver);
    },
  });
}

interface PartialValue {
  properties?: { pending: { cursor: string | null }[]; requests: number };
  checkpoint?: unknown;
}

describe("a relation too long for one invocation", () => {
  // 450 references: 5 property requests of 600 ms each; a 2 s budget reads two or three of them.
  let stack: Stack;
  let pageId: string;
  let record: RelationRecord;
  beforeAll(async () => {
    stack = await startStack({
      workspace: { pages: 6, posts: 4, hugePages: 0 },
      latencyMs: { "pages.properties.retrieve": 600 },
      env: { SYNC_CONCURRENCY: "1" },
    });
    pageId = stack.workspace.visibleRows(stack.workspace.pagesDatabaseId)[1].id;
    record = setRelation(stack.workspace, pageId, { count: 450 });
  });
  afterAll(async () => stack?.close());

  const partial = async () =>
    (await readLarge<PartialValue>(stack.kv, stack.keys, stack.keys.partialPage("pages", pageId)))?.value ?? null;
  const invocation = async (kill?: number) => {
    const runtime = loadRuntime("pages", stack.env);
    const deps = engineDeps(runtime, "pages", Date.now());
    const kv = kill === undefined ? deps.kv : killAfter(runtime.kv, kill);
    const outcome = await runInvocation({ ...deps, kv }, { section: "pages", force: false }).catch((e: Error) => e);
    if (outcome instanceof Error) {
      expect(outcome.message).toBe("killed");
      await runtime.kv.del([stack.keys.lease("pages")]); // the dead invocation's lease expires
    }
    return outcome;
  };

  it("is checkpointed at the property page reached; killed mid-way, it resumes from there and completes", async () => {
    stack.emulator.resetRequestLog();
    // Run until the page's partial holds a property checkpoint past the first page of items.
    let reached: PartialValue | null = null;
    for (let i = 0; i < 10 && !reached?.properties?.pending[0]?.cursor; i++) {
      const outcome = await invocation();
      expect(outcome instanceof Error ? outcome.message : outcome.kind).toBe("ran");
      reached = await partial();
    }
    const cursor = reached!.properties!.pending[0].cursor!;
    expect(reached!.checkpoint).toBeUndefined(); // no block read before the properties are complete

    // Killed after it has read more property pages, before its checkpoint lands.
    let killedRequests = 0;
    for (let kill = 1; kill <= 4 && killedRequests === 0; kill++) {
      const before = propertyRequests(stack.emulator).length;
      const outcome = await invocation(kill);
      killedRequests = propertyRequests(stack.emulator).length - before;
      if (!(outcome instanceof Error)) throw new Error(`the invocation was not killed (kill after ${kill})`);
    }
    expect(killedRequests).toBeGreaterThan(0);
    expect((await partial())!.properties!.pending[0].cursor).toBe(cursor); // the killed one stored nothing

    const resumedAt = propertyRequests(stack.emulator).length;
    for (let i = 0; i < 20; i++) {
      const outcome = await invocation();
      if (!(outcome instanceof Error) && outcome.kind === "ran" && outcome.cursor.status === "done") break;
    }
    const requests = propertyRequests(stack.emulator, pageId);
    expect(requests[resumedAt].cursor).toBe(cursor); // resumed from the page reached, not from the start
    expect(requests.filter((r) => r.cursor === null)).toHaveLength(1); // read from its start once
    expect(await partial()).toBeNull();
    await syncUntilDone(stack, "posts");
    await syncUntilDone(stack, "children");
    expectComplete(await stored(stack, pageId), record);
    expect(await diffKvWithWorkspace(stack)).toEqual([]);
  });

  it("killed at random points, a forced run converges with every reference", async () => {
    const random = seeded(11);
    stack.emulator.resetRequestLog();
    // A forced run re-reads every page (and its relation); the first call starts it.
    const start = await runInvocation(engineDeps(loadRuntime("pages", stack.env), "pages", Date.now()), {
      section: "pages",
      force: true,
    });
    let done = start.kind === "ran" && start.cursor.status === "done";
    for (let call = 0; call < 200 && !done; call++) {
      const killed = random() < 0.5;
      const runtime = loadRuntime("pages", stack.env);
      const deps = engineDeps(runtime, "pages", Date.now());
      const kv = killed ? killAfter(runtime.kv, Math.floor(random() * 5)) : deps.kv;
      const outcome = await runInvocation({ ...deps, kv }, { section: "pages", force: false }).catch((e: Error) => e);
      if (outcome instanceof Error) {
        expect(outcome.message).toBe("killed");
        await runtime.kv.del([stack.keys.lease("pages")]);
        continue;
      }
      expect(outcome.kind === "ran" && outcome.cursor.force).toBe(true);
      done = outcome.kind === "ran" && outcome.cursor.status === "done";
    }
    expect(done).toBe(true);
    expect(propertyRequests(stack.emulator, pageId).length).toBeGreaterThanOrEqual(5);
    expectComplete(await stored(stack, pageId), record);
    expect(await diffKvWithWorkspace(stack)).toEqual([]);
  });
});
