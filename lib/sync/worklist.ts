/**
 * A run's work list, written by the list phase under keys.workList(). The
 * database sections keep the listed rows (Notion's query already returns the
 * full page objects, so no page is retrieved twice); the children section
 * keeps a breadth-first queue that grows as child pages are discovered.
 */
import type { NotionPage } from "../notion/types";

export interface WorkItem {
  id: string;
  /** Children only: how deep below a database row (1 = directly inside one). */
  depth: number;
  parentId: string | null;
  /** Fetch the content even if the timestamp says unchanged (see keys.refetch). */
  refetch?: boolean;
}

export interface WorkList {
  /** Database sections: every visible row, in index order. */
  rows: NotionPage[];
  /** Database sections: the slug assigned to each row id. */
  slugs: Record<string, string>;
  /** What the sync phase goes through, in order. */
  items: WorkItem[];
}

export const emptyWorkList = (): WorkList => ({ rows: [], slugs: {}, items: [] });

/** The stored result of one finished item, gathered by finalize. */
export type ItemResult =
  | { id: string; status: "ok"; entry: import("./bundle").IndexEntry }
  | { id: string; status: "gone" }
  /** Given up after repeated transient failures: the previous content and index entry stay. */
  | { id: string; status: "failed"; error: string };
