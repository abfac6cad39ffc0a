/**
 * The `no-change-listing` contender's table and targets (the runs:
 * scripts/bench/listing.ts). Issue 27's target: a no-change run of N rows and
 * C child pages costs 1 list request per section plus at most ceil(C/100)+1
 * search requests, whatever N, outside full-list runs.
 */
import type { Result } from "../bench";
import { NOTION_RATE, type Target } from "./table";

export const LISTING_CONTENDER = "no-change-listing";
/** Rows of the scale workspace it measures by default (--quick: QUICK_LISTING_SIZES). */
export const LISTING_SIZES = [1_000, 5_000, 50_000];
export const QUICK_LISTING_SIZES = [300];
export const LISTING_RUNS = ["no-change@full-list", "no-change@incremental"] as const;
export type ListingRun = (typeof LISTING_RUNS)[number];

/** How often the site of the informative rate-share line syncs, and SYNC_FULL_LIST_HOURS' default. */
export const SYNC_EVERY_MIN = 10;
export const FULL_LIST_HOURS = 24;

export interface ListingFigures {
  /** SYNC_FULL_LIST_HOURS=0 (every run lists fully) or the defaults (incremental outside full-list runs). */
  requested: "full" | "incremental";
  /** Per section: how it found its rows (listingModeOf), and its share of the run. */
  sections: Record<
    string,
    { database: boolean; mode: string; invocations: number; wallMs: number; kvCommands: number; kvWrittenBytes: number }
  >;
  /** Database sections, each listing with dataSources.query (the children section searches). */
  databaseSections: number;
  /** The unmeasured full sync before the runs, with the emulator unpaced. */
  setup: { wallMs: number; invocations: number; notionRequests: number };
}

/**
 * What a section's cursor (as stored, JSON) records of how its run found its rows. A database
 * section: its `listing` (mode and reason), "full" when it records none (every run listed fully
 * before incremental listing). Children: its child check (`childCheck`: search or full).
 */
export function listingModeOf(stored: unknown, database: boolean): string {
  let cursor: unknown = stored;
  if (typeof stored === "string") {
    try {
      cursor = JSON.parse(stored);
    } catch {
      cursor = null;
    }
  }
  const c = cursor as { listing?: Described | null; childCheck?: Described | null } | null;
  const described = (d: Described | null | undefined, prefix: string) =>
    d && typeof d.mode === "string"
      ? `${prefix}${d.mode}${typeof d.reason === "string" ? ` (${d.reason})` : ""}`
      : null;
  return database ? (described(c?.listing, "") ?? "full") : (described(c?.childCheck, "check ") ?? "-");
}
type Described = { mode?: unknown; reason?: unknown };

const int = (n: number) => Math.round(n).toLocaleString("en-US");
const f = (n: number, d = 1) => n.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
const plural = (n: number, one: string, many: string) => `${int(n)} ${n === 1 ? one : many}`;
const pct = (share: number) => `${f(share * 100, 1)} %`;

const LIST_ROUTES = ["dataSources.query", "search"];

/** A run's requests besides the list and search requests, as "route n, …" (or "none"). */
function otherRequests(r: Result): { count: number; text: string } {
  const other = Object.entries(r.notion.byRoute).filter(([route]) => !LIST_ROUTES.includes(route));
  const count = other.reduce((n, [, c]) => n + c, 0);
  return { count, text: other.length ? other.map(([route, c]) => `${route} ${int(c)}`).join(", ") : "none" };
}

/** The listing the run's database sections recorded: one when they agree, else each section's. */
function modesOf(r: Result): string {
  const sections = Object.entries(r.listing?.sections ?? {}).filter(([, s]) => s.database);
  const modes = [...new Set(sections.map(([, s]) => s.mode))];
  return modes.length <= 1 ? (modes[0] ?? "-") : sections.map(([name, s]) => `${name}: ${s.mode}`).join(", ");
}

/** Seconds of Notion's rate (3 requests/s) a run's requests take: the part of the integration's budget it spends. */
export const rateBudgetS = (r: Result) => r.notion.total / NOTION_RATE;

