/**
 * The Notion emulator over real HTTP: raw fetch for the wire details, and the
 * real @notionhq/client v5 pointed at it with `baseUrl` to prove the SDK
 * accepts its answers (pagination, errors, rate limiting with Retry-After).
 */
import {
  APIErrorCode,
  APIResponseError,
  Client,
  collectAllDataSourceRows,
  collectPaginatedAPI,
  LogLevel,
} from "@notionhq/client";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { generateWorkspace } from "../scripts/emulator/notion/generate.js";
import { startNotionEmulator, type NotionEmulator } from "../scripts/emulator/notion/server.js";
import type { BlockTree, PageObject, Workspace } from "../scripts/emulator/notion/workspace.js";
import { SIMPLE_ROWS } from "../scripts/scale/rows";

const VERSION = "2025-09-03";

interface ListBody<T> {
  object: string;
  type: string;
  results: T[];
  has_more: boolean;
  next_cursor: string | null;
  request_status?: { type: string; incomplete_reason?: string };
}
interface ErrorBody {
  object: string;
  status: number;
  code: string;
  message: string;
  request_id: string;
}

async function call<T = unknown>(
  emulator: NotionEmulator,
  path: string,
  init: { method?: string; body?: string; headers?: Record<string, string>; signal?: AbortSignal } = {},
): Promise<{ status: number; headers: Headers; body: T }> {
  const response = await fetch(`${emulator.url}${path}`, {
    method: init.method ?? "GET",
    body: init.body,
    signal: init.signal,
    headers: {
      Authorization: `Bearer ${emulator.token}`,
      "Notion-Version": VERSION,
      "Content-Type": "application/json",
      ...init.headers,
    },
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as T };
}

function query(emulator: NotionEmulator, dataSourceId: string, body: Record<string, unknown>) {
  return call<ListBody<PageObject>>(emulator, `/v1/data_sources/${dataSourceId}/query`, {
    method: "POST",
    body: JSON.stringify(body),
  });
}

async function queryAll(
  emulator: NotionEmulator,
  dataSourceId: string,
  body: Record<string, unknown> = {},
): Promise<PageObject[]> {
  const out: PageObject[] = [];
  let cursor: string | null = null;
  do {
    const { status, body: list } = await query(emulator, dataSourceId, {
      ...body,
      ...(cursor ? { start_cursor: cursor } : {}),
    });
    expect(status).toBe(200);
    out.push(...list.results);
    cursor = list.next_cursor;
  } while (cursor);
  return out;
}

function titleOf(page: PageObject): string {
  const prop = page.properties.Name ?? page.properties.title;
  return prop?.type === "title" ? prop.title.map((t) => t.plain_text).join("") : "";
}

describe("generateWorkspace", () => {
  it("is deterministic for a seed and differs across seeds", () => {
    const a = generateWorkspace({ seed: 7, pages: 12, posts: 8, hugePages: 1, hugePageBlocks: 150 });
    const b = generateWorkspace({ seed: 7, pages: 12, posts: 8, hugePages: 1, hugePageBlocks: 150 });
    const c = generateWorkspace({ seed: 8, pages: 12, posts: 8, hugePages: 1, hugePageBlocks: 150 });
    expect(a.pagesDatabaseId).toBe(b.pagesDatabaseId);
    expect(a.stats()).toEqual(b.stats());
    const rowsA = a.visibleRows(a.pagesDatabaseId);
    expect(rowsA).toEqual(b.visibleRows(b.pagesDatabaseId));
    expect(a.contentTree(rowsA[0].id)).toEqual(b.contentTree(rowsA[0].id));
    expect(a.reachableChildPages()).toEqual(b.reachableChildPages());
    expect(c.pagesDatabaseId).not.toBe(a.pagesDatabaseId);
  });

  it("builds the default workspace with the documented shape", () => {
    const ws = generateWorkspace();
    const stats = ws.stats();
    // 4 rows are generated in the trash by default.
    expect(stats.pages + stats.posts).toBe(346);
    expect(stats.blockListRequests).toBeGreaterThanOrEqual(1500);
    expect(stats.blockListRequests).toBeLessThanOrEqual(2500);

    const children = ws.reachableChildPages();
    expect(Math.max(...children.map((c) => c.depth))).toBe(3);
    expect(ws.reachableChildPages(1).every((c) => c.depth === 1)).toBe(true);
    const ids = new Set(children.map((c) => c.id));
    expect(ids.size).toBe(children.length); // a tree: nobody reached twice

    const rows = [...ws.visibleRows(ws.pagesDatabaseId), ...ws.visibleRows(ws.postsDatabaseId)];
    const huge = rows.filter(
      (row) => (ws.blockChildren(row.id)?.has_more ?? false) && ws.contentTree(row.id).length === 1200,
    );
    expect(huge.length).toBe(3);

    const slugs = ws.visibleRows(ws.pagesDatabaseId).map((row) => {
      const slug = row.properties.Slug;
      return slug.type === "rich_text" ? slug.rich_text[0].plain_text : "";
    });
    expect(new Set(slugs).size).toBe(slugs.length);
    expect(slugs.some((slug) => /-\d+$/.test(slug))).toBe(true);

    // Every common block type shows up somewhere.
    const types = new Set<string>();
    const walk = (nodes: BlockTree[]): void => {
      for (const node of nodes) {
        types.add(node.type);
        if (node.type === "image") types.add(`image:${(node.image as { type: string }).type}`);
        walk(node.children ?? []);
      }
    };
    for (const row of rows.slice(0, 120)) walk(ws.contentTree(row.id));
    for (const type of [
      "paragraph",
      "heading_1",
      "heading_2",
      "heading_3",
      "bulleted_list_item",
      "numbered_list_item",
      "to_do",
      "toggle",
      "quote",
      "callout",
      "code",
      "divider",
      "image:file",
      "image:external",
      "bookmark",
      "table",
      "table_row",
      "column_list",
      "column",
      "child_page",
    ]) {
      expect(types, type).toContain(type);
    }
  });

  it("keeps child_page blocks childless in contentTree and rounds timestamps to the minute", () => {
    const ws = generateWorkspace({ seed: 3, pages: 30, posts: 10, hugePages: 0 });
    const [first] = ws.reachableChildPages(1);
    const tree = ws.contentTree(first.parentId);
    const block = tree.find((b) => b.id === first.id);
    expect(block?.type).toBe("child_page");
    expect(block?.children).toBeUndefined();
    const page = ws.page(first.id)!;
    expect(page.parent).toEqual({ type: "page_id", page_id: first.parentId });
    expect(Object.keys(page.properties)).toEqual(["title"]);
    expect(page.last_edited_time).toMatch(/:00\.000Z$/);
  });
});

describe("workspace mutations", () => {
  let ws: Workspace;
  beforeAll(() => {
    ws = generateWorkspace({ seed: 5, pages: 20, posts: 10, hugePages: 0 });
  });

  it("bumps last_edited_time to the workspace clock rounded down to the minute", () => {
    const [row] = ws.visibleRows(ws.pagesDatabaseId);
    ws.setNow(new Date("2025-06-02T10:11:42.500Z"));
    ws.editPageTitle(row.id, "Renamed");
    const page = ws.page(row.id)!;
    expect(titleOf(page)).toBe("Renamed");
    expect(page.last_edited_time).toBe("2025-06-02T10:11:00.000Z");

    ws.advanceClock(5 * 60_000);
    const [firstBlock] = ws.contentTree(row.id).filter((b) => b.type === "paragraph");
    ws.editBlockText(firstBlock.id, "new text");
    expect(ws.page(row.id)!.last_edited_time).toBe("2025-06-02T10:16:00.000Z");
    const edited = ws.contentTree(row.id).find((b) => b.id === firstBlock.id)!;
    expect((edited.paragraph as { rich_text: { plain_text: string }[] }).rich_text[0].plain_text).toBe("new text");
  });

  it("adds, trashes and unshares pages like Notion", () => {
    const added = ws.addPage(ws.postsDatabaseId, { title: "Hello World" });
    expect(ws.visibleRows(ws.postsDatabaseId).map((p) => p.id)).toContain(added.id);
    const again = ws.addPage(ws.postsDatabaseId, { title: "Hello world!" });
    const slug = again.properties.Slug;
    expect(slug.type === "rich_text" && slug.rich_text[0].plain_text).toBe("hello-world-2");

    const child = ws.addChildPage(added.id, "Inside");
    expect(ws.contentTree(added.id).some((b) => b.type === "child_page" && b.id === child.id)).toBe(true);
    expect(ws.reachableChildPages().some((c) => c.id === child.id && c.parentId === added.id)).toBe(true);

    ws.unsharePage(child.id);
    expect(ws.page(child.id)).toBeUndefined();
    expect(ws.blockChildren(child.id)).toBeUndefined();
    expect(ws.contentTree(added.id).some((b) => b.id === child.id)).toBe(true); // block still listed
    expect(ws.reachableChildPages().some((c) => c.id === child.id)).toBe(false);

    ws.trashPage(added.id);
    expect(ws.visibleRows(ws.postsDatabaseId).map((p) => p.id)).not.toContain(added.id);
    expect(ws.page(added.id)?.in_trash).toBe(true);
    expect(ws.page(added.id)?.archived).toBe(true);
  });
});

describe("emulator over HTTP", () => {
  let emulator: NotionEmulator;
  let ws: Workspace;
  beforeAll(async () => {
    ws = generateWorkspace({ seed: 11, pages: 60, posts: 40, hugePages: 1, hugePageBlocks: 250 });
    emulator = await startNotionEmulator({ workspace: ws, ratePerSecond: Infinity });
  });
  afterAll(() => emulator.close());
  afterEach(() => {
    emulator.clearFaults();
    emulator.setRate(Infinity);
  });

  it("checks auth, version, url, json and page_size", async () => {
    const unauth = await call<ErrorBody>(emulator, `/v1/databases/${ws.pagesDatabaseId}`, {
      headers: { Authorization: "Bearer nope" },
    });
    expect(unauth.status).toBe(401);
    expect(unauth.body).toMatchObject({ object: "error", status: 401, code: "unauthorized" });
    expect(unauth.body.request_id).toMatch(/^[0-9a-f-]{36}$/);

    const response = await fetch(`${emulator.url}/v1/databases/${ws.pagesDatabaseId}`, {
      headers: { Authorization: `Bearer ${emulator.token}` },
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as ErrorBody).code).toBe("missing_version");

    expect((await call<ErrorBody>(emulator, "/v1/nothing/here")).body.code).toBe("invalid_request_url");
    expect((await call<ErrorBody>(emulator, `/v1/pages/${ws.pagesDatabaseId}`, { method: "DELETE" })).body.code).toBe(
      "invalid_request_url",
    );
    const badJson = await call<ErrorBody>(emulator, `/v1/data_sources/${ws.pagesDataSourceId}/query`, {
      method: "POST",
      body: "{nope",
    });
    expect([badJson.status, badJson.body.code]).toEqual([400, "invalid_json"]);
    for (const size of [0, 101]) {
      expect((await query(emulator, ws.pagesDataSourceId, { page_size: size })).status).toBe(400);
    }
    const tooBig = await call<ErrorBody>(
      emulator,
      `/v1/blocks/${ws.visibleRows(ws.pagesDatabaseId)[0].id}/children?page_size=101`,
    );
    expect([tooBig.status, tooBig.body.code]).toEqual([400, "validation_error"]);
    expect((await call<ErrorBody>(emulator, "/v1/pages/not-a-uuid")).body.code).toBe("validation_error");
  });

  it("retrieves the database and refuses a database id on the data source route", async () => {
    const db = await call<{ object: string; data_sources: { id: string; name: string }[] }>(
      emulator,
      `/v1/databases/${ws.postsDatabaseId.replace(/-/g, "")}`,
    );
    expect(db.status).toBe(200);
    expect(db.body.object).toBe("database");
    expect(db.body.data_sources).toEqual([{ id: ws.postsDataSourceId, name: "Posts" }]);

    const wrong = await query(emulator, ws.postsDatabaseId, {});
    expect(wrong.status).toBe(404);
    expect((wrong.body as unknown as ErrorBody).code).toBe("object_not_found");
  });

  it("paginates queries in index order with cursors that survive edits", async () => {
    const first = await query(emulator, ws.pagesDataSourceId, { page_size: 25 });
    expect(first.body).toMatchObject({ object: "list", type: "page_or_data_source", has_more: true });
    expect(first.body.results).toHaveLength(25);

    // Edits between calls: bump a page already served and one not yet served.
    const expected = ws.visibleRows(ws.pagesDatabaseId).map((p) => p.id);
    ws.editPageTitle(expected[3], "Edited while paginating");
    ws.editPageTitle(expected[40], "Edited ahead");
    const rest = await queryAll(emulator, ws.pagesDataSourceId, {
      start_cursor: first.body.next_cursor,
      page_size: 25,
    });
    expect([...first.body.results, ...rest].map((p) => p.id)).toEqual(expected);

    const last = await query(emulator, ws.pagesDataSourceId, { page_size: 100 });
    expect(last.body.has_more).toBe(false);
    expect(last.body.next_cursor).toBeNull();
    expect((await query(emulator, ws.pagesDataSourceId, { start_cursor: "garbage" })).status).toBe(400);
  });

  it("filters and sorts by last_edited_time", async () => {
    ws.setNow(new Date("2025-06-10T12:00:30Z"));
    const [target] = ws.visibleRows(ws.postsDatabaseId).slice(-1);
    ws.editPageTitle(target.id, "Fresh");
    const filter = { timestamp: "last_edited_time", last_edited_time: { on_or_after: "2025-06-10T12:00:00.000Z" } };
    const recent = await queryAll(emulator, ws.postsDataSourceId, { filter });
    expect(recent.map((p) => p.id)).toEqual([target.id]);
    expect(recent[0].last_edited_time).toBe("2025-06-10T12:00:00.000Z");

    const and = await queryAll(emulator, ws.postsDataSourceId, {
      filter: {
        and: [filter, { timestamp: "last_edited_time", last_edited_time: { before: "2025-06-10T12:00:00.000Z" } }],
      },
    });
    expect(and).toEqual([]);

    const sorted = await queryAll(emulator, ws.postsDataSourceId, {
      sorts: [{ timestamp: "last_edited_time", direction: "ascending" }],
      page_size: 7,
    });
    const times = sorted.map((p) => p.last_edited_time);
    expect(times).toEqual([...times].sort());
    expect(sorted.at(-1)!.id).toBe(target.id);
    expect(sorted).toHaveLength(ws.visibleRows(ws.postsDatabaseId).length);

    const byName = await queryAll(emulator, ws.postsDataSourceId, {
      sorts: [{ property: "Name", direction: "ascending" }],
    });
    const names = byName.map((p) => titleOf(p).toLowerCase());
    expect(names).toEqual([...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));

    const unsupported = await query(emulator, ws.postsDataSourceId, {
      filter: { property: "Nope", number: { equals: 1 } },
    });
    expect(unsupported.status).toBe(400);
  });

  it("lists block children with pagination and expiring file urls", async () => {
    const rows = ws.visibleRows(ws.pagesDatabaseId).concat(ws.visibleRows(ws.postsDatabaseId));
    const huge = rows.find((row) => ws.contentTree(row.id).length >= 250)!;
    const seen: string[] = [];
    let cursor: string | null = null;
    let calls = 0;
    do {
      const qs: string = `page_size=100${cursor ? `&start_cursor=${cursor}` : ""}`;
      const { body } = await call<ListBody<BlockTree>>(emulator, `/v1/blocks/${huge.id}/children?${qs}`);
      expect(body.type).toBe("block");
      seen.push(...body.results.map((b) => b.id));
      cursor = body.next_cursor;
      calls++;
    } while (cursor);
    expect(calls).toBe(3);
    expect(seen).toEqual(ws.contentTree(huge.id).map((b) => b.id));

    ws.setNow(new Date("2025-06-11T00:00:00Z"));
    const withImage = rows
      .map((row) => ws.contentTree(row.id))
      .flat()
      .find((b) => b.type === "image" && (b.image as { type: string }).type === "file")!;
    const parentId = withImage.parent.type === "page_id" ? withImage.parent.page_id : withImage.parent.block_id;
    const { body } = await call<ListBody<BlockTree>>(emulator, `/v1/blocks/${parentId}/children`);
    const image = body.results.find((b) => b.id === withImage.id)!.image as {
      file: { url: string; expiry_time: string };
    };
    expect(image.file.expiry_time).toBe("2025-06-11T01:00:00.000Z");
    expect(image.file.url).toMatch(/^https:\/\/prod-files-secure\.s3\.us-west-2\.amazonaws\.com\/.+X-Amz-Expires=3600/);
  });

  it("answers 404 for unshared pages and serves trashed ones with in_trash", async () => {
    const [child] = ws.reachableChildPages(1);
    ws.unsharePage(child.id);
    expect((await call<ErrorBody>(emulator, `/v1/pages/${child.id}`)).body.code).toBe("object_not_found");
    expect((await call<ErrorBody>(emulator, `/v1/blocks/${child.id}/children`)).status).toBe(404);
    const parent = await call<ListBody<BlockTree>>(emulator, `/v1/blocks/${child.parentId}/children`);
    expect(parent.body.results.some((b) => b.id === child.id && b.type === "child_page")).toBe(true);
    ws.sharePage(child.id);

    const [row] = ws.visibleRows(ws.postsDatabaseId);
    ws.trashPage(row.id);
    const trashed = await call<PageObject>(emulator, `/v1/pages/${row.id}`);
    expect([trashed.status, trashed.body.in_trash, trashed.body.archived]).toEqual([200, true, true]);
    expect((await queryAll(emulator, ws.postsDataSourceId)).some((p) => p.id === row.id)).toBe(false);
    const inTrash = await queryAll(emulator, ws.postsDataSourceId, { in_trash: true });
    expect(inTrash.map((p) => p.id)).toContain(row.id);
    expect(inTrash.every((p) => p.in_trash)).toBe(true);
    ws.restorePage(row.id);
  });

  it("injects faults per route, id and count", async () => {
    const id = ws.visibleRows(ws.pagesDatabaseId)[0].id;
    emulator.injectFault({ route: "pages.retrieve", status: 503, times: 2, matchId: id.replace(/-/g, "") });
    expect((await call<ErrorBody>(emulator, `/v1/pages/${id}`)).body).toMatchObject({
      status: 503,
      code: "service_unavailable",
    });
    expect((await call(emulator, `/v1/databases/${ws.pagesDatabaseId}`)).status).toBe(200); // other route untouched
    expect((await call<ErrorBody>(emulator, `/v1/pages/${id}`)).status).toBe(503);
    expect((await call(emulator, `/v1/pages/${id}`)).status).toBe(200);

    emulator.injectFault({ route: "*", status: 502 });
    expect((await call<ErrorBody>(emulator, `/v1/pages/${id}`)).body.code).toBe("bad_gateway");
    emulator.injectFault({ route: "*", status: 429, retryAfterSeconds: 7 });
    const limited = await call<ErrorBody>(emulator, `/v1/pages/${id}`);
    expect([limited.status, limited.headers.get("retry-after")]).toEqual([429, "7"]);

    emulator.injectFault({ route: "blocks.children.list", status: "reset" });
    await expect(
      fetch(`${emulator.url}/v1/blocks/${id}/children`, { headers: { "Notion-Version": VERSION } }),
    ).rejects.toThrow();

    emulator.injectFault({ route: "pages.retrieve", status: "hang" });
    await expect(call(emulator, `/v1/pages/${id}`, { signal: AbortSignal.timeout(300) })).rejects.toThrow();
    expect((await call(emulator, `/v1/pages/${id}`)).status).toBe(200);
  });

  it("rate limits with a token bucket and Retry-After", async () => {
    emulator.setRate(2, 3);
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 5; i++) {
      const r = await call(emulator, `/v1/databases/${ws.pagesDatabaseId}`);
      statuses.push(r.status);
      if (r.status === 429) retryAfter = r.headers.get("retry-after");
    }
    expect(statuses.slice(0, 3)).toEqual([200, 200, 200]);
    expect(statuses.slice(3)).toContain(429);
    expect(retryAfter).toBe("1");
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect((await call(emulator, `/v1/databases/${ws.pagesDatabaseId}`)).status).toBe(200);
  });

  it("logs requests and exposes the control API", async () => {
    emulator.resetRequestLog();
    await call(emulator, `/v1/databases/${ws.pagesDatabaseId}`);
    await call(emulator, "/v1/unknown");
    expect(emulator.requests().map((r) => [r.route, r.status])).toEqual([
      ["databases.retrieve", 200],
      ["unknown", 400],
    ]);

    const info = (await (await fetch(`${emulator.url}/__emulator/info`)).json()) as {
      pagesDatabaseId: string;
      stats: { pages: number };
    };
    expect(info.pagesDatabaseId).toBe(ws.pagesDatabaseId);
    const pick = (await (await fetch(`${emulator.url}/__emulator/pick?count=4`)).json()) as {
      ids: string[];
      pages: { databaseId: string }[];
    };
    expect(pick.ids).toHaveLength(4);
    expect(new Set(pick.pages.map((p) => p.databaseId)).size).toBe(2);
    const again = (await (await fetch(`${emulator.url}/__emulator/pick?count=4`)).json()) as { ids: string[] };
    expect(again.ids).toEqual(pick.ids);

    const post = (path: string, body: unknown) =>
      fetch(`${emulator.url}/__emulator/${path}`, { method: "POST", body: JSON.stringify(body) });
    expect((await post("edit", { pageId: pick.ids[0], title: "From control" })).status).toBe(200);
    expect(titleOf(ws.page(pick.ids[0])!)).toBe("From control");
    const added = (await (await post("add", { databaseId: ws.postsDatabaseId, title: "Via HTTP" })).json()) as {
      page: PageObject;
    };
    expect(ws.page(added.page.id)).toBeDefined();
    expect((await post("trash", { pageId: added.page.id })).status).toBe(200);
    expect((await post("unshare", { pageId: pick.ids[1] })).status).toBe(200);
    expect(ws.page(pick.ids[1])).toBeUndefined();
    expect((await post("edit", { pageId: "00000000-0000-4000-8000-000000000000", title: "x" })).status).toBe(404);
    expect((await post("fault", { route: "pages.retrieve", status: 418 })).status).toBe(400);
    expect((await post("fault", { route: "pages.retrieve", status: 500 })).status).toBe(200);
    expect((await call(emulator, `/v1/pages/${pick.ids[2]}`)).status).toBe(500);
    const counts = (await (await fetch(`${emulator.url}/__emulator/requests`)).json()) as {
      byRoute: Record<string, number>;
    };
    expect(counts.byRoute["pages.retrieve"]).toBe(1);
    ws.sharePage(pick.ids[1]);
  });
});

