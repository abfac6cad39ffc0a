/**
 * Where a section's run stands, stored as versioned JSON under keys.cursor().
 * It is validated on every load: a cursor written by an older or newer
 * version, or a damaged one, restarts the run (reported), never crashes it.
 */
import { z } from "zod";
import { SECTION_NAME_PATTERN, type Section } from "../core/sections";

/** 2: the work list in pieces, windowed listing, chunked index (v1 cursors restart their run, reported). */
export const CURSOR_VERSION = 2;

export const PHASES = ["list", "sync", "finalize", "done"] as const;
export type Phase = (typeof PHASES)[number];

export const RUN_STATUSES = ["running", "done", "partial", "failed", "held", "stalled"] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

const CountsSchema = z.object({
  listed: z.number().int().nonnegative(),
  toSync: z.number().int().nonnegative(),
  fetched: z.number().int().nonnegative(),
  skipped: z.number().int().nonnegative(),
  gone: z.number().int().nonnegative(),
  blocks: z.number().int().nonnegative(),
  notionRequests: z.number().int().nonnegative(),
  /** Pages given up on this run after repeated transient failures (their previous content is kept). */
  failed: z.number().int().nonnegative().default(0),
  /** Bundles removed at finalize (pages gone from the listing, trashed, unshared). */
  removed: z.number().int().nonnegative().default(0),
  /** Invocations of this run that met an error (Notion failures got past, pages that failed). */
  errors: z.number().int().nonnegative().default(0),
  /** FILES_MIRROR: objects put to the file store by this run, and their bytes. */
  filesUploaded: z.number().int().nonnegative().default(0),
  bytesUploaded: z.number().int().nonnegative().default(0),
  /** FILES_MIRROR: files over FILES_MAX_BYTES, kept at Notion's URL (served through the file route). */
  filesTooLarge: z.number().int().nonnegative().default(0),
  /** FILES_MIRROR: objects no page referenced for FILES_GC_DAYS, deleted from the store at finalize. */
  filesDeleted: z.number().int().nonnegative().default(0),
});
export type RunCounts = z.infer<typeof CountsSchema>;

/**
 * Children: how a run checks the child pages it already knows for edits (lib/sync/child-check.ts).
 * "search": Notion's search, newest edits first, read back to `stopAt`; only the known child pages
 * it returns are retrieved. "full": every child page is retrieved (the check of today: periodic,
 * forced, first run, or a search that failed).
 */
const ChildCheckSchema = z.object({
  mode: z.enum(["search", "full"]),
  /** Why this mode: search_since_watermark, first_run, forced, periodic, no_watermark, search_failed: …, too_many_edits, disabled. */
  reason: z.string(),
  /** Search results edited before this end the search (the watermark less the rounding overlap). */
  stopAt: z.string().nullable(),
  /** Newest last_edited_time the first search page returned: the next run's watermark. */
  highWater: z.string().nullable(),
  /** Notion's cursor for the next search page; null before the first. */
  cursor: z.string().nullable(),
  /** Search requests sent by this run. */
  requests: z.number().int().nonnegative(),
  /** Known child pages the search found edited (keys.editedIds holds them). */
  found: z.number().int().nonnegative(),
  /** The search has reached `stopAt` (or its end). */
  complete: z.boolean(),
  /**
   * Forced and first runs: search read to its end (or to SWEEP_MAX_REQUESTS) for the child pages'
   * objects, kept as keys.foundPage (ids in keys.foundIds) and used instead of retrieving them.
   * `requests` above counts the sweep's requests. Null: no sweep (search mode, periodic, disabled…).
   */
  sweep: z
    .object({
      /** Child page objects stored. */
      found: z.number().int().nonnegative(),
      /** Search was read to its end: the sweep saw everything search had to give. */
      complete: z.boolean(),
      /** Why it stopped before the end: max_requests, unprofitable, search_failed: …; null while going or when complete. */
      stopped: z.string().nullable(),
    })
    .nullable()
    .default(null),
});
export type ChildCheck = z.infer<typeof ChildCheckSchema>;

