/**
 * One page of the sync phase: choose the page object to work from, keep it if
 * unchanged, else read its properties and content (checkpointed when the
 * budget runs out) and write it; a failure is decided by the failure policy.
 */
import { readLarge } from "../../kv/large-value";
import type { KvOp } from "../../kv/store";
import type { IndexEntry } from "../../mirror/shapes";
import type { FetchedContent } from "../../notion/block-tree";
import { NotionSyncError } from "../../notion/errors";
import { completeProperties } from "../../notion/property-items";
import { type NotionPage, isTrashed } from "../../notion/types";
import { unclaimedSlug } from "../../mirror/slug-rules";
import { entryOptions, unchangedEntry } from "../bundle";
import { sweptPage, unchangedBySearch } from "../child-check";
import type { RunContext } from "../context";
import { MAX_ITEM_ATTEMPTS } from "../cursor";
import { decideFailure } from "../failure-policy";
import { isSameEntry } from "../ledger";
import { needsFetch } from "../list-phase";
import { pageWriteOps } from "../page-write";
import { FileCopyError } from "../../files/mirror";
import { type PageFiles, copyPageFiles, unchangedView } from "../page-files";
import { type LedgerEntry, writtenInOtherMode } from "../ledger";
import type { PieceRow } from "../worklist";
import { childPlacement, discoverChildren, prefetchChildren } from "./children";
import {
  type PartialPage,
  checkpointContent,
  checkpointItem,
  dropPartial,
  finishGone,
  finishItem,
  giveUp,
} from "./finish";
import { keepUnretrieved } from "./free-skips";
import type { SyncPhaseState } from "./state";

export async function processItem(
  ctx: RunContext,
  state: SyncPhaseState,
  row: PieceRow,
  ledger: LedgerEntry | null,
): Promise<void> {
  const partial = await readPartial(ctx, row);
  const chosen = await choosePage(ctx, state, row, ledger, partial);
  if (!chosen) return;
  if (isTrashed(chosen)) return finishGone(ctx, state, row, ledger);
  // Database rows claimed theirs at listing; a child's is its title and id (unique without claims).
  const slug = partial?.slug ?? row.slug ?? unclaimedSlug(chosen, ctx.spec, ledger?.entry ?? null);
  // With the mirror on, its hosted files as the ledger maps them (unmapped: fetched again).
  const view = isUnchangedChild(ctx, row, partial, ledger, chosen, slug) ? unchangedView(ctx, chosen, ledger) : null;
  const unchanged = view
    ? unchangedEntry(view, slug, ledger!.entry!, childPlacement(row), entryOptions(ctx.spec))
    : null;
  if (unchanged) return keepUnchanged(ctx, state, row, ledger!, unchanged);
  const page = await readProperties(ctx, row, chosen, slug, partial);
  if (!page) return;
  const content = await readContent(ctx, state, row, ledger, page, slug, partial);
  if (!content) return;
  const files = ctx.files ? await copyFiles(ctx, state, row, ledger, page, slug, content) : undefined;
  if (files === null) return;
  await writePage(ctx, state, row, ledger, page, slug, content, files);
}

/** What an item's failure means: finished (given up or gone), left for later, or fatal for the run. */
export async function handleItemError(
  ctx: RunContext,
  state: SyncPhaseState,
  row: PieceRow,
  ledger: LedgerEntry | null,
  error: unknown,
): Promise<"finished" | "later" | NotionSyncError> {
  const attempts = (ctx.cursor.attempts[row.id] ?? 0) + 1;
  const decision = decideFailure(error, { attempts, maxAttempts: MAX_ITEM_ATTEMPTS, stopping: ctx.shouldStop() });
  switch (decision.kind) {
    case "later":
      return "later";
    case "rate_limited":
      ctx.noteRateLimit(decision.error);
      return "later";
    case "fatal":
      return decision.error;
    case "retry":
      ctx.lastError = { code: decision.code, message: `page ${row.id}: ${decision.message}` };
      await ctx.commit((c) => void (c.attempts = { ...c.attempts, [row.id]: attempts }));
      return "later";
    case "give_up":
      if (decision.counted) ctx.lastError = { code: decision.code, message: `page ${row.id}: ${decision.message}` };
      await giveUp(ctx, state, row, ledger, decision.message);
      return "finished";
  }
}

