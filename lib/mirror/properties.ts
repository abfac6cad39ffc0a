/**
 * Property values flattened for index entries: what a list view needs, one
 * plain JSON value per property (README, "Flattened property values"). The
 * bundle keeps Notion's raw `properties`; this is only the index's copy.
 *
 * | type                              | flattened value                                                   |
 * |-----------------------------------|-------------------------------------------------------------------|
 * | title, rich_text                  | plain text (the `plain_text` of every part, joined)               |
 * | number                            | number or null                                                    |
 * | checkbox                          | boolean                                                           |
 * | url, email, phone_number          | string or null                                                    |
 * | select, status                    | the option's name, or null                                        |
 * | multi_select                      | names: string[]                                                   |
 * | date                              | {start, end, time_zone} or null (dateStart(value): the start)      |
 * | people                            | [{id, name}] (name null for bots or users not shared)             |
 * | files                             | [{name, url}] (url: Notion's, signed for an hour when hosted)     |
 * | relation                          | page ids: string[] (every one: see lib/notion/property-items.ts)  |
 * | formula                           | its string, number, boolean or date (as above), or null           |
 * | rollup                            | number, date (as above), or an array of flattened items, or null  |
 * | unique_id                         | "PREFIX-123", or "123" without a prefix, or null                  |
 * | created_by, last_edited_by        | {id, name}                                                        |
 * | created_time, last_edited_time    | ISO string                                                        |
 * | verification                      | {state, verified_by: {id, name} or null, date} or null           |
 * | place                             | {lat, lon, name, address} or null                                 |
 * | button, any type not known here   | null (never an error)                                             |
 */
import { incompleteProperties } from "../notion/property-items";
import type { NotionPage, NotionRichText } from "../notion/types";

export interface FlatDate {
  start: string;
  end: string | null;
  time_zone: string | null;
}

export interface FlatUser {
  id: string;
  /** Null when Notion does not say (bots without a name, users the integration cannot see). */
  name: string | null;
}

export interface FlatFile {
  name: string;
  url: string;
  /** Set on a file copied to the files store (FILES_MIRROR): `url` is the store's and never expires. */
  notionHosted?: boolean;
  mirrored?: boolean;
}

export interface FlatPlace {
  lat: number;
  lon: number;
  name: string | null;
  address: string | null;
}

export interface FlatVerification {
  state: string;
  verified_by: FlatUser | null;
  date: FlatDate | null;
}

/** One flattened property value (see the table above). */
export type SimpleValue =
  | string
  | number
  | boolean
  | null
  | string[]
  | FlatDate
  | FlatUser
  | FlatUser[]
  | FlatFile[]
  | FlatPlace
  | FlatVerification
  | SimpleValue[];

type Raw = Record<string, unknown>;
const isObject = (v: unknown): v is Raw => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown): string | null => (typeof v === "string" ? v : null);

/** Every property of a page flattened; a value that cannot be read is null, never an error. */
export function simplifyProperties(properties: NotionPage["properties"] | undefined): Record<string, SimpleValue> {
  const out: Record<string, SimpleValue> = {};
  for (const [name, prop] of Object.entries(properties ?? {})) {
    try {
      out[name] = isObject(prop) ? flattenValue(prop) : null;
    } catch {
      out[name] = null;
    }
  }
  return out;
}

/**
 * One value: a page property (`{id, type, [type]: …}`) or a rollup's array
 * item (`{type, [type]: …}`), which has the same shape without the id.
 */
export function flattenValue(prop: { type?: unknown; [key: string]: unknown }): SimpleValue {
  const type = typeof prop.type === "string" ? prop.type : "";
  const v = prop[type];
  switch (type) {
    case "title":
    case "rich_text":
      return plainText(v);
    case "number":
      return typeof v === "number" ? v : null;
    case "checkbox":
      return typeof v === "boolean" ? v : null;
    case "url":
    case "email":
    case "phone_number":
    case "created_time":
    case "last_edited_time":
      return str(v);
    case "select":
    case "status":
      return isObject(v) ? str(v.name) : null;
    case "multi_select":
      return Array.isArray(v) ? v.flatMap((o) => (isObject(o) && typeof o.name === "string" ? [o.name] : [])) : [];
    case "date":
      return flatDate(v);
    case "people":
      return Array.isArray(v) ? v.flatMap((u) => (isObject(u) && typeof u.id === "string" ? [flatUser(u)] : [])) : [];
    case "created_by":
    case "last_edited_by":
      return isObject(v) && typeof v.id === "string" ? flatUser(v) : null;
    case "files":
      // A file copied to the store says so (FILES_MIRROR): readers leave its URL as it is.
      return fileValues(prop).map(({ name, url, mirrored }) =>
        mirrored ? { name, url, notionHosted: true, mirrored: true } : { name, url },
      );
    case "relation":
      return Array.isArray(v) ? v.flatMap((r) => (isObject(r) && typeof r.id === "string" ? [r.id] : [])) : [];
    case "formula":
      return isObject(v) ? flattenFormula(v) : null;
    case "rollup":
      return isObject(v) ? flattenRollup(v) : null;
    case "unique_id":
      return uniqueId(v);
    case "verification":
      return flatVerification(v);
    case "place":
      return flatPlace(v);
    default:
      return null; // button, and types Notion adds later
  }
}

