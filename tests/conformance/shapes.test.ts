/**
 * The Notion emulator against recorded real Notion answers
 * (tests/fixtures/real-notion/, their provenance in its README, or $NOTION_CORPUS_DIR): for every kind
 * of recorded response, the emulator's answers to the same kind of request,
 * over HTTP, from the default workspace, have the same keys and value types
 * at every position, and between them show every position the recordings
 * show (tests/support/shape.ts explains the comparison). Every departure is
 * listed below with its reason, and in the README ("Conformance to real
 * Notion").
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateWorkspace } from "../../scripts/emulator/notion/generate";
import { setRelation } from "../../scripts/emulator/notion/property-items";
import { startNotionEmulator, type NotionEmulator } from "../../scripts/emulator/notion/server";
import type { BlockTree, PageObject, Workspace } from "../../scripts/emulator/notion/workspace";
import {
  addSample,
  compareModels,
  mergeModel,
  modelOf,
  shapeDiff,
  type Exceptions,
  type ShapeModel,
} from "../support/shape";

const CORPUS = process.env.NOTION_CORPUS_DIR ?? path.resolve(__dirname, "../fixtures/real-notion");
const VERSION = "2025-09-03";
type Json = Record<string, unknown>;

function recording(name: string): Json {
  return JSON.parse(fs.readFileSync(path.join(CORPUS, name), "utf8")) as Json;
}
const withoutRequestId = ({ request_id: _omit, ...rest }: Json): Json => rest;
const results = (body: Json): Json[] => body.results as Json[];
/** A list's envelope: its results are compared as blocks or pages. */
const envelope = (body: Json): Json => ({ ...body, results: [] });

// ------------------------------------------------------------ the recordings

const FILES = fs.existsSync(CORPUS)
  ? fs
      .readdirSync(CORPUS)
      .filter((f) => f.endsWith(".json"))
      .sort()
  : [];
const current = (f: string) => f.includes("2025-09-03");
const isBlockFile = (f: string) => f.startsWith("block");
const isPageFile = (f: string) => f.startsWith("page-") && !f.startsWith("page-property-item");
const isQueryFile = (f: string) => f.startsWith("query-data-source");

/** Block types of the 2022-06-28 recordings only (deprecated since). */
const LEGACY_BLOCK_TYPES = new Set(["template"]);

/**
 * Rich text, icons, covers and parents from every recording, whatever its
 * version: these shared objects are the same at 2022-06-28, 2025-09-03 and
 * 2026-03-11 (the 2022 files add mentions, inline equations and callout
 * icons of type external and file that no 2025 file shows).
 */
function aliasModel(): ShapeModel {
  const all: ShapeModel = new Map();
  for (const f of FILES) addSample(all, withoutRequestId(recording(f)), "any", f);
  return mergeModel(new Map(), all, (p) => p.startsWith("@"));
}

/**
 * Blocks: every block of the 2025-09-03 block files (lists and single
 * retrieves), plus, from the 2022-06-28 files, the payloads of the block
 * variants no 2025 file shows (Notion-hosted file, pdf, audio and video): a
 * payload's shape did not change between the versions, the block around it
 * did (`in_trash`), so only payloads are taken from them.
 */
function blockModel(): ShapeModel {
  const model: ShapeModel = new Map();
  for (const f of FILES.filter((f) => isBlockFile(f) && current(f))) {
    const body = recording(f);
    for (const block of body.object === "list" ? results(body) : [withoutRequestId(body)])
      addSample(model, block, "block", f);
  }
  const legacy: ShapeModel = new Map();
  for (const f of FILES.filter((f) => isBlockFile(f) && !current(f))) {
    for (const block of results(recording(f))) {
      const type = String(block.type);
      if (LEGACY_BLOCK_TYPES.has(type)) continue;
      addSample(legacy, block[type], `block{${type}}.${type}`, f);
    }
  }
  const variantOf = (p: string) => /^block\{[a-z_0-9]+\}\.[a-z_0-9]+\{[a-z_0-9]*\}/.exec(p)?.[0];
  const recent = new Set(model.keys());
  return mergeModel(model, legacy, (p) => {
    const variant = variantOf(p);
    return variant !== undefined && !recent.has(variant);
  });
}

function pageModel(): ShapeModel {
  const model: ShapeModel = new Map();
  for (const f of FILES.filter(isPageFile)) addSample(model, withoutRequestId(recording(f)), "page", f);
  for (const f of FILES.filter(isQueryFile)) for (const row of results(recording(f))) addSample(model, row, "page", f);
  return model;
}