/** The page read in part by an earlier invocation, or null. */
async function readPartial(ctx: RunContext, row: PieceRow): Promise<PartialPage | null> {
  if (!ctx.cursor.partials.includes(row.id)) return null;
  return (await readLarge<PartialPage>(ctx.kv, ctx.keys, ctx.keys.partialPage(ctx.section, row.id)))?.value ?? null;
}

/**
 * The page object to work from: the partial's, the listing's, the sweep's or
 * Notion's. Null when the page is finished already (kept by search, or gone).
 */
async function choosePage(
  ctx: RunContext,
  state: SyncPhaseState,
  row: PieceRow,
  ledger: LedgerEntry | null,
  partial: PartialPage | null,
): Promise<NotionPage | null> {
  if (partial) return partial.page;
  // With the mirror on, a page that failed before is retrieved again: its listed files' URLs may have expired.
  // A row listed without its expensive properties is retrieved in full (list-properties.ts).
  if (row.page && !row.retrieve && !(ctx.files && ctx.cursor.attempts[row.id])) return row.page;
  const previous = ledger?.entry ?? null;
  // A known child page that the run's search did not find edited: no request (child-check.ts).
  if (
    previous &&
    ledger &&
    !row.refetch &&
    !writtenInOtherMode(ledger, ctx.content.mode, Boolean(ctx.files)) &&
    (await unchangedBySearch(ctx, state.childCheck, row.id))
  ) {
    await keepUnretrieved(ctx, state, row, ledger, previous);
    return null;
  }
  // Forced and first runs: the object the run's search sweep returned, without a request (child-check.ts).
  const swept = await sweptPage(ctx, state.childCheck, row.id);
  try {
    return swept ?? (await ctx.notion.retrievePage(row.id));
  } catch (error) {
    if (!NotionSyncError.is(error, "gone")) throw error;
  }
  await finishGone(ctx, state, row, ledger);
  return null;
}

/**
 * A child page retrieved here (database rows were compared at listing), not
 * read in part nor marked for refetch, that needsFetch calls unchanged since
 * its ledger entry, which was fetched in this content mode.
 */
function isUnchangedChild(
  ctx: RunContext,
  row: PieceRow,
  partial: PartialPage | null,
  ledger: LedgerEntry | null,
  page: NotionPage,
  slug: string,
): boolean {
  const previous = ledger?.entry;
  if (row.page || partial || !previous || row.refetch) return false;
  return (
    !needsFetch(page, previous, slug, ctx.cursor) && !writtenInOtherMode(ledger, ctx.content.mode, Boolean(ctx.files))
  );
}

/** Unchanged: its entry rewritten only if it moved; its child pages still have to be checked in this run. */
async function keepUnchanged(
  ctx: RunContext,
  state: SyncPhaseState,
  row: PieceRow,
  ledger: LedgerEntry,
  entry: IndexEntry,
): Promise<void> {
  const previous = ledger.entry!;
  const ops: KvOp[] = [];
  if (!isSameEntry(entry, previous))
    ops.push({
      op: "set",
      key: ctx.keys.entry(ctx.section, row.id),
      value: { ...ledger, entry } satisfies LedgerEntry,
    });
  if (ctx.spec.kind === "children")
    await discoverChildren(ctx, state, row, prefetchChildren(ctx, state, row, previous.childPages));
  return finishItem(ctx, state, row, "skipped", ops);
}

/**
 * Relations and people past 25 references, before the content: checkpointed
 * like the blocks. The complete page, or null when checkpointed for the next invocation.
 */
