/**
 * The parts of a data source query the emulator understands: filters, sorts
 * and opaque keyset cursors. Anything else is refused with 400
 * validation_error, so a sync relying on an unsupported filter fails loudly
 * instead of silently getting every row.
 *
 * Filters: checkbox, status, select, multi_select, number, date, text types,
 * people, relation, files (emptiness) and timestamps, by property name or id;
 * `and` / `or` nest two levels. A filter date without a time is its whole UTC
 * day (Notion's documented rule for equals, applied to every operator), a
 * datetime without an offset is UTC, a row's date without a time is its UTC
 * midnight. A status `equals` a group name matches the group's options
 * (before 2026-12-01); `{group: {equals | does_not_equal}}` names a group
 * (2026-12-01, or earlier with the status-group beta header: FilterDialect).
 * `does_not_equal` / `does_not_contain`
 * match empty values. Sorts: empties last either way; select and status by
 * option order.
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

/**
 * One property of the data source queried, as filters and sorts see it:
 * `value` gives a row's value in a plain form per type (text types: string;
 * checkbox: boolean; select, status: option name or null; multi_select,
 * people, relation, files: names or ids; number: number or null; date: the
 * start as sent, or null; created_time, last_edited_time: epoch ms).
 */
export interface Column {
  name: string;
  /** As the schema sends it (url-encoded); filters may name the property by it. */
  id: string;
  type: string;
  /** select, status, multi_select: option names in schema order (sorts follow it, as Notion's do). */
  options?: string[];
  /** status: the groups, each with its option names. */
  groups?: { name: string; options: string[] }[];
  /** The default databases' historical sort key of this column (one key part), kept so their order never moves. */
  legacySort?: (page: PageRecord) => number | string;
  value(page: PageRecord): unknown;
}

/** What the request's Notion-Version (and beta header) lets a status filter say. */
export interface FilterDialect {
  /** `equals` a group's name matches the group's options (before 2026-12-01). */
  groupByName: boolean;
  /** `{group: {equals | does_not_equal}}` is understood (2026-12-01, or the beta header). */
  groupOperators: boolean;
}

export const LEGACY_DIALECT: FilterDialect = { groupByName: true, groupOperators: false };

const MAX_COMPOUND_DEPTH = 2;
const DAY = 86_400_000;