/**
 * Database sections: how this run lists (lib/sync/listing-mode.ts). "full": every row the publish
 * filter lets in (what finds deletions, unshares and rows leaving the filter); "incremental": only
 * rows edited since `editedSince`, merged into the previous index, removing nothing.
 */
const ListingSchema = z.object({
  mode: z.enum(["full", "incremental"]),
  /** Why: edited_since_watermark, forced, first_run, disabled, periodic, refetch_all, no_index, held_before, config_changed, scheduled_due, retry_pages. */
  reason: z.string(),
  /** Incremental: the edit filter's bound (last_edited_time on_or_after); null for a full listing. */
  editedSince: z.string().nullable(),
  /** Newest last_edited_time this run listed (Notion's clock), or the last one's when it listed none. */
  highWater: z.string().nullable(),
  /** The section's settings this run listed with (listing-mode.ts specFingerprint): a change lists in full. */
  spec: z.string(),
});
export type Listing = z.infer<typeof ListingSchema>;

/** Database sections, carried from run to run: what the last completed run's listing leaves the next one. */
const LastListingSchema = z.object({
  highWater: z.string().nullable(),
  spec: z.string(),
  /** That run's nextPublishAt: once it has come, a row enters the filter without an edit (a full listing). */
  nextPublishAt: z.string().nullable(),
  /** A run since was held by the brake: runs list in full (and hold again) until one completes. */
  held: z.boolean().default(false),
});

