/**
 * Which properties a database section's queries ask Notion for
 * (`filter_properties`, by id), and which it reads per page instead.
 *
 * - Listed: the properties the index keeps (all of the data source's, or the
 *   section's `properties`) plus those its options need at listing (the title,
 *   `slug`, `title`, `sort` and the filter's properties), except:
 * - Expensive: formula, rollup and relation properties the index keeps and the
 *   options do not need. Notion computes them slowest; an incremental listing reads them
 *   with one `pages.retrieve` per page it found changed (PieceRow.retrieve), and a row it
 *   does not list keeps the values its entry holds. A full listing (forced, first,
 *   periodic, or marked by a schema_updated webhook) lists them too (listingAll): one
 *   request per 100 rows, not one per row, and unchanged rows' values refreshed.
 *
 * The schema (ids and types) is cached in KV (keys.dataSourceSchema) and read again
 * at the first query of a forced run or of a run a schema_updated webhook marked
 * (full-refetch.ts), when older than SCHEMA_MAX_AGE_MS, and when a
 * listed row disagrees with it (a property it lacks, or one asked for and missing:
 * renamed or deleted). A property added since the last read is not asked for until then
 * (a changed page, read in full, has it; unchanged rows keep what they hold), and an
 * expensive one deleted stays in unchanged rows' entries until they change or a forced run.
 */
import type { IndexEntry } from "../mirror/shapes";
import { filterPropertyNames } from "../notion/filter";
import type { KeyBuilder } from "../kv/keys";
import type { KvStore } from "../kv/store";
import type { StatusGroups } from "../notion/filter-match";
import type { DataSourceSchema } from "../notion/source";
import type { NotionPage } from "../notion/types";
import type { DatabaseSectionSpec } from "../workspace/types";
import type { RunContext } from "./context";
import { databaseSpec } from "./section-source";

export const EXPENSIVE_TYPES: readonly string[] = ["formula", "rollup", "relation"];

/** A day: a property added to a data source is listed at the latest a day later (or at a forced run). */
export const SCHEMA_MAX_AGE_MS = 24 * 3_600_000;

interface StoredSchema {
  properties: DataSourceSchema;
  readAt: string;
}

export interface ListPlan {
  /** Property ids for filter_properties, as the schema gives them. */
  ids: string[];
  /** Names of the kept properties read per page, not listed; and their ids. */
  expensive: string[];
  expensiveIds: string[];
  /** Names the listed rows must show (the listed ids' names). */
  listed: string[];
  /** Every property name of the schema the plan was made from. */
  known: string[];
}

/** Names the section's options need on a listed row, whatever their cost. */
function neededNames(spec: DatabaseSectionSpec, schema: DataSourceSchema): Set<string> {
  const title = Object.keys(schema).filter((name) => schema[name].type === "title");
  const sort = "property" in spec.sort ? [spec.sort.property] : [];
  const own = [spec.slugProperty, spec.titleProperty].filter((n): n is string => typeof n === "string");
  return new Set([...title, ...sort, ...own, ...filterPropertyNames(spec.filter)]);
}

export function listPlan(spec: DatabaseSectionSpec, schema: DataSourceSchema): ListPlan {
  const needed = neededNames(spec, schema);
  const kept = spec.properties ?? Object.keys(schema);
  const expensive = kept.filter((n) => schema[n] && EXPENSIVE_TYPES.includes(schema[n].type) && !needed.has(n));
  const listed = [...new Set([...kept, ...needed])].filter((n) => schema[n] && !expensive.includes(n));
  const ids = listed.map((n) => schema[n].id);
  return { ids, expensive, expensiveIds: expensive.map((n) => schema[n].id), listed, known: Object.keys(schema) };
}

/**
 * The plan of a full listing, which reads every row anyway: the expensive properties
 * listed too, one request per 100 rows instead of one per row.
 */
export function listingAll(plan: ListPlan): ListPlan {
  if (plan.expensive.length === 0) return plan;
  return {
    ids: [...plan.ids, ...plan.expensiveIds],
    listed: [...plan.listed, ...plan.expensive],
    expensive: [],
    expensiveIds: [],
    known: plan.known,
  };
}

/** The data source's schema from KV, read from Notion first when missing, older than SCHEMA_MAX_AGE_MS or `refresh`. */
export async function cachedSchema(ctx: RunContext, sourceId: string, refresh = false): Promise<DataSourceSchema> {
  const key = ctx.keys.dataSourceSchema(sourceId);
  let stored = refresh ? null : await ctx.kv.get<StoredSchema>(key);
  const age = stored ? ctx.now().getTime() - Date.parse(stored.readAt) : Infinity;
  if (!stored || !(age < SCHEMA_MAX_AGE_MS)) {
    stored = { properties: await ctx.notion.retrieveDataSource(sourceId), readAt: ctx.now().toISOString() };
    await ctx.kv.set(key, stored);
  }
  return stored.properties;
}

/** The section's plan from the cached schema (read again when `refresh`). */
export async function sectionListPlan(ctx: RunContext, sourceId: string, refresh: boolean): Promise<ListPlan> {
  return listPlan(databaseSpec(ctx), await cachedSchema(ctx, sourceId, refresh));
}

/** Whether listed rows show the schema changed: a property it does not name, or one asked for and absent. */
export function rowsDisagree(rows: NotionPage[], plan: ListPlan): boolean {
  const listed = new Set(plan.listed);
  return rows.some((row) => {
    const names = Object.keys(row.properties ?? {});
    return names.some((n) => !listed.has(n)) || names.length < listed.size;
  });
}

/**
 * An unchanged row's entry: the expensive values are the stored ones (the row does not
 * carry them), in the stored entry's key order, so an unchanged entry compares equal. So is
 * a stored property the plan's schema does not know (added since it was read: a changed
 * page read in full showed it), never dropped and written back at every run.
 */
export function withStoredValues(
  entry: IndexEntry,
  previous: IndexEntry,
  plan: Pick<ListPlan, "expensive" | "known">,
): IndexEntry {
  const before = previous.properties ?? {};
  const fresh = entry.properties;
  const keep = (n: string) => plan.expensive.includes(n) || !plan.known.includes(n);
  const stored = new Set(Object.keys(before).filter((n) => !(n in fresh) && keep(n)));
  if (stored.size === 0) return entry;
  const properties: IndexEntry["properties"] = {};
  for (const n of Object.keys(before))
    if (n in fresh || stored.has(n)) properties[n] = n in fresh ? fresh[n] : before[n];
  for (const n of Object.keys(fresh)) if (!(n in properties)) properties[n] = fresh[n];
  return { ...entry, properties };
}

/** The status groups of a section's data source by property id (decoded), from the cached schema; {} when none is cached. */
export async function cachedStatusGroups(
  kv: KvStore,
  keys: KeyBuilder,
  spec: DatabaseSectionSpec,
): Promise<Record<string, StatusGroups>> {
  const sourceId =
    "dataSourceId" in spec.source
      ? spec.source.dataSourceId
      : await kv.get<string>(keys.dataSource(spec.source.databaseId));
  const stored = typeof sourceId === "string" ? await kv.get<StoredSchema>(keys.dataSourceSchema(sourceId)) : null;
  const out: Record<string, StatusGroups> = {};
  for (const p of Object.values(stored?.properties ?? {})) if (p.groups) out[decodeId(p.id)] = p.groups;
  return out;
}

function decodeId(id: string): string {
  try {
    return decodeURIComponent(id);
  } catch {
    return id;
  }
}
