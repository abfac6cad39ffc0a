/**
 * How a database section's run lists (cursor.listing), decided at its first
 * listing step:
 *
 * - "incremental": only the rows edited since the watermark, ANDed with the
 *   publish filter and the created_time window (Notion's query filter
 *   `last_edited_time on_or_after`). The watermark is `since` (one minute
 *   before the minute the last completed run started: Notion rounds
 *   last_edited_time down to the minute), or the newest last_edited_time the
 *   last completed run listed when that is earlier (Notion's clock, not ours:
 *   a clock of ours ahead of Notion's cannot hide an edit; that minute is
 *   listed again every run, and its rows are not fetched again unless they
 *   changed). Such a run removes nothing (no removals set, no brake) and its
 *   finalize merges the listed rows into the previous index
 *   (finalize-phase.ts mergeStep), which keeps its id set with the new ids added.
 * - "full": every row the filter lets in (what runs did before), the one way
 *   to notice rows that left without an edit the filter can see: deleted,
 *   unshared, unpublished, moved out. Chosen on forced and first runs, when
 *   the last completed full listing is SYNC_FULL_LIST_HOURS old, when a full
 *   refetch is marked (REFETCH_ALL_SINCE), when there is no usable index,
 *   when the section's settings changed since the last run (filter, properties,
 *   slug, sort, content or files mode: every entry may change), when a
 *   scheduled row became due (it enters the filter without an edit), and
 *   when pages of the section wait to be retried (failed, or in the refetch
 *   set: their timestamps do not say they changed), and after a run the brake
 *   held (each run lists in full and holds again while the cause stands).
 */
import { createHash } from "node:crypto";
import type { KvStore } from "../kv/store";
import { type IndexManifest, publicOrder, readManifest } from "../mirror/section-index";
import { isDefaultSort } from "../mirror/index-sort";
import type { NotionPage } from "../notion/types";
import type { RunContext } from "./context";
import type { Cursor, Listing } from "./cursor";
import { REFETCH_ALL_SINCE } from "./full-refetch";
import type { LedgerEntry } from "./ledger";
import { databaseSpec } from "./section-source";

/** Hours between two full listings unless SYNC_FULL_LIST_HOURS says otherwise. */
export const DEFAULT_FULL_LIST_HOURS = 24;
/** Refetch set members looked at for this section's pages; past that, a full listing is assumed needed. */
const REFETCH_LOOK = 1_000;

/** The section's settings that shape its listing and entries: a change needs a full listing. */
export function specFingerprint(ctx: RunContext): string {
  const { source, filter, slugProperty, titleProperty, content, followsChildren, childDepth, properties, sort } =
    databaseSpec(ctx);
  const shape = {
    source,
    filter,
    slugProperty,
    titleProperty,
    content,
    followsChildren,
    childDepth,
    properties,
    sort,
    files: Boolean(ctx.files),
  };
  return createHash("sha256").update(JSON.stringify(shape)).digest("hex").slice(0, 16);
}

/** Why this run must list in full, or null when it may list incrementally. */
export function fullListReason(
  cursor: Pick<Cursor, "force" | "since" | "startedAt" | "lastFullList" | "lastListing">,
  options: { fullListHours: number; spec: string; indexUsable: boolean; retryPending: boolean },
): string | null {
  if (options.fullListHours === 0) return "disabled";
  if (cursor.force) return "forced";
  if (cursor.since === REFETCH_ALL_SINCE) return "refetch_all";
  const last = cursor.lastListing;
  if (!cursor.since || !cursor.lastFullList || !last) return "first_run";
  if (!options.indexUsable) return "no_index";
  // The brake held a full listing: an incremental one would hide that until the next periodic listing.
  if (last.held) return "held_before";
  if (last.spec !== options.spec) return "config_changed";
  const now = Date.parse(cursor.startedAt);
  if (now - Date.parse(cursor.lastFullList) >= options.fullListHours * 3_600_000) return "periodic";
  if (last.nextPublishAt && Date.parse(last.nextPublishAt) <= now) return "scheduled_due";
  if (options.retryPending) return "retry_pages";
  return null;
}

/** The edit filter's bound: `since`, or the last run's high water (its minute included) when that is earlier. */
export function editedSinceOf(since: string, highWater: string | null): string {
  const notion = highWater ? Date.parse(highWater) : Infinity;
  return new Date(Math.min(Date.parse(since), notion)).toISOString();
}

/** The previous index can take a merge: it exists, knows its id set, and is in the order the section wants. */
function indexUsable(ctx: RunContext, manifest: IndexManifest | null): boolean {
  const spec = databaseSpec(ctx);
  if (!manifest?.idsKey) return false;
  const sort = isDefaultSort(spec.sort) ? undefined : spec.sort;
  return manifest.order === publicOrder("database", sort) && JSON.stringify(manifest.sort) === JSON.stringify(sort);
}

/**
 * Pages of this section that wait to be retried: given up (the failed set), or marked for a
 * re-read (the refetch set, shared by every section: its members with a ledger entry here).
 */
async function retryPending(kv: KvStore, ctx: RunContext): Promise<boolean> {
  const [failed, marked] = await Promise.all([
    kv.scard(ctx.keys.failedPages(ctx.section)),
    kv.scard(ctx.keys.refetch()),
  ]);
  if (failed > 0) return true;
  if (marked === 0) return false;
  if (marked > REFETCH_LOOK) return true;
  const ids = await kv.smembers(ctx.keys.refetch());
  const ledgers = await kv.mget<LedgerEntry>(ids.map((id) => ctx.keys.entry(ctx.section, id)));
  return ledgers.some((l) => l !== null);
}

/** Decides the run's listing (not committed: the first listing step commits it with its rows). */
export async function decideListing(ctx: RunContext): Promise<Listing> {
  const c = ctx.cursor;
  const spec = specFingerprint(ctx);
  const highWater = c.lastListing?.highWater ?? null;
  const options = {
    fullListHours: ctx.settings.fullListHours ?? DEFAULT_FULL_LIST_HOURS,
    spec,
    indexUsable: true,
    retryPending: false,
  };
  // KV is read only when nothing cheaper decided already: a full listing reads nothing more than before.
  let reason = fullListReason(c, options);
  if (reason === null) {
    const manifest = await readManifest(ctx.kv, ctx.keys, ctx.section);
    reason = fullListReason(c, { ...options, indexUsable: indexUsable(ctx, manifest) });
  }
  if (reason === null) reason = fullListReason(c, { ...options, retryPending: await retryPending(ctx.kv, ctx) });
  if (reason !== null) return { mode: "full", reason, editedSince: null, highWater: null, spec };
  return {
    mode: "incremental",
    reason: "edited_since_watermark",
    editedSince: editedSinceOf(c.since!, highWater),
    highWater,
    spec,
  };
}

/** The listing's high water after `rows`: the newest last_edited_time seen. */
export function raiseHighWater(current: string | null, rows: NotionPage[]): string | null {
  let best = current ? Date.parse(current) : -Infinity;
  for (const row of rows) best = Math.max(best, Date.parse(row.last_edited_time));
  return Number.isFinite(best) ? new Date(best).toISOString() : current;
}

/** An incremental run: it removes nothing, and its finalize merges into the previous index. */
export function isIncremental(cursor: Pick<Cursor, "listing">): boolean {
  return cursor.listing?.mode === "incremental";
}
