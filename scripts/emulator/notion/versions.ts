/**
 * What each Notion-Version changes in the emulator's answers (notion-facts.md
 * §8; developers.notion.com "Upgrade guide 2026-03-11" / "2026-12-01"). The
 * workspace keeps 2025-09-03 shapes; `forVersion` turns an answer into the
 * requested version's:
 *
 * - 2026-03-11 and later: no `archived` on pages, blocks, databases and data
 *   sources (only `in_trash`); `transcription` blocks are `meeting_notes`;
 *   `archived` in a request body is refused (400 validation_error).
 * - 2026-12-01: a person's `name` may be `null` (here: people whose id starts with
 *   an even hex digit); Query a data source and Search list only the title
 *   property unless `filter_properties` names others (`listedProperties`);
 *   a status `equals` no longer matches a group's name, `{group: …}` does
 *   (`filterDialect`); markdown v2 is the default and v1 is refused (markdown.ts).
 *
 * `filter_properties` (repeated query parameters, property ids, either URL-encoded
 * or not) keeps only the named properties on every version; ids the schema does not
 * know are ignored (what Notion does with them is not documented).
 */
import type { FilterDialect } from "./query.js";
import { NotionApiError } from "./types.js";

export const EMULATED_VERSIONS = ["2025-09-03", "2026-03-11", "2026-12-01"] as const;
export type EmulatedVersion = (typeof EMULATED_VERSIONS)[number];
/** The version the emulator's own checks (verify.ts) expect when not told: the product's default. */
export const DEFAULT_EMULATED_VERSION: EmulatedVersion = "2026-12-01";
export const STATUS_GROUP_BETA = "status-group-filters-2026-10-06";

const TRASHABLE = new Set(["page", "block", "database", "data_source"]);

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/** Whether `version` is `since` or later (ISO dates compare as strings). */
export function atLeast(version: string, since: EmulatedVersion): boolean {
  return version >= since;
}

/** 2026-12-01: some people have no name (deterministic by id, so checks can expect it). */
export function hasNullName(userId: string): boolean {
  const first = userId.slice(0, 1);
  return /^[0-9a-f]$/i.test(first) && parseInt(first, 16) % 2 === 0;
}

/** A JSON answer (2025-09-03 shapes) as `version` sends it; a new value, the input untouched. */
export function forVersion<T>(value: T, version: string): T {
  if (!atLeast(version, "2026-03-11")) return value;
  return convert(value, atLeast(version, "2026-12-01")) as T;
}

function convert(value: unknown, nullNames: boolean): unknown {
  if (Array.isArray(value)) return value.map((v) => convert(v, nullNames));
  if (!isObject(value)) return value;
  const out: Json = {};
  const kind = value.object;
  const rename = kind === "block" && value.type === "transcription";
  for (const [key, v] of Object.entries(value)) {
    if (key === "archived" && TRASHABLE.has(kind as string)) continue;
    if (rename && key === "type") out.type = "meeting_notes";
    else if (rename && key === "transcription") out.meeting_notes = convert(v, nullNames);
    else out[key] = convert(v, nullNames);
  }
  if (nullNames && kind === "user" && "name" in out && out.type === "person" && hasNullName(String(out.id)))
    out.name = null;
  return out;
}

/** 2026-03-11 and later refuse `archived` in a request body (the field is `in_trash`). */
export function checkRequestBody(body: unknown, version: string): void {
  if (atLeast(version, "2026-03-11") && isObject(body) && "archived" in body)
    throw new NotionApiError(
      400,
      "validation_error",
      "body failed validation: body.archived is not a valid field for this version, use body.in_trash.",
    );
}

/** How a query's status filters read, from the version and the Notion-Beta header. */
export function filterDialect(version: string, beta: string | undefined): FilterDialect {
  const current = atLeast(version, "2026-12-01");
  const betaOn = (beta ?? "").split(",").some((b) => b.trim() === STATUS_GROUP_BETA);
  return { groupByName: !current, groupOperators: current || betaOn };
}

/** The `filter_properties` of a request (`filter_properties=<id>` repeated, or `filter_properties[]=`), decoded. */
export function requestedProperties(url: URL): string[] | null {
  const ids = [...url.searchParams.getAll("filter_properties"), ...url.searchParams.getAll("filter_properties[]")];
  return ids.length > 0 ? ids.map(decodeId) : null;
}

function decodeId(id: string): string {
  try {
    return decodeURIComponent(id);
  } catch {
    return id;
  }
}

/**
 * A listed page's properties as the route answers them: those `filter_properties`
 * names; without it, all of them, except on 2026-12-01 (lists: the title only).
 * `names`: the requested ids' property names in the page's data source (ids and names
 * are one to one there; recorded rows installed side by side may disagree on ids).
 */
export function listedProperties<P extends { properties: Record<string, { id?: string; type?: string }> }>(
  page: P,
  requested: string[] | null,
  options: { version: string; list: boolean; names?: ReadonlySet<string> },
): P {
  if (requested === null && !(options.list && atLeast(options.version, "2026-12-01"))) return page;
  const keep = (name: string, p: { id?: string; type?: string }) =>
    requested === null
      ? p.type === "title"
      : requested.includes(decodeId(String(p.id ?? ""))) || (options.names?.has(name) ?? false);
  const properties = Object.fromEntries(Object.entries(page.properties).filter(([name, p]) => keep(name, p)));
  return { ...page, properties };
}

/** The names of the requested property ids in a data source's schema. */
export function requestedNames(
  schema: Record<string, { id?: unknown }> | undefined,
  requested: string[] | null,
): ReadonlySet<string> | undefined {
  if (!schema || requested === null) return undefined;
  return new Set(Object.keys(schema).filter((name) => requested.includes(decodeId(String(schema[name].id ?? "")))));
}
