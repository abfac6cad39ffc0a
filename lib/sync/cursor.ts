/**
 * Where a section's run stands, stored as versioned JSON under keys.cursor().
 * It is validated on every load: a cursor written by an older or newer
 * version, or a damaged one, restarts the run (reported), never crashes it.
 */
import { z } from "zod";
import { SECTIONS, type Section } from "../core/sections";

export const CURSOR_VERSION = 1;

export const PHASES = ["list", "sync", "finalize", "done"] as const;
export type Phase = (typeof PHASES)[number];

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
});
export type RunCounts = z.infer<typeof CountsSchema>;

export const CursorSchema = z.object({
  version: z.literal(CURSOR_VERSION),
  section: z.enum(SECTIONS),
  runId: z.string().min(1),
  status: z.enum(["running", "done", "failed"]),
  phase: z.enum(PHASES),
  /** Invocations that have run for this run; a QStash message carries the seq it expects. */
  seq: z.number().int().nonnegative(),
  force: z.boolean(),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
  /** Pages edited at or after this instant are fetched even when their timestamp looks unchanged (Notion rounds to the minute). */
  since: z.string().nullable(),
  /** When the last completed run started: carried from run to run, even through failed ones. */
  lastCompletedStart: z.string().nullable().default(null),
  /** Data source pagination cursor while listing. */
  listCursor: z.string().nullable(),
  /** Every work item before this index is done. */
  position: z.number().int().nonnegative(),
  /** Items past `position` already done (concurrent workers finish out of order). */
  completedAhead: z.array(z.string()),
  /** Items with a partly read page stored under keys.partialPage(). */
  partials: z.array(z.string()),
  /** Transient failures per item this run; at MAX_ITEM_ATTEMPTS the item is given up (reported, old content kept). */
  attempts: z.record(z.string(), z.number().int().positive()).default({}),
  counts: CountsSchema,
  error: z.object({ code: z.string(), message: z.string(), at: z.string() }).nullable(),
  /** Set when Notion asked to wait: nothing should call Notion for this section before it. */
  retryAt: z.string().nullable(),
  /** The successor published for this seq (QStash chaining), so a redelivery can repair a failed publish. */
  chain: z.object({ seq: z.number().int(), published: z.boolean(), messageId: z.string().nullable() }).nullable(),
});
export type Cursor = z.infer<typeof CursorSchema>;

/** The cursor records that the step after its last one was handed to QStash. */
export function successorPublished(cursor: Cursor): boolean {
  return cursor.chain?.seq === cursor.seq && cursor.chain.published;
}

export type CursorLoad =
  | { kind: "none" }
  | { kind: "ok"; cursor: Cursor }
  | { kind: "invalid"; reason: string };

export function parseCursor(raw: unknown): CursorLoad {
  if (raw === null || raw === undefined) return { kind: "none" };
  const version = (raw as { version?: unknown })?.version;
  if (version !== CURSOR_VERSION) return { kind: "invalid", reason: `cursor version ${JSON.stringify(version)} is not ${CURSOR_VERSION}` };
  const parsed = CursorSchema.safeParse(raw);
  if (!parsed.success) return { kind: "invalid", reason: `cursor failed validation: ${parsed.error.issues[0]?.message ?? "unknown"}` };
  return { kind: "ok", cursor: parsed.data };
}

export const emptyCounts = (): RunCounts => ({ listed: 0, toSync: 0, fetched: 0, skipped: 0, gone: 0, blocks: 0, notionRequests: 0, failed: 0 });

/** Invocations in a row a page may fail transiently before the run gives up on it. */
export const MAX_ITEM_ATTEMPTS = 5;

/** Run ids sort by start time and are unique enough to key KV entries. */
export function newRunId(now: Date = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  return `${stamp}-${Math.random().toString(36).slice(2, 8)}`;
}

/** The overlap window for the next run: from one minute before the minute this run started. */
export function nextSince(startedAt: string): string {
  const t = new Date(startedAt);
  t.setUTCSeconds(0, 0);
  return new Date(t.getTime() - 60_000).toISOString();
}

export function startCursor(section: Section, options: { force: boolean; previous: Cursor | null; now: Date; runId?: string }): Cursor {
  const { previous } = options;
  // Only a completed run proves everything before its start was seen.
  const lastCompletedStart = previous?.status === "done" ? previous.startedAt : (previous?.lastCompletedStart ?? null);
  return {
    version: CURSOR_VERSION,
    section,
    runId: options.runId ?? newRunId(options.now),
    status: "running",
    phase: "list",
    seq: 0,
    force: options.force,
    startedAt: options.now.toISOString(),
    finishedAt: null,
    since: options.force || !lastCompletedStart ? null : nextSince(lastCompletedStart),
    lastCompletedStart,
    listCursor: null,
    position: 0,
    completedAhead: [],
    partials: [],
    attempts: {},
    counts: emptyCounts(),
    error: null,
    retryAt: null,
    chain: null,
  };
}