function listModel(): ShapeModel {
  const lists = FILES.filter((f) => current(f) && (isQueryFile(f) || isBlockFile(f))).map((f) => ({
    f,
    body: recording(f),
  }));
  return modelOf(
    lists
      .filter(({ body }) => body.object === "list")
      .map(({ f, body }) => ({ value: envelope(body), root: "list", source: f })),
  );
}

// ------------------------------------------------------------ documented departures (README, "Conformance to real Notion")

/** Departures that hold in every comparison (shared vocabularies). */
const COMMON: Exceptions = {
  extraPositions: {
    "@cover{file}":
      "no recording has a Notion-hosted cover; Notion documents covers as file objects like icons (files.ts adds some)",
  },
};
const with_ = (extra: Exceptions): Exceptions => ({
  extraPositions: { ...COMMON.extraPositions, ...extra.extraPositions },
  uncovered: { ...COMMON.uncovered, ...extra.uncovered },
  optionalKeys: { ...COMMON.optionalKeys, ...extra.optionalKeys },
  extraKinds: { ...COMMON.extraKinds, ...extra.extraKinds },
});
const PAGE_EXCEPTIONS: Exceptions = {
  extraKinds: {
    "page{}.properties.*{formula}.formula{string}.string#string":
      "the recorded string formulas are all empty (null); the emulator also sends non-empty ones, a string as the API reference documents",
  },
};
const DATA_SOURCE_EXCEPTIONS: Exceptions = {
  extraPositions: {
    "data_source{}.properties.*{verification}":
      "the recorded schema has no verification, place or button property: same shape as the others, `{id, name, description, type, <type>: {}}`",
    "data_source{}.properties.*{place}": "idem",
    "data_source{}.properties.*{button}": "idem",
  },
  extraKinds: {
    "data_source{}.public_url#null":
      "a database not published to the web has public_url null (database-retrieve-2026-03-11 shows it); the one recorded data source is published",
    "data_source{}.properties.*{unique_id}.unique_id{}.prefix#null":
      "the recorded schema's unique_id has a prefix; rows of a source without one show `prefix: null` (query-data-source-23-property-types), so does its schema",
  },
};
/** Keys Notion itself sends only sometimes at one position (they differ by recording date and version): documented in the README. */
const EXPECTED_VARYING = {
  page: ["page{}#is_archived", "page{}#is_locked", "page{}#archived"],
  database: ["database{}#description", "database{}#is_locked"],
};

// ------------------------------------------------------------ the emulator's answers

interface Sampled {
  blocks: ShapeModel;
  pages: ShapeModel;
  lists: ShapeModel;
  everything: ShapeModel;
  blockTypes: Set<string>;
  propertyTypes: Set<string>;
}

