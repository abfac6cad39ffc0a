/**
 * The list phase: what this run has to look at, one work piece per step.
 * - database sections read the data source oldest first, 100 rows a request,
 *   only the rows their publish filter lets in (its "now" the run's start), in
 *   created_time windows: a query stops at Notion's 10,000-result cap
 *   (request_status "incomplete", has_more false), and the next window starts
 *   at the last created_time seen. Each row is compared with its ledger entry
 *   to decide whether its content must be fetched; its slug is claimed here.
 * - children walk the child pages the indexes of their parent sections hold,
 *   in config order, chunk by chunk over the chunk list pinned when each walk
 *   starts (one snapshot), then the discovery queue.
 * A database section's first step decides whether it lists every row or only
 * those edited since its watermark (listing-mode.ts).
 * Listing complete, a section whose filter schedules rows notes the earliest
 * publish date to come (scheduled.ts), a full listing checks how much of the
 * index it would remove (the brake), and the run moves on.
 */
import * as shardedSet from "../kv/sharded-set";
import type { KvOp } from "../kv/store";
import { IndexChunkMissingError, readManifest } from "../mirror/section-index";
import type { IndexEntry } from "../mirror/shapes";
import { NotionSyncError } from "../notion/errors";
import type { NotionPage } from "../notion/types";
import { entryOptions, unchangedEntry } from "./bundle";
import type { RunContext } from "./context";
import type { Cursor, Listing } from "./cursor";
import { holdsForRemovals } from "./brake";
import { childCheckStep } from "./child-check";
import { isSameEntry } from "./ledger";
import { decideListing, isIncremental, raiseHighWater } from "./listing-mode";
import { claimSlugs } from "./slug-claims";
import { noteNextPublish } from "./scheduled";
import { dataSourceId, runFilter } from "./section-source";
import { REFETCH_ALL_SINCE } from "./full-refetch";
import { type ListPlan, listingAll, rowsDisagree, sectionListPlan, withStoredValues } from "./list-properties";
import { type LedgerEntry, writtenInOtherMode } from "./ledger";
import { unchangedView } from "./page-files";
import { type PieceRow, packPiece } from "./worklist";
import { findSection } from "../workspace/types";

export async function runListPhase(ctx: RunContext): Promise<void> {
  while (ctx.cursor.phase === "list" && !ctx.shouldStop()) {
    const complete = ctx.spec.kind === "children" ? await listChildrenStep(ctx) : await listDatabaseStep(ctx);
    if (complete) await finishListing(ctx);
  }
}

/** True when the page must be fetched: new, edited, renamed, or edited within Notion's rounding window. */
export function needsFetch(
  page: NotionPage,
  previous: IndexEntry | null | undefined,
  slug: string,
  cursor: Pick<Cursor, "force" | "since">,
): boolean {
  if (cursor.force || !previous) return true;
  if (previous.slug !== slug) return true;
  if (previous.last_edited_time !== page.last_edited_time) return true;
  return cursor.since !== null && page.last_edited_time >= cursor.since;
}

/** One query page → one work piece. Returns true when the listing is complete. */
async function listDatabaseStep(ctx: RunContext): Promise<boolean> {
  const sourceId = await dataSourceId(ctx);
  const { windowStart, startCursor, lastCreated } = ctx.cursor.list;
  const listing = ctx.cursor.listing ?? (await decideListing(ctx));
  const plan = await listedProperties(ctx, sourceId, listing);
  const page = await ctx.notion.queryDataSource(sourceId, {
    windowStart,
    startCursor,
    filter: runFilter(ctx),
    filterProperties: plan.ids,
    editedSince: listing.editedSince,
  });
  // The schema changed under the listing: read it again for the next query.
  if (rowsDisagree(page.results, plan)) await sectionListPlan(ctx, sourceId, true);

  // Rows listed already: the boundary minute of a new window, or a step repeated after a kill.
  const runId = ctx.cursor.runId;
  const listedKey = ctx.keys.listedIds(ctx.section, runId);
  const ids = page.results.map((r) => r.id);
  const [seen, ledgers, stale] = await Promise.all([
    listedAlready(ctx, ids),
    ctx.kv.mget<LedgerEntry>(ids.map((id) => ctx.keys.entry(ctx.section, id))),
    ctx.kv.smismember(ctx.keys.refetch(), ids),
  ]);
  const fresh = page.results.flatMap((row, i) => (seen[i] ? [] : [{ row, ledger: ledgers[i], refetch: stale[i] }]));
  const slugs = await claimSlugs(
    ctx.kv,
    ctx.keys,
    ctx.section,
    fresh.map((f) => ({ row: f.row, previous: f.ledger?.entry ?? null })),
    ctx.spec,
  );
  const { rows, ops, toSync, kept } = decideListedRows(ctx, fresh, slugs, plan, isIncremental({ listing }));
  const newest = page.results.at(-1)?.created_time ?? lastCreated;
  const { next, complete } = nextQueryPosition(ctx, page, newest);

  await ctx.commit((c) => {
    if (rows.length > 0) {
      ops.push({ op: "set", key: ctx.keys.workPiece(ctx.section, runId, c.list.pieces), value: packPiece({ rows }) });
      ops.push(
        ...shardedSet.saddOps(
          listedKey,
          rows.map((r) => r.id),
        ),
      );
      c.list.pieces++;
    }
    c.list = { ...c.list, ...next, lastCreated: newest };
    c.listing = { ...listing, highWater: raiseHighWater(listing.highWater, page.results) };
    c.counts.listed += rows.length + kept;
    c.counts.toSync += toSync;
    c.counts.skipped += rows.length - toSync + kept;
    return ops;
  });
  return complete;
}

