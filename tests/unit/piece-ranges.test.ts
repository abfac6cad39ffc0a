/** lib/sync/piece-ranges.ts: the finished pieces past syncPiece, as ranges in the cursor. */
import { describe, expect, it } from "vitest";
import { MAX_FINISHED_RANGES, inRanges, mergeRanges, sameRanges, toRanges } from "../../lib/sync/piece-ranges";

describe("piece ranges", () => {
  it("packs numbers into ranges, in any order, duplicates once", () => {
    expect(toRanges([7, 3, 4, 5, 9, 10, 4])).toEqual([
      [3, 5],
      [7, 7],
      [9, 10],
    ]);
    expect(toRanges([])).toEqual([]);
  });

  it("finds a number in them, and only inside them", () => {
    const r = toRanges([3, 4, 5, 9]);
    expect([2, 3, 5, 6, 8, 9, 10].map((n) => inRanges(r, n))).toEqual([false, true, true, false, false, true, false]);
  });

  it("merges, joining adjacent and overlapping ranges, dropping what is below `from`", () => {
    expect(
      mergeRanges(
        [
          [3, 5],
          [9, 12],
        ],
        [
          [6, 6],
          [11, 15],
          [20, 20],
        ],
        0,
      ),
    ).toEqual([
      [3, 6],
      [9, 15],
      [20, 20],
    ]);
    // syncPiece moved to 10: everything up to it goes, a range across it is cut.
    expect(
      mergeRanges(
        [
          [3, 5],
          [9, 12],
        ],
        [[20, 21]],
        11,
      ),
    ).toEqual([
      [11, 12],
      [20, 21],
    ]);
    expect(mergeRanges([[3, 5]], [], 6)).toEqual([]);
  });

  it("keeps at most MAX_FINISHED_RANGES, the lowest (past them a piece is loaded again)", () => {
    const many = Array.from({ length: MAX_FINISHED_RANGES + 50 }, (_, i) => 2 * i);
    const merged = mergeRanges(toRanges(many), [], 0);
    expect(merged).toHaveLength(MAX_FINISHED_RANGES);
    expect(merged[0]).toEqual([0, 0]);
    expect(merged.at(-1)).toEqual([2 * (MAX_FINISHED_RANGES - 1), 2 * (MAX_FINISHED_RANGES - 1)]);
  });

  it("compares", () => {
    expect(sameRanges([[1, 2]], [[1, 2]])).toBe(true);
    expect(sameRanges([[1, 2]], [[1, 3]])).toBe(false);
    expect(sameRanges([], [[1, 1]])).toBe(false);
  });
});