/** The start of a flattened date (a date property, a date formula or rollup), else null: what a list sorts by. */
export function dateStart(value: SimpleValue | undefined): string | null {
  if (typeof value === "string") return value; // entries flattened before dates became objects
  return isObject(value) && typeof value.start === "string" ? value.start : null;
}

function plainText(list: unknown): string {
  return Array.isArray(list)
    ? list
        .map((t) => (isObject(t) && typeof t.plain_text === "string" ? (t as NotionRichText).plain_text : ""))
        .join("")
    : "";
}

function flatDate(v: unknown): FlatDate | null {
  if (!isObject(v) || typeof v.start !== "string") return null;
  return { start: v.start, end: str(v.end), time_zone: str(v.time_zone) };
}

function flatUser(u: Raw): FlatUser {
  return { id: u.id as string, name: str(u.name) };
}

function flattenFormula(f: Raw): SimpleValue {
  switch (f.type) {
    case "string":
      return str(f.string);
    case "number":
      return typeof f.number === "number" ? f.number : null;
    case "boolean":
      return typeof f.boolean === "boolean" ? f.boolean : null;
    case "date":
      return flatDate(f.date);
    default:
      return null;
  }
}

function flattenRollup(r: Raw): SimpleValue {
  switch (r.type) {
    case "number":
      return typeof r.number === "number" ? r.number : null;
    case "date":
      return flatDate(r.date);
    case "array":
      return Array.isArray(r.array) ? r.array.map((item) => (isObject(item) ? safeFlatten(item) : null)) : [];
    default:
      return null; // "incomplete", "unsupported"
  }
}

function safeFlatten(item: Raw): SimpleValue {
  try {
    return flattenValue(item);
  } catch {
    return null;
  }
}

function uniqueId(v: unknown): string | null {
  if (!isObject(v) || typeof v.number !== "number") return null;
  return typeof v.prefix === "string" && v.prefix !== "" ? `${v.prefix}-${v.number}` : String(v.number);
}

function flatVerification(v: unknown): FlatVerification | null {
  if (!isObject(v) || typeof v.state !== "string") return null;
  const by = isObject(v.verified_by) && typeof v.verified_by.id === "string" ? flatUser(v.verified_by) : null;
  return { state: v.state, verified_by: by, date: flatDate(v.date) };
}

function flatPlace(v: unknown): FlatPlace | null {
  if (!isObject(v) || typeof v.lat !== "number" || typeof v.lon !== "number") return null;
  return { lat: v.lat, lon: v.lon, name: str(v.name), address: str(v.address) };
}

/** A file of a `files` property, with whether Notion hosts it (signed URL, expires an hour after the read). */
export interface FileValue {
  name: string;
  url: string;
  notionHosted: boolean;
  /** Copied to the file store (FILES_MIRROR): `url` is the store's and does not expire. */
  mirrored?: boolean;
}

/**
 * The files of a `files` property. The seam for serving Notion-hosted files
 * from a stable route: the index keeps `{name, url}` with Notion's URL today,
 * and a reader may rewrite the URLs of the `notionHosted` ones.
 */
export function fileValues(property: { type?: unknown; [key: string]: unknown }): FileValue[] {
  const files = property.type === "files" ? property.files : undefined;
  if (!Array.isArray(files)) return [];
  return files.flatMap((file): FileValue[] => {
    if (!isObject(file)) return [];
    const kind = typeof file.type === "string" ? file.type : "";
    const body = file[kind];
    const url = isObject(body) ? str(body.url) : null;
    if (url === null) return [];
    const mirrored = kind === "file" && isObject(body) && body.mirrored === true;
    return [{ name: str(file.name) ?? "", url, notionHosted: kind === "file", ...(mirrored ? { mirrored } : {}) }];
  });
}

/**
 * For a page that was not re-read (unchanged at listing): its fresh flattened
 * values, except that a property Notion cut short keeps the complete value the
 * previous entry holds, when that value still starts with what the page object
 * shows. Null when it does not (or there is none): the page must be re-read
 * to complete it.
 */
export function keepCompletedValues(
  page: NotionPage,
  fresh: Record<string, SimpleValue>,
  previous: Record<string, SimpleValue> | undefined,
): Record<string, SimpleValue> | null {
  const cut = incompleteProperties(page.properties);
  if (cut.length === 0) return fresh;
  const out = { ...fresh };
  for (const { name } of cut) {
    // A property the section's entries do not keep (EntryOptions.properties).
    if (!(name in fresh)) continue;
    const shown = fresh[name];
    const kept = previous?.[name];
    if (!Array.isArray(shown) || !Array.isArray(kept) || kept.length < shown.length) return null;
    const key = (v: unknown) => (typeof v === "string" ? v : isObject(v) ? v.id : undefined);
    if (!shown.every((v, i) => key(v) !== undefined && key(v) === key(kept[i]))) return null;
    out[name] = kept;
  }
  return out;
}
