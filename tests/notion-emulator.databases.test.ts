/**
 * Databases made at run time in the Notion emulator, over real HTTP: the
 * control API creates them (POST /__emulator/databases), their rows
 * (/rows) and edits (/update-row); the Notion routes serve them like any
 * other (retrieve database and data source with its schema, query with
 * filters and sorts, pages, blocks, markdown, search), webhook events follow
 * edits, and the default two databases stay exactly as generated.
 */
import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateWorkspace } from "../scripts/emulator/notion/generate.js";
import { startNotionEmulator, type NotionEmulator } from "../scripts/emulator/notion/server.js";
import { attachWebhooks } from "../scripts/emulator/notion/webhooks.js";
import type { PageObject, Workspace } from "../scripts/emulator/notion/workspace.js";
import { matchesFilter } from "../lib/notion/filter-match.js";
import type { NotionProperty } from "../lib/notion/types.js";
import { addSample, compareModels, mergeModel, modelOf, type ShapeModel } from "./support/shape.js";

const VERSION = "2025-09-03";
type Json = Record<string, unknown>;

async function call(
  emulator: NotionEmulator,
  route: string,
  init: { method?: string; body?: unknown } = {},
): Promise<{ status: number; body: Json }> {
  const response = await fetch(`${emulator.url}${route}`, {
    method: init.method ?? "GET",
    headers: {
      Authorization: `Bearer ${emulator.token}`,
      "Notion-Version": VERSION,
      "Content-Type": "application/json",
    },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  return { status: response.status, body: (await response.json()) as Json };
}

async function control(
  emulator: NotionEmulator,
  route: string,
  body?: unknown,
): Promise<{ status: number; body: Json }> {
  const response = await fetch(`${emulator.url}/__emulator/${route}`, {
    method: body === undefined ? "GET" : "POST",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Json };
}

async function queryAll(emulator: NotionEmulator, dataSourceId: string, body: Json = {}): Promise<PageObject[]> {
  const out: PageObject[] = [];
  let cursor: string | null = null;
  do {
    const { status, body: page } = await call(emulator, `/v1/data_sources/${dataSourceId}/query`, {
      method: "POST",
      body: { ...body, ...(cursor ? { start_cursor: cursor } : {}) },
    });
    expect(status, JSON.stringify(page)).toBe(200);
    out.push(...(page.results as PageObject[]));
    cursor = page.next_cursor as string | null;
  } while (cursor);
  return out;
}

function titleOf(page: PageObject): string {
  const prop = Object.values(page.properties).find((p) => p.type === "title");
  return prop?.type === "title" ? prop.title.map((t) => t.plain_text).join("") : "";
}

const BLOG_SCHEMA = {
  Title: "title",
  Slug: "rich_text",
  Published: "checkbox",
  Status: { type: "status", options: ["Draft", "Published", "Archived"] },
  Category: { type: "select", options: ["Guide", { name: "News", color: "red" }] },
  Tags: { type: "multi_select", options: ["a", "b", "c"] },
  Rating: { type: "number", format: "number_with_commas" },
  "Publish at": "date",
  Link: "url",
  Cover: "files",
  Authors: "people",
  Related: "relation",
};

/** Five rows whose values every filter below is checked against (the expected lists are written out by hand). */
const ROWS: Record<string, Json> = {
  Alpha: {
    Slug: "alpha",
    Published: true,
    Status: "Published",
    Category: "Guide",
    Tags: ["a", "b"],
    Rating: 5,
    "Publish at": "2026-12-01",
    Link: "https://alpha.example.com",
    Cover: ["cover.png"],
  },
  Beta: { Slug: "beta", Published: false, Status: "Draft", Category: null, Tags: [], Rating: null, "Publish at": null },
  Gamma: {
    Slug: "",
    Published: true,
    Status: "Archived",
    Category: "News",
    Tags: ["c"],
    Rating: 2.5,
    "Publish at": "2026-12-07T10:00:00.000+02:00",
    Cover: [{ name: "Elsewhere", url: "https://files.example.com/g.png" }],
  },
  Delta: {
    Slug: "delta",
    Published: true,
    Status: "Published",
    Category: "Guide",
    Tags: ["b"],
    Rating: -1,
    "Publish at": "2026-12-07",
  },
  Epsilon: {
    Slug: "epsilon",
    Published: false,
    Status: null,
    Tags: [],
    "Publish at": { start: "2026-12-08", end: "2026-12-09" },
  },
};

describe("databases made at run time, over HTTP", () => {
  let emulator: NotionEmulator;
  let ws: Workspace;
  let blog: { databaseId: string; dataSourceId: string };
  let authors: { databaseId: string; dataSourceId: string };
  const ids: Record<string, string> = {};
  const before: Record<string, unknown> = {};

  beforeAll(async () => {
    ws = generateWorkspace({ seed: 11, pages: 30, posts: 20, hugePages: 0 });
    emulator = await startNotionEmulator({ workspace: ws, ratePerSecond: Infinity });
    for (const id of [ws.pagesDatabaseId, ws.postsDatabaseId])
      before[id] = (await call(emulator, `/v1/databases/${id}`)).body;
    for (const id of [ws.pagesDataSourceId, ws.postsDataSourceId]) {
      before[id] = (await call(emulator, `/v1/data_sources/${id}`)).body;
      before[`rows:${id}`] = await queryAll(emulator, id);
    }
    before.now = ws.now();

    const made = await control(emulator, "databases", { title: "Blog", properties: BLOG_SCHEMA, icon: "📝" });
    expect(made.status, JSON.stringify(made.body)).toBe(200);
    blog = { databaseId: String(made.body.databaseId), dataSourceId: String(made.body.dataSourceId) };
    const people = await control(emulator, "databases", {
      title: "Authors",
      properties: { Bio: "rich_text", Avatar: "files" },
    });
    authors = { databaseId: String(people.body.databaseId), dataSourceId: String(people.body.dataSourceId) };

    for (const [title, values] of Object.entries(ROWS)) {
      ws.advanceClock(60_000); // one created_time minute per row
      const row = await control(emulator, "rows", { databaseId: blog.databaseId, values: { Title: title, ...values } });
      expect(row.status, JSON.stringify(row.body)).toBe(200);
      ids[title] = (row.body.page as PageObject).id;
    }
  });
  afterAll(() => emulator.close());

  const names = async (body: Json) => (await queryAll(emulator, blog.dataSourceId, body)).map(titleOf);
  const matching = async (filter: Json) => (await names({ filter })).sort();

  it("leaves the default two databases as they were: ids, objects, schemas, rows", async () => {
    const info = (await control(emulator, "info")).body;
    expect(info.pagesDatabaseId).toBe(ws.pagesDatabaseId);
    expect(info.postsDatabaseId).toBe(ws.postsDatabaseId);
    expect(info.databases).toEqual([
      { id: ws.pagesDatabaseId, dataSourceId: ws.pagesDataSourceId, title: "Pages" },
      { id: ws.postsDatabaseId, dataSourceId: ws.postsDataSourceId, title: "Posts" },
      { id: blog.databaseId, dataSourceId: blog.dataSourceId, title: "Blog" },
      { id: authors.databaseId, dataSourceId: authors.dataSourceId, title: "Authors" },
    ]);
    expect((await control(emulator, "databases")).body.databases).toEqual(info.databases);
    for (const id of [ws.pagesDatabaseId, ws.postsDatabaseId]) {
      expect(strip((await call(emulator, `/v1/databases/${id}`)).body)).toEqual(strip(before[id] as Json));
    }
    // Hosted files are signed at each read: rows compare at the clock they were read at.
    const now = ws.now();
    ws.setNow(before.now as Date);
    for (const id of [ws.pagesDataSourceId, ws.postsDataSourceId]) {
      expect(strip((await call(emulator, `/v1/data_sources/${id}`)).body)).toEqual(strip(before[id] as Json));
      expect(await queryAll(emulator, id)).toEqual(before[`rows:${id}`]);
    }
    ws.setNow(now);
    expect((info.stats as { pages: number; posts: number }).pages).toBe(
      (before[`rows:${ws.pagesDataSourceId}`] as []).length,
    );
  });

  it("retrieves the database, its data source with the schema Notion sends, and finds both by search", async () => {
    const db = (await call(emulator, `/v1/databases/${blog.databaseId}`)).body;
    expect(db).toMatchObject({
      object: "database",
      id: blog.databaseId,
      data_sources: [{ id: blog.dataSourceId, name: "Blog" }],
      icon: { type: "emoji", emoji: "📝" },
    });
    const ds = (await call(emulator, `/v1/data_sources/${blog.dataSourceId}`)).body;
    expect(ds).toMatchObject({
      object: "data_source",
      id: blog.dataSourceId,
      parent: { type: "database_id", database_id: blog.databaseId },
    });
    const props = ds.properties as Record<string, Json>;
    expect(Object.keys(props)).toEqual(Object.keys(BLOG_SCHEMA));
    for (const [name, prop] of Object.entries(props)) {
      expect(prop).toMatchObject({ name, description: null });
      expect(typeof prop.id).toBe("string");
      expect(prop[String(prop.type)]).toBeTypeOf("object");
    }
    expect(props.Title.id).toBe("title");
    expect(new Set(Object.values(props).map((p) => p.id)).size).toBe(Object.keys(props).length);
    expect(props.Published).toMatchObject({ type: "checkbox", checkbox: {} });
    expect(props.Rating).toMatchObject({ type: "number", number: { format: "number_with_commas" } });
    expect(props.Related).toMatchObject({
      type: "relation",
      relation: {
        database_id: blog.databaseId,
        data_source_id: blog.dataSourceId,
        type: "single_property",
        single_property: {},
      },
    });
    const category = (props.Category.select as { options: Json[] }).options;
    expect(category.map((o) => [o.name, o.color, o.description])).toEqual([
      ["Guide", "default", null],
      ["News", "red", null],
    ]);
    const status = props.Status.status as {
      options: Json[];
      groups: { name: string; color: string; option_ids: string[] }[];
    };
    expect(status.options.map((o) => o.name)).toEqual(["Draft", "Published", "Archived"]);
    const optionId = (name: string) => status.options.find((o) => o.name === name)!.id;
    expect(status.groups.map((g) => [g.name, g.color, g.option_ids])).toEqual([
      ["To-do", "gray", [optionId("Draft")]],
      ["In progress", "blue", [optionId("Published")]],
      ["Complete", "green", [optionId("Archived")]],
    ]);
    // A database without a title property gets "Name".
    const people = (await call(emulator, `/v1/data_sources/${authors.dataSourceId}`)).body.properties as Record<
      string,
      Json
    >;
    expect(Object.entries(people).map(([name, p]) => [name, p.type])).toEqual([
      ["Name", "title"],
      ["Bio", "rich_text"],
      ["Avatar", "files"],
    ]);

    const search = await call(emulator, "/v1/search", {
      method: "POST",
      body: { query: "Blog", filter: { property: "object", value: "data_source" } },
    });
    expect((search.body.results as Json[]).map((r) => r.id)).toEqual([blog.dataSourceId]);
    const rows = await call(emulator, "/v1/search", { method: "POST", body: { query: "Gamma" } });
    expect((rows.body.results as Json[]).map((r) => r.id)).toEqual([ids.Gamma]);
  });

  it("serves rows with every property value in Notion's shape, their blocks and their markdown", async () => {
    const { status, body } = await call(emulator, `/v1/pages/${ids.Alpha}`);
    expect(status).toBe(200);
    const page = body as unknown as PageObject;
    expect(page.parent).toEqual({
      type: "data_source_id",
      data_source_id: blog.dataSourceId,
      database_id: blog.databaseId,
    });
    const p = page.properties as unknown as Record<string, Json>;
    expect(Object.keys(p)).toEqual(Object.keys(BLOG_SCHEMA));
    expect(titleOf(page)).toBe("Alpha");
    expect((p.Slug.rich_text as Json[])[0]).toMatchObject({ type: "text", plain_text: "alpha" });
    expect(p.Published.checkbox).toBe(true);
    expect(p.Status.status).toMatchObject({ name: "Published", color: expect.any(String), id: expect.any(String) });
    expect(p.Category.select).toMatchObject({ name: "Guide" });
    expect((p.Tags.multi_select as Json[]).map((o) => o.name)).toEqual(["a", "b"]);
    expect(p.Rating.number).toBe(5);
    expect(p["Publish at"].date).toEqual({ start: "2026-12-01", end: null, time_zone: null });
    expect(p.Link.url).toBe("https://alpha.example.com");
    const [cover] = p.Cover.files as { name: string; type: string; file: { url: string; expiry_time: string } }[];
    expect(cover).toMatchObject({ name: "cover.png", type: "file" });
    expect(cover.file.url).toMatch(
      /^https:\/\/prod-files-secure\.s3\.us-west-2\.amazonaws\.com\/.*cover\.png\?.*X-Amz-Expires=3600/,
    );
    expect(Date.parse(cover.file.expiry_time) - ws.now().getTime()).toBe(3_600_000);
    expect(p.Authors.people).toEqual([]);
    expect(p.Related).toEqual({ id: p.Related.id, type: "relation", relation: [], has_more: false });
    const gamma = (await call(emulator, `/v1/pages/${ids.Gamma}`)).body.properties as Record<string, Json>;
    expect(gamma.Cover.files).toEqual([
      { name: "Elsewhere", type: "external", external: { url: "https://files.example.com/g.png" } },
    ]);
    expect((gamma.Slug.rich_text as Json[]).length).toBe(0);
    const beta = (await call(emulator, `/v1/pages/${ids.Beta}`)).body.properties as Record<string, Json>;
    expect([beta.Category.select, beta.Rating.number, beta["Publish at"].date]).toEqual([null, null, null]);
    const epsilon = (await call(emulator, `/v1/pages/${ids.Epsilon}`)).body.properties as Record<string, Json>;
    expect(epsilon.Status.status).toBeNull();

    const blocks = await call(emulator, `/v1/blocks/${ids.Alpha}/children`);
    expect((blocks.body.results as Json[]).map((b) => b.type)).toEqual(["paragraph", "paragraph"]);
    const markdown = await call(emulator, `/v1/pages/${ids.Alpha}/markdown`);
    expect(markdown.status).toBe(200);
    expect(String(markdown.body.markdown).split("\n")).toHaveLength(2);
    const item = await call(emulator, `/v1/pages/${ids.Alpha}/properties/${p.Rating.id as string}`);
    expect(item.body).toMatchObject({ object: "property_item", type: "number", number: 5 });

    // People by name, email or id; relations by page id; a value of the wrong kind is refused with the property named.
    const users = ws.allUsers().filter((u) => u.type === "person");
    const set = await control(emulator, "update-row", {
      pageId: ids.Beta,
      values: {
        Authors: [users[0].name, (users[1] as { person: { email: string } }).person.email, users[2].id],
        Related: [ids.Alpha],
      },
    });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    const updated = (set.body.page as PageObject).properties as unknown as Record<string, Json>;
    expect((updated.Authors.people as Json[]).map((u) => u.id)).toEqual(users.slice(0, 3).map((u) => u.id));
    expect(updated.Related.relation).toEqual([{ id: ids.Alpha }]);
    const wrong = await control(emulator, "update-row", { pageId: ids.Beta, values: { Status: "Nope" } });
    expect(wrong.status).toBe(400);
    expect(String(wrong.body.error)).toContain("Status");
    expect((await control(emulator, "update-row", { pageId: ids.Beta, values: { Nope: 1 } })).status).toBe(400);
    const rowsBefore = (await queryAll(emulator, blog.dataSourceId)).length;
    const half = await control(emulator, "rows", {
      databaseId: blog.databaseId,
      values: { Title: "Half", Rating: "five" },
    });
    expect(half.status).toBe(400);
    expect((await queryAll(emulator, blog.dataSourceId)).length).toBe(rowsBefore);
    expect((await control(emulator, "rows", { databaseId: "00000000-0000-4000-8000-000000000000" })).status).toBe(404);
    expect((await control(emulator, "databases", { title: "Bad", properties: { X: "formula" } })).status).toBe(400);
  });

  it("answers rows and the blog database in the shapes of recorded Notion answers", async () => {
    const corpus = process.env.NOTION_CORPUS_DIR ?? path.resolve(__dirname, "fixtures/real-notion");
    const files = fs.existsSync(corpus) ? fs.readdirSync(corpus).filter((f) => f.endsWith(".json")) : [];
    if (files.length === 0) return; // no corpus: shapes.test.ts skips too
    const read = (f: string): Json => {
      const { request_id: _omit, ...rest } = JSON.parse(fs.readFileSync(path.join(corpus, f), "utf8")) as Json;
      return rest;
    };
    const alias: ShapeModel = new Map();
    for (const f of files) addSample(alias, read(f), "any", f);
    const shared = mergeModel(new Map(), alias, (p) => p.startsWith("@"));
    const pages: ShapeModel = new Map();
    for (const f of files.filter((f) => f.startsWith("page-") && !f.startsWith("page-property-item")))
      addSample(pages, read(f), "page", f);
    for (const f of files.filter((f) => f.startsWith("query-data-source")))
      for (const row of read(f).results as Json[]) addSample(pages, row, "page", f);

    const ours: ShapeModel = new Map();
    for (const row of await queryAll(emulator, blog.dataSourceId)) addSample(ours, row, "page", "query");
    const empty = {
      extraKinds: {
        "page{}.properties.*{status}.status#null":
          "no recording has an empty status; the SDK types the value `| null` and filters have status is_empty",
      },
    };
    expect(compareModels(ours, mergeModel(pages, shared), empty, []).problems).toEqual([]);

    const schema: ShapeModel = new Map();
    const { request_id: _r, ...ds } = (await call(emulator, `/v1/data_sources/${blog.dataSourceId}`)).body;
    addSample(schema, ds, "data_source", "dataSources.retrieve");
    const recorded = modelOf([
      {
        value: read("data-source-retrieve-all-property-types-2025-09-03.json"),
        root: "data_source",
        source: "recording",
      },
    ]);
    const exceptions = { extraKinds: { "data_source{}.public_url#null": "not published to the web (shapes.test.ts)" } };
    expect(compareModels(schema, mergeModel(recorded, shared), exceptions, []).problems).toEqual([]);
  });

  /** Each filter with the rows it selects (after the edits of the test before: Beta has authors and a relation). */
  const filterCases = (): [Json, string[]][] => [
    [{ property: "Published", checkbox: { equals: true } }, ["Alpha", "Delta", "Gamma"]],
    [{ property: "Published", checkbox: { does_not_equal: true } }, ["Beta", "Epsilon"]],
    [{ property: "Status", status: { equals: "Published" } }, ["Alpha", "Delta"]],
    [{ property: "Status", status: { does_not_equal: "Published" } }, ["Beta", "Epsilon", "Gamma"]],
    [{ property: "Status", status: { equals: "Complete" } }, ["Gamma"]],
    [{ property: "Status", status: { is_empty: true } }, ["Epsilon"]],
    [{ property: "Status", status: { is_not_empty: true } }, ["Alpha", "Beta", "Delta", "Gamma"]],
    [{ property: "Category", select: { equals: "Guide" } }, ["Alpha", "Delta"]],
    [{ property: "Category", select: { does_not_equal: "Guide" } }, ["Beta", "Epsilon", "Gamma"]],
    [{ property: "Category", select: { is_empty: true } }, ["Beta", "Epsilon"]],
    [{ property: "Category", select: { is_not_empty: true } }, ["Alpha", "Delta", "Gamma"]],
    [{ property: "Tags", multi_select: { contains: "b" } }, ["Alpha", "Delta"]],
    [{ property: "Tags", multi_select: { does_not_contain: "b" } }, ["Beta", "Epsilon", "Gamma"]],
    [{ property: "Tags", multi_select: { is_empty: true } }, ["Beta", "Epsilon"]],
    [{ property: "Tags", multi_select: { is_not_empty: true } }, ["Alpha", "Delta", "Gamma"]],
    [{ property: "Rating", number: { equals: 5 } }, ["Alpha"]],
    [{ property: "Rating", number: { does_not_equal: 5 } }, ["Beta", "Delta", "Epsilon", "Gamma"]],
    [{ property: "Rating", number: { greater_than: 2.5 } }, ["Alpha"]],
    [{ property: "Rating", number: { less_than: 2.5 } }, ["Delta"]],
    [{ property: "Rating", number: { greater_than_or_equal_to: 2.5 } }, ["Alpha", "Gamma"]],
    [{ property: "Rating", number: { less_than_or_equal_to: 2.5 } }, ["Delta", "Gamma"]],
    [{ property: "Rating", number: { is_empty: true } }, ["Beta", "Epsilon"]],
    [{ property: "Rating", number: { is_not_empty: true } }, ["Alpha", "Delta", "Gamma"]],
    // Dates: a date-only filter value is its whole UTC day; a date-only row value its UTC midnight; Gamma is 08:00Z.
    [{ property: "Publish at", date: { on_or_before: "2026-12-07" } }, ["Alpha", "Delta", "Gamma"]],
    [{ property: "Publish at", date: { before: "2026-12-07" } }, ["Alpha"]],
    [{ property: "Publish at", date: { after: "2026-12-06" } }, ["Delta", "Epsilon", "Gamma"]],
    [{ property: "Publish at", date: { after: "2026-12-07" } }, ["Epsilon"]],
    [{ property: "Publish at", date: { equals: "2026-12-07" } }, ["Delta", "Gamma"]],
    [{ property: "Publish at", date: { equals: "2026-12-07T08:00:00Z" } }, ["Gamma"]],
    [{ property: "Publish at", date: { on_or_before: "2026-12-07T07:59:00.000Z" } }, ["Alpha", "Delta"]],
    [{ property: "Publish at", date: { on_or_before: "2026-12-07T10:00:00+02:00" } }, ["Alpha", "Delta", "Gamma"]],
    [{ property: "Publish at", date: { on_or_after: "2026-12-07T09:00:00" } }, ["Epsilon"]],
    [{ property: "Publish at", date: { is_empty: true } }, ["Beta"]],
    [{ property: "Publish at", date: { is_not_empty: true } }, ["Alpha", "Delta", "Epsilon", "Gamma"]],
    [{ property: "Slug", rich_text: { equals: "alpha" } }, ["Alpha"]],
    [{ property: "Slug", rich_text: { contains: "TA" } }, ["Beta", "Delta"]],
    [{ property: "Slug", rich_text: { is_empty: true } }, ["Gamma"]],
    [{ property: "Title", title: { starts_with: "Ep" } }, ["Epsilon"]],
    [{ property: "Title", title: { does_not_contain: "a" } }, ["Epsilon"]],
    [{ property: "Link", url: { is_not_empty: true } }, ["Alpha"]],
    [{ property: "Cover", files: { is_not_empty: true } }, ["Alpha", "Gamma"]],
    [{ property: "Related", relation: { contains: ids.Alpha } }, ["Beta"]],
    [{ property: "Authors", people: { is_not_empty: true } }, ["Beta"]],
    // By property id, as Notion allows.
    [{ property: "title", title: { equals: "Beta" } }, ["Beta"]],
  ];

  it("filters on checkbox, status (and its groups), select, multi_select, number, date, text, people, relation and files", async () => {
    for (const [filter, expected] of filterCases())
      expect(await matching(filter), JSON.stringify(filter)).toEqual(expected);
  });

  it("agrees with lib/notion/filter-match wherever that one is certain (two independent implementations)", async () => {
    const rows = await queryAll(emulator, blog.dataSourceId);
    let certain = 0;
    for (const [filter, expected] of filterCases()) {
      for (const row of rows) {
        const verdict = matchesFilter(row.properties as Record<string, NotionProperty>, filter, ws.now());
        if (verdict === "unknown") continue;
        certain++;
        expect(verdict, `${titleOf(row)} ${JSON.stringify(filter)}`).toBe(
          expected.includes(titleOf(row)) ? "match" : "no-match",
        );
      }
    }
    // Unknown only where the page cannot tell (a status group, text whose case decides, a day near a datetime).
    expect(certain).toBeGreaterThan(filterCases().length * rows.length * 0.9);
  });

  it("combines filters with and / or nested two levels, and refuses what it does not support with 400", async () => {
    expect(
      await matching({
        and: [
          { property: "Published", checkbox: { equals: true } },
          {
            or: [
              { property: "Status", status: { equals: "Draft" } },
              { property: "Rating", number: { greater_than: 3 } },
            ],
          },
        ],
      }),
    ).toEqual(["Alpha"]);
    expect(
      await matching({
        or: [
          {
            and: [
              { property: "Published", checkbox: { equals: false } },
              { property: "Status", status: { is_empty: true } },
            ],
          },
          {
            and: [
              { property: "Tags", multi_select: { contains: "c" } },
              { timestamp: "created_time", created_time: { is_not_empty: true } },
            ],
          },
        ],
      }),
    ).toEqual(["Epsilon", "Gamma"]);
    const refused: Json[] = [
      { and: [{ or: [{ and: [{ property: "Published", checkbox: { equals: true } }] }] }] },
      { property: "Published", rich_text: { equals: "x" } },
      { property: "Nope", checkbox: { equals: true } },
      { property: "Rating", number: { between: [1, 2] } },
      { property: "Publish at", date: { this_week: {} } },
      { property: "Publish at", date: { on_or_before: "now" } },
      { property: "Category", select: { equals: ["Guide", "News"] } },
      { property: "Published", checkbox: { equals: "yes" } },
    ];
    for (const filter of refused) {
      const { status, body } = await call(emulator, `/v1/data_sources/${blog.dataSourceId}/query`, {
        method: "POST",
        body: { filter },
      });
      expect([status, body.code], JSON.stringify(filter)).toEqual([400, "validation_error"]);
    }
  });

  it("sorts by any property and by timestamp, either way, empties last, across pages", async () => {
    const sorted = (sorts: Json[]) => names({ sorts, page_size: 2 });
    expect((await sorted([{ property: "Rating", direction: "ascending" }])).slice(0, 3)).toEqual([
      "Delta",
      "Gamma",
      "Alpha",
    ]);
    expect((await sorted([{ property: "Rating", direction: "descending" }])).slice(0, 3)).toEqual([
      "Alpha",
      "Gamma",
      "Delta",
    ]);
    expect(await sorted([{ property: "Publish at", direction: "ascending" }])).toEqual([
      "Alpha",
      "Delta",
      "Gamma",
      "Epsilon",
      "Beta",
    ]);
    expect(await sorted([{ property: "Publish at", direction: "descending" }])).toEqual([
      "Epsilon",
      "Gamma",
      "Delta",
      "Alpha",
      "Beta",
    ]);
    expect(await sorted([{ property: "Title", direction: "ascending" }])).toEqual([
      "Alpha",
      "Beta",
      "Delta",
      "Epsilon",
      "Gamma",
    ]);
    expect(await sorted([{ property: "Title", direction: "descending" }])).toEqual([
      "Gamma",
      "Epsilon",
      "Delta",
      "Beta",
      "Alpha",
    ]);
    expect(await sorted([{ property: "Slug", direction: "ascending" }])).toEqual([
      "Alpha",
      "Beta",
      "Delta",
      "Epsilon",
      "Gamma",
    ]);
    expect(
      await sorted([
        { property: "Status", direction: "ascending" },
        { property: "Title", direction: "ascending" },
      ]),
    ).toEqual(["Beta", "Alpha", "Delta", "Gamma", "Epsilon"]);
    expect(
      await sorted([
        { property: "Category", direction: "descending" },
        { property: "Title", direction: "descending" },
      ]),
    ).toEqual(["Gamma", "Delta", "Alpha", "Epsilon", "Beta"]);
    expect(
      await sorted([
        { property: "Published", direction: "descending" },
        { property: "Title", direction: "ascending" },
      ]),
    ).toEqual(["Alpha", "Delta", "Gamma", "Beta", "Epsilon"]);
    expect(await sorted([{ timestamp: "created_time", direction: "ascending" }])).toEqual(Object.keys(ROWS));
    expect(await sorted([{ timestamp: "created_time", direction: "descending" }])).toEqual(Object.keys(ROWS).reverse());
    const bad = await call(emulator, `/v1/data_sources/${blog.dataSourceId}/query`, {
      method: "POST",
      body: { sorts: [{ property: "Nope", direction: "ascending" }] },
    });
    expect(bad.status).toBe(400);
  });

  it("an edit moves last_edited_time to its minute and sends the events Notion sends; trash and restore work as for any row", async () => {
    const received: Json[] = [];
    const sink = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        received.push(JSON.parse(Buffer.concat(chunks).toString("utf8")) as Json);
        res.end("{}");
      });
    });
    await new Promise<void>((resolve) => sink.listen(0, "127.0.0.1", resolve));
    const hooks = attachWebhooks(ws, {
      url: `http://127.0.0.1:${(sink.address() as AddressInfo).port}/`,
      aggregateMs: 50,
    });
    try {
      ws.advanceClock(10 * 60_000 + 42_000);
      const minute = new Date(Math.floor(ws.now().getTime() / 60_000) * 60_000).toISOString();
      const edited = await control(emulator, "update-row", {
        pageId: ids.Beta,
        values: { Published: true, Rating: 4 },
      });
      expect((edited.body.page as PageObject).last_edited_time).toBe(minute);
      expect((await call(emulator, `/v1/pages/${ids.Beta}`)).body.last_edited_time).toBe(minute);
      expect(await matching({ property: "Published", checkbox: { equals: true } })).toEqual([
        "Alpha",
        "Beta",
        "Delta",
        "Gamma",
      ]);
      const edits = await matching({ timestamp: "last_edited_time", last_edited_time: { on_or_after: minute } });
      expect(edits).toEqual(["Beta"]);
      await control(emulator, "update-row", { pageId: ids.Delta, values: { Title: "Delta renamed" } });
      const added = await control(emulator, "rows", { databaseId: blog.dataSourceId, values: { Title: "Zeta" } });
      const later = await control(emulator, "databases", { title: "Changelog" });
      const zeta = (added.body.page as PageObject).id;
      hooks.flush();
      await hooks.idle();
      const ds = (await call(emulator, `/v1/data_sources/${blog.dataSourceId}`)).body.properties as Record<
        string,
        Json
      >;
      const byType = (type: string) => received.filter((e) => e.type === type);
      expect(
        byType("page.properties_updated").map((e) => [(e.entity as Json).id, (e.data as Json).updated_properties]),
      ).toEqual([[ids.Beta, [ds.Published.id, ds.Rating.id]]]);
      expect(byType("page.content_updated").map((e) => (e.entity as Json).id)).toEqual([ids.Delta]);
      expect(byType("page.created").map((e) => (e.entity as Json).id)).toEqual([zeta]);
      expect(byType("data_source.created").map((e) => [e.entity, e.data])).toEqual([
        [
          { id: later.body.dataSourceId, type: "data_source" },
          { parent: { id: later.body.databaseId, type: "database" } },
        ],
      ]);
      expect((byType("page.created")[0].data as Json).parent).toEqual({
        id: blog.databaseId,
        type: "database",
        data_source_id: blog.dataSourceId,
      });

      expect((await control(emulator, "trash", { pageId: zeta })).status).toBe(200);
      expect((await names({})).includes("Zeta")).toBe(false);
      expect((await names({ in_trash: true })).includes("Zeta")).toBe(true);
      expect((await control(emulator, "restore", { pageId: zeta })).status).toBe(200);
      expect((await names({})).includes("Zeta")).toBe(true);
    } finally {
      hooks.detach();
      await new Promise<void>((resolve) => sink.close(() => resolve()));
    }
  });
});

