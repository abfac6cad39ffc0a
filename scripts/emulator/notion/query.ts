/**
 * The parts of a data source query the emulator understands: filters, sorts
 * and opaque keyset cursors. Anything else is refused with 400
 * validation_error, so a sync relying on an unsupported filter fails loudly
 * instead of silently getting every row.
 */
import { NotionApiError } from "./types.js";
import type { PageRecord } from "./workspace.js";

export type RowKey = (number | string)[];

/** Computes a row's sort key; `compare` orders keys, `arity` is the key length (checked when decoding cursors). */
export interface SortSpec {
  (page: PageRecord): RowKey;
  compare(a: RowKey, b: RowKey): number;
  arity: number;
}

type Predicate = (page: PageRecord) => boolean;
type Direction = 1 | -1;

function invalid(message: string): NotionApiError {
  return new NotionApiError(400, "validation_error", message);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

const DATE_OPERATORS = ["equals", "before", "after", "on_or_before", "on_or_after"] as const;

function parseInstant(value: unknown, where: string): number {
  const ms = typeof value === "string" ? Date.parse(value) : NaN;
  if (Number.isNaN(ms))
    throw invalid(`${where} should be a valid ISO 8601 date string, instead was \`${JSON.stringify(value)}\`.`);
  return ms;
}

/** `{on_or_after: ISO}` and friends, applied to a value in ms (null = empty). */
function dateCondition(condition: unknown, where: string): (ms: number | null) => boolean {
  if (!isObject(condition)) throw invalid(`${where} should be an object.`);
  const entries = Object.entries(condition);
  if (entries.length !== 1) throw invalid(`${where} should have exactly one condition.`);
  const [operator, raw] = entries[0];
  if (operator === "is_empty") return (ms) => ms === null;
  if (operator === "is_not_empty") return (ms) => ms !== null;
  if (!(DATE_OPERATORS as readonly string[]).includes(operator)) {
    throw invalid(`${where}.${operator} is not a supported date condition.`);
  }
  const bound = parseInstant(raw, `${where}.${operator}`);
  const test: Record<(typeof DATE_OPERATORS)[number], (ms: number) => boolean> = {
    equals: (ms) => ms === bound,
    before: (ms) => ms < bound,
    after: (ms) => ms > bound,
    on_or_before: (ms) => ms <= bound,
    on_or_after: (ms) => ms >= bound,
  };
  const check = test[operator as (typeof DATE_OPERATORS)[number]];
  return (ms) => ms !== null && check(ms);
}

function textCondition(condition: unknown, where: string): (text: string) => boolean {
  if (!isObject(condition)) throw invalid(`${where} should be an object.`);
  const [operator, raw] = Object.entries(condition)[0] ?? [];
  if (operator === "is_empty") return (text) => text === "";
  if (operator === "is_not_empty") return (text) => text !== "";
  if (typeof raw !== "string") throw invalid(`${where}.${String(operator)} should be a string.`);
  switch (operator) {
    case "equals":
      return (text) => text === raw;
    case "does_not_equal":
      return (text) => text !== raw;
    case "contains":
      return (text) => text.toLowerCase().includes(raw.toLowerCase());
    case "does_not_contain":
      return (text) => !text.toLowerCase().includes(raw.toLowerCase());
    case "starts_with":
      return (text) => text.startsWith(raw);
    case "ends_with":
      return (text) => text.endsWith(raw);
    default:
      throw invalid(`${where}.${String(operator)} is not a supported text condition.`);
  }
}

const TEXT_PROPERTIES: Record<string, (page: PageRecord) => string> = {
  Name: (page) => page.title,
  Slug: (page) => page.slug ?? "",
  Description: (page) => page.description,
};

function propertyFilter(filter: Record<string, unknown>, where: string): Predicate {
  const name = filter.property;
  if (name === "Date" && "date" in filter) {
    const test = dateCondition(filter.date, `${where}.date`);
    return (page) => test(page.date ? Date.parse(page.date) : null);
  }
  if (name === "Published" && "checkbox" in filter) {
    const condition = filter.checkbox;
    if (!isObject(condition) || typeof condition.equals !== "boolean") {
      throw invalid(`${where}.checkbox should be \`{equals: boolean}\`.`);
    }
    const wanted = condition.equals;
    return (page) => page.published === wanted;
  }
  if (typeof name === "string" && name in TEXT_PROPERTIES) {
    const key = name === "Name" ? "title" : "rich_text";
    if (!(key in filter)) throw invalid(`${where} should use \`${key}\` for property ${name}.`);
    const get = TEXT_PROPERTIES[name];
    const test = textCondition(filter[key], `${where}.${key}`);
    return (page) => test(get(page));
  }
  if (name === "Tags" && "multi_select" in filter) {
    const condition = filter.multi_select;
    if (!isObject(condition) || typeof condition.contains !== "string") {
      throw invalid(`${where}.multi_select should be \`{contains: string}\`.`);
    }
    const tag = condition.contains;
    return (page) => page.tags.includes(tag);
  }
  throw invalid(`${where}: unsupported property filter ${JSON.stringify(filter)}.`);
}

export function compileFilter(filter: unknown, where = "body.filter"): Predicate {
  if (filter === undefined || filter === null) return () => true;
  if (!isObject(filter)) throw invalid(`${where} should be an object.`);
  for (const compound of ["and", "or"] as const) {
    if (compound in filter) {
      const parts = filter[compound];
      if (!Array.isArray(parts)) throw invalid(`${where}.${compound} should be an array.`);
      const predicates = parts.map((part, i) => compileFilter(part, `${where}.${compound}[${i}]`));
      return compound === "and"
        ? (page) => predicates.every((p) => p(page))
        : (page) => predicates.some((p) => p(page));
    }
  }
  if (filter.timestamp === "last_edited_time" || filter.timestamp === "created_time") {
    const field = filter.timestamp;
    const test = dateCondition(filter[field], `${where}.${field}`);
    return field === "last_edited_time" ? (page) => test(page.lastEditedTime) : (page) => test(page.createdTime);
  }
  if ("timestamp" in filter) throw invalid(`${where}.timestamp should be "last_edited_time" or "created_time".`);
  if ("property" in filter) return propertyFilter(filter, where);
  throw invalid(`${where}: unsupported filter ${JSON.stringify(filter)}.`);
}

const SORT_VALUES: Record<string, (page: PageRecord) => number | string> = {
  "timestamp:last_edited_time": (page) => page.lastEditedTime,
  "timestamp:created_time": (page) => page.createdTime,
  "property:Date": (page) => (page.date ? Date.parse(page.date) : -1),
  "property:Name": (page) => page.title.toLowerCase(),
  "property:Slug": (page) => page.slug ?? "",
  "property:Published": (page) => (page.published ? 1 : 0),
};

/**
 * Sort key for the requested sorts, always followed by the index order
 * (Date descending, then id) so that ties are deterministic and the key is unique.
 */
export function compileSorts(sorts: unknown): SortSpec {
  if (sorts !== undefined && sorts !== null && !Array.isArray(sorts)) throw invalid("body.sorts should be an array.");
  const parts: { value: (page: PageRecord) => number | string; direction: Direction }[] = [];
  for (const [i, sort] of ((sorts as unknown[] | null | undefined) ?? []).entries()) {
    if (!isObject(sort)) throw invalid(`body.sorts[${i}] should be an object.`);
    const direction = sort.direction === "ascending" ? 1 : sort.direction === "descending" ? -1 : undefined;
    if (direction === undefined) throw invalid(`body.sorts[${i}].direction should be "ascending" or "descending".`);
    const name = "timestamp" in sort ? `timestamp:${String(sort.timestamp)}` : `property:${String(sort.property)}`;
    const value = SORT_VALUES[name];
    if (!value) throw invalid(`Could not find sort property with name or id: ${name.split(":")[1]}`);
    parts.push({ value, direction });
  }
  parts.push({ value: SORT_VALUES["property:Date"], direction: -1 });
  parts.push({ value: (page) => page.id, direction: 1 });

  const keyOf = (page: PageRecord): RowKey => parts.map((part) => part.value(page));
  const compare = (a: RowKey, b: RowKey): number => {
    for (let i = 0; i < parts.length; i++) {
      if (a[i] !== b[i]) return (a[i] < b[i] ? -1 : 1) * parts[i].direction;
    }
    return 0;
  };
  return Object.assign(keyOf, { compare, arity: parts.length });
}

/** Cursors are opaque to clients: base64url of the last served row's sort key. */
export function encodeCursor(key: RowKey): string {
  return Buffer.from(JSON.stringify(key)).toString("base64url");
}

export function decodeCursor(cursor: string, arity: number): RowKey {
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    key = undefined;
  }
  const ok =
    Array.isArray(key) &&
    key.length === arity &&
    key.every((part) => typeof part === "number" || typeof part === "string");
  if (!ok) throw invalid(`start_cursor provided is invalid: ${cursor}`);
  return key as RowKey;
}
