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
 * The ledger (ledger.ts), kept across runs, is not scratch.
 */
import { deflateRawSync, inflateRawSync } from "node:zlib";
import type { NotionPage } from "../notion/types";

export interface PieceRow {
  id: string;
  /** Database rows to fetch: the slug claimed at listing and the row as Notion listed it. */
  slug?: string;
  page?: NotionPage;
  /** The listed row lacks properties the index keeps (expensive ones, list-properties.ts): read the page in full. */
  retrieve?: boolean;
  /** Re-read whatever the timestamp says (keys.refetch). */
  refetch?: boolean;
  /** Children: how deep below a database row (1 = directly inside one), and the page holding it. */
  depth?: number;
  parentId?: string | null;
  /** Children: how deep the section of the row's database row follows child pages, when not the children section's depth. */
  maxDepth?: number;
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
  return {
    deflated: deflateRawSync(Buffer.from(JSON.stringify(piece.rows))).toString("base64"),
    count: piece.rows.length,
  };
}

export function unpackPiece(stored: StoredPiece | null): WorkPiece | null {
  if (!stored || typeof stored.deflated !== "string") return null;
  return { rows: JSON.parse(inflateRawSync(Buffer.from(stored.deflated, "base64")).toString("utf8")) as PieceRow[] };
}

/** Rows of a database section the sync phase has work for (the rest were unchanged at listing). */
export function rowsToProcess(piece: WorkPiece, kind: "database" | "children"): PieceRow[] {
  return kind === "children" ? piece.rows : piece.rows.filter((r) => r.page);
}
