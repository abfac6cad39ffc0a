/**
 * POST /v1/search of the Notion emulator, as API 2025-09-03 answers it:
 *
 *   body: { query?, filter?: {property: "object", value: "page" | "data_source"},
 *           sort?: {timestamp: "last_edited_time", direction} | {property: "relevance"},
 *           start_cursor?, page_size? (1-100, default 100) }
 *   answer: { object: "list", results: (page | data_source)[], next_cursor, has_more,
 *             type: "page_or_data_source", page_or_data_source: {} }
 *
 * Pages are every page the integration can see and that is not in the trash
 * (rows of every database and every reachable child page); data sources are
 * every database's data source. `query` matches titles (case-insensitive
 * substring; a data source matches on its database's title). Without a sort,
 * or with the relevance sort, the most recently edited come first.
 *
 * Like Notion's, this index lags: with `lagMs` > 0, an object whose
 * last_edited_time is within the last `lagMs` of the emulated clock is not in
 * it yet (left out of the results). Notion's timestamps are rounded down to
 * the minute, so "edited within the lag" is judged on that rounded time.
 * Pagination is keyset-based (last_edited_time, id), so it survives edits
 * between pages, as far as anything can.
 */
import { NotionApiError, type PageObject } from "./types.js";
import type { Workspace } from "./workspace.js";

export interface SearchOptions {
  /** Objects edited within this many ms of the emulated clock are not in the index yet. */
  lagMs?: number;
}

export interface DataSourceObject {
  object: "data_source";
  id: string;
  created_time: string;
  last_edited_time: string;
  title: unknown[];
  description: unknown[];
  icon: unknown;
  cover: null;
  parent: { type: "database_id"; database_id: string };
  database_parent: unknown;
  is_inline: boolean;
  archived: boolean;
  in_trash: boolean;
  properties: Record<string, unknown>;
  url: string;
  public_url: null;
}

type Result = PageObject | DataSourceObject;

export interface SearchAnswer {
  object: "list";
  results: Result[];
  next_cursor: string | null;
  has_more: boolean;
  type: "page_or_data_source";
  page_or_data_source: Record<string, never>;
}

const MAX_PAGE_SIZE = 100;

const invalid = (message: string) => new NotionApiError(400, "validation_error", message);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Parses the raw body (an empty body is `{}`) and answers the search; throws NotionApiError for what Notion refuses. */
export function searchWorkspace(workspace: Workspace, bodyText: string, options: SearchOptions = {}): SearchAnswer {
  let body: unknown = {};
  if (bodyText.trim() !== "") {
    try {
      body = JSON.parse(bodyText);
    } catch {
      throw new NotionApiError(400, "invalid_json", "Error parsing JSON body.");
    }
  }
  if (!isObject(body)) throw invalid("body failed validation: body should be an object.");
  return search(workspace, body, options);
}

