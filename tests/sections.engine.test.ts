/**
 * The engine following a workspace configured by a config object
 * (resolveWorkspace, no file), in process against the Notion emulator over
 * HTTP and a real redis-server:
 * - a publish filter: drafts never listed nor in KV; an unpublished row leaves
 *   at the next run, a republished one comes back; unpublishing most of the
 *   blog at once holds the run (the brake), a forced run removes them;
 * - the filter ANDed with the created_time windows past the per-query cap,
 *   within Notion's two levels of compound filters, a two-level filter too;
 * - scheduled rows: the earliest publish date to come on the cursor and in the summary;
 * - markdown for one section and blocks for another; an index-only section;
 * - slug, title and properties options;
 * - children following only the sections that ask for it.
 * Emulator rows are published and dated through its updateRow (setRow below).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readNotionSettings } from "../lib/config";
import { readLarge } from "../lib/kv/large-value";
import { readIndexPage, readManifest, updateEntryInPlace } from "../lib/mirror/section-index";
import type { IndexEntry, PageBundle } from "../lib/mirror/shapes";
import { slugify } from "../lib/mirror/slug";
import { compoundDepth } from "../lib/notion/compound-filter";
import { createContentFetcher } from "../lib/notion/content-fetcher";
import { createNotionSource } from "../lib/notion/source";
import { type Runtime, engineDeps, loadStoreRuntime } from "../lib/runtime";
import { type Cursor, isFinished, parseCursor } from "../lib/sync/cursor";
import { runInvocation } from "../lib/sync/engine";
import { readHistory } from "../lib/sync/run-history";
import { resolveWorkspace } from "../lib/workspace/resolve";
import { findSection } from "../lib/workspace/types";
import { type Stack, startStack } from "./support/harness";

type Config = Parameters<typeof resolveWorkspace>[0];

/** Edits an emulator row (Published, Date) through its public API: last_edited_time moves as for any edit. */
function setRow(stack: Stack, id: string, change: { published?: boolean; date?: string | null }): void {
  const values: Record<string, unknown> = {};
  if (change.published !== undefined) values.Published = change.published;
  if (change.date !== undefined) values.Date = change.date;
  stack.workspace.updateRow(id, values);
}

const published = (row: { properties: Record<string, unknown> }) =>
  (row.properties.Published as { checkbox: boolean }).checkbox;

interface SyncResult {
  cursor: Cursor;
  /** Bodies of every data source query the run sent. */
  queries: Record<string, unknown>[];
}

/** Runs `section` of the workspace `config` describes to its end, one engine invocation at a time. */
async function sync(stack: Stack, config: Config, section: string, force = false): Promise<SyncResult> {
  const store = loadStoreRuntime(stack.env);
  const workspace = resolveWorkspace(config, stack.env);
  const spec = findSection(workspace, section)!;
  const runtime: Runtime = { ...store, workspace, spec, notionSettings: readNotionSettings(stack.env, {}) };
  const queries: Record<string, unknown>[] = [];
  const recording: typeof fetch = async (url, init) => {
    if (String(url).includes("/query") && typeof init?.body === "string") queries.push(JSON.parse(init.body));
    return fetch(url, init);
  };
  for (let call = 0; call < 200; call++) {
    const deps = engineDeps(runtime, section, Date.now(), 5000);
    const notion = createNotionSource({
      token: runtime.notionSettings.token,
      baseUrl: runtime.settings.notionBaseUrl,
      ratePerMin: runtime.settings.notionRatePerMin,
      deadline: deps.deadline,
      fetch: recording,
    });
    // The same content mode over the recording source (engineDeps picked it from the spec).
    const outcome = await runInvocation(
      { ...deps, notion, content: createContentFetcher(deps.content.mode ?? "blocks", notion) },
      { section, force: force && call === 0 },
    );
    if (outcome.kind !== "ran") throw new Error(`${section}: ${outcome.kind}`);
    if (outcome.failure) throw new Error(`${section} failed: ${JSON.stringify(outcome.failure)}`);
    if (isFinished(outcome.cursor)) return { cursor: outcome.cursor, queries };
  }
  throw new Error(`${section} did not finish`);
}

