/**
 * The ledger: per page, its current index entry and how its bundle is stored
 * (keys.entry). Runs compare listed rows against it by id, in batches of one
 * query page, so no run loads the whole index to decide what to fetch.
 */
import type { IndexEntry } from "../mirror/shapes";

/** Index entries are plain JSON written by this code: equal text means equal entries. */
export function isSameEntry(a: IndexEntry, b: IndexEntry): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
