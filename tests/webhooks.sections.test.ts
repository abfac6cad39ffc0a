/**
 * Webhooks in a workspace shaped by notion-kv-sync.config.ts (issue 24): a
 * page's section comes from its parent data source, a section's publish filter
 * decides by webhook whether an edited row is (still) in the mirror, and
 * sections that do not follow child pages never get any. Over a real
 * redis-server and the Notion emulator over HTTP: the emulator's webhook
 * delivery POSTs signed events to the real webhook route handler (served here
 * over HTTP, in process), which schedules the debounced targeted run with
 * after() (no QStash); section runs are the real route handler's.
 *
 * The config file is the module the app bundles (`@notion-kv-sync/root/notion-kv-sync.config`),
 * replaced here by a plain object each test fills with the emulator's database ids.
 */
import { type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Section } from "../lib/core/sections";
import { createDeadline } from "../lib/core/deadline";
import { handleWebhook } from "../lib/http/webhook-route";
import { readLarge } from "../lib/kv/large-value";
import { pageTag, sectionTag } from "../lib/mirror/cache-tags";
import { createNotionSource } from "../lib/notion/source";
import { loadStoreRuntime } from "../lib/runtime";
import { iterateStoredChunks, readManifest } from "../lib/mirror/section-index";
import type { PageBundle } from "../lib/mirror/shapes";
import type { LedgerEntry } from "../lib/sync/ledger";
import { type Cursor, parseCursor } from "../lib/sync/cursor";
import { readHistory } from "../lib/sync/run-history";
import { parseStartRequest, requestCovered, startRequestKey } from "../lib/sync/start-requests";
import { TARGETED_RUN_ID } from "../lib/webhooks/targeted/loop";
import { webhookKeys } from "../lib/webhooks/keys";
import { runDirtyInvocation } from "../lib/webhooks/run";
import { createSectionResolver } from "../lib/webhooks/sections";
import { readWebhookStatus } from "../lib/webhooks/status";
import { type WebhookDelivery, attachWebhooks } from "../scripts/emulator/notion/webhooks";
import type { Workspace as EmulatedWorkspace } from "../scripts/emulator/notion/workspace";
import { type Stack, startStack, syncUntilDone } from "./support/harness";
import { type RevalidationSite, startRevalidationSite } from "./support/revalidation-site";

const config = vi.hoisted(() => ({ sections: {} as Record<string, Record<string, unknown>> }));
vi.mock("@notion-kv-sync/root/notion-kv-sync.config", () => ({ default: config }));

