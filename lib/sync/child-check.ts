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
 *
 * Each search request is one listing step: its ids and the cursor in one
 * atomic commit, so a kill repeats at most one request.
 */
import type { KvOp } from "../kv/store";
import { readManifest } from "../mirror/section-index";
import { BudgetExhaustedError } from "../core/deadline";
import { NotionSyncError } from "../notion/errors";
import type { RunContext } from "./context";
import type { ChildCheck } from "./cursor";
import type { LedgerEntry } from "./worklist";

/** Hours between two full checks unless SYNC_CHILD_FULL_CHECK_HOURS says otherwise. */
export const DEFAULT_CHILD_FULL_CHECK_HOURS = 24;
/** Edited child pages one search run keeps track of; past that the full check is as good. */
export const MAX_EDITED = 1_000;
const SEARCH_PAGE_SIZE = 100;

/**
 * The children listing's first steps: picks the mode, then runs the search
 * one request a step. Returns true when it took a step (listing goes on),
 * false once the check is settled (the index walk may start).
 */
export async function childCheckStep(ctx: RunContext): Promise<boolean> {
  if (ctx.section !== "children") return false;
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
  const manifest = await readManifest(ctx.kv, ctx.keys, "children");
  const reason = fullCheckReason(c, {
    fullCheckHours: ctx.settings.childFullCheckHours ?? DEFAULT_CHILD_FULL_CHECK_HOURS,
    now: ctx.now(),
    indexedChildren: manifest?.idsKey ? manifest.total : null,
  });
  const check: ChildCheck = reason
    ? { mode: "full", reason, stopAt: null, highWater: null, cursor: null, requests: 0, found: 0, complete: false }
    : { mode: "search", reason: "search_since_watermark", stopAt: searchStopAt(c.since!, c.lastHighWater), highWater: null, cursor: null, requests: 0, found: 0, complete: false };
  await ctx.commit((draft) => void (draft.childCheck = check));
}

async function searchStep(ctx: RunContext, check: ChildCheck): Promise<void> {
  const full = check.mode === "full";
  let page;
  try {
    // Full: one result is enough, its time is the next run's high water.
    page = await ctx.notion.searchPages(check.cursor, full ? 1 : SEARCH_PAGE_SIZE);
  } catch (error) {
    // The deadline and a rate limit only postpone the request: the next invocation sends it.
    if (error instanceof BudgetExhaustedError || NotionSyncError.is(error, "rate_limited") || !NotionSyncError.is(error)) throw error;
    const what = String(error.details.status ?? error.details.code ?? error.kind);
    ctx.lastError = { code: "notion_search_failed", message: `Notion search failed (${error.message}): every child page is retrieved this run` };
    await ctx.commit((draft) => {
      const ops = dropEdited(ctx, draft.childCheck!);
      draft.childCheck = { ...draft.childCheck!, mode: "full", reason: full ? draft.childCheck!.reason : `search_failed: ${what}`, found: 0, cursor: null, complete: true };
      return ops;
    });
    return;
  }
  const times = page.results.map((r) => Date.parse(r.last_edited_time));
  const highWater = check.highWater ?? (times.length > 0 ? new Date(Math.max(...times)).toISOString() : null);
  if (full) {
    await ctx.commit((draft) => void (draft.childCheck = { ...draft.childCheck!, highWater, requests: draft.childCheck!.requests + 1, complete: true }));
    return;
  }

  const stopAt = Date.parse(check.stopAt!);
  const edited = new Map(page.results.flatMap((r, i) => (times[i] >= stopAt ? [[r.id, times[i]] as const] : [])));
  const reachedStop = !page.nextCursor || times.some((t) => t < stopAt);
  // Known child pages are those with a ledger entry. One whose stored timestamp is the one search
  // shows, older than `since`, is what needsFetch would call unchanged: no retrieve for it (the
  // high water's minute is searched again every run, and holds the newest page of a quiet workspace).
  const ids = [...edited.keys()];
  const ledgers = ids.length > 0 ? await ctx.kv.mget<LedgerEntry>(ids.map((id) => ctx.keys.entry("children", id))) : [];
  const since = ctx.cursor.since ? Date.parse(ctx.cursor.since) : Infinity;
  const found = ids.filter((id, i) => {
    const stored = ledgers[i]?.entry?.last_edited_time;
    return stored !== undefined && !(Date.parse(stored) === edited.get(id) && edited.get(id)! < since);
  });
  const requests = check.requests + 1;
  const indexed = (await readManifest(ctx.kv, ctx.keys, "children"))?.total ?? 0;

  await ctx.commit((draft) => {
    const current = draft.childCheck!;
    const total = current.found + found.length;
    let reason: string | null = null;
    if (total > MAX_EDITED) reason = "too_many_edits";
    // Never more requests than the full check would send (one per known child page).
    else if (!reachedStop && requests >= Math.max(2, indexed)) reason = "search_longer_than_full_check";
    if (reason) {
      const ops = dropEdited(ctx, current);
      draft.childCheck = { ...current, mode: "full", reason, highWater, requests, found: 0, cursor: null, complete: true };
      return ops;
    }
    const ops: KvOp[] = found.length > 0 ? [{ op: "sadd", key: ctx.keys.editedIds("children", draft.runId), members: found }] : [];
    draft.childCheck = { ...current, highWater, requests, found: total, cursor: reachedStop ? null : page.nextCursor, complete: reachedStop };
    return ops;
  });
}

function dropEdited(ctx: RunContext, check: ChildCheck): KvOp[] {
  return check.found > 0 ? [{ op: "del", key: ctx.keys.editedIds("children", ctx.cursor.runId) }] : [];
}

const editedSets = new WeakMap<RunContext, Promise<Set<string> | null>>();

/**
 * Sync phase: true when `id`, a child page the run already knows, may keep its
 * entry without being retrieved: the run checks by search, and the search did
 * not find it edited. Reads the edited set once per invocation (usually empty:
 * then not at all); a set that went missing means retrieve, as a full check.
 */
export async function unchangedBySearch(ctx: RunContext, id: string): Promise<boolean> {
  const check = ctx.cursor.childCheck;
  if (ctx.section !== "children" || check?.mode !== "search" || !check.complete) return false;
  if (check.found === 0) return true;
  let edited = editedSets.get(ctx);
  if (!edited) {
    edited = ctx.kv.smembers(ctx.keys.editedIds("children", ctx.cursor.runId)).then((ids) => (ids.length > 0 ? new Set(ids) : null));
    editedSets.set(ctx, edited);
  }
  const set = await edited;
  return set !== null && !set.has(id);
}