async function readProperties(
  ctx: RunContext,
  row: PieceRow,
  page: NotionPage,
  slug: string,
  partial: PartialPage | null,
): Promise<NotionPage | null> {
  if (partial?.checkpoint || partial?.content) return page;
  let reached = partial?.properties;
  let result;
  try {
    result = await completeProperties(ctx.notion, page, {
      resume: partial?.properties,
      shouldStop: ctx.shouldStop,
      onProgress: (c) => (reached = c),
    });
  } catch (error) {
    if (reached && reached.requests > (partial?.properties?.requests ?? 0))
      await checkpointItem(ctx, row, page, slug, undefined, reached);
    throw error;
  }
  if (result.done) return result.page;
  await checkpointItem(ctx, row, page, slug, undefined, result.checkpoint);
  return null;
}

/** The page's blocks, or null when checkpointed for the next invocation or the page is gone (finished). */
async function readContent(
  ctx: RunContext,
  state: SyncPhaseState,
  row: PieceRow,
  ledger: LedgerEntry | null,
  page: NotionPage,
  slug: string,
  partial: PartialPage | null,
): Promise<FetchedContent | null> {
  if (partial?.content) return partial.content;
  let latest = partial?.checkpoint;
  let result;
  try {
    result = await ctx.content.fetch(page.id, {
      resume: partial?.checkpoint,
      shouldStop: ctx.shouldStop,
      onProgress: (c) => (latest = c),
    });
  } catch (error) {
    if (!NotionSyncError.is(error, "gone")) {
      // Keep what was read: the next invocation continues from the last good list.
      if (latest && latest.fetched.length > (partial?.checkpoint?.fetched.length ?? 0))
        await checkpointItem(ctx, row, page, slug, latest);
      throw error;
    }
  }
  if (!result) {
    await finishGone(ctx, state, row, ledger);
    return null;
  }
  if (result.done) return result.content;
  await checkpointItem(ctx, row, page, slug, result.checkpoint);
  return null;
}

/**
 * FILES_MIRROR: the page's files in the store, or null when the budget ran out
 * first: checkpointed with its page and content, the next invocation copies the rest.
 */
async function copyFiles(
  ctx: RunContext,
  state: SyncPhaseState,
  row: PieceRow,
  ledger: LedgerEntry | null,
  page: NotionPage,
  slug: string,
  content: FetchedContent,
): Promise<PageFiles | null> {
  let files;
  try {
    files = await copyPageFiles(ctx, page, content, ledger, { copies: state.copies });
  } catch (error) {
    // Signed URLs past their hour: what was read is dropped, the next attempt reads the page again.
    if (error instanceof FileCopyError && error.code === "file_url_expired") await dropPartial(ctx, row);
    throw error;
  }
  if (files) return files;
  await checkpointContent(ctx, row, page, slug, content);
  return null;
}

/** The page's bundle, ledger entry and record in one write; a children page queues the child pages it holds. */
async function writePage(
  ctx: RunContext,
  state: SyncPhaseState,
  row: PieceRow,
  ledger: LedgerEntry | null,
  page: NotionPage,
  slug: string,
  content: FetchedContent,
  files: PageFiles | undefined,
): Promise<void> {
  const { ops, childIds } = pageWriteOps(ctx.keys, {
    section: ctx.section,
    page,
    slug,
    content,
    placement: childPlacement(row),
    ledger,
    runId: ctx.cursor.runId,
    mode: ctx.content.mode,
    now: ctx.now(),
    clearRefetch: Boolean(row.refetch),
    claimSlug: false,
    spec: ctx.spec,
    files,
  });
  if (ctx.spec.kind === "children")
    await discoverChildren(ctx, state, row, prefetchChildren(ctx, state, row, childIds));
  await finishItem(ctx, state, row, "fetched", ops, content.blockCount, { filesTooLarge: files?.tooLarge ?? 0 });
}
