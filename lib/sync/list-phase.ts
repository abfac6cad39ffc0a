/**
 * The list phase: what this run has to look at.
 * - pages/posts page through the data source (100 rows a request), then
 *   compare each row with the previous index to pick the pages to fetch;
 * - children start from the child pages the two database sections found,
 *   plus the discovery queue they fill.
 */
import type { NotionPage } from "../notion/types";
import { type IndexEntry, type SectionIndex, assignSlugs } from "./bundle";
import type { RunContext } from "./context";
import type { Cursor } from "./cursor";
import type { WorkItem } from "./worklist";

export async function runListPhase(ctx: RunContext): Promise<void> {
  if (ctx.section === "children") return listChildren(ctx);
  return listDatabase(ctx);
}

async function dataSourceId(ctx: RunContext, databaseId: string): Promise<string> {
  const key = ctx.keys.dataSource(databaseId);
  const cached = await ctx.kv.get<string>(key);
  if (cached) return cached;
  const id = await ctx.notion.dataSourceIdOf(databaseId);
  await ctx.kv.set(key, id);
  return id;
}

async function listDatabase(ctx: RunContext): Promise<void> {
  const databaseId = ctx.settings.databaseId;
  if (!databaseId) throw new Error(`no database configured for section ${ctx.section}`);
  const sourceId = await dataSourceId(ctx, databaseId);
  while (ctx.cursor.phase === "list" && !ctx.shouldStop()) {
    const page = await ctx.notion.queryDataSource(sourceId, ctx.cursor.listCursor);
    ctx.work.rows.push(...page.results);
    if (page.nextCursor) {
      await ctx.commit((c) => {
        c.listCursor = page.nextCursor;
        c.counts.listed = ctx.work.rows.length;
        return [{ op: "set", key: ctx.keys.workList(ctx.section, c.runId), value: ctx.work }];
      });
    } else {
      await planDatabaseSync(ctx);
    }
  }
}

/** True when the page must be fetched: new, edited, renamed, or edited within Notion's rounding window. */
export function needsFetch(page: NotionPage, previous: IndexEntry | undefined, slug: string, cursor: Pick<Cursor, "force" | "since">): boolean {
  if (cursor.force || !previous) return true;
  if (previous.slug !== slug) return true;
  if (previous.last_edited_time !== page.last_edited_time) return true;
  return cursor.since !== null && page.last_edited_time >= cursor.since;
}

async function planDatabaseSync(ctx: RunContext): Promise<void> {
  // Page keys are per section, so slugs need only be unique within this one.
  const [previous, refetchIds] = await Promise.all([
    ctx.kv.get<SectionIndex>(ctx.keys.index(ctx.section)),
    ctx.kv.smembers(ctx.keys.refetch()),
  ]);
  const stale = new Set(refetchIds);
  const previousById = new Map((previous?.entries ?? []).map((e) => [e.id, e]));
  const slugs = assignSlugs(ctx.work.rows, ctx.section, new Map([...previousById].map(([id, e]) => [id, e.slug])));
  ctx.work.slugs = Object.fromEntries(slugs);
  ctx.work.items = ctx.work.rows
    .filter((row) => stale.has(row.id) || needsFetch(row, previousById.get(row.id), slugs.get(row.id)!, ctx.cursor))
    .map((row): WorkItem => ({ id: row.id, depth: 0, parentId: null }));
  const claimed = ctx.work.rows.filter((row) => stale.has(row.id)).map((row) => row.id);
  await ctx.commit((c) => {
    c.listCursor = null;
    c.phase = ctx.work.items.length > 0 ? "sync" : "finalize";
    c.counts.listed = ctx.work.rows.length;
    c.counts.toSync = ctx.work.items.length;
    c.counts.skipped = ctx.work.rows.length - ctx.work.items.length;
    return [
      { op: "set", key: ctx.keys.workList(ctx.section, c.runId), value: ctx.work },
      ...(claimed.length > 0 ? [{ op: "srem" as const, key: ctx.keys.refetch(), members: claimed }] : []),
    ];
  });
}

async function listChildren(ctx: RunContext): Promise<void> {
  const [pages, posts, queued, refetchIds] = await Promise.all([
    ctx.kv.get<SectionIndex>(ctx.keys.index("pages")),
    ctx.kv.get<SectionIndex>(ctx.keys.index("posts")),
    ctx.kv.smembers(ctx.keys.childQueue()),
    ctx.kv.smembers(ctx.keys.refetch()),
  ]);
  const stale = new Set(refetchIds);
  const seen = new Set<string>();
  const items: WorkItem[] = [];
  if (ctx.settings.childDepth >= 1) {
    for (const entry of [...(pages?.entries ?? []), ...(posts?.entries ?? [])]) {
      for (const childId of entry.childPages) {
        if (seen.has(childId)) continue;
        seen.add(childId);
        items.push({ id: childId, depth: 1, parentId: entry.id, refetch: stale.has(childId) || undefined });
      }
    }
    // Found by a database section whose run has not finalized its index yet.
    for (const childId of queued) {
      if (seen.has(childId)) continue;
      seen.add(childId);
      items.push({ id: childId, depth: 1, parentId: null });
    }
  }
  ctx.work.items = items;
  // Stale child pages deeper down are claimed when reached (sync phase).
  const claimed = items.filter((i) => i.refetch).map((i) => i.id);
  await ctx.commit((c) => {
    c.phase = items.length > 0 ? "sync" : "finalize";
    c.counts.listed = items.length;
    return [
      { op: "set", key: ctx.keys.workList(ctx.section, c.runId), value: ctx.work },
      ...(queued.length > 0 ? [{ op: "srem" as const, key: ctx.keys.childQueue(), members: queued }] : []),
      ...(claimed.length > 0 ? [{ op: "srem" as const, key: ctx.keys.refetch(), members: claimed }] : []),
    ];
  });
}
