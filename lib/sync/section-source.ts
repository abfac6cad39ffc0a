/** Where a database section's rows come from: its data source, and the publish filter a run sends. */
import type { KeyBuilder } from "../kv/keys";
import type { KvStore } from "../kv/store";
import type { NotionFilter } from "../notion/compound-filter";
import { substituteNow } from "../notion/filter";
import type { NotionSource } from "../notion/source";
import type { DatabaseSectionSpec } from "../workspace/types";
import type { RunContext } from "./context";

/** The section's data source: given, or its database's first (cached in KV). */
export async function dataSourceId(ctx: RunContext): Promise<string> {
  const spec = databaseSpec(ctx);
  if ("dataSourceId" in spec.source) return spec.source.dataSourceId;
  const { databaseId } = spec.source;
  if (!databaseId) throw new Error(`no database configured for section ${ctx.section}`);
  return cachedDataSourceId(ctx, databaseId);
}

/** A database's first data source: cached in KV (keys.dataSource), else asked of Notion and cached. */
export async function cachedDataSourceId(
  deps: { kv: KvStore; keys: KeyBuilder; notion: Pick<NotionSource, "dataSourceIdOf"> },
  databaseId: string,
): Promise<string> {
  const key = deps.keys.dataSource(databaseId);
  const cached = await deps.kv.get<string>(key);
  if (typeof cached === "string" && cached) return cached;
  const id = await deps.notion.dataSourceIdOf(databaseId);
  await deps.kv.set(key, id);
  return id;
}

export function databaseSpec(ctx: RunContext): DatabaseSectionSpec {
  if (ctx.spec.kind !== "database") throw new Error(`section ${ctx.section} is not read from a data source`);
  return ctx.spec;
}

/** The section's publish filter as this run sends it: "now" is the run's start, the same for every query of the run. */
export function runFilter(ctx: RunContext): NotionFilter | undefined {
  const { filter } = databaseSpec(ctx);
  return filter ? (substituteNow(filter, new Date(ctx.cursor.startedAt)) as NotionFilter) : undefined;
}
