/**
 * How the children section finds out which child pages it already knows were
 * edited, without one pages.retrieve per child page every run.
 *
 * At its first listing step a children run picks a mode (cursor.childCheck):
 *
 * - "search": POST /v1/search for pages, most recently edited first, 100 a
 *   request, read back to `stopAt`: the watermark less the rounding overlap.
 *   The watermark is `since` (one minute before the minute the last completed
 *   run started: the overlap for Notion's minute rounding), or Notion's own
 *   high water of that run when that is earlier (the newest last_edited_time
 *   its first search page showed: Notion's clock, not ours, so a clock behind
 *   ours cannot hide an edit; its minute is searched again, as it may have
 *   been edited again after that search within the same minute). Results
 *   that are known child pages (a ledger entry), unless search shows the very
 *   timestamp stored and it is older than `since` (needsFetch would keep
 *   them), go to a scratch set (keys.editedIds); in the sync phase a known child page
 *   outside it keeps its ledger entry without a request, one inside it is
 *   retrieved and compared as before (needsFetch). New child pages, refetch
 *   marks and partly read pages are handled as always.
 * - "full": every child page is retrieved (the check of before). Chosen when
 *   search cannot be trusted: at least every SYNC_CHILD_FULL_CHECK_HOURS
 *   (search is not guaranteed complete and its index lags, so a page it
 *   missed is caught here), on forced and first runs, without a watermark,
 *   and for the rest of a run whose search request failed (any error but a
 *   rate limit or the deadline, which only postpone it), found more edited
 *   child pages than MAX_EDITED, or would take more requests than the full
 *   check itself. A full run sends one search request too (page_size 1): the
 *   high water the next run's search starts from.
 * - the sweep: a full check for reason `forced` or `first_run` reads search to
 *   its end instead (100 a request, at most SWEEP_MAX_REQUESTS, and it stops
 *   once it saves fewer retrieves than it sends requests), keeping the
 *   objects of the child pages it returns (parent page_id or block_id, not
 *   in the trash) as scratch: one value a page (keys.foundPage, with a TTL),
 *   their ids in keys.foundIds. The sync phase takes a child page's object
 *   from there instead of retrieving it (sweptPage); one search did not
 *   return is retrieved as always, and a search error other than a rate
 *   limit or the deadline only ends the sweep. Its first page gives the high
 *   water as above. The periodic full check does not sweep: it is the safety
 *   net against search's lag and gaps, and keeps retrieving every child page
 *   (the sweep's objects are search's, which may lag the page by a little).
 *   The values go at the start of finalize (dropSweptPages), the id set with
 *   the run's other scratch keys; the TTL takes those of a run that never
 *   gets there.
 *
 * Each search request is one listing step: its ids and the cursor in one
 * atomic commit, so a kill repeats at most one request.
 */
import { MAX_VALUE_BYTES } from "../kv/large-value";
import * as shardedSet from "../kv/sharded-set";
import type { KvOp } from "../kv/store";
import { readManifest } from "../mirror/section-index";
import { BudgetExhaustedError } from "../core/deadline";
import { NotionSyncError } from "../notion/errors";
import { type ListPage, type NotionPage, isTrashed } from "../notion/types";
import type { RunContext } from "./context";
import type { ChildCheck } from "./cursor";
import type { LedgerEntry } from "./ledger";

/** Hours between two full checks unless SYNC_CHILD_FULL_CHECK_HOURS says otherwise. */
export const DEFAULT_CHILD_FULL_CHECK_HOURS = 24;
/** Edited child pages one search run keeps track of; past that the full check is as good. */
export const MAX_EDITED = 1_000;
const SEARCH_PAGE_SIZE = 100;
/** Search requests one sweep sends at most (20,000 results). */
export const SWEEP_MAX_REQUESTS = 200;
/** From this many requests on, a sweep that found fewer child pages than it sent requests stops: it saves nothing. */
const SWEEP_PROFIT_AFTER = 5;
/** Found page objects expire after this even if their run never deletes them (finalize does). */
export const FOUND_PAGE_TTL_MS = 24 * 3_600_000;
/** The full checks that sweep: the others are the safety net against search's lag and gaps. */
const SWEEP_REASONS: readonly string[] = ["forced", "first_run"];
/** Found page objects deleted per write at finalize. */
const DROP_BATCH = 500;

/**
 * The children listing's first steps: picks the mode, then runs the search
 * one request a step. Returns true when it took a step (listing goes on),
 * false once the check is settled (the index walk may start).
 */
export async function childCheckStep(ctx: RunContext): Promise<boolean> {
  if (ctx.spec.kind !== "children") return false;
  const check = ctx.cursor.childCheck;
  if (!check) {
    await decide(ctx);
    return true;
  }
  if (check.complete) return false;
  await searchStep(ctx, check);
  return true;
}

