/** The benchmark's main table as GitHub Markdown (printed by `npm run bench`, put in docs/benchmark.md by `npm run docs:tables`). */
import type { Result } from "../bench";

/** Requests/s at Notion's pace. */
export const NOTION_RATE = 3;
/** Notion's pace as the bench emulates it: its rate limit (burst, Retry-After of a 429) and its latency, 150–400 ms a request. */
export const NOTION_PACE = { rate: NOTION_RATE, burst: 10, latencyMs: [150, 400] as [number, number], retryAfterS: 1 };

export interface Target {
  name: string;
  met: boolean | null;
  detail: string;
  /** Informative: printed, never met or missed. */
  info?: boolean;
}

/** A target as the bench prints it. */
export const targetLine = (t: Target) =>
  `${t.info ? "info   " : t.met === null ? "n/a    " : t.met ? "met    " : "MISSED "} ${t.name}: ${t.detail}`;

const f = (n: number, d = 1) => n.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
const int = (n: number) => Math.round(n).toLocaleString("en-US");

export function rateOf(r: Result) {
  const limitPerS = NOTION_RATE * r.speed;
  const seconds = r.wallMs / 1000;
  const share = seconds > 0 ? r.notion.total / (seconds * limitPerS) : 0;
  const windowS = Math.min(60 / r.speed, seconds);
  const firstMinute = windowS > 0 ? r.notion.firstWindow / (windowS * limitPerS) : 0;
  const lowerBoundS = r.minimum !== null ? r.minimum / limitPerS : null;
  return { share, firstMinute, lowerBoundS, ratio: lowerBoundS ? seconds / lowerBoundS : null };
}

export function renderTable(results: Result[]): string {
  const head = [
    "pages",
    "contender",
    "run",
    "ok",
    "NOTION_VERSION",
    "wall s",
    "real s",
    "Notion req",
    "req/page",
    "min/page",
    "× min",
    "rate share",
    "1st min",
    "lower bound s",
    "× lower",
    "429s",
    "invoc.",
    "longest ms / budget",
    "KV cmds/page",
    "KV trips/page",
    "KV B/page",
    "QStash msgs",
    "heap MB",
  ];
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  const rows = results.map((r) => {
    const rate = rateOf(r);
    return [
      int(r.size),
      r.contender,
      r.run,
      r.ok ? "yes" : "NO",
      r.notionVersion ?? "-",
      f(r.wallMs / 1000),
      int((r.wallMs * r.speed) / 1000),
      int(r.notion.total),
      f(r.notion.total / r.pages, 2),
      r.minimum !== null ? f(r.minimum / r.pages, 2) : "-",
      r.minimum !== null ? f(r.notion.total / r.minimum, 3) : "-",
      f(rate.share, 2),
      f(rate.firstMinute, 2),
      rate.lowerBoundS !== null ? f(rate.lowerBoundS * r.speed, 0) : "-",
      rate.ratio !== null ? f(rate.ratio, 2) : "-",
      int(r.notion.byStatus["429"] ?? 0),
      r.invocations !== null ? int(r.invocations) : "1",
      r.longestInvocationMs !== null ? `${int(r.longestInvocationMs)} / ${int(r.budgetMs)}` : "(no budget)",
      r.kv ? f(r.kv.commands / r.pages, 2) : "-",
      r.kv ? f(r.kv.roundTrips / r.pages, 2) : "-",
      r.kv ? int(r.kv.writtenBytes / r.pages) : "-",
      r.qstashMessages !== null ? int(r.qstashMessages) : "-",
      f(r.heapPeakMB),
    ];
  });
  return [line(head), line(head.map((_, i) => (i >= 1 && i <= 4 ? ":---" : "---:"))), ...rows.map(line)].join("\n");
}

/** The contender with FILES_MIRROR on, and the one it is compared with (the same runs, the mirror off). */
export const FILES_CONTENDER = "qstash-files";
export const FILES_BASELINE = "qstash-blocks";

/**
 * The files-mirror rows side by side with the same run without the mirror:
 * objects and bytes uploaded, file downloads, store writes, and what the
 * mirror costs in wall time, Notion requests and KV commands (on ÷ off).
 */
export function renderFilesTable(results: Result[]): string {
  const head = [
    "pages",
    "run",
    "ok",
    "NOTION_VERSION",
    "hosted files",
    "objects uploaded",
    "MB uploaded",
    "file requests",
    "store PUTs",
    "wall s off / on",
    "× time",
    "Notion req off / on",
    "× Notion req",
    "KV cmds/page off / on",
  ];
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  const ratio = (on: number, off: number | undefined) => (off ? f(on / off, 2) : "-");
  const rows = results
    .filter((r) => r.contender === FILES_CONTENDER && r.files)
    .map((on) => {
      const off = results.find(
        (r) => r.contender === FILES_BASELINE && r.size === on.size && r.run === on.run && r.speed === on.speed,
      );
      const files = on.files!;
      const kvPage = (r: Result | undefined) => (r?.kv ? f(r.kv.commands / r.pages, 2) : "-");
      return [
        int(on.size),
        on.run,
        on.ok ? "yes" : "NO",
        on.notionVersion ?? "-",
        files.hostedFiles !== null ? int(files.hostedFiles) : "-",
        int(files.uploaded),
        f(files.bytes / 1024 / 1024, 2),
        int(files.fileRequests),
        int(files.storePuts),
        `${off ? f(off.wallMs / 1000) : "-"} / ${f(on.wallMs / 1000)}`,
        ratio(on.wallMs, off?.wallMs),
        `${off ? int(off.notion.total) : "-"} / ${int(on.notion.total)}`,
        ratio(on.notion.total, off?.notion.total),
        `${kvPage(off)} / ${kvPage(on)}`,
      ];
    });
  return [line(head), line(head.map((_, i) => (i >= 1 && i <= 3 ? ":---" : "---:"))), ...rows.map(line)].join("\n");
}
