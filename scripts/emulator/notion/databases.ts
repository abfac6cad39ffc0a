/**
 * Databases made at run time (Workspace.createDatabase, POST
 * /__emulator/databases): their schema from a short description, the values
 * their rows store, and how filters and sorts read a row (query.ts Column).
 *
 *   properties: { "Published": "checkbox",
 *                 "Status": { type: "status", options: ["Draft", "Published", "Archived"] },
 *                 "Related": { type: "relation", database: "<database id>" }, ... }
 *
 * A property is a type name or `{type, options?, format?, database?}`;
 * options are names or `{name, color?, group?}` (a status option's group:
 * "To-do", "In progress" or "Complete"; without one the first option is To-do,
 * the last Complete, the others In progress; no options: Notion's own "Not
 * started", "In progress", "Done"). A database without a title property gets
 * "Name" first. Row values (addRow, updateRow) by property name: title,
 * rich_text, url, email, phone_number: string (null or "" empties); checkbox:
 * boolean; select, status: an option name or null; multi_select: names;
 * number; date: "2026-12-07", a datetime with offset, or {start, end?}, or
 * null; files: names (hosted by Notion, signed at every read) or {name, url}
 * (external); people: user ids, names or emails; relation: page ids.
 */
import {
  floorToMinute,
  plainText,
  richText,
  schemaOption,
  STATUS_OPTIONS,
  type PropertySpec,
  type SelectOptionSpec,
} from "./content.js";
import { storedHostedFile } from "./files.js";
import { normalizeId, Prng } from "./prng.js";
import { parseNotionDate, type Column } from "./query.js";
import type { DateValue, FilesItem, FullUser, PropertyType, RichText } from "./types.js";
import type { PageRecord } from "./workspace.js";

export type OptionInput = string | { name: string; color?: string; group?: StatusGroupName };
export type PropertyInput =
  string | { type: string; options?: OptionInput[]; format?: string; database?: string; prefix?: string | null };

export interface DatabaseInput {
  title: string;
  /** Property name → type or description, in schema order. */
  properties?: Record<string, PropertyInput>;
  /** An emoji for the database's icon (default none). */
  icon?: string;
}

export interface RowInput {
  /** Property name → value (see the header). */
  values?: Record<string, unknown>;
  /** Texts of the row's top-level paragraphs (default: two generated sentences). */
  paragraphs?: string[];
}

type StatusGroupName = "To-do" | "In progress" | "Complete";
const GROUPS: { name: StatusGroupName; color: string }[] = [
  { name: "To-do", color: "gray" },
  { name: "In progress", color: "blue" },
  { name: "Complete", color: "green" },
];
const COLORS = ["default", "gray", "brown", "orange", "yellow", "green", "blue", "purple", "pink", "red"];
const SETTABLE = new Set<string>([
  "title",
  "rich_text",
  "url",
  "email",
  "phone_number",
  "checkbox",
  "select",
  "status",
  "multi_select",
  "number",
  "date",
  "files",
  "people",
  "relation",
]);
const CREATABLE = new Set<string>([...SETTABLE, "created_time", "last_edited_time", "created_by", "last_edited_by"]);

/** What building a relation's configuration needs to know of the workspace. */
export interface DatabaseRef {
  id: string;
  dataSourceId: string;
}

/** The schema of a new database from its description; throws on a type or option it cannot make. */
export function buildSchema(
  db: DatabaseRef,
  properties: Record<string, PropertyInput>,
  resolveDatabase: (id: string) => DatabaseRef | undefined,
): PropertySpec[] {
  const specs: PropertySpec[] = [];
  const ids = new Set<string>(["title"]);
  for (const [name, input] of Object.entries(properties)) {
    const described = typeof input === "string" ? { type: input } : input;
    if (!CREATABLE.has(described.type)) throw new Error(`property ${name}: type ${described.type} is not supported`);
    const type = described.type as PropertyType;
    if (type === "title" && specs.some((s) => s.type === "title")) throw new Error(`property ${name}: a second title`);
    const id = type === "title" ? "title" : propertyId(db.id, name, ids);
    const spec: PropertySpec = { name, id, type, config: {} };
    if (type === "title") spec.field = "title";
    if (type === "select" || type === "multi_select") {
      spec.config = { options: options(db.id, name, described.options ?? []).map(schemaOption) };
    } else if (type === "status") {
      spec.config = statusConfig(db.id, name, described.options);
    } else if (type === "number") {
      spec.config = { format: described.format ?? "number" };
    } else if (type === "relation") {
      const target = described.database ? resolveDatabase(described.database) : db;
      if (!target) throw new Error(`property ${name}: unknown database ${String(described.database)}`);
      spec.config = {
        database_id: target.id,
        data_source_id: target.dataSourceId,
        type: "single_property",
        single_property: {},
      };
    }
    specs.push(spec);
  }
  if (!specs.some((s) => s.type === "title"))
    specs.unshift({ name: "Name", id: "title", type: "title", config: {}, field: "title" });
  return specs;
}