/** Why a run must retrieve every child page, or null when search may be used. */
export function fullCheckReason(
  cursor: { force: boolean; since: string | null; lastFullCheck: string | null; lastHighWater: string | null },
  options: { fullCheckHours: number; now: Date; indexedChildren: number | null },
): string | null {
  if (options.fullCheckHours === 0) return "disabled";
  if (cursor.force) return "forced";
  if (!cursor.since || !cursor.lastFullCheck || options.indexedChildren === null) return "first_run";
  if (options.now.getTime() - Date.parse(cursor.lastFullCheck) >= options.fullCheckHours * 3_600_000) return "periodic";
  if (!cursor.lastHighWater) return "no_watermark";
  return null;
}

/** Where a search stops: `since`, or Notion's high water (its minute included) when that is earlier. */
export function searchStopAt(since: string, lastHighWater: string | null): string {
  const notion = lastHighWater ? Date.parse(lastHighWater) : Infinity;
  return new Date(Math.min(Date.parse(since), notion)).toISOString();
}

async function decide(ctx: RunContext): Promise<void> {
  const c = ctx.cursor;
  const manifest = await readManifest(ctx.kv, ctx.keys, ctx.section);
  const reason = fullCheckReason(c, {
    fullCheckHours: ctx.settings.childFullCheckHours ?? DEFAULT_CHILD_FULL_CHECK_HOURS,
    now: ctx.now(),
    indexedChildren: manifest?.idsKey ? manifest.total : null,
  });
  const sweep = reason && SWEEP_REASONS.includes(reason) ? { found: 0, complete: false, stopped: null } : null;
  const check: ChildCheck = reason
    ? {
        mode: "full",
        reason,
        stopAt: null,
        highWater: null,
        cursor: null,
        requests: 0,
        found: 0,
        complete: false,
        sweep,
      }
    : {
        mode: "search",
        reason: "search_since_watermark",
        stopAt: searchStopAt(c.since!, c.lastHighWater),
        highWater: null,
        cursor: null,
        requests: 0,
        found: 0,
        complete: false,
        sweep: null,
      };
  await ctx.commit((draft) => void (draft.childCheck = check));
}

async function searchStep(ctx: RunContext, check: ChildCheck): Promise<void> {
  const full = check.mode === "full";
  const sweeping = full && check.sweep !== null;
  let page;
  try {
    // Full: one result is enough, its time is the next run's high water (a sweep reads on).
    page = await ctx.notion.searchPages(check.cursor, full && !sweeping ? 1 : SEARCH_PAGE_SIZE);
  } catch (error) {
    // The deadline and a rate limit only postpone the request: the next invocation sends it.
    if (
      error instanceof BudgetExhaustedError ||
      NotionSyncError.is(error, "rate_limited") ||
      !NotionSyncError.is(error)
    )
      throw error;
    return searchFailed(ctx, error, full, sweeping);
  }
  const times = page.results.map((r) => Date.parse(r.last_edited_time));
  const highWater = check.highWater ?? (times.length > 0 ? new Date(Math.max(...times)).toISOString() : null);
  if (sweeping) return sweepStep(ctx, page, highWater);
  if (full) {
    await ctx.commit(
      (draft) =>
        void (draft.childCheck = {
          ...draft.childCheck!,
          highWater,
          requests: draft.childCheck!.requests + 1,
          complete: true,
        }),
    );
    return;
  }
  return editedStep(ctx, check, page, times, highWater);
}

/** A failed search request: a sweep keeps what it found and ends; a search turns the run into a full check. */
async function searchFailed(ctx: RunContext, error: NotionSyncError, full: boolean, sweeping: boolean): Promise<void> {
  const what = String(error.details.status ?? error.details.code ?? error.kind);
  if (sweeping) {
    // What the sweep found is still good: only the rest is retrieved.
    ctx.lastError = {
      code: "notion_search_failed",
      message: `Notion search failed (${error.message}): the child pages the sweep did not return are retrieved`,
    };
    await ctx.commit((draft) => {
      const current = draft.childCheck!;
      draft.childCheck = {
        ...current,
        cursor: null,
        complete: true,
        sweep: { ...current.sweep!, complete: false, stopped: `search_failed: ${what}` },
      };
    });
    return;
  }
  ctx.lastError = {
    code: "notion_search_failed",
    message: `Notion search failed (${error.message}): every child page is retrieved this run`,
  };
  await ctx.commit((draft) => {
    const ops = dropEdited(ctx, draft.childCheck!);
    draft.childCheck = {
      ...draft.childCheck!,
      mode: "full",
      reason: full ? draft.childCheck!.reason : `search_failed: ${what}`,
      found: 0,
      cursor: null,
      complete: true,
    };
    return ops;
  });
}