async function indexOf(stack: Stack, section: string) {
  return (await readIndexPage(stack.kv, stack.keys, section))!;
}

async function bundle(stack: Stack, section: string, slug: string): Promise<PageBundle | null> {
  return (await readLarge<PageBundle>(stack.kv, stack.keys, stack.keys.page(section, slug)))?.value ?? null;
}

const PUBLISHED = { property: "Published", checkbox: { equals: true } };

describe("a filtered blog in markdown beside docs in blocks", () => {
  let stack: Stack;
  let config: Config;
  beforeAll(async () => {
    stack = await startStack({ workspace: { pages: 8, posts: 24, hugePages: 0, trashedRows: 0, childDepth: 2 } });
    const ws = stack.workspace;
    config = {
      sections: {
        blog: { database: ws.postsDatabaseId, filter: PUBLISHED, content: "markdown", children: false },
        docs: { database: { dataSource: ws.pagesDataSourceId }, content: "blocks", children: true, childDepth: 1 },
      },
    };
  });
  afterAll(async () => stack?.close());

  it("mirrors only the published rows, as markdown, and the docs as blocks", async () => {
    const ws = stack.workspace;
    const rows = ws.visibleRows(ws.postsDatabaseId);
    const drafts = rows.filter((r) => !published(r));
    expect(drafts.length, "the emulated blog has drafts").toBeGreaterThan(0);
    const { cursor } = await sync(stack, config, "blog");
    expect(cursor.status).toBe("done");
    const blog = await indexOf(stack, "blog");
    expect(new Set(blog.entries.map((e) => e.id))).toEqual(new Set(rows.filter(published).map((r) => r.id)));
    for (const draft of drafts) expect(await stack.kv.get(stack.keys.entry("blog", draft.id))).toBeNull();
    const first = await bundle(stack, "blog", blog.entries[0].slug);
    expect(first?.content).toBe("markdown");
    expect(cursor.nextPublishAt, "no date compared with now").toBeNull();

    await sync(stack, config, "docs");
    const docs = await indexOf(stack, "docs");
    expect(docs.entries.length).toBe(ws.visibleRows(ws.pagesDatabaseId).length);
    expect((await bundle(stack, "docs", docs.entries[0].slug))?.content).toBe("blocks");
  });

  it("an unpublished row leaves at the next run, and comes back once republished", async () => {
    // Removals are found by a full listing (an incremental one lists only rows the filter lets in: tests/sync.incremental.test.ts).
    stack.env.SYNC_FULL_LIST_HOURS = "0";
    const blog = await indexOf(stack, "blog");
    const gone = blog.entries[1];
    setRow(stack, gone.id, { published: false });
    const { cursor } = await sync(stack, config, "blog");
    expect(cursor.counts.removed).toBe(1);
    const after = await indexOf(stack, "blog");
    expect(after.entries.map((e) => e.id)).not.toContain(gone.id);
    expect(await bundle(stack, "blog", gone.slug)).toBeNull();
    expect(await stack.kv.get(stack.keys.slugOwner("blog", gone.slug))).toBeNull();
    expect(await stack.kv.get(stack.keys.entry("blog", gone.id))).toBeNull();

    setRow(stack, gone.id, { published: true });
    const again = await sync(stack, config, "blog");
    expect(again.cursor.counts.fetched).toBe(1);
    const back = await indexOf(stack, "blog");
    expect(back.entries.map((e) => e.id)).toContain(gone.id);
    expect((await bundle(stack, "blog", gone.slug))?.id).toBe(gone.id);
    delete stack.env.SYNC_FULL_LIST_HOURS;
  });

  it("unpublishing most of the blog at once holds the run; a forced run removes them", async () => {
    // The brake guards a full listing's removals (an incremental one removes nothing).
    stack.env.SYNC_FULL_LIST_HOURS = "0";
    const blog = await indexOf(stack, "blog");
    const many = blog.entries.slice(0, Math.ceil(blog.entries.length * 0.75));
    for (const e of many) setRow(stack, e.id, { published: false });
    const held = await sync(stack, config, "blog");
    expect(held.cursor.status).toBe("held");
    expect(held.cursor.held?.removals).toBe(many.length);
    expect((await indexOf(stack, "blog")).total, "nothing removed").toBe(blog.total);
    expect(await bundle(stack, "blog", many[0].slug)).not.toBeNull();

    const forced = await sync(stack, config, "blog", true);
    expect(forced.cursor.status).toBe("done");
    expect((await indexOf(stack, "blog")).total).toBe(blog.total - many.length);
    expect(await bundle(stack, "blog", many[0].slug)).toBeNull();
    for (const e of many) setRow(stack, e.id, { published: true });
    await sync(stack, config, "blog");
    expect((await indexOf(stack, "blog")).total).toBe(blog.total);
    delete stack.env.SYNC_FULL_LIST_HOURS;
  });

  it("children follow the docs only, to the docs' depth", async () => {
    const ws = stack.workspace;
    await sync(stack, config, "docs");
    const { cursor } = await sync(stack, config, "children");
    expect(cursor.status).toBe("done");
    const docs = new Set(ws.visibleRows(ws.pagesDatabaseId).map((r) => r.id));
    const expected = ws.reachableChildPages(1).filter((c) => docs.has(c.parentId));
    expect(expected.length, "docs have child pages").toBeGreaterThan(0);
    const blogRows = new Set(ws.visibleRows(ws.postsDatabaseId).map((r) => r.id));
    expect(
      ws.reachableChildPages(1).some((c) => blogRows.has(c.parentId)),
      "blog rows have child pages too",
    ).toBe(true);
    const children = await indexOf(stack, "children");
    expect(new Set(children.entries.map((e) => e.id))).toEqual(new Set(expected.map((c) => c.id)));
    expect(children.entries.every((e) => e.depth === 1)).toBe(true);
    expect(await stack.kv.scard(stack.keys.childQueue())).toBe(0);
    // The blog (children: false) records no child page for the children section, even when forced.
    await sync(stack, config, "blog", true);
    expect(await stack.kv.scard(stack.keys.childQueue())).toBe(0);
  });

  it("with two parents, each one's child pages go as deep as its own section says", async () => {
    const ws = stack.workspace;
    const two = {
      sections: {
        ...(config as { sections: Record<string, unknown> }).sections,
        archive: { database: ws.postsDatabaseId, children: true, childDepth: 2 },
      },
    };
    await sync(stack, two, "archive");
    await sync(stack, two, "children");
    const reachable = ws.reachableChildPages(2);
    const parentOf = new Map(reachable.map((c) => [c.id, c.parentId]));
    const rootOf = (id: string): string => (parentOf.has(id) ? rootOf(parentOf.get(id)!) : id);
    const docs = new Set(ws.visibleRows(ws.pagesDatabaseId).map((r) => r.id));
    const posts = new Set(ws.visibleRows(ws.postsDatabaseId).map((r) => r.id));
    const expected = reachable.filter((c) => (docs.has(rootOf(c.id)) && c.depth === 1) || posts.has(rootOf(c.id)));
    expect(
      reachable.some((c) => c.depth === 2 && docs.has(rootOf(c.id))),
      "docs have depth-2 pages",
    ).toBe(true);
    expect(
      reachable.some((c) => c.depth === 2 && posts.has(rootOf(c.id))),
      "posts have depth-2 pages",
    ).toBe(true);
    const children = await indexOf(stack, "children");
    expect(new Set(children.entries.map((e) => e.id))).toEqual(new Set(expected.map((c) => c.id)));
  });
});

