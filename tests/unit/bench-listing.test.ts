/**
 * The no-change-listing contender's report (scripts/bench/listing-report.ts):
 * issue 27's target judged met or missed from a run's requests, the rate-share
 * line, the listing a cursor records, and the tables with their NOTION_VERSION
 * column. Pure functions over made-up rows; the runs themselves are
 * `npm run bench -- --contenders no-change-listing [--quick]`.
 */
import { describe, expect, it } from "vitest";
import type { Result } from "../../scripts/bench";
import {
  LISTING_CONTENDER,
  listingModeOf,
  listingTargets,
  noChangeTarget,
  rateShareLine,
  renderListingTable,
} from "../../scripts/bench/listing-report";
import { listingBlock } from "../../scripts/bench/readme-tables";
import { versionOf } from "../../scripts/bench/request-figures";
import { renderTable, targetLine } from "../../scripts/bench/table";

function row(
  o: { rows: number; run: Result["run"]; byRoute: Record<string, number>; childPages?: number; mode?: string },
  extra: Partial<Result> = {},
): Result {
  const total = Object.values(o.byRoute).reduce((n, c) => n + c, 0);
  const section = (database: boolean) => ({
    database,
    mode: database ? (o.mode ?? "full") : "check search (search_since_watermark)",
    invocations: 1,
    wallMs: 1_000,
    kvCommands: 10,
    kvWrittenBytes: 1_000,
  });
  return {
    size: o.rows,
    contender: LISTING_CONTENDER,
    run: o.run,
    speed: 1,
    budgetMs: 20_000,
    ok: true,
    failure: null,
    wallMs: 3_000,
    pages: o.rows,
    rows: o.rows,
    childPages: o.childPages ?? 0,
    notion: { total, byRoute: o.byRoute, byStatus: { 200: total }, firstAt: 0, lastAt: 0, firstWindow: total },
    notionVersion: "2026-12-01",
    minimum: null,
    kv: { commands: 30, writtenBytes: 4_321, roundTrips: 30 } as Result["kv"],
    qstashMessages: null,
    invocations: 3,
    longestInvocationMs: 1_000,
    heapPeakMB: 20,
    listing: {
      requested: o.run === "no-change@full-list" ? "full" : "incremental",
      sections: { pages: section(true), posts: section(true), children: section(false) },
      databaseSections: 2,
      setup: { wallMs: 60_000, invocations: 20, notionRequests: 50_503 },
    },
    ...extra,
  };
}

const fullList = row({ rows: 50_000, run: "no-change@full-list", byRoute: { "dataSources.query": 501, search: 1 } });
const incremental = (byRoute: Record<string, number>, childPages = 0, mode = "incremental (edited_since_watermark)") =>
  row({ rows: 50_000, run: "no-change@incremental", byRoute, childPages, mode });