export const CursorSchema = z.object({
  version: z.literal(CURSOR_VERSION),
  section: z.string().regex(SECTION_NAME_PATTERN),
  runId: z.string().min(1),
  /** held: listing would remove too much of the index; nothing was deleted (a forced run may go ahead). */
  /** stalled: SYNC_STALL_AFTER invocations in a row met errors and made no progress (the next call tries again). */
  /** partial: the run finished, but gave some pages up (their previous content is kept; the next run retries them). */
  status: z.enum(RUN_STATUSES),
  phase: z.enum(PHASES),
  /** Invocations that have run for this run; a QStash message carries the seq it expects. */
  seq: z.number().int().nonnegative(),
  /**
   * Who runs (or last ran) step `seq`: a QStash delivery (redelivered if it fails to schedule its
   * successor), a self-chain link, or a cron or manual call (never retried by anyone).
   */
  stepBy: z.enum(["qstash", "chain", "call"]).default("call"),
  force: z.boolean(),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
  /** Pages edited at or after this instant are fetched even when their timestamp looks unchanged (Notion rounds to the minute). */
  since: z.string().nullable(),
  /**
   * The last trigger that started a run of this section (its id travels in the step-0 message),
   * carried from run to run: a cron or manual start keeps it. Children run once per trigger
   * (lib/orchestration/children-kick.ts); a step 0 of a trigger seen already is stale.
   */
  trigger: z.string().nullable().default(null),
  /** When the last completed run started: carried from run to run, even through failed ones. */
  lastCompletedStart: z.string().nullable().default(null),
  /** Children: how this run checks known child pages for edits (null until decided, and for other sections). */
  childCheck: ChildCheckSchema.nullable().default(null),
  /** Children, carried from run to run: when the last completed full check started. */
  lastFullCheck: z.string().nullable().default(null),
  /** Children, carried from run to run: the high water (ChildCheck.highWater) of the last completed run. */
  lastHighWater: z.string().nullable().default(null),
  /** Database sections: how this run lists (null until decided, and for children). */
  listing: ListingSchema.nullable().default(null),
  /** Database sections, carried from run to run: when the last completed full listing started. */
  lastFullList: z.string().nullable().default(null),
  /** Database sections, carried from run to run: the last completed run's listing. */
  lastListing: LastListingSchema.nullable().default(null),
  /**
   * A section whose publish filter compares a date with "now": the earliest date (ISO) at which
   * a row not listed yet will match, asked of Notion once the listing is complete
   * (lib/sync/scheduled.ts); null when none will, or before the listing completes.
   * A completed run's value is when the section's next run should start.
   */
  nextPublishAt: z.string().nullable().default(null),
  /**
   * Where listing stands. Database sections read the data source sorted by
   * created_time ascending in windows: a query stops at Notion's 10,000-result
   * cap, and the next window starts at the last created_time seen (rows listed
   * already are skipped by id). Children walk the indexes of their parent sections.
   */
  list: z.object({
    /** The current window's lower bound (created_time on_or_after), null for the first. */
    windowStart: z.string().nullable(),
    /** Notion's pagination cursor inside the window (only until the next call). */
    startCursor: z.string().nullable(),
    /** The last created_time listed: where the next window starts. */
    lastCreated: z.string().nullable(),
    /** Work pieces written so far (piece n is keys.workPiece(section, runId, n)). */
    pieces: z.number().int().nonnegative(),
    /** Windows started (1 unless the database is larger than one query may return). */
    windows: z.number().int().nonnegative(),
    /**
     * Children: the index being walked and the chunk reached, in `pinned`: the chunk keys of the
     * manifest the walk started on (replaced chunks stay readable a while, section-index.ts), so a
     * walk never skips parents when the index moves. Null until the walk of the section starts; a
     * pinned chunk gone starts the walk again on the current manifest (`restarts`).
     */
    source: z
      .object({
        section: z.string().regex(SECTION_NAME_PATTERN).or(z.literal("queue")),
        chunk: z.number().int().nonnegative(),
        pinned: z.array(z.string()).nullable().default(null),
        restarts: z.number().int().nonnegative().default(0),
      })
      .nullable(),
  }),
  /** Every work piece before this one is finished. */
  syncPiece: z.number().int().nonnegative(),
  /**
   * Pieces past syncPiece already finished, as [first, last] ranges (at most MAX_FINISHED_RANGES):
   * the next invocation skips them instead of loading each again, since a page held open across
   * invocations (a huge one, checkpointed) keeps syncPiece behind while the workers go on.
   */
  finishedAhead: z.array(z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative()])).default([]),
  /**
   * Where finalize stands: index chunks are written piece by piece (or, for a section with a sort
   * of its own, all at once in that order: "sort"), removals batch by batch, then one commit.
   */
  finalize: z
    .object({
      /** gc: FILES_MIRROR's stored objects no page references are marked, and deleted once old enough. */
      /** merge: an incremental run's listed rows merged into the previous index (`chunks`: the merged index so far). */
      stage: z.enum(["index", "sort", "merge", "removals", "gc", "commit"]),
      piece: z.number().int().nonnegative(),
      chunks: z.array(z.object({ key: z.string(), count: z.number().int(), bytes: z.number().int() })),
      total: z.number().int().nonnegative(),
      /** Pages given up on this run (first 20), for the run summary. */
      failedPages: z.array(z.object({ id: z.string(), error: z.string() })),
      /** The gc stage: whether its scratch set of unreferenced objects is made. */
      gc: z.object({ prepared: z.boolean() }).optional(),
    })
    .nullable(),
  /** Previously indexed pages this run did not list (counted when listing completes). */
  removals: z.number().int().nonnegative(),
  /** Set when the run stopped before deleting more than the allowed share of the index. */
  held: z.object({ reason: z.string(), removals: z.number().int(), indexed: z.number().int() }).nullable(),
  /** Items with a partly read page stored under keys.partialPage(). */
  partials: z.array(z.string()),
  /** How each partial is stored when it is over the value bound (parts and their generation). */
  partialShapes: z
    .record(z.string(), z.object({ parts: z.number().int(), generation: z.string().nullable() }))
    .default({}),
  /** Transient failures per item this run; at MAX_ITEM_ATTEMPTS the item is given up (reported, old content kept). */
  attempts: z.record(z.string(), z.number().int().positive()).default({}),
  counts: CountsSchema,
  error: z.object({ code: z.string(), message: z.string(), at: z.string() }).nullable(),
  /** The last error an invocation met and got past (transient Notion failures, timeouts): what a stall is about. */
  lastError: z.object({ code: z.string(), message: z.string(), at: z.string() }).nullable().default(null),
  /** Invocations in a row that met an error and made no progress. */
  consecutiveErrors: z.number().int().nonnegative().default(0),
  /** Set when Notion asked to wait: nothing should call Notion for this section before it. */
  retryAt: z.string().nullable(),
  /** Which of Notion's limits asked to wait (connection: ours; workspace: shared with the workspace's other integrations). */
  rateLimit: z
    .object({ scope: z.enum(["connection", "workspace", "unknown"]), until: z.string() })
    .nullable()
    .default(null),
  /**
   * The successor scheduled for this seq: published to QStash (so a redelivery can repair a failed
   * publish), or accepted by the section's own URL (self-chain), or stopped and why.
   */
  chain: z
    .object({
      seq: z.number().int(),
      published: z.boolean(),
      messageId: z.string().nullable(),
      via: z.enum(["qstash", "self"]).default("qstash"),
      /** Self-chain: links of the current cron tick so far. */
      link: z.number().int().nonnegative().default(0),
      at: z.string().nullable().default(null),
      /** Why no successor was sent although work is left (SYNC_MAX_CHAIN, a long Retry-After). */
      stopped: z.string().nullable().default(null),
      error: z.string().nullable().default(null),
      /** Not before this instant: a Retry-After or a stalled run's backoff (a stopped chain is due then). */
      notBefore: z.string().nullable().optional(),
      /** The last time a step of this run was relaunched after its carrier died, and which step (once per step). */
      relaunchedAt: z.string().nullable().optional(),
      relaunchedSeq: z.number().int().nullable().optional(),
    })
    .nullable(),
});
export type Cursor = z.infer<typeof CursorSchema>;