export function renderListingTable(results: Result[]): string {
  const head = [
    "rows",
    "child pages",
    "run",
    "listing recorded",
    "NOTION_VERSION",
    "ok",
    "Notion req",
    "dataSources.query",
    "search",
    "other req",
    "rate budget s (req ÷ 3)",
    "wall s at Notion's pace",
    "invoc.",
    "KV cmds",
    "KV B written",
  ];
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  const rows = results
    .filter((r) => r.contender === LISTING_CONTENDER)
    .map((r) => [
      int(r.rows),
      int(r.childPages),
      r.run,
      modesOf(r),
      r.notionVersion ?? "-",
      r.ok ? "yes" : "NO",
      int(r.notion.total),
      int(r.notion.byRoute["dataSources.query"] ?? 0),
      int(r.notion.byRoute.search ?? 0),
      otherRequests(r).text,
      f(rateBudgetS(r)),
      f(r.wallMs / 1000),
      r.invocations !== null ? int(r.invocations) : "-",
      r.kv ? int(r.kv.commands) : "-",
      r.kv ? int(r.kv.writtenBytes) : "-",
    ]);
  return [line(head), line(head.map((_, i) => (i >= 2 && i <= 5 ? ":---" : "---:"))), ...rows.map(line)].join("\n");
}

/** Per size: the no-change target on the incremental run, and the share of Notion's rate a site syncing every 10 minutes spends. */
export function listingTargets(results: Result[]): Target[] {
  const rows = results.filter((r) => r.contender === LISTING_CONTENDER);
  const sizes = [...new Set(rows.map((r) => r.size))].sort((a, b) => a - b);
  return sizes.flatMap((size) => {
    const full = rows.find((r) => r.size === size && r.run === "no-change@full-list");
    const inc = rows.find((r) => r.size === size && r.run === "no-change@incremental");
    return [...(inc ? [noChangeTarget(inc)] : []), ...(full && inc ? [rateShareLine(full, inc)] : [])];
  });
}

/** 1 query per database section and ≤ ceil(C/100)+1 searches, outside full-list runs. */
export function noChangeTarget(r: Result): Target {
  const sections = r.listing?.databaseSections ?? 0;
  const queries = r.notion.byRoute["dataSources.query"] ?? 0;
  const searches = r.notion.byRoute.search ?? 0;
  const maxSearches = Math.ceil(r.childPages / 100) + 1;
  const other = otherRequests(r);
  const name = `${int(r.rows)} rows, C = ${int(r.childPages)}: no-change run lists with ≤ 1 query per section + ceil(C/100)+1 searches, whatever N`;
  if (!r.ok) return { name, met: false, detail: `the run failed: ${r.failure ?? "unknown"}` };
  return {
    name,
    met: queries <= sections && searches <= maxSearches,
    detail:
      `${plural(queries, "query", "queries")} for ${plural(sections, "database section", "database sections")}, ${plural(searches, "search", "searches")} (≤ ${maxSearches}); ` +
      `other requests: ${other.text}; listing recorded: ${modesOf(r)}; NOTION_VERSION ${r.notionVersion ?? "unknown"}`,
  };
}

/**
 * A site syncing every SYNC_EVERY_MIN minutes: the share of Notion's rate its no-change runs
 * spend when every run lists fully, and when one run in FULL_LIST_HOURS does (the others incremental).
 */
export function rateShareLine(full: Result, inc: Result): Target {
  const budget = NOTION_RATE * SYNC_EVERY_MIN * 60;
  const runsPerPeriod = (FULL_LIST_HOURS * 60) / SYNC_EVERY_MIN;
  const everyRunFull = full.notion.total / budget;
  const mixed = (full.notion.total + (runsPerPeriod - 1) * inc.notion.total) / (runsPerPeriod * budget);
  return {
    name: `${int(full.rows)} rows: share of Notion's rate a site syncing every ${SYNC_EVERY_MIN} minutes spends on no-change runs`,
    met: null,
    info: true,
    detail:
      `every run listing fully: ${pct(everyRunFull)} (${int(full.notion.total)} requests, ${f(rateBudgetS(full))} s of rate a run); ` +
      `incremental with a full listing every ${FULL_LIST_HOURS} h: ${pct(mixed)} (${int(inc.notion.total)} requests, ${f(rateBudgetS(inc))} s a run)`,
  };
}