describe("a database added to the default workspace", () => {
  it("sits beside Pages and Posts, which keep their ids, rows and figures", async () => {
    const ws = generateWorkspace();
    const stats = ws.stats();
    const pagesRows = ws.visibleRows(ws.pagesDatabaseId);
    const ids = [ws.pagesDatabaseId, ws.postsDatabaseId, ws.pagesDataSourceId, ws.postsDataSourceId];
    const db = ws.createDatabase({
      title: "Authors",
      properties: { Name: "title", Bio: "rich_text", Avatar: "files" },
    });
    const row = ws.addRow(db.id, { values: { Name: "Ada", Bio: "Wrote the first program.", Avatar: ["ada.png"] } });
    expect(stats.pages + stats.posts).toBe(346);
    expect(ws.stats()).toEqual(stats);
    expect([ws.pagesDatabaseId, ws.postsDatabaseId, ws.pagesDataSourceId, ws.postsDataSourceId]).toEqual(ids);
    expect(ws.visibleRows(ws.pagesDatabaseId)).toEqual(pagesRows);
    expect(ws.databaseIds()).toEqual([ws.pagesDatabaseId, ws.postsDatabaseId, db.id]);
    expect(ws.visibleRows(db.id).map((r) => r.id)).toEqual([row.id]);
    const child = ws.addChildPage(row.id, "Ada's notes");
    expect(ws.reachableChildPages(Infinity, [db.id])).toEqual([{ id: child.id, parentId: row.id, depth: 1 }]);
    expect(ws.reachableChildPages()).toEqual(
      ws.reachableChildPages(Infinity, [ws.pagesDatabaseId, ws.postsDatabaseId]),
    );
    // Database ids come from a stream of their own: a later edit draws the id it draws without the database.
    const small = { seed: 5, pages: 5, posts: 5, hugePages: 0 };
    const alone = generateWorkspace(small);
    const withDb = generateWorkspace(small);
    withDb.createDatabase({ title: "Extra" });
    expect(withDb.addPage(withDb.pagesDatabaseId, { title: "x" }).id).toBe(
      alone.addPage(alone.pagesDatabaseId, { title: "x" }).id,
    );
    const emulator = await startNotionEmulator({ workspace: ws, ratePerSecond: Infinity });
    try {
      const found = await call(emulator, "/v1/search", {
        method: "POST",
        body: { filter: { property: "object", value: "data_source" } },
      });
      expect((found.body.results as Json[]).map((r) => r.id).sort()).toEqual(
        [ws.pagesDataSourceId, ws.postsDataSourceId, db.data_sources[0].id].sort(),
      );
      const queried = await queryAll(emulator, db.data_sources[0].id, {
        filter: { property: "Bio", rich_text: { contains: "program" } },
      });
      expect(queried.map(titleOf)).toEqual(["Ada"]);
    } finally {
      await emulator.close();
    }
  });
});

/** A database or data source answer without its request id (new per request). */
function strip(body: Json): Json {
  const { request_id: _omit, ...rest } = body;
  return rest;
}