/** A short url-encoded property id like Notion's, stable per database and name, unique in the database. */
function propertyId(dbId: string, name: string, taken: Set<string>): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789`[>{:;<=@^|~";
  const rng = new Prng(`${dbId}:property:${name}`);
  let id: string;
  do {
    let raw = "";
    for (let i = 0; i < 4; i++) raw += alphabet[rng.int(0, alphabet.length - 1)];
    id = encodeURIComponent(raw);
  } while (taken.has(id));
  taken.add(id);
  return id;
}

function options(dbId: string, property: string, inputs: OptionInput[]): (SelectOptionSpec & { group?: string })[] {
  const seen = new Set<string>();
  return inputs.map((input, i) => {
    const option = typeof input === "string" ? { name: input } : input;
    if (typeof option.name !== "string" || option.name === "" || seen.has(option.name))
      throw new Error(`property ${property}: option names must be distinct non-empty strings`);
    seen.add(option.name);
    return {
      id: new Prng(`${dbId}:option:${property}:${option.name}`).uuid(),
      name: option.name,
      color: option.color ?? COLORS[i % COLORS.length],
      ...(typeof input === "object" && input.group ? { group: input.group } : {}),
    };
  });
}

function statusConfig(dbId: string, property: string, inputs: OptionInput[] | undefined): Record<string, unknown> {
  const made = inputs
    ? options(dbId, property, inputs)
    : STATUS_OPTIONS.filter((o) => o.name !== "In review").map((o, i) => ({
        ...o,
        id: new Prng(`${dbId}:option:${property}:${o.name}`).uuid(),
        group: GROUPS[i].name,
      }));
  if (made.length === 0) throw new Error(`property ${property}: a status needs at least one option`);
  const groupOf = (option: { group?: string }, i: number): string =>
    option.group ?? (i === 0 ? "To-do" : i === made.length - 1 ? "Complete" : "In progress");
  for (const [i, option] of made.entries()) {
    if (!GROUPS.some((g) => g.name === groupOf(option, i)))
      throw new Error(`property ${property}: group ${String(option.group)} is not To-do, In progress or Complete`);
  }
  return {
    options: made.map((o) => schemaOption(o)),
    groups: GROUPS.map((g) => ({
      id: new Prng(`${dbId}:group:${property}:${g.name}`).uuid(),
      name: g.name,
      color: g.color,
      option_ids: made.filter((o, i) => groupOf(o, i) === g.name).map((o) => o.id),
    })),
  };
}

/** The options a select, multi_select or status spec lists, or undefined. */
export function specOptions(spec: PropertySpec): SelectOptionSpec[] | undefined {
  const list = spec.config.options;
  return Array.isArray(list) ? (list as SelectOptionSpec[]) : undefined;
}

/** What a status shows when nobody set it: the first option of its To-do group, as in Notion. */
export function defaultStatus(spec: PropertySpec): string | null {
  const groups = spec.config.groups as { option_ids: string[] }[] | undefined;
  const list = specOptions(spec) ?? [];
  const first = groups?.[0]?.option_ids[0];
  return list.find((o) => o.id === first)?.name ?? list[0]?.name ?? null;
}

/** What the workspace gives valueFor to resolve people and file names. */
export interface ValueContext {
  workspaceId: string;
  users: FullUser[];
  /** Draws a new id (hosted files). */
  uuid(): string;
}

/** A row value as the page record stores it (`values[name]`), from its input form; throws on a wrong one. */
export function storedValue(spec: PropertySpec, input: unknown, ctx: ValueContext): unknown {
  const where = `property ${spec.name} (${spec.type})`;
  const fail = (what: string): never => {
    throw new Error(`${where}: ${what}, got ${JSON.stringify(input)}`);
  };
  if (!SETTABLE.has(spec.type)) fail("cannot be set");
  switch (spec.type) {
    case "title":
    case "rich_text":
      if (input === null || input === "") return [] as RichText[];
      return typeof input === "string" ? [richText(input)] : fail("expected a string");
    case "url":
    case "email":
    case "phone_number":
      if (input === null || input === "") return null;
      return typeof input === "string" ? input : fail("expected a string");
    case "checkbox":
      return typeof input === "boolean" ? input : fail("expected a boolean");
    case "number":
      return input === null || (typeof input === "number" && Number.isFinite(input))
        ? input
        : fail("expected a number");
    case "select":
    case "status":
      if (input === null) return null;
      return typeof input === "string" && specOptions(spec)?.some((o) => o.name === input)
        ? input
        : fail("expected one of its options");
    case "multi_select":
      return Array.isArray(input) && input.every((n) => specOptions(spec)?.some((o) => o.name === n))
        ? [...new Set(input as string[])]
        : fail("expected a list of its options");
    case "date":
      return dateValue(input, fail);
    case "files":
      return Array.isArray(input) ? input.map((item) => fileItem(item, ctx, fail)) : fail("expected a list");
    case "people":
      return Array.isArray(input) ? input.map((who) => personId(who, ctx, fail)) : fail("expected a list");
    case "relation":
      return Array.isArray(input) && input.every((id) => typeof id === "string" && normalizeId(id))
        ? input.map((id) => normalizeId(id as string)!)
        : fail("expected a list of page ids");
  }
  return fail("cannot be set");
}

function dateValue(input: unknown, fail: (what: string) => never): DateValue | null {
  if (input === null) return null;
  const given = typeof input === "string" ? { start: input, end: null } : (input as { start?: unknown; end?: unknown });
  const valid = (v: unknown) => typeof v === "string" && !Number.isNaN(parseNotionDate(v));
  if (typeof given !== "object" || !valid(given.start) || !(given.end == null || valid(given.end)))
    return fail("expected an ISO 8601 date, or {start, end}");
  return { start: given.start as string, end: (given.end as string | null | undefined) ?? null, time_zone: null };
}

function fileItem(item: unknown, ctx: ValueContext, fail: (what: string) => never): FilesItem {
  const given = typeof item === "string" ? { name: item } : (item as { name?: unknown; url?: unknown });
  if (typeof given !== "object" || given === null || typeof given.name !== "string" || given.name === "")
    return fail("expected file names or {name, url}");
  if (typeof given.url === "string") return { name: given.name, type: "external", external: { url: given.url } };
  return { name: given.name, ...storedHostedFile(ctx.workspaceId, ctx.uuid(), given.name) };
}

function personId(who: unknown, ctx: ValueContext, fail: (what: string) => never): string {
  const key = typeof who === "string" ? who : "";
  const user = ctx.users.find(
    (u) => u.id === (normalizeId(key) ?? key) || u.name === key || (u.type === "person" && u.person.email === key),
  );
  return user ? user.id : fail("expected user ids, names or emails of the workspace");
}

/** Sort keys the default databases' own columns always had (query.ts legacySort). */
const LEGACY_SORTS: Partial<Record<NonNullable<PropertySpec["field"]>, (page: PageRecord) => number | string>> = {
  title: (page) => page.title.toLowerCase(),
  slug: (page) => page.slug ?? "",
  date: (page) => (page.date ? Date.parse(page.date) : -1),
  published: (page) => (page.published ? 1 : 0),
};

/** A row's value of a page-record column (the default databases' base properties, every database's title). */
function fieldValue(page: PageRecord, field: NonNullable<PropertySpec["field"]>): unknown {
  switch (field) {
    case "title":
      return page.title;
    case "slug":
      return page.slug ?? "";
    case "date":
      return page.date;
    case "tags":
      return page.tags;
    case "published":
      return page.published;
    case "description":
      return page.description;
    case "attachments":
      return (page.attachments ?? []).map((file) => file.name);
  }
}

/** A row's value of a stored property in the plain form query.ts compares (see Column). */
function plainValue(page: PageRecord, spec: PropertySpec): unknown {
  const raw = page.values?.[spec.name];
  switch (spec.type) {
    case "title":
    case "rich_text":
      return plainText((raw as RichText[] | undefined) ?? []);
    case "url":
    case "email":
    case "phone_number":
      return (raw as string | null | undefined) ?? "";
    case "checkbox":
      return raw === true;
    case "number":
    case "select":
      return raw ?? null;
    case "status":
      return raw === undefined ? defaultStatus(spec) : raw;
    case "multi_select":
    case "people":
    case "relation":
      return (raw as string[] | undefined) ?? [];
    case "files":
      return ((raw as FilesItem[] | undefined) ?? []).map((file) => file.name);
    case "date":
      return (raw as DateValue | null | undefined)?.start ?? null;
    case "created_time":
      return floorToMinute(page.createdTime);
    case "last_edited_time":
      return floorToMinute(page.lastEditedTime);
    default:
      return undefined;
  }
}

/** The columns filters and sorts of a data source see; `legacy`: the default databases, whose own columns keep their sort keys. */
export function columnsOf(schema: PropertySpec[], legacy: boolean): Column[] {
  return schema.map((spec) => {
    const list = specOptions(spec);
    const groups = spec.config.groups as { name: string; option_ids: string[] }[] | undefined;
    const field = spec.field;
    return {
      name: spec.name,
      id: spec.id,
      type: spec.type,
      ...(list ? { options: list.map((o) => o.name) } : {}),
      ...(groups
        ? {
            groups: groups.map((g) => ({
              name: g.name,
              options: g.option_ids.map((id) => list?.find((o) => o.id === id)?.name ?? ""),
            })),
          }
        : {}),
      ...(legacy && field && LEGACY_SORTS[field] ? { legacySort: LEGACY_SORTS[field] } : {}),
      value: field ? (page: PageRecord) => fieldValue(page, field) : (page: PageRecord) => plainValue(page, spec),
    };
  });
}
