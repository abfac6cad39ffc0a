/**
 * A run's scratch state, in pieces written once each (never one value
 * rewritten as the run grows):
 * - work pieces (keys.workPiece): one per listed query page or discovery,
 *   holding only what the later phases need;
 * - the listed set (keys.listedIds): every id the run listed, which becomes
 *   the index's id set when the run finishes;
 * - the done set (keys.doneIds): ids the run has finished, so an invocation
 *   that was killed mid-piece repeats none of them (but for pages kept without
 *   a Notion request or a write, whose marks wait: sync-phase/free-skips.ts);
 * - the ledger (keys.entry, per page, kept across runs): the page's index
 *   entry and how its bundle is stored; what the next run compares against.
 */
import { deflateRawSync, inflateRawSync } from "node:zlib";
import type { StoredShape } from "../kv/large-value";
import type { IndexEntry } from "../mirror/shapes";
import type { NotionPage } from "../notion/types";
import type { ContentMode } from "../notion/block-tree";

export interface PieceRow {
  id: string;
  /** Database rows to fetch: the slug claimed at listing and the row as Notion listed it. */
  slug?: string;
  page?: NotionPage;
  /** Re-read whatever the timestamp says (keys.refetch). */
  refetch?: boolean;
  /** Children: how deep below a database row (1 = directly inside one), and the page holding it. */
  depth?: number;
  parentId?: string | null;
}

export interface WorkPiece {
  rows: PieceRow[];
}

/**
 * A piece as stored: its rows' JSON, deflated and base64-encoded. The rows of
 * one query page repeat the same property shapes a hundred times, so this
 * makes the scratch copy of a listed row a fraction of the bundle it becomes
 * (the run's writes stay close to what it produces). Only the engine reads it.
 */
export interface StoredPiece {
  deflated: string;
  count: number;
}

export function packPiece(piece: WorkPiece): StoredPiece {
  return { deflated: deflateRawSync(Buffer.from(JSON.stringify(piece.rows))).toString("base64"), count: piece.rows.length };
}

export function unpackPiece(stored: StoredPiece | null): WorkPiece | null {
  if (!stored || typeof stored.deflated !== "string") return null;
  return { rows: JSON.parse(inflateRawSync(Buffer.from(stored.deflated, "base64")).toString("utf8")) as PieceRow[] };
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
   * The content mode the bundle was fetched in (SYNC_CONTENT); absent: blocks.
   * A markdown page that fell back to blocks is "markdown" (it was fetched in that mode).
   */
  content?: ContentMode;
  /** When the read this entry came from began (ISO; targeted runs): an older read never replaces it. */
  readAt?: string;
}

/** The page's bundle was fetched in another content mode than `mode`: it is fetched again, whatever its timestamp. */
export function fetchedInOtherMode(ledger: Pick<LedgerEntry, "content"> | null | undefined, mode: ContentMode = "blocks"): boolean {
  return (ledger?.content ?? "blocks") !== mode;
}

/** What a fetched page's ledger entry records of the mode (nothing for blocks, as before content modes). */
export function modeField(mode: ContentMode = "blocks"): Pick<LedgerEntry, "content"> {
  return mode === "blocks" ? {} : { content: mode };
}

/** Rows of a database section the sync phase has work for (the rest were unchanged at listing). */
export function rowsToProcess(piece: WorkPiece, section: string): PieceRow[] {
  return section === "children" ? piece.rows : piece.rows.filter((r) => r.page);
}