describe("filters and the created_time windows", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      workspace: { pages: 2, posts: 30, hugePages: 0, trashedRows: 0, queryResultLimit: 7 },
    });
  });
  afterAll(async () => stack?.close());

  const publishedRows = () => stack.workspace.visibleRows(stack.workspace.postsDatabaseId).filter(published);

  it("a filter of one level is ANDed with each window, every query within two levels", async () => {
    const config = { sections: { blog: { database: stack.workspace.postsDatabaseId, filter: PUBLISHED } } };
    const { cursor, queries } = await sync(stack, config, "blog");
    expect(cursor.list.windows, "the listing went past the per-query cap").toBeGreaterThan(1);
    expect((await indexOf(stack, "blog")).total).toBe(publishedRows().length);
    const windowed = queries.filter((q) => JSON.stringify(q).includes("on_or_after"));
    expect(windowed.length).toBeGreaterThan(0);
    for (const q of queries) expect(compoundDepth(q.filter)).toBeLessThanOrEqual(2);
    expect(windowed[0].filter).toMatchObject({ and: [{ timestamp: "created_time" }, PUBLISHED] });
  });

  it("a filter two levels deep already stays two levels deep: the window goes into each branch", async () => {
    const rows = stack.workspace.visibleRows(stack.workspace.postsDatabaseId);
    const tagged = rows.find((r) => (r.properties.Tags as { multi_select: { name: string }[] }).multi_select.length);
    const tag = (tagged!.properties.Tags as { multi_select: { name: string }[] }).multi_select[0].name;
    const filter = {
      or: [
        { and: [PUBLISHED, { property: "Tags", multi_select: { contains: tag } }] },
        { and: [{ property: "Name", title: { starts_with: "A" } }, PUBLISHED] },
      ],
    };
    const config = { sections: { tagged: { database: stack.workspace.postsDatabaseId, filter } } };
    stack.workspace.queryResultLimit = 3;
    const { cursor, queries } = await sync(stack, config, "tagged").finally(() => {
      stack.workspace.queryResultLimit = 7;
    });
    expect(cursor.status).toBe("done");
    expect(cursor.list.windowStart, "the listing went past the per-query cap").not.toBeNull();
    for (const q of queries) expect(compoundDepth(q.filter)).toBeLessThanOrEqual(2);
    const windowed = queries.find((q) => JSON.stringify(q).includes("on_or_after"))!;
    expect((windowed.filter as { or: { and: unknown[] }[] }).or.map((b) => b.and[0])).toEqual([
      { timestamp: "created_time", created_time: { on_or_after: cursor.list.windowStart } },
      { timestamp: "created_time", created_time: { on_or_after: cursor.list.windowStart } },
    ]);
    const matching = rows.filter((r) => {
      const tags = (r.properties.Tags as { multi_select: { name: string }[] }).multi_select.map((t) => t.name);
      const title = (r.properties.Name as { title: { plain_text: string }[] }).title.map((t) => t.plain_text).join("");
      return published(r) && (tags.includes(tag) || title.startsWith("A"));
    });
    expect(new Set((await indexOf(stack, "tagged")).entries.map((e) => e.id))).toEqual(
      new Set(matching.map((r) => r.id)),
    );

    // An incremental listing ANDs its edit watermark too, into each branch: still two levels.
    stack.workspace.editPageTitle(matching[0].id, "An edited title");
    const next = await sync(stack, config, "tagged");
    expect(next.cursor.listing?.mode).toBe("incremental");
    expect(next.cursor.counts.fetched).toBeGreaterThanOrEqual(1);
    for (const q of next.queries.filter((q) => Array.isArray((q.filter as { or?: unknown })?.or))) {
      expect(compoundDepth(q.filter)).toBeLessThanOrEqual(2);
      for (const branch of (q.filter as { or: { and: unknown[] }[] }).or)
        expect(branch.and).toContainEqual({
          timestamp: "last_edited_time",
          last_edited_time: { on_or_after: next.cursor.listing!.editedSince },
        });
    }
    expect(next.queries.length).toBeGreaterThan(0);
    const entry = (await indexOf(stack, "tagged")).entries.find((e) => e.id === matching[0].id);
    expect(entry?.title).toBe("An edited title");
  });

  it("a row scheduled later: not mirrored, its date on the completed cursor and in the summary", async () => {
    const filter = { and: [PUBLISHED, { property: "Date", date: { on_or_before: "now" } }] };
    const config = { sections: { sched: { database: stack.workspace.postsDatabaseId, filter } } };
    const rows = publishedRows();
    setRow(stack, rows[0].id, { date: "2099-03-01" });
    setRow(stack, rows[1].id, { date: "2098-07-15" });
    const { cursor } = await sync(stack, config, "sched");
    expect(cursor.status).toBe("done");
    expect(cursor.nextPublishAt).toBe("2098-07-15T00:00:00.000Z");
    const ids = (await indexOf(stack, "sched")).entries.map((e) => e.id);
    expect(ids).not.toContain(rows[0].id);
    expect(ids).not.toContain(rows[1].id);
    expect(ids.length).toBe(rows.length - 2);
    const [summary] = await readHistory(stack.kv, stack.keys, "sched");
    expect(summary.nextPublishAt).toBe("2098-07-15T00:00:00.000Z");
    // Stored and parsed back like the rest of the cursor; one without the field still parses.
    const stored = parseCursor(await stack.kv.get(stack.keys.cursor("sched")));
    expect(stored.kind === "ok" && stored.cursor.nextPublishAt).toBe("2098-07-15T00:00:00.000Z");
    const { nextPublishAt: _, ...old } = cursor;
    expect(parseCursor(old)).toMatchObject({ kind: "ok", cursor: { nextPublishAt: null } });

    // Its time has come (here: the date moves back): the next run mirrors it, and nothing is scheduled.
    setRow(stack, rows[0].id, { date: "2020-01-01" });
    setRow(stack, rows[1].id, { date: "2020-01-01" });
    const next = await sync(stack, config, "sched");
    expect(next.cursor.nextPublishAt).toBeNull();
    expect((await indexOf(stack, "sched")).entries.map((e) => e.id)).toContain(rows[1].id);
  });
});