/** One search-mode request: the known child pages it shows edited go to the edited set, or the run turns full. */
async function editedStep(
  ctx: RunContext,
  check: ChildCheck,
  page: ListPage<NotionPage>,
  times: number[],
  highWater: string | null,
): Promise<void> {
  const stopAt = Date.parse(check.stopAt!);
  const edited = new Map(page.results.flatMap((r, i) => (times[i] >= stopAt ? [[r.id, times[i]] as const] : [])));
  const reachedStop = !page.nextCursor || times.some((t) => t < stopAt);
  const found = await knownEdited(ctx, edited);
  const requests = check.requests + 1;
  const indexed = (await readManifest(ctx.kv, ctx.keys, ctx.section))?.total ?? 0;

  await ctx.commit((draft) => {
    const current = draft.childCheck!;
    const total = current.found + found.length;
    let reason: string | null = null;
    if (total > MAX_EDITED) reason = "too_many_edits";
    // Never more requests than the full check would send (one per known child page).
    else if (!reachedStop && requests >= Math.max(2, indexed)) reason = "search_longer_than_full_check";
    if (reason) {
      const ops = dropEdited(ctx, current);
      draft.childCheck = {
        ...current,
        mode: "full",
        reason,
        highWater,
        requests,
        found: 0,
        cursor: null,
        complete: true,
      };
      return ops;
    }
    const ops: KvOp[] =
      found.length > 0 ? [{ op: "sadd", key: ctx.keys.editedIds(ctx.section, draft.runId), members: found }] : [];
    draft.childCheck = {
      ...current,
      highWater,
      requests,
      found: total,
      cursor: reachedStop ? null : page.nextCursor,
      complete: reachedStop,
    };
    return ops;
  });
}

/**
 * Known child pages are those with a ledger entry. One whose stored timestamp is the one search
 * shows, older than `since`, is what needsFetch would call unchanged: no retrieve for it (the
 * high water's minute is searched again every run, and holds the newest page of a quiet workspace).
 */
async function knownEdited(ctx: RunContext, edited: Map<string, number>): Promise<string[]> {
  const ids = [...edited.keys()];
  const ledgers =
    ids.length > 0 ? await ctx.kv.mget<LedgerEntry>(ids.map((id) => ctx.keys.entry(ctx.section, id))) : [];
  const since = ctx.cursor.since ? Date.parse(ctx.cursor.since) : Infinity;
  return ids.filter((id, i) => {
    const stored = ledgers[i]?.entry?.last_edited_time;
    return stored !== undefined && !(Date.parse(stored) === edited.get(id) && edited.get(id)! < since);
  });
}

/** One sweep request: its child page objects and the cursor in one commit. */
async function sweepStep(ctx: RunContext, page: ListPage<NotionPage>, highWater: string | null): Promise<void> {
  const runId = ctx.cursor.runId;
  // A value over the bound is not kept (never seen for a child page): that page is retrieved.
  const kept = page.results.filter((p) => isChildPage(p) && JSON.stringify(p).length < MAX_VALUE_BYTES / 2);
  const ids = kept.map((p) => p.id);
  const ops: KvOp[] = [
    ...kept.map((p): KvOp => ({
      op: "set",
      key: ctx.keys.foundPage(ctx.section, runId, p.id),
      value: p,
      pxMs: FOUND_PAGE_TTL_MS,
    })),
    ...shardedSet.saddOps(ctx.keys.foundIds(ctx.section, runId), ids),
  ];
  await ctx.commit((draft) => {
    const current = draft.childCheck!;
    const requests = current.requests + 1;
    const found = current.sweep!.found + kept.length;
    const end = !page.nextCursor;
    const stopped = end
      ? null
      : requests >= SWEEP_MAX_REQUESTS
        ? "max_requests"
        : requests >= SWEEP_PROFIT_AFTER && found < requests
          ? "unprofitable"
          : null;
    const done = end || stopped !== null;
    draft.childCheck = {
      ...current,
      highWater,
      requests,
      cursor: done ? null : page.nextCursor,
      complete: done,
      sweep: { found, complete: end, stopped },
    };
    return ops;
  });
}

/** A child page as search returns it: in a page (or one of its blocks), not in the trash. */
function isChildPage(page: NotionPage): boolean {
  return (page.parent?.type === "page_id" || page.parent?.type === "block_id") && !isTrashed(page);
}

function dropEdited(ctx: RunContext, check: ChildCheck): KvOp[] {
  return check.found > 0 ? [{ op: "del", key: ctx.keys.editedIds(ctx.section, ctx.cursor.runId) }] : [];
}