/**
 * What the queries ask for (list-properties.ts); a forced run, and one a schema_updated
 * webhook asked to re-read every page (full-refetch.ts), read the schema again at their first query.
 */
async function listedProperties(ctx: RunContext, sourceId: string, listing: Listing): Promise<ListPlan> {
  const { startCursor, windowStart, pieces } = ctx.cursor.list;
  const first = startCursor === null && windowStart === null && pieces === 0;
  const rereads = ctx.cursor.force || ctx.cursor.since === REFETCH_ALL_SINCE;
  const plan = await sectionListPlan(ctx, sourceId, rereads && first);
  // A full listing reads every row: expensive ones are listed too, and unchanged rows' values refreshed.
  return listing.mode === "full" ? listingAll(plan) : plan;
}

interface ListedRow {
  row: NotionPage;
  ledger: LedgerEntry | null;
  refetch: boolean;
}

/**
 * Which listed rows must be fetched (with their slug and the row) and which
 * keep their entry (rewritten when the row differs); the claims of new slugs.
 * An incremental listing leaves a row that needs no fetch as it is, out of the
 * work (`kept`): it is in the index it merges into, and rewriting its entry for
 * what moved without an edit (signed file URLs) would make a run that changed
 * nothing write an index; a full listing refreshes those.
 */
function decideListedRows(
  ctx: RunContext,
  fresh: ListedRow[],
  slugs: Map<string, string>,
  plan: ListPlan,
  incremental: boolean,
): { rows: PieceRow[]; ops: KvOp[]; toSync: number; kept: number } {
  const rows: PieceRow[] = [];
  const ops: KvOp[] = [];
  let toSync = 0;
  let kept = 0;
  for (const { row, ledger, refetch } of fresh) {
    const slug = slugs.get(row.id)!;
    const previous = ledger?.entry ?? null;
    // Unchanged content, but the listed row may still differ (formulas, rollups): keep the entry current.
    // Null when a relation cut at 25 references no longer agrees with the complete one stored: re-read it.
    // A bundle fetched in another content mode or files mode (either setting changed) is fetched again.
    // With the mirror on, its hosted files as the ledger maps them (one unmapped: fetched again).
    const view =
      refetch ||
      needsFetch(row, previous, slug, ctx.cursor) ||
      writtenInOtherMode(ledger, ctx.content.mode, Boolean(ctx.files))
        ? null
        : unchangedView(ctx, row, ledger);
    const unchanged = view ? unchangedEntry(view, slug, previous!, {}, entryOptions(ctx.spec)) : null;
    const entry = unchanged ? withStoredValues(unchanged, previous!, plan) : null;
    if (!entry) {
      const retrieve = plan.expensive.length > 0 ? { retrieve: true } : {};
      rows.push({ id: row.id, slug, page: row, ...retrieve, ...(refetch ? { refetch: true } : {}) });
      toSync++;
      continue;
    }
    if (incremental) {
      kept++;
      continue;
    }
    rows.push({ id: row.id });
    if (!isSameEntry(entry, previous!))
      ops.push({ op: "set", key: ctx.keys.entry(ctx.section, row.id), value: { ...ledger!, entry } });
  }
  // Claim the slugs that are new to their page (a kept slug is claimed already).
  for (const { row, ledger } of fresh) {
    const slug = slugs.get(row.id)!;
    if (slug !== ledger?.entry?.slug)
      ops.push({ op: "set", key: ctx.keys.slugOwner(ctx.section, slug), value: row.id });
  }
  return { rows, ops, toSync, kept };
}

