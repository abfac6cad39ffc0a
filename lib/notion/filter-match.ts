/**
 * Evaluates a Notion data source filter against one page's `properties` (as
 * pages.retrieve returns them), so a single page can be judged without a
 * query. Three answers: "match", "no-match", and "unknown" wherever the
 * answer is not certain from the page alone (a filter kind or property it
 * does not know, a property missing from the page, a status group name, a
 * relation cut at 25, text whose case decides, a datetime against a date
 * without a time near that day); the caller then asks Notion (a full listing).
 *
 * Supported: checkbox; status and select (equals, does_not_equal, is_empty,
 * is_not_empty); a status group (`{status: {group: {equals | does_not_equal}}}`,
 * 2026-12-01 or the status-group beta) when the caller gives the property's
 * groups (MatchOptions.statusGroups; else unknown, as a page does not show its
 * option's group); a status `equals` a group's name matches that group before
 * 2026-12-01 (unknown here) and nothing from 2026-12-01 (MatchOptions.version);
 * multi_select, people, relation (contains, does_not_contain, emptiness);
 * files (emptiness); number (equals, does_not_equal, greater_than, less_than,
 * greater_than_or_equal_to, less_than_or_equal_to, emptiness); date, created_time and
 * last_edited_time properties (equals, before, after, on_or_before,
 * on_or_after, emptiness; the value "now" stands for `now`); title,
 * rich_text, url, email, phone_number (equals, does_not_equal, contains,
 * does_not_contain, starts_with, ends_with, emptiness); `and` / `or` nested
 * two levels. Three-valued logic: an `and` with a part that does not match
 * does not match, whatever its unknown parts (an `or` likewise with a match).
 *
 * Dates as Notion documents them: a filter date without a time is its whole
 * UTC day, a datetime without an offset is UTC. A page's date without a time
 * is judged on its day, wherever on Earth it starts (UTC-12 to UTC+14): a
 * datetime inside that window answers "unknown".
 */
import type { NotionProperty, NotionRichText } from "./types";

export type FilterMatch = "match" | "no-match" | "unknown";

type Answer = boolean | null;
const MAX_DEPTH = 2;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const STATUS_GROUP_NAMES = new Set(["To-do", "In progress", "Complete"]);

/** A status property's groups: each group's name and its options' names. */
export type StatusGroups = { name: string; options: string[] }[];

export interface MatchOptions {
  /** The Notion-Version the filter is sent with (default 2025-09-03's reading of group names). */
  version?: string;
  /** Status groups by property id (decoded), from the data source's schema. */
  statusGroups?: Record<string, StatusGroups>;
}

interface Context {
  now: Date;
  options: MatchOptions;
}