function invalid(message: string): NotionApiError {
  return new NotionApiError(400, "validation_error", message);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

const DATE_OPERATORS = ["equals", "before", "after", "on_or_before", "on_or_after"] as const;
const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;

/** Epoch ms of an ISO 8601 date or datetime; a datetime without offset is UTC (Notion's rule), a date its UTC midnight. */
export function parseNotionDate(value: string): number {
  if (!/^\d{4}-\d{2}-\d{2}/.test(value)) return NaN;
  const noOffset = /T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(value);
  return Date.parse(noOffset ? `${value}Z` : value);
}

/**
 * The span a filter's date stands for: a date without a time is its whole
 * UTC day (Notion: "the comparison is done against the start and end of the
 * UTC date provided"), a datetime one millisecond.
 */
function filterSpan(value: unknown, where: string): [number, number] {
  const ms = typeof value === "string" ? parseNotionDate(value) : NaN;
  if (Number.isNaN(ms))
    throw invalid(`${where} should be a valid ISO 8601 date string, instead was \`${JSON.stringify(value)}\`.`);
  return DATE_ONLY.test(value as string) ? [ms, ms + DAY - 1] : [ms, ms];
}

function single(condition: unknown, where: string): [string, unknown] {
  if (!isObject(condition)) throw invalid(`${where} should be an object.`);
  const entries = Object.entries(condition);
  if (entries.length !== 1) throw invalid(`${where} should have exactly one condition.`);
  return entries[0];
}

/** `{on_or_after: ISO}` and friends, applied to a value in ms (null = empty). */
function dateCondition(condition: unknown, where: string): (ms: number | null) => boolean {
  const [operator, raw] = single(condition, where);
  if (operator === "is_empty") return (ms) => ms === null;
  if (operator === "is_not_empty") return (ms) => ms !== null;
  if (!(DATE_OPERATORS as readonly string[]).includes(operator)) {
    throw invalid(`${where}.${operator} is not a supported date condition.`);
  }
  const [lo, hi] = filterSpan(raw, `${where}.${operator}`);
  const test: Record<(typeof DATE_OPERATORS)[number], (ms: number) => boolean> = {
    equals: (ms) => ms >= lo && ms <= hi,
    before: (ms) => ms < lo,
    after: (ms) => ms > hi,
    on_or_before: (ms) => ms <= hi,
    on_or_after: (ms) => ms >= lo,
  };
  const check = test[operator as (typeof DATE_OPERATORS)[number]];
  return (ms) => ms !== null && check(ms);
}

function textCondition(condition: unknown, where: string): (text: string) => boolean {
  const [operator, raw] = single(condition, where);
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

function checkboxCondition(condition: unknown, where: string): (value: boolean) => boolean {
  const [operator, raw] = single(condition, where);
  if (typeof raw !== "boolean") throw invalid(`${where}.${operator} should be a boolean.`);
  if (operator === "equals") return (value) => value === raw;
  if (operator === "does_not_equal") return (value) => value !== raw;
  throw invalid(`${where}.${operator} is not a supported checkbox condition.`);
}

function numberCondition(condition: unknown, where: string): (value: number | null) => boolean {
  const [operator, raw] = single(condition, where);
  if (operator === "is_empty") return (value) => value === null;
  if (operator === "is_not_empty") return (value) => value !== null;
  if (typeof raw !== "number" || !Number.isFinite(raw)) throw invalid(`${where}.${operator} should be a number.`);
  const tests: Record<string, (value: number) => boolean> = {
    equals: (v) => v === raw,
    greater_than: (v) => v > raw,
    less_than: (v) => v < raw,
    greater_than_or_equal_to: (v) => v >= raw,
    less_than_or_equal_to: (v) => v <= raw,
  };
  // An empty number is not equal to anything.
  if (operator === "does_not_equal") return (value) => value !== raw;
  const test = tests[operator];
  if (!test) throw invalid(`${where}.${operator} is not a supported number condition.`);
  return (value) => value !== null && test(value);
}

/** select and status: `equals` on a status also matches an option of the group of that name (before 2026-12-01). */
function optionCondition(
  condition: unknown,
  where: string,
  column: Column,
  dialect: FilterDialect,
): (value: string | null) => boolean {
  const [operator, raw] = single(condition, where);
  if (operator === "is_empty") return (value) => value === null;
  if (operator === "is_not_empty") return (value) => value !== null;
  if (operator === "group" && column.type === "status" && dialect.groupOperators)
    return statusGroupCondition(raw, `${where}.group`, column);
  if (typeof raw !== "string") throw invalid(`${where}.${operator} should be a string.`);
  const byName = dialect.groupByName && !column.options?.includes(raw);
  const group = byName ? column.groups?.find((g) => g.name === raw) : undefined;
  const is = (value: string | null) => value !== null && (value === raw || (group?.options.includes(value) ?? false));
  if (operator === "equals") return is;
  if (operator === "does_not_equal") return (value) => !is(value);
  throw invalid(`${where}.${operator} is not a supported ${column.type} condition.`);
}

/** `{group: {equals | does_not_equal: "<group name>"}}`: the options of a status group. */
function statusGroupCondition(condition: unknown, where: string, column: Column): (value: string | null) => boolean {
  const [operator, raw] = single(condition, where);
  if (typeof raw !== "string") throw invalid(`${where}.${operator} should be a string.`);
  const group = column.groups?.find((g) => g.name === raw);
  if (!group) throw invalid(`${where}.${operator}: no status group named ${raw}.`);
  const is = (value: string | null) => value !== null && group.options.includes(value);
  if (operator === "equals") return is;
  if (operator === "does_not_equal") return (value) => !is(value);
  throw invalid(`${where}.${operator} is not a supported status group condition.`);
}

/** multi_select, people, relation (contains an element) and files (only emptiness). */
function listCondition(condition: unknown, where: string, type: string): (value: string[]) => boolean {
  const [operator, raw] = single(condition, where);
  if (operator === "is_empty") return (value) => value.length === 0;
  if (operator === "is_not_empty") return (value) => value.length > 0;
  if (type !== "files" && typeof raw === "string") {
    if (operator === "contains") return (value) => value.includes(raw);
    if (operator === "does_not_contain") return (value) => !value.includes(raw);
  }
  throw invalid(`${where}.${operator} is not a supported ${type} condition.`);
}

const TEXT_TYPES = new Set(["title", "rich_text", "url", "email", "phone_number"]);
const LIST_TYPES = new Set(["multi_select", "people", "relation", "files"]);
const FILTER_KEYS = new Set([
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
  "people",
  "relation",
  "files",
  "created_time",
  "last_edited_time",
  "formula",
  "rollup",
  "unique_id",
  "created_by",
  "last_edited_by",
  "verification",
]);

/** The filter's condition for the column, or a 400 for a type it does not fit or the emulator does not know. */
function columnPredicate(
  column: Column,
  key: string,
  condition: unknown,
  where: string,
  dialect: FilterDialect,
): Predicate {
  if (key !== column.type) {
    throw invalid(`${where}: database property ${column.type} does not match filter ${key}.`);
  }
  const at = `${where}.${key}`;
  if (TEXT_TYPES.has(key)) {
    const test = textCondition(condition, at);
    return (page) => test(column.value(page) as string);
  }
  if (key === "checkbox") {
    const test = checkboxCondition(condition, at);
    return (page) => test(column.value(page) as boolean);
  }
  if (key === "select" || key === "status") {
    const test = optionCondition(condition, at, column, dialect);
    return (page) => test(column.value(page) as string | null);
  }
  if (LIST_TYPES.has(key)) {
    const test = listCondition(condition, at, key);
    return (page) => test(column.value(page) as string[]);
  }
  if (key === "number") {
    const test = numberCondition(condition, at);
    return (page) => test(column.value(page) as number | null);
  }
  if (key === "date") {
    const test = dateCondition(condition, at);
    return (page) => {
      const start = column.value(page) as string | null;
      return test(start === null ? null : parseNotionDate(start));
    };
  }
  if (key === "created_time" || key === "last_edited_time") {
    const test = dateCondition(condition, at);
    return (page) => test(column.value(page) as number);
  }
  throw invalid(`${where}: the emulator does not support ${key} filters.`);
}

/** A column by name, or by id (Notion accepts either; ids compared decoded). */
export function findColumn(columns: readonly Column[], nameOrId: string): Column | undefined {
  const decode = (id: string) => {
    try {
      return decodeURIComponent(id);
    } catch {
      return id;
    }
  };
  return columns.find((c) => c.name === nameOrId) ?? columns.find((c) => decode(c.id) === decode(nameOrId));
}

function propertyFilter(
  filter: Record<string, unknown>,
  where: string,
  columns: readonly Column[],
  dialect: FilterDialect,
): Predicate {
  const name = filter.property;
  if (typeof name !== "string") throw invalid(`${where}.property should be a string.`);
  const keys = Object.keys(filter).filter((key) => key !== "property" && key !== "type");
  const key = keys.find((k) => FILTER_KEYS.has(k));
  if (!key || keys.length !== 1) throw invalid(`${where}: unsupported property filter ${JSON.stringify(filter)}.`);
  const column = findColumn(columns, name);
  if (!column) throw invalid(`Could not find property with name or id: ${name}`);
  return columnPredicate(column, key, filter[key], where, dialect);
}

/**
 * A row predicate for a data source query's filter, checked against the data
 * source's columns; compound filters nest at most two levels, as Notion's.
 */
export function compileFilter(
  filter: unknown,
  columns: readonly Column[],
  where = "body.filter",
  depth = 0,
  dialect: FilterDialect = LEGACY_DIALECT,
): Predicate {
  if (filter === undefined || filter === null) return () => true;
  if (!isObject(filter)) throw invalid(`${where} should be an object.`);
  for (const compound of ["and", "or"] as const) {
    if (compound in filter) {
      if (depth >= MAX_COMPOUND_DEPTH) throw invalid(`${where}: compound filters nest at most two levels deep.`);
      const parts = filter[compound];
      if (!Array.isArray(parts)) throw invalid(`${where}.${compound} should be an array.`);
      const predicates = parts.map((part, i) =>
        compileFilter(part, columns, `${where}.${compound}[${i}]`, depth + 1, dialect),
      );
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
  if ("property" in filter) return propertyFilter(filter, where, columns, dialect);
  throw invalid(`${where}: unsupported filter ${JSON.stringify(filter)}.`);
}

const TIMESTAMP_SORTS: Record<string, (page: PageRecord) => number> = {
  last_edited_time: (page) => page.lastEditedTime,
  created_time: (page) => page.createdTime,
};

/** The historical tie-break of every query: Date descending (none: -1), then id. */
const DATE_KEY = (page: PageRecord): number => (page.date ? Date.parse(page.date) : -1);

type SortPart = { value: (page: PageRecord) => number | string; direction: Direction };

/**
 * Sort key parts of one property: the default databases' own columns keep
 * their one historical part; any other gets an emptiness part (empties last
 * whatever the direction, as in Notion) then the value.
 */
function propertySortParts(column: Column, direction: Direction, where: string): SortPart[] {
  if (column.legacySort) return [{ value: column.legacySort, direction }];
  let value: (page: PageRecord) => number | string | null;
  switch (column.type) {
    case "title":
    case "rich_text":
    case "url":
    case "email":
    case "phone_number":
      value = (page) => {
        const text = column.value(page) as string;
        return text === "" ? null : text.toLowerCase();
      };
      break;
    case "number":
      value = (page) => column.value(page) as number | null;
      break;
    case "checkbox":
      value = (page) => (column.value(page) ? 1 : 0);
      break;
    case "select":
    case "status":
      value = (page) => {
        const name = column.value(page) as string | null;
        return name === null ? null : (column.options ?? []).indexOf(name);
      };
      break;
    case "date":
      value = (page) => {
        const start = column.value(page) as string | null;
        return start === null ? null : parseNotionDate(start);
      };
      break;
    case "created_time":
    case "last_edited_time":
      value = (page) => column.value(page) as number;
      break;
    default:
      throw invalid(`${where}: the emulator does not sort by ${column.type} properties.`);
  }
  return [
    { value: (page) => (value(page) === null ? 1 : 0), direction: 1 },
    { value: (page) => value(page) ?? 0, direction },
  ];
}

/**
 * Sort key for the requested sorts, always followed by the index order
 * (Date descending, then id) so that ties are deterministic and the key is unique.
 */
export function compileSorts(sorts: unknown, columns: readonly Column[]): SortSpec {
  if (sorts !== undefined && sorts !== null && !Array.isArray(sorts)) throw invalid("body.sorts should be an array.");
  const parts: SortPart[] = [];
  for (const [i, sort] of ((sorts as unknown[] | null | undefined) ?? []).entries()) {
    const where = `body.sorts[${i}]`;
    if (!isObject(sort)) throw invalid(`${where} should be an object.`);
    const direction = sort.direction === "ascending" ? 1 : sort.direction === "descending" ? -1 : undefined;
    if (direction === undefined) throw invalid(`${where}.direction should be "ascending" or "descending".`);
    if ("timestamp" in sort) {
      const value = TIMESTAMP_SORTS[String(sort.timestamp)];
      if (!value) throw invalid(`${where}.timestamp should be "created_time" or "last_edited_time".`);
      parts.push({ value, direction });
      continue;
    }
    const column = typeof sort.property === "string" ? findColumn(columns, sort.property) : undefined;
    if (!column) throw invalid(`Could not find sort property with name or id: ${String(sort.property)}`);
    parts.push(...propertySortParts(column, direction, where));
  }
  parts.push({ value: DATE_KEY, direction: -1 });
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
