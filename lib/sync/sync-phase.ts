/**
 * The sync phase: fetch the content of each page on the work list, up to
 * SYNC_CONCURRENCY at once, and commit each finished page (bundle, result,
 * cursor advance) in one atomic write. A page that does not finish before the
 * deadline is checkpointed block by block and resumed by the next invocation.
 */
import pLimit from "p-limit";
import type { KvOp } from "../kv/store";
import type { BlockFetchCheckpoint, PageContent } from "../notion/block-tree";
import { NotionSyncError } from "../notion/errors";
import { type NotionPage, isTrashed } from "../notion/types";
import { type IndexEntry, type SectionIndex, assignSlugs, buildBundle, indexEntryFor } from "./bundle";
import type { RunContext } from "./context";
import { type Cursor, MAX_ITEM_ATTEMPTS } from "./cursor";
import { BudgetExhaustedError } from "../core/deadline";
import { needsFetch } from "./list-phase";
import type { ItemResult, WorkItem } from "./worklist";

interface PartialPage {
  page: NotionPage;
  checkpoint: BlockFetchCheckpoint;
}

/** Ends the phase early: every worker stops starting new items. */
export class RunStoppedError extends Error {
  constructor(readonly cause: NotionSyncError) {
    super(cause.message);
  }
}

export async function runSyncPhase(ctx: RunContext): Promise<void> {
  const [previous, refetchIds] = await Promise.all([
    ctx.kv.get<SectionIndex>(ctx.keys.index(ctx.section)),
    ctx.section === "children" ? ctx.kv.smembers(ctx.keys.refetch()) : Promise.resolve([]),
  ]);
  const stale = new Set(refetchIds);
  const previousById = new Map((previous?.entries ?? []).map((e) => [e.id, e]));
  const rowsById = new Map(ctx.work.rows.map((r) => [r.id, r]));
  const limit = pLimit(ctx.settings.concurrency);
  let fatal: NotionSyncError | null = null;
  // Items that failed transiently wait for the next invocation rather than the next round.
  const deferred = new Set<string>();

  // Children discover more items as they go, so work in rounds until nothing is pending.
  for (;;) {
    const done = new Set(ctx.cursor.completedAhead);
    const pending = ctx.work.items.slice(ctx.cursor.position).filter((item) => !done.has(item.id) && !deferred.has(item.id));
    if (pending.length === 0 || ctx.shouldStop() || fatal) break;
    await Promise.all(
      pending.map((item) =>
        limit(async () => {
          if (ctx.shouldStop() || fatal) return;
          try {
            await processItem(ctx, { ...item, refetch: item.refetch || stale.has(item.id) }, rowsById.get(item.id), previousById.get(item.id));
          } catch (error) {
            if (error instanceof BudgetExhaustedError) return;
            if (NotionSyncError.is(error, "rate_limited")) {
              ctx.rateLimitedUntil = Date.now() + (error.details.retryAfterMs ?? 1000);
              return;
            }
            if (NotionSyncError.is(error, "transient")) {
              deferred.add(item.id);
              // Cut by the deadline: not the page's fault. Otherwise count it; a page that
              // keeps failing must not hold the whole run back forever.
              if (!ctx.shouldStop()) await recordTransientFailure(ctx, item, error);
              return;
            }
            // A 400 concerns this page's content (a request Notion will not serve for it),
            // not the run: give the page up for this run, it is retried next run.
            if (NotionSyncError.is(error, "permanent") && error.details.status === 400) {
              await finishItem(ctx, item, { id: item.id, status: "failed", error: error.message });
              return;
            }
            if (NotionSyncError.is(error)) {
              fatal = error;
              return;
            }
            throw error;
          }
        }),
      ),
    );
  }
  if (fatal) throw new RunStoppedError(fatal);
  const doneNow = new Set(ctx.cursor.completedAhead);
  const left = ctx.work.items.slice(ctx.cursor.position).filter((i) => !doneNow.has(i.id));
  if (left.length === 0) await ctx.commit((c) => void (c.phase = "finalize"));
}