const BUDGET_MS = 8000;
const DEBOUNCE_MS = 1000;
const TOKEN = "secret_sectionsuite0123456789abcdefghijklmnopqrstuv";
const PUBLISHED = { property: "Published", checkbox: { equals: true } };
/** Published, or created after 2100: the second condition cannot be told from a page's properties. */
const UNDECIDABLE = {
  or: [PUBLISHED, { timestamp: "created_time", created_time: { on_or_after: "2100-01-01T00:00:00.000Z" } }],
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitUntil(what: string, probe: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

// ---------------------------------------------------------------- the app's webhook route over HTTP

async function startWebhookApp(env: Record<string, string>): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const headers = new Headers();
      for (const [name, value] of Object.entries(req.headers)) if (typeof value === "string") headers.set(name, value);
      const request = new Request(`http://127.0.0.1${req.url}`, {
        method: req.method,
        headers,
        body: Buffer.concat(chunks),
      });
      void handleWebhook(request, env).then(async (response) => {
        res.writeHead(response.status, { "content-type": "application/json" });
        res.end(await response.text());
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/notion/webhook`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

// ---------------------------------------------------------------- the emulated workspace

/** Flips a row's Published checkbox as an editor would (the row's last_edited_time moves). */
function setPublished(ws: EmulatedWorkspace, pageId: string, published: boolean): void {
  ws.updateRow(pageId, { Published: published });
}

/** What Notion sends for a property edit: page.properties_updated naming the property's id. */
function propertiesUpdated(ws: EmulatedWorkspace, delivery: WebhookDelivery, pageId: string): void {
  const parent = ws.page(pageId)!.parent as { data_source_id?: string; database_id?: string };
  delivery.emit(
    "page.properties_updated",
    { id: pageId, type: "page" },
    {
      parent: { id: parent.database_id, type: "database", data_source_id: parent.data_source_id },
      updated_properties: ["pB%7Cx"],
    },
  );
}

function isPublished(ws: EmulatedWorkspace, pageId: string): boolean {
  return (ws.page(pageId)!.properties.Published as { checkbox: boolean }).checkbox;
}

function rows(ws: EmulatedWorkspace, databaseId: string, published: boolean): string[] {
  return ws
    .visibleRows(databaseId)
    .map((r) => r.id)
    .filter((id) => isPublished(ws, id) === published);
}

// ---------------------------------------------------------------- the mirror

async function ledger(stack: Stack, section: Section, id: string): Promise<LedgerEntry | null> {
  return stack.kv.get<LedgerEntry>(stack.keys.entry(section, id));
}

async function cursorOf(stack: Stack, section: Section): Promise<Cursor | null> {
  const loaded = parseCursor(await stack.kv.get(stack.keys.cursor(section)));
  return loaded.kind === "ok" ? loaded.cursor : null;
}

async function indexIds(stack: Stack, section: Section): Promise<string[]> {
  const manifest = await readManifest(stack.kv, stack.keys, section);
  const ids: string[] = [];
  if (manifest) for await (const chunk of iterateStoredChunks(stack.kv, manifest)) ids.push(...chunk.map((e) => e.id));
  return ids;
}

async function bundle(stack: Stack, section: Section, slug: string): Promise<PageBundle | null> {
  return (await readLarge<PageBundle>(stack.kv, stack.keys, stack.keys.page(section, slug)))?.value ?? null;
}

/** Whether the page is in the section: ledger entry, index entry, bundle and slug claim, all or none. */
async function mirrored(stack: Stack, section: Section, id: string, slug: string): Promise<boolean> {
  const [entry, index, content, owner] = await Promise.all([
    ledger(stack, section, id),
    indexIds(stack, section),
    bundle(stack, section, slug),
    stack.kv.get<string>(stack.keys.slugOwner(section, slug)),
  ]);
  const parts = [Boolean(entry?.entry), index.includes(id), content !== null, owner === id];
  if (parts.every(Boolean)) return true;
  if (parts.some(Boolean)) throw new Error(`${section} holds part of ${id}: ${JSON.stringify(parts)}`);
  return false;
}

// ---------------------------------------------------------------- the stack

interface Suite {
  stack: Stack;
  site: RevalidationSite;
  app: { url: string; close(): Promise<void> };
  delivery: WebhookDelivery;
  ws: EmulatedWorkspace;
  close(): Promise<void>;
}

async function startSuite(sections: (ws: EmulatedWorkspace) => typeof config.sections): Promise<Suite> {
  const site = await startRevalidationSite();
  const stack = await startStack({
    workspace: { pages: 6, posts: 8, hugePages: 0, childDepth: 1, trashedRows: 0, unsharedChildPages: 0 },
    env: {
      SYNC_BUDGET_MS: String(BUDGET_MS),
      WEBHOOK_DEBOUNCE_S: String(DEBOUNCE_MS / 1000),
      SYNC_CHILD_DEPTH: "1",
      NOTION_WEBHOOK_SECRET: TOKEN,
      ...site.env,
    },
  });
  const ws = stack.workspace;
  config.sections = sections(ws);
  const app = await startWebhookApp(stack.env);
  const delivery = attachWebhooks(ws, { url: app.url, verificationToken: TOKEN, aggregateMs: 200 });
  return {
    stack,
    site,
    app,
    delivery,
    ws,
    async close() {
      delivery.detach();
      // A targeted run started by the last event finishes before the stores close.
      await sleep(200);
      await waitUntil(
        "the targeted run to end",
        async () => (await stack.kv.get(webhookKeys(stack.keys).pending())) === null,
      );
      await app.close();
      await stack.close();
      await site.close();
    },
  };
}

/**
 * Every event handled. Pages a targeted run's commit found after it took them (a new child page
 * of a page it wrote) are left for the next run, which after() mode leaves to the next event:
 * that run is made here, as the next event would (targeted runs may overlap: an older read never
 * commits over a newer one).
 */
async function settled(suite: Suite): Promise<void> {
  const { stack } = suite;
  await suite.delivery.idle();
  const dirty = async () => (await readWebhookStatus(stack.kv, stack.keys, [])).dirty;
  await waitUntil(
    "the scheduled targeted run to start",
    async () => (await stack.kv.get(webhookKeys(stack.keys).pending())) === null,
  );
  for (let round = 0; round < 5 && (await dirty()) > 0; round++) {
    await sleep(1000);
    if ((await dirty()) > 0)
      await runDirtyInvocation({ env: stack.env, startedAt: Date.now(), budgetMs: 8000, caller: "test" });
  }
  expect(await dirty()).toBe(0);
}

describe("webhooks with a publish filter and sections from the config file", () => {
  let suite: Suite;
  afterEach(async () => suite?.close());

  async function start(filter: Record<string, unknown>): Promise<void> {
    suite = await startSuite((ws) => ({
      blog: { database: ws.postsDatabaseId, filter, children: false, content: "blocks" },
      pages: { database: ws.pagesDatabaseId, children: true, content: "blocks" },
    }));
    for (const section of ["blog", "pages", "children"]) await syncUntilDone(suite.stack, section);
    suite.ws.advanceClock(2 * 60_000);
  }

  it("an unpublished row leaves the mirror by webhook, slug released and revalidated; republished, it is back", async () => {
    await start(PUBLISHED);
    const { stack, ws, site } = suite;
    const [post] = rows(ws, ws.postsDatabaseId, true);
    const slug = (await ledger(stack, "blog", post))!.entry!.slug;
    expect(await mirrored(stack, "blog", post, slug)).toBe(true);

    const unpublishedAt = Date.now();
    setPublished(ws, post, false);
    propertiesUpdated(ws, suite.delivery, post);
    await waitUntil(
      "the unpublished post to leave the mirror",
      async () => !(await mirrored(stack, "blog", post, slug)),
    );
    // Within the webhook delay: the debounce, then one targeted run in its budget; no section run.
    expect(Date.now() - unpublishedAt).toBeLessThan(DEBOUNCE_MS + BUDGET_MS);
    await settled(suite);
    expect((await cursorOf(stack, "blog"))?.phase).toBe("done");
    await waitUntil("the site to be told", () => site.tags().has(pageTag("blog", slug)));
    expect(site.tags().has(sectionTag("blog"))).toBe(true);
    expect(site.calls.every((c) => c.verified)).toBe(true);
    expect(await stack.kv.smembers(stack.keys.changedPages("blog"))).toEqual([]);

    setPublished(ws, post, true);
    propertiesUpdated(ws, suite.delivery, post);
    await waitUntil("the republished post to be back", () => mirrored(stack, "blog", post, slug));
    expect((await ledger(stack, "blog", post))!.entry!.slug).toBe(slug);
  });

  it("a row moved between sections follows its data source; a draft moved into the filtered section is not mirrored", async () => {
    await start(PUBLISHED);
    const { stack, ws } = suite;
    const [published, draft] = rows(ws, ws.pagesDatabaseId, true);
    // Unpublished without an event: the pages section has no filter, its move is what is sent.
    setPublished(ws, draft, false);
    const slugs = await Promise.all(
      [published, draft].map(async (id) => (await ledger(stack, "pages", id))!.entry!.slug),
    );
    ws.moveRow(published, ws.postsDatabaseId);
    ws.moveRow(draft, ws.postsDatabaseId);
    await waitUntil("both rows to leave pages", async () => {
      const left = await Promise.all(
        [published, draft].map(async (id, i) => !(await mirrored(stack, "pages", id, slugs[i]))),
      );
      return left.every(Boolean);
    });
    await settled(suite);
    expect((await ledger(stack, "blog", published))?.entry).toBeTruthy();
    expect(await ledger(stack, "blog", draft)).toBeNull();
    expect(await indexIds(stack, "blog")).not.toContain(draft);

    // Trashed and restored: page.deleted then page.undeleted, in a section with a filter.
    const [post] = rows(ws, ws.postsDatabaseId, true).filter((id) => id !== published);
    const slug = (await ledger(stack, "blog", post))!.entry!.slug;
    ws.trashPage(post);
    await waitUntil("the trashed post to leave", async () => !(await mirrored(stack, "blog", post, slug)));
    ws.advanceClock(60_000);
    ws.restorePage(post);
    await waitUntil("the restored post to be back", () => mirrored(stack, "blog", post, slug));
  });

  it("a filter that cannot be told from a page's properties leaves the row to a run of its section", async () => {
    await start(UNDECIDABLE);
    const { stack, ws } = suite;
    const [post] = rows(ws, ws.postsDatabaseId, true);
    const slug = (await ledger(stack, "blog", post))!.entry!.slug;
    const before = await ledger(stack, "blog", post);
    const runBefore = (await stack.kv.get<{ runId: string }>(stack.keys.cursor("blog")))!.runId;

    setPublished(ws, post, false);
    propertiesUpdated(ws, suite.delivery, post);
    const requested = async () => {
      const request = parseStartRequest(await stack.kv.get(startRequestKey(stack.keys, "blog")));
      const cursor = await stack.kv.get<{ runId: string }>(stack.keys.cursor("blog"));
      return (request !== null && !request.force && request.seenRunId === runBefore) || cursor?.runId !== runBefore;
    };
    await waitUntil("a run of blog to be asked for", requested);
    await settled(suite);
    // The targeted run did not write it: the section's listing decides (unless that run began already, it is untouched).
    const after = await ledger(stack, "blog", post);
    expect(after?.run?.id).not.toBe(TARGETED_RUN_ID);
    if ((await cursorOf(stack, "blog"))?.runId === runBefore) {
      expect(after).toEqual(before);
      expect(await mirrored(stack, "blog", post, slug)).toBe(true);
    }

    const request = parseStartRequest(await stack.kv.get(startRequestKey(stack.keys, "blog")));
    // The reviver starts the requested run after the targeted run; let its invocation end before driving the rest.
    await waitUntil("the requested run of blog to start and its invocation to end", async () => {
      const [cursor, lease] = await Promise.all([cursorOf(stack, "blog"), stack.kv.get(stack.keys.lease("blog"))]);
      return cursor?.runId !== runBefore && lease === null;
    });
    const run = await syncUntilDone(stack, "blog");
    expect(run.at(-1)!.runId).not.toBe(runBefore);
    // The listing with the filter decided: the unpublished row left the mirror. The row was marked
    // for a re-read, so that run listed in full (an incremental listing removes nothing).
    expect(await ledger(stack, "blog", post)).toBeNull();
    const runs = await readHistory(stack.kv, stack.keys, "blog");
    const since = runs.slice(
      0,
      runs.findIndex((r) => r.runId === runBefore),
    );
    expect(since.map((r) => r.listing)).toContainEqual(
      expect.objectContaining({ mode: "full", reason: "retry_pages" }),
    );
    expect(await stack.kv.smembers(stack.keys.refetch())).not.toContain(post);
    if (request) expect(requestCovered(request, await cursorOf(stack, "blog"))).toBe(true);
  });

  it("a section that does not follow child pages never gets any; one that does, does", async () => {
    await start(PUBLISHED);
    const { stack, ws } = suite;
    const [post] = rows(ws, ws.postsDatabaseId, true);
    const [page] = ws.visibleRows(ws.pagesDatabaseId).map((r) => r.id);
    const underPost = ws.addChildPage(post, "Under a blog post").id;
    const underPage = ws.addChildPage(page, "Under a page").id;
    await waitUntil("the child page of pages to be mirrored", async () =>
      Boolean((await ledger(stack, "children", underPage))?.entry),
    );
    await settled(suite);
    expect((await ledger(stack, "children", underPage))!.entry!.parentId).toBe(page);
    expect(await ledger(stack, "children", underPost)).toBeNull();
    expect(await indexIds(stack, "children")).not.toContain(underPost);
  });
});

describe("webhooks in a workspace without a children section", () => {
  let suite: Suite;
  afterEach(async () => suite?.close());

  it("processes its database sections, named neither pages nor posts, and mirrors no child page; a schema change marks the section by its name", async () => {
    suite = await startSuite((ws) => ({
      blog: { database: ws.postsDatabaseId, filter: PUBLISHED, children: false },
      docs: { database: ws.pagesDatabaseId, children: false },
    }));
    const { stack, ws } = suite;
    for (const section of ["blog", "docs"]) await syncUntilDone(stack, section);
    ws.advanceClock(2 * 60_000);
    const [doc] = ws.visibleRows(ws.pagesDatabaseId).map((r) => r.id);
    const [post] = rows(ws, ws.postsDatabaseId, true);
    const slug = (await ledger(stack, "blog", post))!.entry!.slug;

    ws.editPageTitle(doc, "A doc edited by webhook");
    const child = ws.addChildPage(doc, "Never a child page").id;
    setPublished(ws, post, false);
    propertiesUpdated(ws, suite.delivery, post);
    await waitUntil(
      "the doc edit to be mirrored",
      async () => (await ledger(stack, "docs", doc))?.entry?.title === "A doc edited by webhook",
    );
    await waitUntil("the unpublished post to leave", async () => !(await mirrored(stack, "blog", post, slug)));
    await settled(suite);
    expect(await stack.kv.scanKeys(`${stack.keys.prefix}:entry:children:`)).toEqual([]);
    expect(await ledger(stack, "docs", child)).toBeNull();
    expect(suite.site.tags().has(sectionTag("docs"))).toBe(true);

    // A schema change of the blog's data source marks blog, by its config name, for a full re-read.
    const parent = ws.page(post)!.parent as { data_source_id: string; database_id: string };
    suite.delivery.emit(
      "data_source.schema_updated",
      { id: parent.data_source_id, type: "data_source" },
      { parent: { id: parent.database_id, type: "database" } },
    );
    await suite.delivery.idle();
    await waitUntil(
      "blog to be marked",
      async () => (await readWebhookStatus(stack.kv, stack.keys, ["blog", "docs"])).fullRefetch.length > 0,
    );
    expect((await readWebhookStatus(stack.kv, stack.keys, ["blog", "docs"])).fullRefetch).toEqual(["blog"]);
    expect((await readWebhookStatus(stack.kv, stack.keys)).fullRefetch).toEqual(["blog"]);
  });
});

describe("a row's section from its parent data source", () => {
  let stack: Stack;
  afterEach(async () => stack?.close());

  it("by data source id, or by database id through the cached data source (resolved from Notion once, then cached)", async () => {
    stack = await startStack({ workspace: { pages: 2, posts: 2, hugePages: 0, childDepth: 0, trashedRows: 0 } });
    const ws = stack.workspace;
    const parentOf = (databaseId: string) =>
      ws.page(ws.visibleRows(databaseId)[0].id)!.parent as { data_source_id: string; database_id: string };
    const posts = parentOf(ws.postsDatabaseId);
    const pages = parentOf(ws.pagesDatabaseId);
    config.sections = {
      blog: { database: { dataSource: posts.data_source_id } },
      docs: { database: ws.pagesDatabaseId },
    };
    const workspace = loadStoreRuntime(stack.env).workspace;
    const notion = createNotionSource({
      token: stack.env.NOTION_API_KEY,
      baseUrl: stack.env.NOTION_BASE_URL,
      ratePerMin: 100_000,
      deadline: createDeadline(20_000),
    });
    const resolver = () => createSectionResolver({ workspace, kv: stack.kv, keys: stack.keys, notion });
    const databaseRetrieves = () => stack.emulator.requests().filter((r) => r.route === "databases.retrieve").length;
    const row = (p: { data_source_id?: string; database_id?: string }) => ({
      dataSourceId: p.data_source_id ?? null,
      databaseId: p.database_id ?? null,
    });

    const first = resolver();
    expect((await first.sectionOfRow(row(posts)))?.name).toBe("blog");
    expect(databaseRetrieves()).toBe(0);
    expect((await first.sectionOfRow(row(pages)))?.name).toBe("docs");
    expect(databaseRetrieves()).toBe(1);
    // Cached where the engine caches it: the next run asks Notion nothing.
    const docsDatabaseId = workspace.databaseSections.find((s) => s.name === "docs")!.source as { databaseId: string };
    expect(await stack.kv.get(stack.keys.dataSource(docsDatabaseId.databaseId))).toBe(pages.data_source_id);
    expect((await resolver().sectionOfRow(row(pages)))?.name).toBe("docs");
    expect(databaseRetrieves()).toBe(1);
    // A parent naming only its database (an older shape) still finds a section read by data source.
    expect((await resolver().sectionOfRow({ databaseId: posts.database_id, dataSourceId: null }))?.name).toBe("blog");
    // A data source no section reads.
    expect(await resolver().sectionOfRow({ databaseId: null, dataSourceId: crypto.randomUUID() })).toBeNull();

    // A section whose database cannot be read hides no other section's row; a row it might hold is not placed.
    config.sections = { ghost: { database: crypto.randomUUID() }, ...config.sections };
    const withGhost = createSectionResolver({
      workspace: loadStoreRuntime(stack.env).workspace,
      kv: stack.kv,
      keys: stack.keys,
      notion,
    });
    expect((await withGhost.sectionOfRow(row(pages)))?.name).toBe("docs");
    await expect(withGhost.sectionOfRow({ databaseId: null, dataSourceId: crypto.randomUUID() })).rejects.toThrow();
  });
});
