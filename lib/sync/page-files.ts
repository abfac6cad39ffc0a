/**
 * FILES_MIRROR in a page's work: the page's hosted files copied to the store
 * (those the registry holds are not copied again), and how an unchanged page
 * keeps its mirrored files without a request. One place for both writers of
 * a page (the sync phase and the targeted run).
 */
import {
  type FileRecord,
  type HostedRef,
  type MirrorMap,
  copyFile,
  fileName,
  mirrorPage,
  objectKey,
  pageHostedFiles,
  readRecords,
  recordOps,
  unmapped,
} from "../files/mirror";
import type { FetchedContent } from "../notion/block-tree";
import type { NotionPage } from "../notion/types";
import type { RunContext } from "./context";
import type { LedgerEntry } from "./ledger";

/**
 * A copy started before the stop margin may finish this long past the budget (within its tail):
 * cut at the budget, a put the store completed but whose answer was lost would be uploaded again.
 */
const COPY_GRACE_MS = 1000;

/** What a page write records of the page's files: its map, and the records it references (orphaned ones are revived). */
export interface PageFiles {
  map: MirrorMap;
  records: Record<string, FileRecord>;
  /** Files found over FILES_MAX_BYTES by this copy (kept at Notion's URL). */
  tooLarge: number;
}

export interface CopyPageOptions {
  /** Default: the context's. */
  shouldStop?: () => boolean;
  /** The invocation's copies under way (the sync phase shares them between its workers). */
  copies?: CopiesInFlight;
  /** Counted in the run's cursor (default); a targeted run writes under another run's cursor and counts none. */
  counted?: boolean;
}

/**
 * Copies what the page holds and the store does not: the page's files, or
 * null when the budget ran out first (what was copied is in the registry; the
 * caller checkpoints). Throws FileCopyError for a failed download or upload.
 */
export async function copyPageFiles(
  ctx: RunContext,
  page: NotionPage,
  content: FetchedContent,
  ledger: LedgerEntry | null,
  options: CopyPageOptions = {},
): Promise<PageFiles | null> {
  const { shouldStop = ctx.shouldStop, copies = new Map(), counted = true } = options;
  const settings = ctx.files!;
  const refs = pageHostedFiles(page, content);
  const found = await readRecords(
    ctx.kv,
    ctx.keys,
    ctx.section,
    refs.map((r) => r.identity),
  );
  const files: PageFiles = { map: {}, records: {}, tooLarge: 0 };
  const pending: HostedRef[] = [];
  refs.forEach((ref, i) => {
    const record = found[i];
    if (record) {
      files.map[ref.identity] = record.url;
      files.records[ref.identity] = record;
    } else if (ledger?.files?.[ref.identity] === "") files.map[ref.identity] = "";
    else pending.push(ref);
  });
  for (const ref of pending) {
    if (shouldStop()) return null;
    const copied = await copyOnce(ctx, copies, ref, { maxBytes: settings.maxBytes, pageId: page.id, counted });
    files.map[ref.identity] = copied?.url ?? "";
    if (copied) files.records[ref.identity] = copied;
    else files.tooLarge++;
  }
  return files;
}

/** The invocation's copies under way, by identity: two pages holding one file (a synced block) copy it once. */
export type CopiesInFlight = Map<string, Promise<FileRecord | null>>;

interface CopyOne {
  maxBytes: number;
  pageId: string;
  counted: boolean;
}

function copyOnce(ctx: RunContext, copies: CopiesInFlight, ref: HostedRef, one: CopyOne): Promise<FileRecord | null> {
  let copy = copies.get(ref.identity);
  if (!copy) {
    copy = copyOne(ctx, ref, one);
    copies.set(ref.identity, copy);
    // A failed copy is tried again by whichever page needs it next.
    copy.catch(() => copies.delete(ref.identity));
  }
  return copy;
}

/** One file to the store and its record to KV (counted with it); null when it is over FILES_MAX_BYTES. */
async function copyOne(
  ctx: RunContext,
  ref: HostedRef,
  { maxBytes, pageId, counted }: CopyOne,
): Promise<FileRecord | null> {
  const outcome = await copyFile(ref, {
    store: ctx.files!.store,
    key: objectKey(ctx.keys.prefix, ctx.section, ref.identity, ref.url),
    maxBytes,
    signal: AbortSignal.timeout(ctx.deadline.remaining() + COPY_GRACE_MS),
    now: ctx.now(),
  });
  if (outcome.kind === "too_large") {
    const size = outcome.bytes === null ? `more than ${maxBytes}` : String(outcome.bytes);
    ctx.lastError = {
      code: "file_too_large",
      message: `page ${pageId}: ${fileName(ref.url)} (${size} bytes) is over FILES_MAX_BYTES: it keeps Notion's URL`,
    };
    return null;
  }
  const { record } = outcome;
  const ops = recordOps(ctx.keys, ctx.section, ref.identity, record);
  await ctx.write(ops, counted ? { filesUploaded: 1, bytesUploaded: record.bytes } : undefined);
  return record;
}

/**
 * An unchanged page as its next write would have it: its hosted files mapped
 * through the ledger's. Null when one is not mapped (a file replaced or added
 * without a new timestamp): the page is fetched again. Without the mirror, the page.
 */
export function unchangedView(ctx: RunContext, page: NotionPage, ledger: LedgerEntry | null): NotionPage | null {
  if (!ctx.files) return page;
  const map = ledger?.files ?? {};
  if (unmapped(pageHostedFiles(page), map).length > 0) return null;
  return mirrorPage(page, map);
}