/** What the child check keeps for one invocation's sync phase (created by it: createChildCheckState). */
export interface ChildCheckState {
  /** The run's edited set, read at most once an invocation (null: not read yet). */
  edited: Promise<Set<string> | null> | null;
  /** The sweep's page objects being read (sweptPage, prefetchSweptPages). */
  swept: SweptLoader;
}

export function createChildCheckState(): ChildCheckState {
  return { edited: null, swept: { cache: new Map(), queued: [] } };
}

/**
 * Sync phase: true when `id`, a child page the run already knows, may keep its
 * entry without being retrieved: the run checks by search, and the search did
 * not find it edited. Reads the edited set once per invocation (usually empty:
 * then not at all); a set that went missing means retrieve, as a full check.
 */
export async function unchangedBySearch(ctx: RunContext, state: ChildCheckState, id: string): Promise<boolean> {
  const check = ctx.cursor.childCheck;
  if (ctx.spec.kind !== "children" || check?.mode !== "search" || !check.complete) return false;
  if (check.found === 0) return true;
  state.edited ??= ctx.kv
    .smembers(ctx.keys.editedIds(ctx.section, ctx.cursor.runId))
    .then((ids) => (ids.length > 0 ? new Set(ids) : null));
  const set = await state.edited;
  return set !== null && !set.has(id);
}

interface SweptLoader {
  cache: Map<string, Promise<NotionPage | null>>;
  /** Ids asked for since the last read: read together, in one MGET. */
  queued: { id: string; resolve: (page: NotionPage | null) => void; reject: (error: unknown) => void }[];
}

function sweptRun(ctx: RunContext): boolean {
  const check = ctx.cursor.childCheck;
  return ctx.spec.kind === "children" && check?.complete === true && (check.sweep?.found ?? 0) > 0;
}

function readFound(ctx: RunContext, ids: string[]): Promise<(NotionPage | null)[]> {
  return ctx.kv.mget<NotionPage>(ids.map((id) => ctx.keys.foundPage(ctx.section, ctx.cursor.runId, id)));
}

/**
 * Sync phase: reads the found objects of `ids` (a work piece) in one MGET, for
 * sweptPage to answer from. Nothing unless the run swept; ids read already are not read again.
 */
export function prefetchSweptPages(ctx: RunContext, state: ChildCheckState, ids: string[]): void {
  if (!sweptRun(ctx)) return;
  const { cache } = state.swept;
  const wanted = [...new Set(ids.filter((id) => !cache.has(id)))];
  if (wanted.length === 0) return;
  const read = readFound(ctx, wanted);
  wanted.forEach((id, i) => {
    const page = read.then((pages) => pages[i]);
    // A failed read is the asker's (sweptPage) to throw, not an unhandled rejection for an id never asked for.
    page.catch(() => {});
    cache.set(id, page);
  });
}

/**
 * Sync phase: the child page's object as the run's sweep found it, or null
 * (no sweep, or search did not return it: then it is retrieved). The asks of
 * one turn of the event loop share one MGET (the workers of a piece start
 * together), unless prefetchSweptPages read them already.
 */
export function sweptPage(ctx: RunContext, state: ChildCheckState, id: string): Promise<NotionPage | null> {
  if (!sweptRun(ctx)) return Promise.resolve(null);
  const loader = state.swept;
  let page = loader.cache.get(id);
  if (!page) {
    page = new Promise<NotionPage | null>((resolve, reject) => {
      if (loader.queued.length === 0) setImmediate(() => flush(ctx, loader));
      loader.queued.push({ id, resolve, reject });
    });
  }
  // Each page is asked for once an invocation: the cache does not grow with the run.
  loader.cache.delete(id);
  return page;
}

function flush(ctx: RunContext, loader: SweptLoader): void {
  const batch = loader.queued;
  loader.queued = [];
  readFound(
    ctx,
    batch.map((q) => q.id),
  ).then(
    (pages) => batch.forEach((q, i) => q.resolve(pages[i])),
    (error) => batch.forEach((q) => q.reject(error)),
  );
}

/**
 * Finalize, before anything else: deletes the run's found page objects (the
 * sync phase is over). Repeatable: a killed invocation's successor deletes
 * what is left. The id set goes with the run's other scratch keys.
 */
export async function dropSweptPages(ctx: RunContext): Promise<void> {
  if (ctx.spec.kind !== "children" || !ctx.cursor.childCheck?.sweep?.found) return;
  const runId = ctx.cursor.runId;
  for (const shard of shardedSet.shardKeys(ctx.keys.foundIds(ctx.section, runId))) {
    const ids = await ctx.kv.smembers(shard);
    for (let i = 0; i < ids.length; i += DROP_BATCH) {
      await ctx.write(
        ids
          .slice(i, i + DROP_BATCH)
          .map((id): KvOp => ({ op: "del", key: ctx.keys.foundPage(ctx.section, runId, id) })),
      );
    }
  }
}