async function processItem(ctx: RunContext, item: WorkItem, row: NotionPage | undefined, previous: IndexEntry | undefined): Promise<void> {
  const partialKey = ctx.keys.partialPage(ctx.section, item.id);
  const partial = ctx.cursor.partials.includes(item.id) ? await ctx.kv.get<PartialPage>(partialKey) : null;

  let page: NotionPage;
  if (partial) page = partial.page;
  else if (row) page = row;
  else {
    try {
      page = await ctx.notion.retrievePage(item.id);
    } catch (error) {
      if (NotionSyncError.is(error, "gone")) return finishItem(ctx, item, { id: item.id, status: "gone" });
      throw error;
    }
  }
  if (isTrashed(page)) return finishItem(ctx, item, { id: item.id, status: "gone" });

  const slug = slugFor(ctx, page, previous);
  // Database rows were filtered at listing; a child is checked here, after retrieving it.
  if (!row && !partial && previous && !item.refetch && !needsFetch(page, previous, slug, ctx.cursor)) {
    const entry = { ...indexEntryFor(page, slug, previous.childPages, childPlacement(item)) };
    return finishItem(ctx, item, { id: item.id, status: "ok", entry }, { skipped: true });
  }

  let latest: BlockFetchCheckpoint | undefined = partial?.checkpoint;
  let content: PageContent;
  try {
    const result = await ctx.content.fetch(page.id, {
      resume: partial?.checkpoint,
      shouldStop: ctx.shouldStop,
      onProgress: (c) => (latest = c),
    });
    if (!result.done) return checkpointItem(ctx, item, page, result.checkpoint);
    content = result.content;
  } catch (error) {
    if (NotionSyncError.is(error, "gone")) return finishItem(ctx, item, { id: item.id, status: "gone" });
    // Keep what was read: the next invocation continues from the last good list.
    if (latest && latest.fetched.length > (partial?.checkpoint.fetched.length ?? 0)) await checkpointItem(ctx, item, page, latest);
    throw error;
  }

  const bundle = buildBundle(page, ctx.section, slug, content, ctx.now());
  const childIds = content.childPages.map((c) => c.id);
  const entry = indexEntryFor(page, slug, childIds, childPlacement(item));
  const ops: KvOp[] = [{ op: "set", key: ctx.keys.page(ctx.section, slug), value: bundle }];
  if (partial) ops.push({ op: "del", key: partialKey });
  if (ctx.section !== "children" && childIds.length > 0) ops.push({ op: "sadd", key: ctx.keys.childQueue(), members: childIds });
  if (item.refetch) ops.push({ op: "srem", key: ctx.keys.refetch(), members: [item.id] });
  // A renamed child page changes its parent's content without bumping the parent's
  // last_edited_time: mark the parent so its section re-reads it next run.
  if (item.parentId && previous && previous.title !== entry.title) {
    ops.push({ op: "sadd", key: ctx.keys.refetch(), members: [item.parentId] });
  }
  await finishItem(ctx, item, { id: item.id, status: "ok", entry }, { ops, blocks: content.blockCount });
}

async function recordTransientFailure(ctx: RunContext, item: WorkItem, error: NotionSyncError): Promise<void> {
  const attempts = (ctx.cursor.attempts[item.id] ?? 0) + 1;
  if (attempts >= MAX_ITEM_ATTEMPTS) {
    return finishItem(ctx, item, { id: item.id, status: "failed", error: error.message });
  }
  await ctx.commit((c) => void (c.attempts = { ...c.attempts, [item.id]: attempts }));
}

function childPlacement(item: WorkItem): Pick<IndexEntry, "parentId" | "depth"> {
  return item.depth > 0 ? { parentId: item.parentId ?? undefined, depth: item.depth } : {};
}

function slugFor(ctx: RunContext, page: NotionPage, previous: IndexEntry | undefined): string {
  const listed = ctx.work.slugs[page.id];
  if (listed) return listed;
  // Children: derived from title + id, so unique without coordination.
  return assignSlugs([page], ctx.section, new Map(previous ? [[page.id, previous.slug]] : [])).get(page.id)!;
}

async function checkpointItem(ctx: RunContext, item: WorkItem, page: NotionPage, checkpoint: BlockFetchCheckpoint): Promise<void> {
  const value: PartialPage = { page, checkpoint };
  await ctx.commit((c) => {
    if (!c.partials.includes(item.id)) c.partials.push(item.id);
    return [{ op: "set", key: ctx.keys.partialPage(ctx.section, item.id), value }];
  });
}

/** Marks the item done in the cursor, in the same atomic write as its data. */
async function finishItem(
  ctx: RunContext,
  item: WorkItem,
  result: ItemResult,
  extra: { ops?: KvOp[]; blocks?: number; skipped?: boolean } = {},
): Promise<void> {
  await ctx.commit((c) => {
    const ops: KvOp[] = [...(extra.ops ?? [])];
    ops.push({ op: "sadd", key: ctx.keys.runResults(ctx.section, c.runId), members: [JSON.stringify(result)] });
    if (c.partials.includes(item.id)) {
      c.partials = c.partials.filter((id) => id !== item.id);
      ops.push({ op: "del", key: ctx.keys.partialPage(ctx.section, item.id) });
    }
    if (c.attempts[item.id]) {
      const { [item.id]: _done, ...rest } = c.attempts;
      c.attempts = rest;
    }
    if (result.status === "gone") c.counts.gone++;
    else if (result.status === "failed") c.counts.failed++;
    else if (extra.skipped) c.counts.skipped++;
    else {
      c.counts.fetched++;
      c.counts.blocks += extra.blocks ?? 0;
    }
    if (ctx.section === "children" && result.status === "ok") enqueueChildren(ctx, c, item, result.entry.childPages, ops);
    advance(ctx, c, item.id);
    return ops;
  });
  ctx.processed++;
}

function enqueueChildren(ctx: RunContext, c: Cursor, item: WorkItem, childIds: string[], ops: KvOp[]): void {
  if (item.depth + 1 > ctx.settings.childDepth) return;
  const known = new Set(ctx.work.items.map((i) => i.id));
  const fresh = childIds.filter((id) => !known.has(id)); // cycle-safe: each page once per run
  if (fresh.length === 0) return;
  ctx.work.items.push(...fresh.map((id) => ({ id, depth: item.depth + 1, parentId: item.id })));
  c.counts.listed = ctx.work.items.length;
  ops.push({ op: "set", key: ctx.keys.workList(ctx.section, c.runId), value: ctx.work });
}

/** Moves `position` past every finished item; the rest wait in completedAhead. */
function advance(ctx: RunContext, c: Cursor, id: string): void {
  const ahead = new Set(c.completedAhead);
  ahead.add(id);
  while (c.position < ctx.work.items.length && ahead.has(ctx.work.items[c.position].id)) {
    ahead.delete(ctx.work.items[c.position].id);
    c.position++;
  }
  c.completedAhead = [...ahead];
}
