/**
 * Publish filters: a section's Notion filter JSON, where a date condition may
 * compare with "now". Substituted at each run; and turned into the query that
 * finds the earliest row the filter will let in later (a scheduled post).
 */

export const NOW = "now";

type Json = unknown;

function isObject(value: Json): value is Record<string, Json> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The filter with every date condition value "now" replaced by `now` (ISO). */
export function substituteNow(filter: Json, now: Date): Json {
  if (Array.isArray(filter)) return filter.map((f) => substituteNow(f, now));
  if (!isObject(filter)) return filter;
  const out: Record<string, Json> = {};
  for (const [key, value] of Object.entries(filter)) {
    if (key === "date" && isObject(value)) {
      out.date = Object.fromEntries(Object.entries(value).map(([op, v]) => [op, v === NOW ? now.toISOString() : v]));
    } else out[key] = substituteNow(value, now);
  }
  return out;
}

/** Properties compared with "now" by an upper bound (`before` / `on_or_before`): publish dates. */
export function scheduledProperties(filter: Json): string[] {
  const found = new Set<string>();
  visitConditions(filter, (condition) => {
    const date = condition.date;
    if (typeof condition.property !== "string" || !isObject(date)) return;
    if (date.before === NOW || date.on_or_before === NOW) found.add(condition.property);
  });
  return [...found];
}

function visitConditions(filter: Json, visit: (condition: Record<string, Json>) => void): void {
  if (!isObject(filter)) return;
  for (const key of ["and", "or"] as const) {
    const list = filter[key];
    if (Array.isArray(list)) list.forEach((f) => visitConditions(f, visit));
  }
  if (!("and" in filter) && !("or" in filter)) visit(filter);
}

/**
 * The query for rows that would match once `property`'s date has come: the
 * filter with that property's "now" bound turned into `after: now`, earliest first.
 */
export function nextScheduledQuery(
  filter: Json,
  property: string,
  now: Date,
): { filter: Json; sorts: [{ property: string; direction: "ascending" }]; page_size: 1 } {
  const iso = now.toISOString();
  const flip = (f: Json): Json => {
    if (Array.isArray(f)) return f.map(flip);
    if (!isObject(f)) return f;
    if (f.property === property && isObject(f.date) && (f.date.before === NOW || f.date.on_or_before === NOW))
      return { property, date: { after: iso } };
    return Object.fromEntries(Object.entries(f).map(([k, v]) => [k, flip(v)]));
  };
  return {
    filter: substituteNow(flip(filter), now),
    sorts: [{ property, direction: "ascending" }],
    page_size: 1,
  };
}

/** Whether a filter names a status group (`{status: {group: …}}`): before 2026-12-01 that needs Notion's beta header. */
export function usesStatusGroups(filter: Json): boolean {
  let found = false;
  visitConditions(filter, (condition) => {
    if (isObject(condition.status) && "group" in condition.status) found = true;
  });
  return found;
}

/** Property names a filter refers to, at any depth of and/or. */
export function filterPropertyNames(filter: Json): string[] {
  if (Array.isArray(filter)) return filter.flatMap(filterPropertyNames);
  if (!isObject(filter)) return [];
  const own = typeof filter.property === "string" ? [filter.property] : [];
  return [...own, ...filterPropertyNames(filter.and), ...filterPropertyNames(filter.or)];
}