/** The cursor records that the step after its last one was handed to QStash. */
export function successorPublished(cursor: Cursor): boolean {
  return cursor.chain?.seq === cursor.seq && cursor.chain.published;
}

export type CursorLoad = { kind: "none" } | { kind: "ok"; cursor: Cursor } | { kind: "invalid"; reason: string };

export function parseCursor(raw: unknown): CursorLoad {
  if (raw === null || raw === undefined) return { kind: "none" };
  const version = (raw as { version?: unknown })?.version;
  if (version !== CURSOR_VERSION)
    return { kind: "invalid", reason: `cursor version ${JSON.stringify(version)} is not ${CURSOR_VERSION}` };
  const parsed = CursorSchema.safeParse(raw);
  if (!parsed.success)
    return { kind: "invalid", reason: `cursor failed validation: ${parsed.error.issues[0]?.message ?? "unknown"}` };
  return { kind: "ok", cursor: parsed.data };
}

export const emptyCounts = (): RunCounts => ({
  listed: 0,
  toSync: 0,
  fetched: 0,
  skipped: 0,
  gone: 0,
  blocks: 0,
  notionRequests: 0,
  failed: 0,
  removed: 0,
  errors: 0,
  filesUploaded: 0,
  bytesUploaded: 0,
  filesTooLarge: 0,
  filesDeleted: 0,
});

/** A run that is going (or stalled: going, but stuck on an error): the next call of its section continues it. */
export function isLive(cursor: Pick<Cursor, "status">): boolean {
  return cursor.status === "running" || cursor.status === "stalled";
}

/** A run that went through to its index swap: done, or partial (some pages given up, kept as they were). */
export function isCompleted(cursor: Pick<Cursor, "status">): boolean {
  return cursor.status === "done" || cursor.status === "partial";
}

/** A run that will not move any more by itself (completed, or held for an operator's decision). */
export function isFinished(cursor: Pick<Cursor, "status">): boolean {
  return isCompleted(cursor) || cursor.status === "held";
}