describe("@notionhq/client against the emulator", () => {
  let emulator: NotionEmulator;
  let ws: Workspace;
  let notion: Client;
  beforeAll(async () => {
    ws = generateWorkspace(); // the default workspace
    emulator = await startNotionEmulator({ workspace: ws, ratePerSecond: Infinity });
    notion = new Client({ auth: emulator.token, baseUrl: emulator.url, logLevel: LogLevel.ERROR });
  });
  afterAll(() => emulator.close());

  it("reads the whole workspace exactly as contentTree describes it, in stats().blockListRequests requests", async () => {
    const pagesToRead: string[] = [];
    for (const databaseId of [ws.pagesDatabaseId, ws.postsDatabaseId]) {
      const db = await notion.databases.retrieve({ database_id: databaseId });
      const dataSourceId = (db as { data_sources: { id: string }[] }).data_sources[0].id;
      let cursor: string | undefined;
      const ids: string[] = [];
      do {
        const page = await notion.dataSources.query({
          data_source_id: dataSourceId,
          start_cursor: cursor,
          page_size: 100,
        });
        ids.push(...page.results.map((r) => r.id));
        cursor = page.next_cursor ?? undefined;
      } while (cursor);
      expect(ids).toEqual(ws.visibleRows(databaseId).map((p) => p.id));
      pagesToRead.push(...ids);
    }

    emulator.resetRequestLog();
    const readChildren = async (blockId: string): Promise<BlockTree[]> => {
      const out: BlockTree[] = [];
      let cursor: string | undefined;
      do {
        const list = await notion.blocks.children.list({ block_id: blockId, start_cursor: cursor, page_size: 100 });
        out.push(...(list.results as unknown as BlockTree[]));
        cursor = list.next_cursor ?? undefined;
      } while (cursor);
      return out;
    };
    const readTree = async (pageId: string, found: string[]): Promise<BlockTree[]> => {
      const blocks = await readChildren(pageId);
      for (const block of blocks) {
        if (block.type === "child_page") found.push(block.id);
        else if (block.has_children) block.children = await readTree(block.id, found);
      }
      return blocks;
    };

    const queue = [...pagesToRead];
    let childPages = 0;
    while (queue.length > 0) {
      const pageId = queue.shift()!;
      const found: string[] = [];
      const tree = await readTree(pageId, found);
      expect(tree).toEqual(ws.contentTree(pageId));
      for (const childId of found) {
        if (ws.page(childId)) {
          childPages++;
          queue.push(childId);
        }
      }
    }
    const stats = ws.stats();
    expect(childPages).toBe(stats.childPages);
    expect(emulator.requests().filter((r) => r.route === "blocks.children.list")).toHaveLength(stats.blockListRequests);
  });

  it("retrieves pages and maps errors to APIResponseError", async () => {
    const [row] = ws.visibleRows(ws.postsDatabaseId);
    const page = await notion.pages.retrieve({ page_id: row.id });
    expect({ ...page, request_id: undefined }).toEqual({ ...row, request_id: undefined });

    const missing = await notion.pages
      .retrieve({ page_id: "00000000-0000-4000-8000-000000000000" })
      .catch((e: unknown) => e);
    expect(APIResponseError.isAPIResponseError(missing) && missing.code).toBe(APIErrorCode.ObjectNotFound);
    expect(APIResponseError.isAPIResponseError(missing) && missing.status).toBe(404);

    const stranger = new Client({ auth: "wrong", baseUrl: emulator.url, logLevel: LogLevel.ERROR });
    const denied = await stranger.pages.retrieve({ page_id: row.id }).catch((e: unknown) => e);
    expect(APIResponseError.isAPIResponseError(denied) && denied.code).toBe(APIErrorCode.Unauthorized);
  });

  it("gets 429 rate_limited with Retry-After over the rate, and the SDK's retry honours it", async () => {
    emulator.setRate(3, 2);
    const noRetry = new Client({ auth: emulator.token, baseUrl: emulator.url, retry: false, logLevel: LogLevel.ERROR });
    const results = await Promise.all(
      Array.from({ length: 4 }, () =>
        noRetry.databases.retrieve({ database_id: ws.pagesDatabaseId }).catch((e: unknown) => e),
      ),
    );
    const limited = results.filter((r) => APIResponseError.isAPIResponseError(r));
    expect(limited.length).toBeGreaterThanOrEqual(2);
    const error = limited[0] as APIResponseError;
    expect(error.code).toBe(APIErrorCode.RateLimited);
    expect(error.status).toBe(429);
    expect((error.headers as Headers).get("retry-after")).toBe("1");

    // The default client retries 429s after Retry-After seconds.
    const started = Date.now();
    const db = await notion.databases.retrieve({ database_id: ws.pagesDatabaseId });
    expect(db.id).toBe(ws.pagesDatabaseId);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    emulator.setRate(Infinity);
  });
});