export function search(workspace: Workspace, body: Record<string, unknown>, options: SearchOptions = {}): SearchAnswer {
  const kind = objectFilter(body.filter);
  const descending = sortDirection(body.sort) === "descending";
  const pageSize = pageSizeOf(body.page_size);
  const query = body.query === undefined || body.query === null ? "" : body.query;
  if (typeof query !== "string") throw invalid("body.query should be a string.");

  const nowMs = workspace.now().getTime();
  const lagMs = Math.max(0, options.lagMs ?? 0);
  const needle = query.trim().toLowerCase();
  // Pages are rendered only once they are in the answer's slice (workspace.page(id)).
  const items: { id: string; result: Result | null; time: number; title: string }[] = [];
  if (kind !== "data_source") {
    for (const page of workspace.searchablePages())
      items.push({ id: page.id, result: null, time: page.time, title: page.title });
  }
  if (kind !== "page") {
    for (const ds of dataSources(workspace))
      items.push({ id: ds.id, result: ds, time: Date.parse(ds.last_edited_time), title: plain(ds.title) });
  }
  const indexed = items.filter(
    (item) =>
      (lagMs === 0 || item.time <= nowMs - lagMs) && (needle === "" || item.title.toLowerCase().includes(needle)),
  );
  const sign = descending ? -1 : 1;
  indexed.sort((a, b) => (a.time !== b.time ? sign * (a.time - b.time) : a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

  let start = 0;
  if (body.start_cursor !== undefined && body.start_cursor !== null) {
    if (typeof body.start_cursor !== "string") throw invalid("body.start_cursor should be a string.");
    const [time, id] = decodeCursor(body.start_cursor);
    // Keyset: the first item sorting after the last one served.
    start = indexed.findIndex((item) => (item.time !== time ? sign * (item.time - time) > 0 : item.id > id));
    if (start === -1) start = indexed.length;
  }
  const slice = indexed.slice(start, start + pageSize);
  const hasMore = start + pageSize < indexed.length;
  const last = slice.at(-1);
  return {
    object: "list",
    results: slice.map((item) => item.result ?? workspace.page(item.id)!),
    next_cursor: hasMore && last ? encodeCursor(last.time, last.id) : null,
    has_more: hasMore,
    type: "page_or_data_source",
    page_or_data_source: {},
  };
}

function dataSources(workspace: Workspace): DataSourceObject[] {
  const out: DataSourceObject[] = [];
  for (const dbId of workspace.databaseIds()) {
    const db = workspace.database(dbId);
    if (!db) continue;
    for (const ds of db.data_sources) {
      out.push({
        object: "data_source",
        id: ds.id,
        created_time: db.created_time,
        last_edited_time: db.last_edited_time,
        title: db.title,
        description: db.description,
        icon: db.icon,
        cover: null,
        parent: { type: "database_id", database_id: db.id },
        database_parent: db.parent,
        is_inline: db.is_inline,
        archived: false,
        in_trash: false,
        properties: {},
        url: db.url,
        public_url: null,
      });
    }
  }
  return out;
}

function plain(parts: unknown[]): string {
  return parts.map((p) => (isObject(p) && typeof p.plain_text === "string" ? p.plain_text : "")).join("");
}

function objectFilter(filter: unknown): "page" | "data_source" | null {
  if (filter === undefined || filter === null) return null;
  if (!isObject(filter)) throw invalid("body.filter should be an object.");
  if (filter.in_trash !== undefined && filter.in_trash !== false)
    throw invalid("body.filter.in_trash: only false is supported by the emulator.");
  if (filter.property === undefined && filter.value === undefined) return null;
  if (filter.property !== "object") throw invalid('body.filter.property should be `"object"`.');
  // 2025-09-03: "database" is no longer a value (data sources replaced it).
  if (filter.value !== "page" && filter.value !== "data_source") {
    throw invalid(
      `body.filter.value should be \`"page"\` or \`"data_source"\`, instead was \`${JSON.stringify(filter.value)}\`.`,
    );
  }
  return filter.value;
}

function sortDirection(sort: unknown): "ascending" | "descending" {
  if (sort === undefined || sort === null) return "descending";
  if (!isObject(sort)) throw invalid("body.sort should be an object.");
  if (sort.property === "relevance") return "descending";
  if (sort.timestamp !== "last_edited_time") throw invalid('body.sort.timestamp should be `"last_edited_time"`.');
  if (sort.direction !== "ascending" && sort.direction !== "descending")
    throw invalid('body.sort.direction should be `"ascending"` or `"descending"`.');
  return sort.direction;
}

function pageSizeOf(value: unknown): number {
  if (value === undefined || value === null) return MAX_PAGE_SIZE;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > MAX_PAGE_SIZE) {
    throw invalid(
      `body.page_size should be an integer between 1 and ${MAX_PAGE_SIZE}, instead was \`${String(value)}\`.`,
    );
  }
  return value;
}

function encodeCursor(time: number, id: string): string {
  return Buffer.from(JSON.stringify([time, id])).toString("base64url");
}

function decodeCursor(cursor: string): [number, string] {
  try {
    const key: unknown = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    if (Array.isArray(key) && key.length === 2 && typeof key[0] === "number" && typeof key[1] === "string")
      return [key[0], key[1]];
  } catch {
    // fall through
  }
  throw invalid(`start_cursor provided is invalid: ${cursor}`);
}
