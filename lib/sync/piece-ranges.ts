/**
 * Sets of work piece numbers as sorted, disjoint [first, last] ranges: how the
 * cursor remembers the pieces past `syncPiece` that are already finished
 * (cursor.finishedAhead), in a few numbers however many pieces they cover.
 */
export type PieceRanges = [number, number][];

/** Ranges kept in the cursor; past them a piece is simply loaded again (its done rows skipped). */
export const MAX_FINISHED_RANGES = 200;

export function inRanges(ranges: PieceRanges, n: number): boolean {
  // Few ranges, and looked up in increasing order of n: a scan is as good as a search.
  for (const [first, last] of ranges) {
    if (n < first) return false;
    if (n <= last) return true;
  }
  return false;
}

/** The ranges of a set of numbers. */
export function toRanges(numbers: Iterable<number>): PieceRanges {
  const sorted = [...new Set(numbers)].sort((a, b) => a - b);
  const out: PieceRanges = [];
  for (const n of sorted) {
    const last = out.at(-1);
    if (last && n === last[1] + 1) last[1] = n;
    else out.push([n, n]);
  }
  return out;
}

/** Union of two range lists, keeping only numbers ≥ `from`, at most `max` ranges (the lowest). */
export function mergeRanges(a: PieceRanges, b: PieceRanges, from: number, max = MAX_FINISHED_RANGES): PieceRanges {
  const all = [...a, ...b]
    .map(([first, last]): [number, number] => [Math.max(first, from), last])
    .filter(([first, last]) => first <= last)
    .sort((x, y) => x[0] - y[0]);
  const out: PieceRanges = [];
  for (const [first, last] of all) {
    const prev = out.at(-1);
    if (prev && first <= prev[1] + 1) prev[1] = Math.max(prev[1], last);
    else out.push([first, last]);
  }
  return out.slice(0, max);
}

export function sameRanges(a: PieceRanges, b: PieceRanges): boolean {
  return a.length === b.length && a.every(([f, l], i) => f === b[i][0] && l === b[i][1]);
}