describe("the per-query result limit (Notion's 10,000-row cap, here 250)", () => {
  const LIMIT = 250;
  const ASCENDING = [{ timestamp: "created_time", direction: "ascending" }];
  const INCOMPLETE = { type: "incomplete", incomplete_reason: "query_result_limit_reached" };
  /** Key order of the recorded answers (real-notion/query-data-source-100-rows-tail-2025-09-03.json, June 2026, after the cap came in). */
  const COMPLETE_KEYS = ["object", "results", "next_cursor", "has_more", "type", "page_or_data_source", "request_id"];
  let emulator: NotionEmulator;
  let ws: Workspace;
  let notion: Client;
  /** Every data source query the SDK client sent, with what it got back. */
  let sdkQueries: { filter: unknown; results: number; requestStatus?: unknown }[] = [];

  beforeAll(async () => {
    ws = generateWorkspace({
      seed: 21,
      pages: 600,
      posts: 30,
      blocksPerRow: 2,
      hugePages: 0,
      childDepth: 0,
      trashedRows: 0,
      unsharedChildPages: 0,
    });
    emulator = await startNotionEmulator({ workspace: ws, ratePerSecond: Infinity, queryResultLimit: LIMIT });
    notion = new Client({
      auth: emulator.token,
      baseUrl: emulator.url,
      logLevel: LogLevel.ERROR,
      fetch: async (url, init) => {
        const response = await fetch(url, init as RequestInit);
        if (url.includes("/query")) {
          const body = (await response.clone().json()) as ListBody<PageObject>;
          const sent = JSON.parse(String(init?.body ?? "{}")) as { filter?: unknown };
          sdkQueries.push({ filter: sent.filter, results: body.results.length, requestStatus: body.request_status });
        }
        return response;
      },
    });
  });
  afterAll(() => emulator.close());
  afterEach(() => {
    emulator.setQueryResultLimit(LIMIT);
    sdkQueries = [];
  });

  /** The workspace's own answer, uncapped: the oracle. */
  function uncapped(body: Record<string, unknown> = {}): PageObject[] {
    const out: PageObject[] = [];
    let cursor: string | null = null;
    do {
      const page = ws.queryDataSource(
        ws.pagesDataSourceId,
        { ...body, ...(cursor ? { start_cursor: cursor } : {}) },
        { limit: Infinity },
      );
      expect(page.request_status).toBeUndefined();
      out.push(...page.results);
      cursor = page.next_cursor;
    } while (cursor);
    return out;
  }

  async function pages(body: Record<string, unknown>): Promise<ListBody<PageObject>[]> {
    const out: ListBody<PageObject>[] = [];
    let cursor: string | null = null;
    do {
      const { status, body: list } = await query(emulator, ws.pagesDataSourceId, {
        ...body,
        ...(cursor ? { start_cursor: cursor } : {}),
      });
      expect(status).toBe(200);
      out.push(list);
      cursor = list.next_cursor;
    } while (cursor);
    return out;
  }

  it("generates 600 simple rows created in bursts that share a minute, never more than 100", () => {
    const rows = uncapped({ sorts: ASCENDING });
    expect(rows).toHaveLength(600);
    const perMinute = new Map<string, number>();
    for (const row of rows) perMinute.set(row.created_time, (perMinute.get(row.created_time) ?? 0) + 1);
    expect(Math.max(...perMinute.values())).toBeLessThanOrEqual(100);
    expect(Math.max(...perMinute.values())).toBeGreaterThan(25);
    expect([...perMinute.keys()].every((t) => t.endsWith(":00.000Z"))).toBe(true);
    const tree = ws.contentTree(rows[0].id);
    expect(tree.map((b) => [b.type, b.has_children])).toEqual([
      ["paragraph", false],
      ["paragraph", false],
    ]);
    expect(ws.stats()).toMatchObject({ pages: 600, posts: 30, childPages: 0, blocks: 1260 });
  });

  it("stops plain pagination at exactly the limit: has_more false, next_cursor null, request_status incomplete", async () => {
    const expected = uncapped()
      .slice(0, LIMIT)
      .map((p) => p.id);
    const answers = await pages({ page_size: 100 });
    expect(answers.map((a) => a.results.length)).toEqual([100, 100, 50]);
    expect(answers.flatMap((a) => a.results.map((p) => p.id))).toEqual(expected);
    for (const early of answers.slice(0, 2)) {
      expect(early.has_more).toBe(true);
      expect(Object.keys(early)).toEqual(COMPLETE_KEYS);
    }
    const last = answers[2];
    expect([last.has_more, last.next_cursor, last.request_status]).toEqual([false, null, INCOMPLETE]);
    expect(Object.keys(last)).toEqual([...COMPLETE_KEYS.slice(0, -1), "request_status", "request_id"]);

    // A page size that does not divide the limit: the last page is cut short.
    const small = await pages({ page_size: 7, sorts: ASCENDING });
    expect(small).toHaveLength(36);
    expect(small.at(-1)!.results).toHaveLength(5);
    expect(small.at(-1)!.request_status).toEqual(INCOMPLETE);
    expect(small.flatMap((a) => a.results.map((p) => p.id))).toEqual(
      uncapped({ sorts: ASCENDING })
        .slice(0, LIMIT)
        .map((p) => p.id),
    );

    // The SDK's plain pagination helper silently stops there too.
    const viaSdk = await collectPaginatedAPI(notion.dataSources.query, { data_source_id: ws.pagesDataSourceId });
    expect(viaSdk.map((r) => r.id)).toEqual(expected);
    expect(sdkQueries.at(-1)!.requestStatus).toEqual(INCOMPLETE);
  });

  it("answers a cursor at or past the limit with an empty incomplete page", async () => {
    // Cursors of the uncapped query, after 250 and after 300 rows (keyset cursors: the same for any limit).
    const cursorAfter = (n: number): string => {
      let cursor: string | null = null;
      for (let served = 0; served < n; served += 50) {
        cursor = ws.queryDataSource(
          ws.pagesDataSourceId,
          { page_size: 50, ...(cursor ? { start_cursor: cursor } : {}) },
          { limit: Infinity },
        ).next_cursor;
      }
      return cursor!;
    };
    for (const n of [LIMIT, 300]) {
      const { body } = await query(emulator, ws.pagesDataSourceId, { page_size: 50, start_cursor: cursorAfter(n) });
      expect(body).toMatchObject({ results: [], has_more: false, next_cursor: null, request_status: INCOMPLETE });
    }
    // Just before the limit: what is left of the budget.
    const { body } = await query(emulator, ws.pagesDataSourceId, { page_size: 100, start_cursor: cursorAfter(200) });
    expect([body.results.length, body.has_more, body.request_status]).toEqual([50, false, INCOMPLETE]);
  });

  it("answers complete queries like the recordings, without request_status, up to exactly the limit", async () => {
    const posts = await query(emulator, ws.postsDataSourceId, {});
    expect(Object.keys(posts.body)).toEqual(COMPLETE_KEYS);
    expect([posts.body.results.length, posts.body.has_more, posts.body.next_cursor]).toEqual([30, false, null]);

    // 600 rows under a limit of 600 is complete; under 599 it is not.
    const post = (path: string, body: unknown) =>
      fetch(`${emulator.url}/__emulator/${path}`, { method: "POST", body: JSON.stringify(body) });
    expect(await (await post("query-limit", { limit: 600 })).json()).toEqual({ ok: true, queryResultLimit: 600 });
    const exact = await pages({ page_size: 100 });
    expect(exact.flatMap((a) => a.results)).toHaveLength(600);
    expect(exact.every((a) => !("request_status" in a))).toBe(true);
    emulator.setQueryResultLimit(599);
    const short = await pages({ page_size: 100 });
    expect(short.flatMap((a) => a.results)).toHaveLength(599);
    expect(short.at(-1)!.request_status).toEqual(INCOMPLETE);
    expect((await post("query-limit", { limit: null })).status).toBe(200);
    expect((await pages({ page_size: 100 })).flatMap((a) => a.results)).toHaveLength(600);
  });

  it("gives a query with a created_time on_or_after filter a budget of its own", async () => {
    const all = uncapped({ sorts: ASCENDING });
    const first = (await pages({ sorts: ASCENDING })).flatMap((a) => a.results);
    expect(first.map((p) => p.id)).toEqual(all.slice(0, LIMIT).map((p) => p.id));

    const since = first.at(-1)!.created_time;
    const filter = { timestamp: "created_time", created_time: { on_or_after: since } };
    const answers = await pages({ sorts: ASCENDING, filter });
    const second = answers.flatMap((a) => a.results);
    const matching = all.filter((p) => p.created_time >= since);
    expect(second.map((p) => p.id)).toEqual(matching.slice(0, LIMIT).map((p) => p.id));
    // It restarts inside the boundary minute (rows served again) and goes past the first query's end.
    expect(second[0].created_time).toBe(since);
    expect(second.some((p) => p.id === all[LIMIT].id)).toBe(true);
    expect(answers.at(-1)!.request_status).toEqual(matching.length > LIMIT ? INCOMPLETE : undefined);

    // Combined with a property filter in an `and`, as the SDK helper does: again its own budget.
    const and = { and: [{ property: "Published", checkbox: { equals: true } }, filter] };
    const combined = (await pages({ sorts: ASCENDING, filter: and })).flatMap((a) => a.results);
    expect(combined.map((p) => p.id)).toEqual(
      uncapped({ sorts: ASCENDING, filter: and })
        .slice(0, LIMIT)
        .map((p) => p.id),
    );
  });

  it("lets the SDK's collectAllDataSourceRows get every row exactly once", async () => {
    const rows = await collectAllDataSourceRows(notion, { data_source_id: ws.pagesDataSourceId });
    expect(rows.map((r) => r.id)).toEqual(uncapped({ sorts: ASCENDING }).map((p) => p.id));
    // At least three created_time windows, each restarting in the previous one's last minute.
    const windows = new Set(sdkQueries.map((q) => JSON.stringify(q.filter ?? null)));
    expect(windows.size).toBeGreaterThanOrEqual(3);
    expect(sdkQueries.filter((q) => q.requestStatus !== undefined).length).toBe(windows.size - 1);
    expect(sdkQueries.reduce((sum, q) => sum + q.results, 0)).toBeGreaterThan(600);

    sdkQueries = [];
    const published = { property: "Published", checkbox: { equals: true } } as const;
    const filtered = await collectAllDataSourceRows(notion, {
      data_source_id: ws.pagesDataSourceId,
      filter: published,
    });
    const expected = uncapped({ sorts: ASCENDING, filter: published }).map((p) => p.id);
    expect(expected.length).toBeGreaterThan(LIMIT);
    expect(filtered.map((r) => r.id)).toEqual(expected);
    expect(sdkQueries.some((q) => JSON.stringify(q.filter).startsWith('{"and":'))).toBe(true);
  });

  it("makes the SDK helper give up, as Notion would, when one minute holds more rows than the limit", async () => {
    const perMinute = new Map<string, number>();
    for (const row of uncapped()) perMinute.set(row.created_time, (perMinute.get(row.created_time) ?? 0) + 1);
    emulator.setQueryResultLimit(Math.max(...perMinute.values()) - 1);
    await expect(collectAllDataSourceRows(notion, { data_source_id: ws.pagesDataSourceId })).rejects.toThrow(
      /cannot make progress/,
    );
  });

  it(
    "generates 12,000 small rows fast; the default cap of 10,000 applies and the SDK helper gets them all",
    { timeout: 60_000 },
    async () => {
      const started = performance.now();
      const big = generateWorkspace({ pages: 12_000, ...SIMPLE_ROWS });
      expect(performance.now() - started).toBeLessThan(5_000);
      expect(big.stats()).toEqual({
        pages: 12_000,
        posts: 0,
        childPages: 0,
        blocks: 24_000,
        blockListRequests: 12_000,
      });
      expect(big.queryResultLimit).toBe(10_000);

      const server = await startNotionEmulator({ workspace: big, ratePerSecond: Infinity });
      try {
        const client = new Client({ auth: server.token, baseUrl: server.url, logLevel: LogLevel.ERROR });
        const plain = await collectPaginatedAPI(client.dataSources.query, { data_source_id: big.pagesDataSourceId });
        expect(plain).toHaveLength(10_000);
        const all = await collectAllDataSourceRows(client, { data_source_id: big.pagesDataSourceId });
        expect(new Set(all.map((r) => r.id)).size).toBe(12_000);
        expect(all).toHaveLength(12_000);
      } finally {
        await server.close();
      }
    },
  );

  it("validates the simple-row options and keeps them deterministic", () => {
    expect(() => generateWorkspace({ pages: 5, childPagesPerRow: 0 })).toThrow(/blocksPerRow/);
    expect(() => generateWorkspace({ pages: 5, blocksPerRow: 1.5 })).toThrow(/blocksPerRow/);
    expect(() => generateWorkspace({ pages: 5, blocksPerRow: 1, maxRowsPerMinute: 0 })).toThrow(/maxRowsPerMinute/);
    expect(() => ws.queryDataSource(ws.pagesDataSourceId, {}, { limit: 0 })).toThrow(/positive integer/);
    const a = generateWorkspace({
      seed: 4,
      pages: 300,
      posts: 5,
      blocksPerRow: 3,
      childPagesPerRow: 0,
      maxRowsPerMinute: 10,
    });
    const b = generateWorkspace({
      seed: 4,
      pages: 300,
      posts: 5,
      blocksPerRow: 3,
      childPagesPerRow: 0,
      maxRowsPerMinute: 10,
    });
    expect(a.visibleRows(a.pagesDatabaseId)).toEqual(b.visibleRows(b.pagesDatabaseId));
    expect(a.stats()).toEqual(b.stats());
    const perMinute = new Map<string, number>();
    for (const row of a.visibleRows(a.pagesDatabaseId))
      perMinute.set(row.created_time, (perMinute.get(row.created_time) ?? 0) + 1);
    expect(Math.max(...perMinute.values())).toBeLessThanOrEqual(10);
    // Huge rows of a simple workspace are long runs of paragraphs (default hugePages 3).
    const rows = a.visibleRows(a.pagesDatabaseId).concat(a.visibleRows(a.postsDatabaseId));
    const sizes = rows.map((row) => a.contentTree(row.id).length);
    expect(sizes.filter((n) => n === 1200)).toHaveLength(3);
    expect(sizes.filter((n) => n !== 1200).every((n) => n === 3)).toBe(true);
  });
});