async function call(
  emulator: NotionEmulator,
  route: string,
  init: { method?: string; body?: unknown; token?: string } = {},
): Promise<{ status: number; body: Json }> {
  const response = await fetch(`${emulator.url}${route}`, {
    method: init.method ?? "GET",
    headers: {
      Authorization: `Bearer ${init.token ?? emulator.token}`,
      "Notion-Version": VERSION,
      "Content-Type": "application/json",
    },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  return { status: response.status, body: (await response.json()) as Json };
}

describe.skipIf(FILES.length === 0)("the emulator answers with the shapes of recorded Notion responses", () => {
  let emulator: NotionEmulator;
  let ws: Workspace;
  let sampled: Sampled;
  const alias = aliasModel();

  beforeAll(async () => {
    ws = generateWorkspace(); // the default workspace
    emulator = await startNotionEmulator({ workspace: ws, ratePerSecond: Infinity });
    const blocks: ShapeModel = new Map();
    const pages: ShapeModel = new Map();
    const lists: ShapeModel = new Map();
    const everything: ShapeModel = new Map();
    const blockTypes = new Set<string>();
    const propertyTypes = new Set<string>();
    const note = (model: ShapeModel, value: unknown, root: string, source: string) => {
      addSample(model, value, root, source);
      addSample(everything, value, root, source);
    };

    // Every row, listed page by page as the sync does (page_size 100), and small pages for cursors.
    const rowIds: string[] = [];
    for (const dataSourceId of [ws.pagesDataSourceId, ws.postsDataSourceId]) {
      let cursor: string | null = null;
      do {
        const { body } = await call(emulator, `/v1/data_sources/${dataSourceId}/query`, {
          method: "POST",
          body: { page_size: 100, ...(cursor ? { start_cursor: cursor } : {}) },
        });
        note(lists, envelope(body), "list", "query");
        for (const row of results(body)) {
          note(pages, row, "page", "query");
          rowIds.push(String(row.id));
        }
        cursor = body.next_cursor as string | null;
      } while (cursor);
    }
    const small = await call(emulator, `/v1/data_sources/${ws.postsDataSourceId}/query`, {
      method: "POST",
      body: { page_size: 2 },
    });
    note(lists, envelope(small.body), "list", "query page_size 2");
    const empty = await call(emulator, `/v1/data_sources/${ws.postsDataSourceId}/query`, {
      method: "POST",
      body: { filter: { property: "Name", title: { equals: "no such page" } } },
    });
    note(lists, envelope(empty.body), "list", "empty query");

    // Every page retrieved, and every block of it, read recursively like the sync.
    const childIds = ws.reachableChildPages().map((c) => c.id);
    for (const id of [...rowIds, ...childIds]) {
      const { body } = await call(emulator, `/v1/pages/${id}`);
      note(pages, withoutRequestId(body), "page", "pages.retrieve");
      for (const prop of Object.values(body.properties as Record<string, Json>)) propertyTypes.add(String(prop.type));
    }
    const readList = async (blockId: string): Promise<void> => {
      let cursor: string | null = null;
      do {
        const { body } = await call(
          emulator,
          `/v1/blocks/${blockId}/children?page_size=100${cursor ? `&start_cursor=${cursor}` : ""}`,
        );
        note(lists, envelope(body), "list", "blocks.children.list");
        for (const block of results(body) as BlockTree[]) {
          note(blocks, block, "block", "blocks.children.list");
          const payload = block[block.type] as { type?: string } | undefined;
          blockTypes.add(
            typeof payload?.type === "string" && block.type !== "link_to_page"
              ? `${block.type}:${payload.type}`
              : block.type,
          );
          if (block.has_children && block.type !== "child_page" && block.type !== "child_database")
            await readList(block.id);
        }
        cursor = body.next_cursor as string | null;
      } while (cursor);
    };
    for (const id of [...rowIds, ...childIds]) await readList(id);
    const paged = await call(emulator, `/v1/blocks/${rowIds[0]}/children?page_size=2`);
    note(lists, envelope(paged.body), "list", "blocks.children.list page_size 2");
    sampled = { blocks, pages, lists, everything, blockTypes, propertyTypes };
  }, 120_000);
  afterAll(() => emulator?.close());

  it("blocks: every block type and variant of the recordings, with their keys and value types", () => {
    const comparison = compareModels(sampled.blocks, mergeModel(blockModel(), alias), COMMON, ["block"]);
    expect(comparison.problems).toEqual([]);
    // The 32 block types of the 2025-09-03 recordings, file-hosted and external media included.
    for (const type of [
      "paragraph",
      "heading_1",
      "heading_2",
      "heading_3",
      "bulleted_list_item",
      "numbered_list_item",
      "to_do",
      "toggle",
      "code",
      "quote",
      "callout",
      "equation",
      "divider",
      "table",
      "table_row",
      "column_list",
      "column",
      "synced_block",
      "image:file",
      "image:external",
      "file:file",
      "file:external",
      "pdf:file",
      "pdf:external",
      "video:file",
      "video:external",
      "audio:file",
      "audio:external",
      "bookmark",
      "embed",
      "link_preview",
      "child_page",
      "child_database",
      "table_of_contents",
      "breadcrumb",
      "link_to_page",
      "unsupported",
    ]) {
      expect(sampled.blockTypes, type).toContain(type);
    }
  });

  it("GET /v1/blocks/{id}: one block with request_id, the shape of a listed block", async () => {
    const ids = new Map<string, string>();
    const walk = (nodes: BlockTree[]) =>
      nodes.forEach((n) => (ids.has(n.type) || ids.set(n.type, n.id), walk(n.children ?? [])));
    for (const row of ws.visibleRows(ws.postsDatabaseId)) walk(ws.contentTree(row.id));
    const model: ShapeModel = new Map();
    for (const id of ids.values()) {
      const { status, body } = await call(emulator, `/v1/blocks/${id}`);
      expect(status).toBe(200);
      expect(typeof body.request_id).toBe("string");
      addSample(model, withoutRequestId(body), "block", "blocks.retrieve");
    }
    expect(ids.size).toBeGreaterThanOrEqual(30);
    expect(
      compareModels(model, mergeModel(blockModel(), alias), COMMON).problems.filter(
        (p) => !p.startsWith("not covered"),
      ),
    ).toEqual([]);
  });

  it("pages: retrieved and queried, with every property type of the recordings", () => {
    const comparison = compareModels(sampled.pages, mergeModel(pageModel(), alias), with_(PAGE_EXCEPTIONS), ["page"]);
    expect(comparison.problems).toEqual([]);
    expect(comparison.varyingKeys.filter((k) => /^page\{\}#/.test(k)).sort()).toEqual(
      [...EXPECTED_VARYING.page].sort(),
    );
    const recorded = new Set<string>();
    for (const f of FILES.filter((f) => isPageFile(f) || isQueryFile(f))) {
      const body = recording(f);
      for (const page of body.object === "list" ? results(body) : [body])
        for (const prop of Object.values(page.properties as Record<string, Json>)) recorded.add(String(prop.type));
    }
    expect(recorded.size).toBe(24);
    for (const type of recorded) expect(sampled.propertyTypes, type).toContain(type);
  });

  it("paginated lists: object, results, next_cursor, has_more, type, block | page_or_data_source, request_id", () => {
    expect(compareModels(sampled.lists, listModel(), COMMON, ["list"]).problems).toEqual([]);
  });

  it("data sources: the schema of every property type", async () => {
    const model: ShapeModel = new Map();
    for (const id of [ws.pagesDataSourceId, ws.postsDataSourceId]) {
      const { status, body } = await call(emulator, `/v1/data_sources/${id}`);
      expect(status).toBe(200);
      expect(typeof body.request_id).toBe("string");
      addSample(model, withoutRequestId(body), "data_source", "dataSources.retrieve");
      // The schema lists every property the rows have.
      const row = ws.visibleRows(id === ws.pagesDataSourceId ? ws.pagesDatabaseId : ws.postsDatabaseId)[0];
      expect(Object.keys(body.properties as Json).sort()).toEqual(Object.keys(row.properties).sort());
    }
    const expected = modelOf([
      {
        value: withoutRequestId(recording("data-source-retrieve-all-property-types-2025-09-03.json")),
        root: "data_source",
        source: "recording",
      },
    ]);
    expect(
      compareModels(model, mergeModel(expected, alias), with_(DATA_SOURCE_EXCEPTIONS), ["data_source"]).problems,
    ).toEqual([]);
  });

  it("databases: a container of data sources (2025-09-03, and the 2026-03-11 field set)", async () => {
    const model: ShapeModel = new Map();
    for (const id of [ws.pagesDatabaseId, ws.postsDatabaseId]) {
      const { body } = await call(emulator, `/v1/databases/${id}`);
      expect(typeof body.request_id).toBe("string");
      expect(body.created_time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$/);
      addSample(model, withoutRequestId(body), "database", "databases.retrieve");
    }
    const expected = modelOf(
      ["database-retrieve-data-sources-2025-09-03.json", "database-retrieve-2026-03-11.json"].map((f) => ({
        value: withoutRequestId(recording(f)),
        root: "database",
        source: f,
      })),
    );
    const comparison = compareModels(model, mergeModel(expected, alias), COMMON, ["database"]);
    expect(comparison.problems).toEqual([]);
    expect(comparison.varyingKeys.filter((k) => k.startsWith("database{}#")).sort()).toEqual(
      [...EXPECTED_VARYING.database].sort(),
    );
  });

  it("errors: 400, 401, 404 (with additional_data) and 429 bodies", async () => {
    const cases: [string, () => Promise<{ status: number; body: Json }>, Exceptions?][] = [
      ["error-400-validation-error-2025-09-03.json", () => call(emulator, "/v1/pages/AAA")],
      ["error-400-invalid-request-url-2025-09-03.json", () => call(emulator, "/v1/invalid")],
      ["error-401-unauthorized-2025-09-03.json", () => call(emulator, "/v1/users", { token: "wrong" })],
      [
        "error-404-page-not-found-additional-data-2025-09-03.json",
        () => call(emulator, "/v1/pages/00000000-0000-0000-0000-000000000000"),
      ],
      [
        "error-404-data-source-not-found-2025-09-03.json",
        () => call(emulator, "/v1/data_sources/00da364baaca4b3b94f521db691d804a"),
        {
          optionalKeys: {
            "${}#additional_data":
              "recorded in September 2025, before 404s named the integration (the July 2026 recording has additional_data.integration_id)",
          },
          extraPositions: { "${}.additional_data": "idem" },
        },
      ],
    ];
    for (const [file, request, exceptions] of cases) {
      const recorded = recording(file);
      const { status, body } = await request();
      expect(status, file).toBe(recorded.status);
      expect(body.code, file).toBe(recorded.code);
      expect(shapeDiff(body, recorded, exceptions), file).toEqual([]);
      // Same words as Notion, ids and the integration's name aside.
      const words = (m: unknown) =>
        String(m)
          .replace(/[0-9a-f-]{32,36}/g, "<id>")
          .replace(/ "[^"]*"\./, ".")
          .replace(/"[^"]*"/g, "<name>");
      expect(words(body.message), file).toBe(words(recorded.message));
    }

    emulator.setRate(1, 1);
    let limited: { status: number; body: Json } | undefined;
    for (let i = 0; i < 5 && !limited; i++) {
      const answer = await call(emulator, `/v1/databases/${ws.pagesDatabaseId}`);
      if (answer.status === 429) limited = answer;
    }
    emulator.setRate(Infinity);
    const recorded = recording("error-429-rate-limited.json");
    expect(limited!.body.message).toBe(recorded.message);
    expect(
      shapeDiff(limited!.body, recorded, {
        optionalKeys: {
          "${}#additional_data":
            "additional_data.rate_limit_reason is documented since 2026-06-16 (per-connection and per-workspace limits); the only recorded 429 is from 2024",
        },
        extraPositions: { "${}.additional_data": "idem" },
      }),
    ).toEqual([]);
  });

  it("property items: a relation list and a paginated rich text list (GET /v1/pages/{id}/properties/{property_id})", async () => {
    // A post whose Notes hold text and mentions (more than one page of two items).
    const post = ws
      .visibleRows(ws.postsDatabaseId)
      .find((p) => p.properties.Notes?.type === "rich_text" && p.properties.Notes.rich_text.length > 4)!;
    const relation = setRelation(ws, post.id, { count: 3 });
    const relationList = await call(emulator, `/v1/pages/${post.id}/properties/${relation.propertyId}`);
    const notes = ws.page(post.id)!.properties.Notes as { id: string };
    const textList = await call(emulator, `/v1/pages/${post.id}/properties/${notes.id}?page_size=2`);
    for (const [file, answer] of [
      ["page-property-item-relation-26-2025-09-03.json", relationList],
      ["page-property-item-rich-text-paginated-2025-09-03.json", textList],
    ] as const) {
      expect(answer.status, file).toBe(200);
      const expected = mergeModel(modelOf([{ value: recording(file), root: "list", source: file }]), alias);
      const actual = modelOf([{ value: answer.body, root: "list", source: "emulator" }]);
      expect(compareModels(actual, expected, COMMON, ["list"]).problems, file).toEqual([]);
    }
  });

  it("rich text, icons, covers and parents: every kind the recordings show, and nothing else", async () => {
    const everything = new Map(sampled.everything);
    for (const id of [ws.pagesDataSourceId, ws.postsDataSourceId])
      addSample(
        everything,
        withoutRequestId((await call(emulator, `/v1/data_sources/${id}`)).body),
        "data_source",
        "dataSources.retrieve",
      );
    for (const id of [ws.pagesDatabaseId, ws.postsDatabaseId])
      addSample(
        everything,
        withoutRequestId((await call(emulator, `/v1/databases/${id}`)).body),
        "database",
        "databases.retrieve",
      );
    const shared = mergeModel(new Map(), everything, (p) => p.startsWith("@"));
    const comparison = compareModels(shared, alias, COMMON, ["@"]);
    expect(comparison.problems).toEqual([]);
  });

  it("the default workspace keeps its figures and stays deterministic", () => {
    const stats = ws.stats();
    expect([stats.pages, stats.posts, stats.childPages]).toEqual([196, 150, 218]);
    const again = generateWorkspace();
    const ids = (w: Workspace) => w.visibleRows(w.postsDatabaseId).map((p: PageObject) => p.id);
    expect(ids(again)).toEqual(ids(ws));
    const first = ws.visibleRows(ws.postsDatabaseId)[3].id;
    expect(again.contentTree(first)).toEqual(generateWorkspace().contentTree(first));
  });
});

describe("the corpus", () => {
  it("is where the conformance suites read it", () => {
    expect(FILES.length, `recorded Notion answers expected in ${CORPUS} (set NOTION_CORPUS_DIR)`).toBe(38);
  });
});