/** The start of the last completed run a cursor knows of: what a reset keeps (keys.watermark). */
export function completedStart(cursor: Cursor): string | null {
  return isCompleted(cursor) ? cursor.startedAt : cursor.lastCompletedStart;
}

/** Invocations in a row a page may fail transiently before the run gives up on it. */
export const MAX_ITEM_ATTEMPTS = 5;

/** Run ids sort by start time and are unique enough to key KV entries. */
export function newRunId(now: Date = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
  return `${stamp}-${Math.random().toString(36).slice(2, 8)}`;
}

/** The overlap window for the next run: from one minute before the minute this run started. */
export function nextSince(startedAt: string): string {
  const t = new Date(startedAt);
  t.setUTCSeconds(0, 0);
  return new Date(t.getTime() - 60_000).toISOString();
}

export function startCursor(
  section: Section,
  options: {
    force: boolean;
    previous: Cursor | null;
    now: Date;
    runId?: string;
    /** What an operator's reset kept of the cleared cursor. */
    watermark?: string | null;
    trigger?: string | null;
  },
): Cursor {
  const { previous } = options;
  // Only a completed run proves everything before its start was seen (a held run did not index).
  // A partial run counts: the pages it gave up are in the refetch set, fetched by the next run whatever their timestamps.
  const lastCompletedStart =
    previous && isCompleted(previous)
      ? previous.startedAt
      : (previous?.lastCompletedStart ?? options.watermark ?? null);
  return {
    version: CURSOR_VERSION,
    section,
    runId: options.runId ?? newRunId(options.now),
    status: "running",
    phase: "list",
    seq: 0,
    stepBy: "call",
    force: options.force,
    trigger: options.trigger ?? previous?.trigger ?? null,
    startedAt: options.now.toISOString(),
    finishedAt: null,
    since: options.force || !lastCompletedStart ? null : nextSince(lastCompletedStart),
    lastCompletedStart,
    childCheck: null,
    ...carriedChildCheck(previous),
    listing: null,
    ...carriedListing(previous),
    nextPublishAt: null,
    list: { windowStart: null, startCursor: null, lastCreated: null, pieces: 0, windows: 0, source: null },
    syncPiece: 0,
    finishedAhead: [],
    finalize: null,
    removals: 0,
    held: null,
    partials: [],
    partialShapes: {},
    attempts: {},
    counts: emptyCounts(),
    error: null,
    lastError: null,
    consecutiveErrors: 0,
    retryAt: null,
    rateLimit: null,
    chain: null,
  };
}

/** What a children run carries from the one before: the last full check and Notion's high water. */
function carriedChildCheck(previous: Cursor | null): Pick<Cursor, "lastFullCheck" | "lastHighWater"> {
  const completed = previous !== null && isCompleted(previous);
  return {
    // A completed full check proves every child page was seen at its start; a completed search run carries Notion's high water on.
    lastFullCheck:
      completed && previous.childCheck?.mode === "full" ? previous.startedAt : (previous?.lastFullCheck ?? null),
    lastHighWater: (completed ? previous.childCheck?.highWater : null) ?? previous?.lastHighWater ?? null,
  };
}

/** What a database section's run carries from the one before (see Listing): the last full listing and the last listing. */
function carriedListing(previous: Cursor | null): Pick<Cursor, "lastFullList" | "lastListing"> {
  const lastFullList = previous?.lastFullList ?? null;
  const last = previous?.lastListing ?? null;
  if (previous?.status === "held") return { lastFullList, lastListing: last ? { ...last, held: true } : null };
  if (!previous || !isCompleted(previous) || !previous.listing) return { lastFullList, lastListing: last };
  const { mode, highWater, spec } = previous.listing;
  return {
    lastFullList: mode === "full" ? previous.startedAt : previous.lastFullList,
    lastListing: { highWater, spec, nextPublishAt: previous.nextPublishAt, held: false },
  };
}