describe("the no-change target: ≤ 1 query per database section + ceil(C/100)+1 searches", () => {
  it("is met by one query per section and one search, whatever N", () => {
    const t = noChangeTarget(incremental({ "dataSources.query": 2, search: 1 }));
    expect(t.met).toBe(true);
    expect(t.name).toContain("50,000 rows, C = 0");
    expect(t.detail).toContain("2 queries for 2 database sections, 1 search (≤ 1)");
    expect(t.detail).toContain("listing recorded: incremental (edited_since_watermark)");
    expect(t.detail).toContain("NOTION_VERSION 2026-12-01");
  });

  it("is missed by a listing that grows with N (today's every-run full listing)", () => {
    const t = noChangeTarget(incremental({ "dataSources.query": 501, search: 1 }, 0, "full"));
    expect(t.met).toBe(false);
    expect(t.detail).toContain("501 queries for 2 database sections");
  });

  it("allows ceil(C/100)+1 searches and no more", () => {
    expect(noChangeTarget(incremental({ "dataSources.query": 2, search: 2 })).met).toBe(false);
    expect(noChangeTarget(incremental({ "dataSources.query": 2, search: 3 }, 150)).met).toBe(true);
    expect(noChangeTarget(incremental({ "dataSources.query": 2, search: 4 }, 150)).met).toBe(false);
  });

  it("names the other requests a run made without judging them", () => {
    const t = noChangeTarget(incremental({ "dataSources.query": 2, search: 1, "pages.retrieve": 3 }));
    expect(t.met).toBe(true);
    expect(t.detail).toContain("other requests: pages.retrieve 3");
  });

  it("is missed when the run failed, whatever it sent", () => {
    const failed = { ...incremental({ "dataSources.query": 1 }), ok: false, failure: "invocation 1 answered HTTP 500" };
    expect(noChangeTarget(failed)).toMatchObject({ met: false, detail: expect.stringContaining("HTTP 500") });
  });

  it("is judged on the incremental run only, with the rate share of both as information", () => {
    const targets = listingTargets([fullList, incremental({ "dataSources.query": 2, search: 1 })]);
    expect(targets.map((t) => [t.met, t.info ?? false])).toEqual([
      [true, false],
      [null, true],
    ]);
    expect(targetLine(targets[0])).toMatch(/^met {5}50,000 rows/);
    expect(targetLine(targets[1])).toMatch(/^info {4}50,000 rows: share of Notion's rate/);
    expect(targetLine({ ...targets[0], met: false })).toMatch(/^MISSED {2}/);
  });
});

describe("the rate share of a site syncing every 10 minutes", () => {
  it("is requests ÷ (3/s × 600 s) when every run lists fully, and one full listing a day among incremental runs", () => {
    const t = rateShareLine(fullList, incremental({ "dataSources.query": 2, search: 1 }));
    // 502 / 1,800 = 27.9 %; (502 + 143 × 3) / (144 × 1,800) = 0.36 %.
    expect(t.detail).toBe(
      "every run listing fully: 27.9 % (502 requests, 167.3 s of rate a run); incremental with a full listing every 24 h: 0.4 % (3 requests, 1.0 s a run)",
    );
  });
});

describe("the listing a cursor records", () => {
  it("reads a database section's listing mode and reason, as stored", () => {
    const stored = JSON.stringify({ listing: { mode: "incremental", reason: "edited_since_watermark" } });
    expect(listingModeOf(stored, true)).toBe("incremental (edited_since_watermark)");
    expect(listingModeOf({ listing: { mode: "full", reason: "periodic" } }, true)).toBe("full (periodic)");
  });

  it("says full for a cursor that records no listing (every run listed fully before), or none at all", () => {
    expect(listingModeOf(JSON.stringify({ listing: null }), true)).toBe("full");
    expect(listingModeOf(null, true)).toBe("full");
    expect(listingModeOf("not json", true)).toBe("full");
  });

  it("reads the children section's child check instead", () => {
    expect(listingModeOf({ childCheck: { mode: "search", reason: "search_since_watermark" } }, false)).toBe(
      "check search (search_since_watermark)",
    );
    expect(listingModeOf({}, false)).toBe("-");
  });
});

describe("the tables' NOTION_VERSION", () => {
  it("is the version the requests carried, several most used first", () => {
    expect(versionOf({ "2026-12-01": 40 })).toBe("2026-12-01");
    expect(versionOf({ "2025-09-03": 1, "2026-12-01": 40 })).toBe("2026-12-01 + 2025-09-03");
    expect(versionOf({})).toBeNull();
    expect(versionOf(undefined)).toBeNull();
  });

  it("is a column of the listing table, beside the requests by route, the rate budget and the KV figures", () => {
    const lines = renderListingTable([
      fullList,
      incremental({ "dataSources.query": 2, search: 1, "pages.retrieve": 1 }),
    ]).split("\n");
    expect(lines).toHaveLength(4);
    expect(lines[0]).toContain("| NOTION_VERSION |");
    expect(lines[2]).toBe(
      "| 50,000 | 0 | no-change@full-list | full | 2026-12-01 | yes | 502 | 501 | 1 | none | 167.3 | 3.0 | 3 | 30 | 4,321 |",
    );
    expect(lines[3]).toBe(
      "| 50,000 | 0 | no-change@incremental | incremental (edited_since_watermark) | 2026-12-01 | yes | 4 | 2 | 1 | pages.retrieve 1 | 1.3 | 3.0 | 3 | 30 | 4,321 |",
    );
  });

  it("is a column of the main table; a row measured before it was recorded shows -", () => {
    const main = { ...fullList, contender: "qstash-blocks", run: "no-change" as const, kv: null };
    const lines = renderTable([main, { ...main, notionVersion: undefined }]).split("\n");
    const column = (line: string) => line.split(" | ")[4];
    expect(column(lines[0])).toBe("NOTION_VERSION");
    expect(column(lines[2])).toBe("2026-12-01");
    expect(column(lines[3])).toBe("-");
  });
});

describe("the docs block of bench/results-listing.json", () => {
  it("says where the figures come from, then the table and each target met or missed", () => {
    const results = [fullList, incremental({ "dataSources.query": 2, search: 1 })];
    const block = listingBlock({
      generatedAt: "2026-12-07T09:00:00.000Z",
      elapsedMs: 20 * 60_000,
      options: {
        commit: "0123456789abcdef",
        dirty: false,
        machine: { cpus: 2, cpuModel: "AMD EPYC", totalMemGiB: 23.5, node: "v20.20.2" },
        loadAverageAtStart: 3.1,
        loadAverageAtEnd: 4.2,
        notionVersionEnv: null,
      },
      results,
      targets: listingTargets(results),
    });
    expect(block.split("\n")[0]).toBe(
      "From `bench/results-listing.json`: 50,000 rows, one run of 20 minutes ending 2026-12-07 09:00 UTC, commit `0123456`, 2 × AMD EPYC, 23.5 GiB, Node 20.20.2; NOTION_VERSION not set (the product's default). Load average 3.1 at the start, 4.2 at the end.",
    );
    expect(block).toContain(renderListingTable(results));
    expect(block).toMatch(/^- \*\*met\*\* 50,000 rows, C = 0: no-change run lists/m);
    expect(block).toMatch(/^- \*\*info\*\* 50,000 rows: share of Notion's rate/m);
  });

  it("says how to measure them when there are none", () => {
    expect(listingBlock(null)).toMatch(/^No `no-change-listing` rows/);
  });
});