/** Where the next request starts, and whether the listing is complete. */
function nextQueryPosition(
  ctx: RunContext,
  page: { nextCursor: string | null; incomplete?: boolean },
  newest: string | null,
): { next: Pick<Cursor["list"], "windowStart" | "startCursor" | "windows">; complete: boolean } {
  const { windowStart, windows } = ctx.cursor.list;
  if (page.nextCursor)
    return { next: { windowStart, startCursor: page.nextCursor, windows: Math.max(1, windows) }, complete: false };
  if (!page.incomplete)
    return { next: { windowStart, startCursor: null, windows: Math.max(1, windows) }, complete: true };
  // Notion's per-query cap: never the end of the list. Continue from the last
  // created_time seen; rows of that minute listed already are skipped above.
  if (!newest || newest === windowStart) {
    throw new NotionSyncError(
      "permanent",
      `more rows share created_time ${newest} than one Notion query may return: the listing cannot move past them`,
      {
        code: "query_window_stuck",
      },
    );
  }
  return { next: { windowStart: newest, startCursor: null, windows: windows + 1 }, complete: false };
}

type WalkSource = NonNullable<Cursor["list"]["source"]>;
/** Index chunks one walk step reads at most while they hold no child page (≤ 25 × 256 KB). */
const EMPTY_CHUNKS_PER_STEP = 25;
const walkStart = (section: WalkSource["section"]): WalkSource => ({ section, chunk: 0, pinned: null, restarts: 0 });

/** The parent sections the children section walks, in config order (each with its child depth). */
function walkParents(ctx: RunContext): { name: string; childDepth: number }[] {
  if (ctx.spec.kind !== "children") return [];
  const own = ctx.spec.childDepth;
  return ctx.spec.parents.map((name) => {
    const parent = ctx.workspace ? findSection(ctx.workspace, name) : undefined;
    return { name, childDepth: parent?.kind === "database" ? parent.childDepth : own };
  });
}

/** Where the walk goes after `section`: the next parent, or the queue (a parent no longer configured: the queue). */
function walkAfter(ctx: RunContext, section: string | null): WalkSource {
  const parents = walkParents(ctx);
  const at = section === null ? -1 : parents.findIndex((p) => p.name === section);
  const next = section === null || at >= 0 ? parents[at + 1] : undefined;
  return walkStart(next?.name ?? "queue");
}

/** One index chunk of a parent section (or the discovery queue) → one piece of child pages. */
async function listChildrenStep(ctx: RunContext): Promise<boolean> {
  const source = ctx.cursor.list.source ?? walkAfter(ctx, null);
  if (ctx.spec.childDepth < 1) return true;
  // First the check of the child pages known already: search since the watermark, or full (child-check.ts).
  if (await childCheckStep(ctx)) return false;
  const ops: KvOp[] = [];
  const { candidates, next } =
    source.section === "queue" ? await queueStep(ctx, source, ops) : await indexWalkStep(ctx, source);
  const unique = [...new Map(candidates.map((c) => [c.id, c])).values()];
  const listedKey = ctx.keys.listedIds(ctx.section, ctx.cursor.runId);
  const seen = await listedAlready(
    ctx,
    unique.map((c) => c.id),
  );
  const rows = unique.filter((_, i) => !seen[i]);
  await ctx.commit((c) => {
    if (rows.length > 0) {
      ops.push({ op: "set", key: ctx.keys.workPiece(ctx.section, c.runId, c.list.pieces), value: packPiece({ rows }) });
      ops.push(
        ...shardedSet.saddOps(
          listedKey,
          rows.map((r) => r.id),
        ),
      );
      c.list.pieces++;
    }
    c.list.source = next ?? walkStart("queue");
    c.list.windows = 1;
    c.counts.listed += rows.length;
    c.counts.toSync += rows.length;
    return ops;
  });
  return next === null;
}

