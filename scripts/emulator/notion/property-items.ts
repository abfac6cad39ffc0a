/**
 * Relations with many references, and the property item endpoint that serves
 * them: `GET /v1/pages/{page_id}/properties/{property_id}` (2025-09-03).
 *
 * Like Notion, a page object (pages.retrieve, and every row of a data source
 * query) shows at most 25 references of a relation, with `has_more: true`
 * past that; the property item endpoint lists all of them, 100 a page at
 * most, as the recording `page-property-item-relation-26` shows:
 *
 *   {object: "list", results: [{object: "property_item", type: "relation", id, relation: {id}}],
 *    next_cursor, has_more, type: "property_item",
 *    property_item: {id, next_url, type: "relation", relation: {}}, request_id}
 *
 * Title and rich_text properties are served the same way (one rich text
 * part per item); every other property as one property_item object.
 *
 * Relations live beside the workspace (a WeakMap keyed by it), so the
 * generator and the workspace's own records stay as they are: give a page a
 * relation with `setRelation(workspace, pageId, {count: 60})`, or over HTTP
 * with `POST /__emulator/relation {"pageId", "count", "name"?}`.
 */
import { Prng, normalizeId } from "./prng.js";
import { NotionApiError, notFound, type PropertyValue } from "./types.js";
import type { Workspace } from "./workspace.js";

/** References a page object shows per relation (Notion: 25, then `has_more: true`). */
export const PAGE_OBJECT_REFERENCES = 25;
const MAX_PAGE_SIZE = 100;
export const DEFAULT_RELATION_NAME = "Related";

export interface RelationRecord {
  name: string;
  /** As Notion sends it in a page object: URL-encoded. */
  propertyId: string;
  /** Every referenced page id, in order. */
  ids: string[];
}

const relations = new WeakMap<Workspace, Map<string, RelationRecord[]>>();
/** Relation properties setRelation added, per database: in Notion every row of it has them (empty or not). */
const added = new WeakMap<Workspace, Map<string, Map<string, string>>>();

function recordsOf(workspace: Workspace, pageId: string): RelationRecord[] {
  return relations.get(workspace)?.get(normalizeId(pageId) ?? pageId) ?? [];
}

/**
 * Gives a page (a database row) a relation property with `count` references
 * (deterministic ids) or exactly `ids`, replacing one of the same name. Like
 * an edit in Notion it bumps the page's last_edited_time (`touch: false`
 * leaves it, e.g. to model a change made from the related page's side).
 */
export function setRelation(
  workspace: Workspace,
  pageId: string,
  options: { count?: number; ids?: string[]; name?: string; propertyId?: string; touch?: boolean } = {},
): RelationRecord {
  const page = workspace.page(pageId);
  if (!page) throw new Error(`unknown page ${pageId}`);
  if (page.parent.type !== "data_source_id")
    throw new Error(`page ${pageId} is not a database row: only rows have relations`);
  const name = options.name ?? DEFAULT_RELATION_NAME;
  const rng = new Prng(`${workspace.seed}:relation:${page.id}:${name}`);
  const count = options.ids?.length ?? options.count ?? 0;
  if (!Number.isInteger(count) || count < 0) throw new Error("count must be a non-negative integer");
  const ids = options.ids ?? Array.from({ length: count }, () => rng.uuid());
  const record: RelationRecord = { name, propertyId: options.propertyId ?? propertyIdFor(name), ids };
  const byPage = relations.get(workspace) ?? new Map<string, RelationRecord[]>();
  relations.set(workspace, byPage);
  const key = normalizeId(page.id) ?? page.id;
  byPage.set(key, [...(byPage.get(key) ?? []).filter((r) => r.name !== name), record]);
  const byDatabase = added.get(workspace) ?? new Map<string, Map<string, string>>();
  added.set(workspace, byDatabase);
  const databaseId = normalizeId(page.parent.database_id) ?? page.parent.database_id;
  byDatabase.set(databaseId, (byDatabase.get(databaseId) ?? new Map()).set(name, record.propertyId));
  if (options.touch !== false) workspace.editPageTitle(page.id, titleOf(page.properties)); // the workspace's way to bump last_edited_time
  return record;
}

/** The schema entries of the relations setRelation added to a database (one-way, to its own data source). */
export function relationSchema(
  workspace: Workspace,
  databaseId: string,
  dataSourceId: string,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, id] of added.get(workspace)?.get(databaseId) ?? [])
    out[name] = {
      id,
      name,
      description: null,
      type: "relation",
      relation: { database_id: databaseId, data_source_id: dataSourceId, type: "single_property", single_property: {} },
    };
  return out;
}

