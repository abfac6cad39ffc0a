/** A section's own index order (lib/mirror/index-sort.ts). */
import { describe, expect, it } from "vitest";
import { isDefaultSort, sortEntries } from "../../lib/mirror/index-sort";
import { publicOrder } from "../../lib/mirror/section-index";
import type { IndexEntry } from "../../lib/mirror/shapes";

const entry = (id: string, created: string, properties: IndexEntry["properties"] = {}): IndexEntry => ({
  id,
  slug: id,
  title: id,
  created_time: created,
  last_edited_time: created,
  properties,
  childPages: [],
});

describe("index sort", () => {
  it("created_time descending is the default: newest_first, as every index was", () => {
    expect(isDefaultSort(undefined)).toBe(true);
    expect(isDefaultSort({ timestamp: "created_time", direction: "descending" })).toBe(true);
    expect(isDefaultSort({ timestamp: "created_time", direction: "ascending" })).toBe(false);
    expect(publicOrder("database", { timestamp: "created_time", direction: "descending" })).toBe("newest_first");
    expect(publicOrder("database", { property: "Date", direction: "ascending" })).toBe("sorted");
    expect(publicOrder("children")).toBe("breadth_first");
  });

  it("by a property either way, empty values last, ties by creation", () => {
    const entries = [
      entry("a", "2025-01-01", { Rank: 2, Date: { start: "2025-03-01", end: null, time_zone: null } }),
      entry("b", "2025-01-02", { Rank: null, Date: null }),
      entry("c", "2025-01-03", { Rank: 10, Date: { start: "2025-02-01", end: null, time_zone: null } }),
      entry("d", "2025-01-04", { Rank: 2, Tags: ["x"] }),
    ];
    const ids = (sorted: IndexEntry[]) => sorted.map((e) => e.id);
    expect(ids(sortEntries(entries, { property: "Rank", direction: "ascending" }))).toEqual(["a", "d", "c", "b"]);
    expect(ids(sortEntries(entries, { property: "Rank", direction: "descending" }))).toEqual(["c", "a", "d", "b"]);
    expect(ids(sortEntries(entries, { property: "Date", direction: "descending" }))).toEqual(["a", "c", "b", "d"]);
    expect(ids(sortEntries(entries, { timestamp: "last_edited_time", direction: "descending" }))).toEqual([
      "d",
      "c",
      "b",
      "a",
    ]);
  });
});