describe("index-only sections and entry options", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ workspace: { pages: 2, posts: 12, hugePages: 0, trashedRows: 0 } });
  });
  afterAll(async () => stack?.close());

  it("content none: entries in the index, no bundle, no content request", async () => {
    const config = { sections: { authors: { database: stack.workspace.postsDatabaseId, content: "none" as const } } };
    stack.emulator.resetRequestLog();
    const { cursor } = await sync(stack, config, "authors");
    expect(cursor.status).toBe("done");
    const index = await indexOf(stack, "authors");
    expect(index.total).toBe(stack.workspace.visibleRows(stack.workspace.postsDatabaseId).length);
    for (const e of index.entries) expect(await stack.kv.get(stack.keys.page("authors", e.slug))).toBeNull();
    const routes = stack.emulator.requests().map((r) => r.route);
    expect(routes.filter((r) => r === "blocks.children.list" || r === "pages.retrieveMarkdown")).toEqual([]);
    expect(await stack.kv.scard(stack.keys.childQueue())).toBe(0);
  });

  it("a section that had bundles loses them when it becomes index-only", async () => {
    const db = stack.workspace.postsDatabaseId;
    await sync(stack, { sections: { catalog: { database: db } } }, "catalog");
    const index = await indexOf(stack, "catalog");
    expect(await stack.kv.get(stack.keys.page("catalog", index.entries[0].slug))).not.toBeNull();
    await sync(stack, { sections: { catalog: { database: db, content: "none" } } }, "catalog");
    for (const e of index.entries) expect(await stack.kv.get(stack.keys.page("catalog", e.slug))).toBeNull();
    expect((await indexOf(stack, "catalog")).total).toBe(index.total);
  });

  it("slug, title and properties come from the section's options", async () => {
    const db = stack.workspace.postsDatabaseId;
    const rows = stack.workspace.visibleRows(db);
    const text = (r: (typeof rows)[number], name: string) =>
      (r.properties[name] as { rich_text: { plain_text: string }[] }).rich_text.map((t) => t.plain_text).join("");
    const config = {
      sections: {
        shaped: {
          database: db,
          slug: "Description",
          title: "Description",
          properties: ["Tags", "Published", "Not a property"],
          content: "none" as const,
        },
      },
    };
    await sync(stack, config, "shaped");
    const index = await indexOf(stack, "shaped");
    const byId = new Map(index.entries.map((e) => [e.id, e]));
    const slugs = new Set<string>();
    for (const row of rows) {
      const entry = byId.get(row.id)!;
      expect(entry.title).toBe(text(row, "Description"));
      expect(Object.keys(entry.properties).sort()).toEqual(["Published", "Tags"]);
      const base = slugify(text(row, "Description")) || slugify(entry.title) || "untitled";
      expect(entry.slug === base || entry.slug.startsWith(`${base}-`)).toBe(true);
      expect(await stack.kv.get(stack.keys.slugOwner("shaped", entry.slug))).toBe(row.id);
      slugs.add(entry.slug);
    }
    expect(slugs.size, "slugs are distinct").toBe(rows.length);
  });

  it("sort: a property or a timestamp, either direction; the default keeps today's newest_first manifest", async () => {
    const db = stack.workspace.postsDatabaseId;
    const byDate = {
      database: db,
      content: "none" as const,
      sort: { property: "Date", direction: "ascending" as const },
    };
    const byEdit = {
      database: db,
      content: "none" as const,
      sort: { timestamp: "last_edited_time" as const, direction: "descending" as const },
    };
    const config = { sections: { bydate: byDate, byedit: byEdit, plain: { database: db, content: "none" as const } } };
    for (const section of ["bydate", "byedit", "plain"]) await sync(stack, config, section);
    const dateOf = (e: IndexEntry) => (e.properties.Date as { start: string } | null)?.start ?? null;
    const dated = (await indexOf(stack, "bydate")).entries;
    const dates = dated.map(dateOf);
    const present = dates.filter((d): d is string => d !== null);
    expect(present).toEqual([...present].sort());
    expect(
      dates.slice(present.length).every((d) => d === null),
      "empty dates last",
    ).toBe(true);
    const edited = (await indexOf(stack, "byedit")).entries.map((e) => e.last_edited_time);
    expect(edited).toEqual([...edited].sort().reverse());
    const plain = (await indexOf(stack, "plain")).entries.map((e) => e.created_time);
    expect(plain).toEqual([...plain].sort().reverse());

    const manifest = (await readManifest(stack.kv, stack.keys, "plain"))!;
    expect(Object.keys(manifest).sort()).toEqual(
      ["chunks", "idsKey", "order", "runId", "section", "total", "updatedAt", "version"].sort(),
    );
    expect(manifest.order).toBe("newest_first");
    expect(await readManifest(stack.kv, stack.keys, "bydate")).toMatchObject({
      order: "sorted",
      sort: { property: "Date", direction: "ascending" },
    });

    // An entry updated in place (a targeted run) whose date moves goes where the sort puts it.
    const sorted = (await readManifest(stack.kv, stack.keys, "bydate"))!;
    const moved = {
      ...dated[0],
      properties: { ...dated[0].properties, Date: { start: "2999-01-01", end: null, time_zone: null } },
    };
    const update = await updateEntryInPlace(
      stack.kv,
      stack.keys,
      sorted,
      { kind: "upsert", entry: moved },
      {
        cache: new Map(),
        now: new Date(),
      },
    );
    await stack.kv.atomic(update.ops);
    const after = (await indexOf(stack, "bydate")).entries;
    expect(after.length).toBe(dated.length);
    const lastDated = after.filter((e) => dateOf(e) !== null).at(-1)!;
    expect(lastDated.id).toBe(dated[0].id);
  });
});
