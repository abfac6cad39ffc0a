/**
 * The ledger: per page, its current index entry and how its bundle is stored
 * (keys.entry). Runs compare listed rows against it by id, in batches of one
 * query page, so no run loads the whole index to decide what to fetch.
 */
import type { StoredShape } from "../kv/large-value";
import type { IndexEntry } from "../mirror/shapes";
import type { ContentMode } from "../notion/block-tree";

/** Index entries are plain JSON written by this code: equal text means equal entries. */
export function isSameEntry(a: IndexEntry, b: IndexEntry): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export type ItemOutcome = "fetched" | "skipped" | "gone" | "failed";

export interface LedgerEntry {
  /** The page's current index entry; null when it was never synced (its first fetch failed). */
  entry: IndexEntry | null;
  /** How the bundle at keys.page(section, entry.slug) is stored (plain or in parts). */
  bundle: StoredShape;
  /** What the last run that touched the page did with it. */
  run: { id: string; outcome: ItemOutcome; error?: string } | null;
  /**
   * The content mode the bundle was fetched in (the section's content, SYNC_CONTENT by default); absent: blocks.
   * A markdown page that fell back to blocks is "markdown" (it was fetched in that mode).
   */
  content?: ContentMode;
  /** When the read this entry came from began (ISO; targeted runs): an older read never replaces it. */
  readAt?: string;
  /**
   * FILES_MIRROR: the page's hosted files, identity → store URL ("" for a file kept at Notion's URL,
   * over FILES_MAX_BYTES). Present (maybe empty) iff the page was written with the mirror on.
   */
  files?: Record<string, string>;
}

/** The page's bundle was fetched in another content mode than `mode`: it is fetched again, whatever its timestamp. */
export function fetchedInOtherMode(
  ledger: Pick<LedgerEntry, "content"> | null | undefined,
  mode: ContentMode = "blocks",
): boolean {
  return (ledger?.content ?? "blocks") !== mode;
}

/** The page was written with the file mirror on and it is off now, or the other way round: it is fetched again. */
export function mirroredInOtherMode(ledger: Pick<LedgerEntry, "files"> | null | undefined, mirrorOn: boolean): boolean {
  return (ledger?.files !== undefined) !== mirrorOn;
}

/** The page must be fetched again whatever its timestamp: its content mode or its files mode changed. */
export function writtenInOtherMode(
  ledger: Pick<LedgerEntry, "content" | "files"> | null | undefined,
  mode: ContentMode | undefined,
  mirrorOn: boolean,
): boolean {
  return fetchedInOtherMode(ledger, mode) || mirroredInOtherMode(ledger, mirrorOn);
}

/** What a fetched page's ledger entry records of the mode (nothing for blocks, as before content modes). */
export function modeField(mode: ContentMode = "blocks"): Pick<LedgerEntry, "content"> {
  return mode === "blocks" ? {} : { content: mode };
}