describe("hosted files served by the emulator (hostedFiles: self)", () => {
  let ws: Workspace;
  let emulator: NotionEmulator;
  beforeAll(async () => {
    ws = generateWorkspace({ pages: 4, posts: 2, hugePages: 0, childDepth: 1 });
    emulator = await startNotionEmulator({ workspace: ws, ratePerSecond: Infinity, hostedFiles: "self" });
  });
  afterAll(async () => emulator?.close());

  const control = (path: string, body: unknown) =>
    fetch(`${emulator.url}/__emulator/${path}`, { method: "POST", body: JSON.stringify(body) });

  it("names itself in file URLs and serves their bytes until the signature expires; failures and sizes are injectable", async () => {
    const row = ws.visibleRows(ws.pagesDatabaseId)[0];
    const page = await call<PageObject>(emulator, `/v1/pages/${row.id}`);
    const text = JSON.stringify(page.body);
    expect(text).not.toContain("prod-files-secure");
    const urls = [...text.matchAll(/"url":"(http:\/\/127\.0\.0\.1:\d+\/s3\/[^"]+)"/g)].map((m) => m[1]);
    expect(urls.length).toBeGreaterThan(0);
    const image = urls.find((u) => /\.(png|jpg)\?/.test(u)) ?? urls[0];
    const first = await fetch(image);
    expect(first.status).toBe(200);
    const bytes = Buffer.from(await first.arrayBuffer());
    expect(Number(first.headers.get("content-length"))).toBe(bytes.length);
    if (/\.(png|jpg)\?/.test(image)) {
      expect(first.headers.get("content-type")).toBe("image/png");
      expect(bytes.subarray(1, 4).toString("ascii")).toBe("PNG");
    }
    // The same file, the same bytes.
    expect(Buffer.from(await (await fetch(image)).arrayBuffer()).equals(bytes)).toBe(true);

    const fileId = new URL(image).pathname.split("/").at(-2)!;
    expect((await control("file-fail", { match: fileId, times: 2, status: 503 })).status).toBe(200);
    expect((await fetch(image)).status).toBe(503);
    expect((await fetch(image)).status).toBe(503);
    expect((await fetch(image)).status).toBe(200);
    expect((await control("file-size", { fileId, bytes: 5000 })).status).toBe(200);
    const sized = await fetch(image);
    expect((await sized.arrayBuffer()).byteLength).toBe(5000);
    expect(emulator.requests().filter((r) => r.route === "files.get").length).toBe(6);

    // Past its hour on the workspace clock: S3's 403.
    ws.advanceClock(3_600_001);
    const expired = await fetch(image);
    expect(expired.status).toBe(403);
    expect(await expired.text()).toContain("Request has expired");

    expect((await control("file-fail", { times: 1 })).status).toBe(400);
    expect((await control("file-size", { fileId, bytes: -1 })).status).toBe(400);
    expect((await control("hosted-files", { mode: "elsewhere" })).status).toBe(400);
    expect((await control("hosted-files", { mode: "notion" })).status).toBe(200);
    const again = await call<PageObject>(emulator, `/v1/pages/${row.id}`);
    expect(JSON.stringify(again.body)).toContain("prod-files-secure");
  });
});