/** A short, URL-encoded property id like Notion's (`%60%5B%3E%7B`), stable per name. */
function propertyIdFor(name: string): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789`[>{:;<=@^|~";
  const rng = new Prng(`relation-property:${name}`);
  let raw = "";
  for (let i = 0; i < 4; i++) raw += alphabet[rng.int(0, alphabet.length - 1)];
  return encodeURIComponent(raw);
}

function titleOf(properties: Record<string, PropertyValue>): string {
  for (const prop of Object.values(properties))
    if (prop.type === "title") return prop.title.map((t) => t.plain_text).join("");
  return "";
}

/** The relation properties of a page as a page object shows them: the first 25 references, `has_more` past that. */
export function relationProperties(workspace: Workspace, pageId: string): Record<string, PropertyValue> {
  const out: Record<string, PropertyValue> = {};
  for (const record of recordsOf(workspace, pageId)) {
    out[record.name] = {
      id: record.propertyId,
      type: "relation",
      relation: record.ids.slice(0, PAGE_OBJECT_REFERENCES).map((id) => ({ id })),
      has_more: record.ids.length > PAGE_OBJECT_REFERENCES,
    } as unknown as PropertyValue; // the workspace's PropertyValue union has no relation member
  }
  return out;
}

/**
 * A database row's properties with the relations setRelation added to its database: an empty one
 * (after `base`) where the row has none and `base` no property of that name, the row's own in place.
 */
export function withAddedRelations(
  workspace: Workspace,
  pageId: string,
  databaseId: string,
  base: Record<string, PropertyValue>,
): Record<string, PropertyValue> {
  const out = { ...base };
  for (const [name, id] of added.get(workspace)?.get(databaseId) ?? [])
    if (!(name in out)) out[name] = { id, type: "relation", relation: [], has_more: false } as unknown as PropertyValue;
  return { ...out, ...relationProperties(workspace, pageId) };
}

/** A page object's properties with every relation complete (`has_more: false`): what a sync that completes them stores. */
export function withCompleteRelations<T extends Record<string, unknown>>(
  workspace: Workspace,
  pageId: string,
  properties: T,
): T {
  const out: Record<string, unknown> = { ...properties };
  for (const record of recordsOf(workspace, pageId)) {
    out[record.name] = {
      id: record.propertyId,
      type: "relation",
      relation: record.ids.map((id) => ({ id })),
      has_more: false,
    };
  }
  return out as T;
}

/**
 * The answer of GET /v1/pages/{page_id}/properties/{property_id}. Throws
 * NotionApiError: 404 for a page or property it does not know, 400 for a bad
 * page_size or start_cursor.
 */
export function propertyItems(
  workspace: Workspace,
  pageId: string,
  rawPropertyId: string,
  url: URL,
): Record<string, unknown> {
  const page = workspace.page(pageId);
  if (!page) throw notFound(pageId, "page");
  const wanted = decodeSegment(rawPropertyId);
  const relation = recordsOf(workspace, pageId).find((r) => decodeSegment(r.propertyId) === wanted);
  const entry = relation ? undefined : Object.values(page.properties).find((p) => decodeSegment(p.id) === wanted);
  if (!relation && !entry)
    throw new NotionApiError(404, "object_not_found", `Could not find property with id: ${rawPropertyId}.`);
  const propertyId = relation?.propertyId ?? entry!.id;
  const type = relation ? "relation" : entry!.type;

  let items: unknown[];
  if (relation) items = relation.ids.map((id) => ({ id }));
  else if (entry!.type === "title" || entry!.type === "rich_text")
    items = entry!.type === "title" ? entry!.title : entry!.rich_text;
  else return { object: "property_item", id: propertyId, type, [type]: (entry as Record<string, unknown>)[type] };

  const pageSize = parsePageSize(url.searchParams.get("page_size"));
  const start = parseCursor(url.searchParams.get("start_cursor"), items.length);
  const slice = items.slice(start, start + pageSize);
  const hasMore = start + pageSize < items.length;
  const nextCursor = hasMore ? encodeCursor(start + pageSize) : null;
  const nextUrl = nextCursor
    ? `${url.origin}/v1/pages/${page.id.replace(/-/g, "")}/properties/${propertyId}?start_cursor=${nextCursor}&page_size=${pageSize}`
    : null;
  // Key order of the recorded answers.
  return {
    object: "list",
    results: slice.map((value) => ({ object: "property_item", type, id: propertyId, [type]: value })),
    next_cursor: nextCursor,
    has_more: hasMore,
    type: "property_item",
    property_item: { id: propertyId, next_url: nextUrl, type, [type]: {} },
  };
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function parsePageSize(raw: string | null): number {
  if (raw === null || raw === "") return MAX_PAGE_SIZE;
  const size = Number(raw);
  if (!Number.isInteger(size) || size < 1 || size > MAX_PAGE_SIZE) {
    throw new NotionApiError(
      400,
      "validation_error",
      `page_size should be an integer between 1 and ${MAX_PAGE_SIZE}, instead was \`${raw}\`.`,
    );
  }
  return size;
}

/** Opaque short cursors, like Notion's (`PLuaRX`): the offset of the next item. */
function encodeCursor(offset: number): string {
  return Buffer.from(`pi:${offset}`).toString("base64url");
}

function parseCursor(raw: string | null, total: number): number {
  if (raw === null || raw === "") return 0;
  const match = /^pi:(\d+)$/.exec(Buffer.from(raw, "base64url").toString("utf8"));
  const offset = match ? Number(match[1]) : NaN;
  if (!Number.isInteger(offset) || offset < 0 || offset > total)
    throw new NotionApiError(400, "validation_error", `start_cursor provided is invalid: ${raw}`);
  return offset;
}
