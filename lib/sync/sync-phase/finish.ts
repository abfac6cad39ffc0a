/**
 * How one page ends in the sync phase: finished (fetched, kept, gone or given
 * up) in one atomic write with its done mark and counts, or checkpointed for
 * the next invocation.
 */
import { type StoredShape, PLAIN, deleteLarge, writeLarge } from "../../kv/large-value";
import * as shardedSet from "../../kv/sharded-set";
import type { KvOp } from "../../kv/store";
import type { BlockFetchCheckpoint, FetchedContent } from "../../notion/block-tree";
import type { PropertyCheckpoint } from "../../notion/property-items";
import type { NotionPage } from "../../notion/types";
import { changedPageOps } from "../changed-pages";
import type { RunContext, Tally } from "../context";
import type { Cursor } from "../cursor";
import type { ItemOutcome, LedgerEntry } from "../ledger";
import type { PieceRow } from "../worklist";
import { type SyncPhaseState, doneMarkOps, leavesCursorState } from "./state";

/** A page read in part, kept for the next invocation (keys.partialPage). */
export interface PartialPage {
  page: NotionPage;
  slug: string;
  /** Relations/people past 25 references still being read (then `page` is the page object as Notion cut it). */
  properties?: PropertyCheckpoint;
  /** Blocks read so far; set once the properties are complete. */
  checkpoint?: BlockFetchCheckpoint;
  /** FILES_MIRROR: the whole content, read; its files are being copied (the registry says which are). */
  content?: FetchedContent;
}

export async function checkpointItem(
  ctx: RunContext,
  row: PieceRow,
  page: NotionPage,
  slug: string,
  checkpoint: BlockFetchCheckpoint | undefined,
  properties?: PropertyCheckpoint,
): Promise<void> {
  await writePartial(ctx, row, { page, slug, ...(properties ? { properties } : { checkpoint }) });
}

/** The page and its whole content kept while its files are copied over several invocations (FILES_MIRROR). */
export async function checkpointContent(
  ctx: RunContext,
  row: PieceRow,
  page: NotionPage,
  slug: string,
  content: FetchedContent,
): Promise<void> {
  await writePartial(ctx, row, { page, slug, content });
}

/** The page's partial read, with the cursor that lists it. */
async function writePartial(ctx: RunContext, row: PieceRow, value: PartialPage): Promise<void> {
  const key = ctx.keys.partialPage(ctx.section, row.id);
  await ctx.commit((c) => {
    const written = writeLarge(ctx.keys, key, value, c.partialShapes[row.id]);
    if (!c.partials.includes(row.id)) c.partials.push(row.id);
    c.partialShapes = { ...c.partialShapes, [row.id]: written.shape };
    return written.ops;
  });
}

/** The page's partial read is forgotten: the next attempt reads it from the start. */
export async function dropPartial(ctx: RunContext, row: PieceRow): Promise<void> {
  if (!ctx.cursor.partials.includes(row.id)) return;
  await ctx.commit((c) => partialDropOps(ctx, c, row.id));
}

/** Removes the page's partial from `c` (a draft) and returns the ops deleting its value. */
function partialDropOps(ctx: RunContext, c: Cursor, id: string): KvOp[] {
  if (!c.partials.includes(id)) return [];
  const ops = deleteLarge(ctx.keys, ctx.keys.partialPage(ctx.section, id), c.partialShapes[id]);
  c.partials = c.partials.filter((p) => p !== id);
  const { [id]: _shape, ...shapes } = c.partialShapes;
  c.partialShapes = shapes;
  return ops;
}

/** Trashed, unshared or deleted: its bundle, ledger entry and slug go now (finalize leaves it out of the index). */
export async function finishGone(
  ctx: RunContext,
  state: SyncPhaseState,
  row: PieceRow,
  ledger: LedgerEntry | null,
): Promise<void> {
  const ops: KvOp[] = [{ op: "del", key: ctx.keys.entry(ctx.section, row.id) }];
  const slugs = new Set([ledger?.entry?.slug, row.slug].filter((s): s is string => Boolean(s)));
  if (ledger?.entry) ops.push(...deleteLarge(ctx.keys, ctx.keys.page(ctx.section, ledger.entry.slug), ledger.bundle));
  if (ctx.spec.kind !== "children")
    for (const slug of slugs) ops.push({ op: "del", key: ctx.keys.slugOwner(ctx.section, slug) });
  ops.push(...shardedSet.sremOps(ctx.keys.listedIds(ctx.section, ctx.cursor.runId), [row.id]));
  if (row.refetch) ops.push({ op: "srem", key: ctx.keys.refetch(), members: [row.id] });
  if (ledger?.run?.outcome === "failed")
    ops.push({ op: "srem", key: ctx.keys.failedPages(ctx.section), members: [row.id] });
  await finishItem(ctx, state, row, "gone", ops);
}

/** Given up for this run: the previous content and entry stay; the next run tries again (refetch set). */
export async function giveUp(
  ctx: RunContext,
  state: SyncPhaseState,
  row: PieceRow,
  ledger: LedgerEntry | null,
  error: string,
): Promise<void> {
  const value: LedgerEntry = {
    entry: ledger?.entry ?? null,
    bundle: ledger?.bundle ?? (PLAIN as StoredShape),
    run: { id: ctx.cursor.runId, outcome: "failed", error },
    // The previous bundle's files stay referenced (finalize's gc keeps them).
    ...(ledger?.files ? { files: ledger.files } : {}),
  };
  await finishItem(ctx, state, row, "failed", [
    { op: "set", key: ctx.keys.entry(ctx.section, row.id), value },
    { op: "sadd", key: ctx.keys.refetch(), members: [row.id] },
    { op: "sadd", key: ctx.keys.failedPages(ctx.section), members: [row.id] },
  ]);
}

/**
 * Marks the item done, in the same atomic write as its data, its counts and
 * the record of the pages it changed (and the marks of free skips waiting,
 * skipFreely). Without the cursor, unless the item left state in it (a
 * partial, failed attempts).
 */
export async function finishItem(
  ctx: RunContext,
  state: SyncPhaseState,
  row: PieceRow,
  outcome: ItemOutcome,
  ops: KvOp[],
  blocks = 0,
  extra: Partial<Tally> = {},
): Promise<void> {
  const carried = state.unwritten.splice(0);
  ops.push(...changedPageOps(ctx.keys, ops), ...doneMarkOps(ctx, [row.id, ...carried]));
  const counts: Partial<Tally> = { ...extra, skipped: carried.length, blocks };
  counts[outcome] = (counts[outcome] ?? 0) + 1;
  try {
    await writeFinished(ctx, row, ops, leavesCursorState(ctx, row), counts);
  } catch (error) {
    state.unwritten.push(...carried);
    throw error;
  }
  state.finished.add(row.id);
  ctx.processed += 1 + carried.length;
}

async function writeFinished(
  ctx: RunContext,
  row: PieceRow,
  ops: KvOp[],
  leavesCursorState: boolean,
  counts: Partial<Tally>,
): Promise<void> {
  if (!leavesCursorState) return ctx.write(ops, counts);
  await ctx.commit((c) => {
    ops.push(...partialDropOps(ctx, c, row.id));
    if (c.attempts[row.id]) {
      const { [row.id]: _done, ...rest } = c.attempts;
      c.attempts = rest;
    }
    return ops;
  }, counts);
}