/** Child pages found by a database section whose run has not finalized its index yet; null once drained. */
async function queueStep(
  ctx: RunContext,
  source: WalkSource,
  ops: KvOp[],
): Promise<{ candidates: PieceRow[]; next: WalkSource | null }> {
  const queued = await ctx.kv.srandmember(ctx.keys.childQueue(), 500);
  if (queued.length > 0) ops.push({ op: "srem", key: ctx.keys.childQueue(), members: queued });
  return {
    candidates: queued.map((id) => ({ id, depth: 1, parentId: null })),
    next: queued.length < 500 ? null : source,
  };
}

/**
 * One chunk of a parent's index (more while they hold no child page: EMPTY_CHUNKS_PER_STEP),
 * read from the chunk list pinned when the walk of that index started, never from the current manifest: a removal shifts entries between chunks and
 * an in-place update replaces one, so walking positions of a moving index skips parents (and
 * their child pages would count as removals at finalize). A parent's child pages go as deep
 * as that parent's section says (PieceRow.maxDepth).
 */
async function indexWalkStep(
  ctx: RunContext,
  source: WalkSource,
): Promise<{ candidates: PieceRow[]; next: WalkSource }> {
  const section = source.section;
  const parent = walkParents(ctx).find((p) => p.name === section);
  const after = walkAfter(ctx, section);
  if (!parent || parent.childDepth < 1) return { candidates: [], next: after };
  // A cursor from before pinning (mid-walk, nothing pinned) walks its section again, pinned.
  const walk = source.pinned ? source : { ...source, chunk: 0, pinned: await currentChunks(ctx, section) };
  const pinned = walk.pinned!;
  if (walk.chunk >= pinned.length) return { candidates: [], next: after };
  const maxDepth = parent.childDepth === ctx.spec.childDepth ? {} : { maxDepth: parent.childDepth };
  const candidates: PieceRow[] = [];
  let chunk = walk.chunk;
  // Chunks without child pages are walked on in the same step: one commit for many, not one each.
  while (chunk < pinned.length && candidates.length === 0 && chunk - walk.chunk < EMPTY_CHUNKS_PER_STEP) {
    const entries = await ctx.kv.get<IndexEntry[]>(pinned[chunk]);
    // Never read as empty: the walk starts again on the current manifest (after committing what it walked).
    if (!Array.isArray(entries)) {
      if (chunk > walk.chunk) break;
      return { candidates: [], next: await restartWalk(ctx, walk, pinned[chunk]) };
    }
    for (const e of entries)
      candidates.push(...e.childPages.map((id) => ({ id, depth: 1, parentId: e.id, ...maxDepth })));
    chunk++;
  }
  return { candidates, next: chunk < pinned.length ? { ...walk, chunk } : after };
}

async function currentChunks(ctx: RunContext, section: string): Promise<string[]> {
  return (await readManifest(ctx.kv, ctx.keys, section))?.chunks.map((c) => c.key) ?? [];
}

/**
 * A pinned chunk expired: the walk outlived RETIRED_CHUNK_TTL_MS (a run parked between
 * invocations). It starts over on the current manifest; the listed set skips what it listed.
 */
async function restartWalk(ctx: RunContext, walk: WalkSource, missing: string): Promise<WalkSource> {
  const pinned = await currentChunks(ctx, walk.section);
  if (pinned.includes(missing)) throw new IndexChunkMissingError(missing, walk.section);
  return { section: walk.section, chunk: 0, pinned, restarts: walk.restarts + 1 };
}

/**
 * Which of `ids` the run has listed already. The listed set only grows in the
 * commits that add work pieces: before the first one it is empty, and is not read.
 */
function listedAlready(ctx: RunContext, ids: string[]): Promise<boolean[]> {
  if (ctx.cursor.list.pieces === 0) return Promise.resolve(ids.map(() => false));
  return shardedSet.smismember(ctx.kv, ctx.keys.listedIds(ctx.section, ctx.cursor.runId), ids);
}

/** Listing is complete: a database section notes its next scheduled row, and checks the brake before fetching anything. */
async function finishListing(ctx: RunContext): Promise<void> {
  if (ctx.spec.kind === "database") await noteNextPublish(ctx);
  // Children discover most of their pages while syncing: their check waits for finalize.
  // An incremental listing removes nothing: no removals to count.
  if (ctx.spec.kind !== "children" && !isIncremental(ctx.cursor) && (await holdsForRemovals(ctx))) return;
  await ctx.commit((c) => {
    c.list.startCursor = null;
    c.phase = c.counts.toSync > 0 ? "sync" : "finalize";
  });
}
