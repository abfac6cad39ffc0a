/**
 * Scheduled rows: a publish filter comparing a date property with "now" lets
 * a row in once its date has come. After a complete listing the run asks
 * Notion, one query per such property (page_size 1, earliest first), for the
 * first row that will match later, and records its date as
 * cursor.nextPublishAt: what the edge schedules the section's next run for.
 */
import { nextScheduledQuery, scheduledProperties } from "../notion/filter";
import { dateStart, flattenValue } from "../mirror/properties";
import type { RunContext } from "./context";
import { cachedSchema } from "./list-properties";
import { dataSourceId, databaseSpec } from "./section-source";

/** Sets cursor.nextPublishAt (null: nothing scheduled, or no filter with "now"). */
export async function noteNextPublish(ctx: RunContext): Promise<void> {
  const { filter } = databaseSpec(ctx);
  const properties = filter ? scheduledProperties(filter) : [];
  if (properties.length === 0 && ctx.cursor.nextPublishAt === null) return;
  const now = new Date(ctx.cursor.startedAt);
  const sourceId = properties.length > 0 ? await dataSourceId(ctx) : "";
  const dates: number[] = [];
  // The date property only (2026-12-01 lists the title alone unless asked).
  const schema = properties.length > 0 ? await cachedSchema(ctx, sourceId) : {};
  for (const property of properties) {
    const query = nextScheduledQuery(filter, property, now);
    const ids = schema[property] ? [schema[property].id] : undefined;
    const row = await ctx.notion.queryFirstRow(sourceId, {
      filter: query.filter,
      sorts: query.sorts,
      filterProperties: ids,
    });
    const value = row?.properties?.[property];
    const start = value ? dateStart(flattenValue(value)) : null;
    const at = start ? Date.parse(start) : NaN;
    if (Number.isFinite(at)) dates.push(at);
  }
  const next = dates.length > 0 ? new Date(Math.min(...dates)).toISOString() : null;
  await ctx.commit((c) => void (c.nextPublishAt = next));
}
