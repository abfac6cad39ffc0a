/**
 * ANDs conditions of the engine's (a created_time window, an edit watermark) onto a section's
 * filter without going past Notion's limit of two levels of compound filters
 * (`{or: [{and: [...]}]}` is two; a third is a 400 validation_error):
 * - a condition, or an `or` of conditions: `{and: [condition, filter]}`;
 * - an `and`: the condition joins its list;
 * - an `or` holding compounds (two levels already): the condition goes into
 *   each branch, (c ∧ (a ∨ b) = (c ∧ a) ∨ (c ∧ b)), an `or` inside the `or`
 *   flattened into it, so the result stays two levels deep.
 * A filter deeper than Notion allows is passed on as it is: Notion refuses it
 * (a permanent error: the run fails naming it), as it would refuse it alone.
 */

export type NotionFilter = Record<string, unknown>;

const listOf = (filter: NotionFilter, key: "and" | "or"): NotionFilter[] | null =>
  Array.isArray(filter[key]) ? (filter[key] as NotionFilter[]) : null;

const isCompound = (filter: NotionFilter) => listOf(filter, "and") !== null || listOf(filter, "or") !== null;

/** `condition` (one, or several ANDed) AND `filter` (either may be absent), within two levels of nesting. */
export function andCondition(
  condition: NotionFilter | NotionFilter[] | null,
  filter: NotionFilter | null | undefined,
): NotionFilter | undefined {
  const conditions = condition === null ? [] : Array.isArray(condition) ? condition : [condition];
  if (!filter) return conditions.length > 1 ? { and: conditions } : conditions[0];
  if (conditions.length === 0) return filter;
  const all = listOf(filter, "and");
  if (all) return { ...filter, and: [...conditions, ...all] };
  const any = listOf(filter, "or");
  if (!any || !any.some(isCompound)) return { and: [...conditions, filter] };
  const branches = any.flatMap((branch) => listOf(branch, "or") ?? [branch]);
  return {
    or: branches.map((branch) => {
      const inner = listOf(branch, "and");
      return inner ? { ...branch, and: [...conditions, ...inner] } : { and: [...conditions, branch] };
    }),
  };
}

/** Levels of compound filters (`and` / `or`) in `filter`: 0 for a single condition. */
export function compoundDepth(filter: unknown): number {
  if (typeof filter !== "object" || filter === null) return 0;
  const f = filter as NotionFilter;
  const list = listOf(f, "and") ?? listOf(f, "or");
  if (!list) return 0;
  return 1 + Math.max(0, ...list.map(compoundDepth));
}
