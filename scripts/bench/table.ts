/** The benchmark's main table as GitHub Markdown (printed by `npm run bench`, put in docs/benchmark.md by `npm run docs:tables`). */
import type { Result } from "../bench";

/** Requests/s at Notion's pace. */
export const NOTION_RATE = 3;

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
  return [line(head), line(head.map((_, i) => (i >= 1 && i <= 3 ? ":---" : "---:"))), ...rows.map(line)].join("\n");
}