export function matchesFilter(
  properties: Record<string, NotionProperty>,
  filter: unknown,
  now: Date,
  options: MatchOptions = {},
): FilterMatch {
  const answer = evaluate(properties, filter, { now, options }, 0);
  return answer === null ? "unknown" : answer ? "match" : "no-match";
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function evaluate(properties: Record<string, NotionProperty>, filter: unknown, at: Context, depth: number): Answer {
  if (!isObject(filter)) return null;
  const keys = Object.keys(filter);
  if (keys.length === 1 && (keys[0] === "and" || keys[0] === "or")) {
    const parts = filter[keys[0]];
    if (depth >= MAX_DEPTH || !Array.isArray(parts)) return null;
    const answers = parts.map((part) => evaluate(properties, part, at, depth + 1));
    const decisive = keys[0] === "and" ? false : true;
    if (answers.includes(decisive)) return decisive;
    return answers.includes(null) ? null : !decisive;
  }
  if (typeof filter.property !== "string") return null; // timestamp filters: the page's own timestamps are not in `properties`
  const condition = conditionOf(filter);
  if (!condition) return null;
  const property = findProperty(properties, filter.property);
  if (!property || property.type !== condition.type) return null;
  if (condition.type === "status") return statusAnswer(property, condition.operator, condition.operand, at.options);
  return evaluateProperty(property, condition.type, condition.operator, condition.operand, at.now);
}

/** A status condition: by option name, or by group (`group: {equals | does_not_equal}`). */
function statusAnswer(property: NotionProperty, operator: string, operand: unknown, options: MatchOptions): Answer {
  const value = property.status;
  const groups = typeof property.id === "string" ? options.statusGroups?.[decode(property.id)] : undefined;
  if (operator !== "group") {
    const current = (options.version ?? "") >= "2026-12-01";
    return optionAnswer(value, !current, operator, operand);
  }
  if (!isObject(operand) || !groups) return null;
  const entries = Object.entries(operand);
  if (entries.length !== 1 || typeof entries[0][1] !== "string") return null;
  const [groupOperator, name] = entries[0] as [string, string];
  const group = groups.find((g) => g.name === name);
  if (!group || (value !== null && !(isObject(value) && typeof value.name === "string"))) return null;
  const is = value !== null && group.options.includes(value.name as string);
  if (groupOperator === "equals") return is;
  if (groupOperator === "does_not_equal") return !is;
  return null;
}

/** The filter's type key and its one operator, or undefined for any other form. */
function conditionOf(
  filter: Record<string, unknown>,
): { type: string; operator: string; operand: unknown } | undefined {
  const keys = Object.keys(filter).filter((k) => k !== "property" && k !== "type");
  if (keys.length !== 1 || (filter.type !== undefined && filter.type !== keys[0])) return undefined;
  const condition = filter[keys[0]];
  if (!isObject(condition)) return undefined;
  const entries = Object.entries(condition);
  if (entries.length !== 1) return undefined;
  return { type: keys[0], operator: entries[0][0], operand: entries[0][1] };
}

function decode(id: string): string {
  try {
    return decodeURIComponent(id);
  } catch {
    return id;
  }
}

/** By name, else by property id (Notion accepts either; ids compared decoded). */
function findProperty(properties: Record<string, NotionProperty>, nameOrId: string): NotionProperty | undefined {
  if (Object.hasOwn(properties, nameOrId)) return properties[nameOrId];
  const wanted = decode(nameOrId);
  return Object.values(properties).find((p) => typeof p.id === "string" && decode(p.id) === wanted);
}

function evaluateProperty(
  property: NotionProperty,
  type: string,
  operator: string,
  operand: unknown,
  now: Date,
): Answer {
  const value = property[type];
  switch (type) {
    case "title":
    case "rich_text":
      return textAnswer(
        Array.isArray(value) ? (value as NotionRichText[]).map((t) => t.plain_text).join("") : null,
        operator,
        operand,
      );
    case "url":
    case "email":
    case "phone_number":
      return textAnswer(value === null ? "" : typeof value === "string" ? value : null, operator, operand);
    case "checkbox":
      return checkboxAnswer(value, operator, operand);
    case "select":
      return optionAnswer(value, false, operator, operand);
    case "multi_select":
      return listAnswer(
        Array.isArray(value) ? value.map((o) => (isObject(o) ? o.name : undefined)) : null,
        false,
        operator,
        operand,
      );
    case "people":
    case "relation":
      return listAnswer(
        Array.isArray(value) ? value.map((o) => (isObject(o) ? o.id : undefined)) : null,
        true,
        operator,
        operand,
        property.has_more === true,
      );
    case "files":
      return Array.isArray(value) ? emptiness(value.length === 0, operator, operand) : null;
    case "number":
      return numberAnswer(value, operator, operand);
    case "date":
      return value === null
        ? dateAnswer(null, operator, operand, now)
        : isObject(value)
          ? dateValueAnswer(value, operator, operand, now)
          : null;
    case "created_time":
    case "last_edited_time":
      return typeof value === "string" ? dateAnswer({ start: value, end: null }, operator, operand, now) : null;
    default:
      return null;
  }
}

/** is_empty / is_not_empty (operand `true`), else null. */
function emptiness(empty: boolean, operator: string, operand: unknown): Answer {
  if (operand !== true) return null;
  if (operator === "is_empty") return empty;
  if (operator === "is_not_empty") return !empty;
  return null;
}

function textAnswer(text: string | null, operator: string, operand: unknown): Answer {
  if (text === null) return null;
  if (operator === "is_empty" || operator === "is_not_empty") return emptiness(text === "", operator, operand);
  if (typeof operand !== "string") return null;
  const test = (a: string, b: string): Answer => {
    if (operator === "equals") return a === b;
    if (operator === "does_not_equal") return a !== b;
    if (operator === "contains") return a.includes(b);
    if (operator === "does_not_contain") return !a.includes(b);
    if (operator === "starts_with") return a.startsWith(b);
    if (operator === "ends_with") return a.endsWith(b);
    return null;
  };
  // Whether Notion compares case-sensitively is not documented: an answer the case decides is unknown.
  const exact = test(text, operand);
  const folded = test(text.toLowerCase(), operand.toLowerCase());
  return exact === folded ? exact : null;
}

function checkboxAnswer(value: unknown, operator: string, operand: unknown): Answer {
  if (typeof value !== "boolean" || typeof operand !== "boolean") return null;
  if (operator === "equals") return value === operand;
  if (operator === "does_not_equal") return value !== operand;
  return null;
}

/**
 * select and status; `groupNames`: a status `equals` a group's name matches that group's
 * options (before 2026-12-01), which a page does not show.
 */
function optionAnswer(value: unknown, groupNames: boolean, operator: string, operand: unknown): Answer {
  if (value !== null && !(isObject(value) && typeof value.name === "string")) return null;
  const name = value === null ? null : (value.name as string);
  if (operator === "is_empty" || operator === "is_not_empty") return emptiness(name === null, operator, operand);
  if (typeof operand !== "string") return null;
  let is: Answer = name === operand;
  if (!is && groupNames && name !== null && STATUS_GROUP_NAMES.has(operand)) is = null;
  if (operator === "equals") return is;
  if (operator === "does_not_equal") return is === null ? null : !is;
  return null;
}

function listAnswer(items: unknown[] | null, ids: boolean, operator: string, operand: unknown, cut = false): Answer {
  if (items === null || items.some((item) => typeof item !== "string")) return null;
  if (operator === "is_empty" || operator === "is_not_empty") return emptiness(items.length === 0, operator, operand);
  if (typeof operand !== "string") return null;
  const key = (s: string) => (ids ? s.replace(/-/g, "").toLowerCase() : s);
  const found = (items as string[]).some((item) => key(item) === key(operand));
  // A relation past 25 references shows only the first 25 (has_more): absence is not certain.
  const contains: Answer = found ? true : cut ? null : false;
  if (operator === "contains") return contains;
  if (operator === "does_not_contain") return contains === null ? null : !contains;
  return null;
}

function numberAnswer(value: unknown, operator: string, operand: unknown): Answer {
  if (value !== null && typeof value !== "number") return null;
  if (operator === "is_empty" || operator === "is_not_empty") return emptiness(value === null, operator, operand);
  if (typeof operand !== "number" || !Number.isFinite(operand)) return null;
  if (operator === "does_not_equal") return value !== operand;
  const tests: Record<string, (v: number) => boolean> = {
    equals: (v) => v === operand,
    greater_than: (v) => v > operand,
    less_than: (v) => v < operand,
    greater_than_or_equal_to: (v) => v >= operand,
    less_than_or_equal_to: (v) => v <= operand,
  };
  const test = tests[operator];
  if (!test) return null;
  return value === null ? false : test(value);
}

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?$/;

/** An instant span [from, to] for a date or datetime string; a datetime without offset is UTC. */
function span(text: string): [number, number] | null {
  if (DATE_ONLY.test(text)) {
    const ms = Date.parse(`${text}T00:00:00Z`);
    return Number.isNaN(ms) ? null : [ms, ms + DAY - 1];
  }
  if (!DATE_TIME.test(text)) return null;
  const ms = Date.parse(/(Z|[+-]\d{2}:?\d{2})$/.test(text) ? text : `${text}Z`);
  return Number.isNaN(ms) ? null : [ms, ms];
}

/** A page's date value: its start and end must give the same answer; a local time with a time zone is not computed here. */
function dateValueAnswer(value: Record<string, unknown>, operator: string, operand: unknown, now: Date): Answer {
  const { start, end, time_zone: zone } = value;
  if (typeof start !== "string" || (end !== null && end !== undefined && typeof end !== "string")) return null;
  if (zone !== null && zone !== undefined && !/(Z|[+-]\d{2}:?\d{2})$/.test(start)) return null;
  return dateAnswer({ start, end: (end as string | null | undefined) ?? null }, operator, operand, now);
}

function dateAnswer(
  value: { start: string; end: string | null } | null,
  operator: string,
  operand: unknown,
  now: Date,
): Answer {
  if (operator === "is_empty" || operator === "is_not_empty") return emptiness(value === null, operator, operand);
  if (typeof operand !== "string") return null; // relative dates ("today", {this_week: {}}) are not evaluated
  const bound = operand === "now" ? ([now.getTime(), now.getTime()] as [number, number]) : span(operand);
  if (!bound || !["equals", "before", "after", "on_or_before", "on_or_after"].includes(operator)) return null;
  if (value === null) return false;
  const ends = value.end === null ? [value.start] : [value.start, value.end];
  const answers = ends.map((text) => pointAnswer(text, bound, operator, DATE_ONLY.test(operand)));
  return answers.every((a) => a === answers[0]) ? answers[0] : null;
}

/** One date of the page against the filter's span; a date without a time against a datetime is certain only away from its day. */
function pointAnswer(text: string, [lo, hi]: [number, number], operator: string, operandIsDay: boolean): Answer {
  const own = span(text);
  if (!own) return null;
  const test = (ms: number): boolean =>
    operator === "equals"
      ? ms >= lo && ms <= hi
      : operator === "before"
        ? ms < lo
        : operator === "after"
          ? ms > hi
          : operator === "on_or_before"
            ? ms <= hi
            : ms >= lo;
  if (!DATE_ONLY.test(text) || operandIsDay) return test(own[0]);
  // The day starts somewhere between UTC+14 and UTC-12 and lasts a day: every instant in it must agree.
  const first = own[0] - 14 * HOUR;
  const last = own[0] + DAY + 12 * HOUR - 1;
  if (operator === "equals") return hi < first || lo > last ? false : null;
  const a = test(first);
  return a === test(last) ? a : null;
}
