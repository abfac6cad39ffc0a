/** The table and the target lines of `npm run scale`. */
import Table from "cli-table3";
import type { RunResult } from "./run";

export const MAX_VALUE_BYTES = 1_000_000;
export const NO_CHANGE_TARGET_BYTES_PER_ROW = 200;
export const FULL_WRITE_FACTOR = 1.5;

export interface Target {
  rows: number;
  backend: string;
  name: string;
  /** null: informational (the redis meter counts every byte sent, reads included, so it cannot check a write target). */
  met: boolean | null;
  detail: string;
}

const int = (n: number) => Math.round(n).toLocaleString("en-US");
const fixed = (n: number, digits: number) =>
  n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
const mb = (bytes: number) => fixed(bytes / 1e6, 1);
const perRow = (n: number, rows: number, digits = 1) => fixed(n / rows, digits);

/** Short name of the key kind: "page", "ichunk", "entry"... (the part after the prefix). */
export function keyKind(key: string, prefix: string): string {
  const rest = key.startsWith(`${prefix}:`) ? key.slice(prefix.length + 1) : key;
  return rest.split(":")[0];
}

const HEAD = [
  "rows",
  "backend",
  "run",
  "done",
  "invoc.",
  "wall s",
  "max inv. ms",
  "Notion req",
  "KV cmds/row",
  "written B/row",
  "read B/row",
  "largest value B",
  "product B/row",
  "written/product",
  "heap peak MB",
  "RSS peak MB",
];
const ALIGN = [
  "right",
  "left",
  "left",
  "left",
  "right",
  "right",
  "right",
  "right",
  "right",
  "right",
  "right",
  "right",
  "right",
  "right",
  "right",
  "right",
] as const;

function rowsOf(results: (RunResult & { prefix: string })[]): string[][] {
  return results.map((r) => [
    int(r.rows),
    r.backend,
    r.run,
    r.completed ? "yes" : "NO",
    int(r.invocations),
    fixed(r.wallMs / 1000, 1),
    int(r.maxElapsedMs),
    r.counts?.notionRequests !== undefined ? int(r.counts.notionRequests) : "?",
    perRow(r.kv.commands, r.rows, 2),
    perRow(r.kv.writtenBytes, r.rows),
    perRow(r.kv.readBytes, r.rows),
    r.largest ? `${int(r.largest.bytes)} (${keyKind(r.largest.key, r.prefix)})` : "-",
    perRow(r.product.bytes, r.rows),
    r.run === "full" && r.product.bytes > 0 ? fixed(r.kv.writtenBytes / r.product.bytes, 2) : "-",
    mb(r.memory.heapPeakDelta),
    mb(r.memory.rssPeak),
  ]);
}

export function renderTable(results: (RunResult & { prefix: string })[]): string {
  const table = new Table({ head: HEAD, style: { head: [], border: [] }, colAligns: [...ALIGN] });
  for (const row of rowsOf(results)) table.push(row);
  return table.toString();
}

/** The same table as GitHub Markdown (for docs/benchmark.md). */
export function renderMarkdown(results: (RunResult & { prefix: string })[]): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(HEAD), line(ALIGN.map((a) => (a === "right" ? "---:" : ":---"))), ...rowsOf(results).map(line)].join(
    "\n",
  );
}

/** What "written" is on the redis backend: more than values, so its targets read high. */
const REDIS_NOTE = " [redis: RESP bytes the server read, keys, read commands and framing included]";

export function evaluateTargets(results: RunResult[], allowancePerInvocation: number): Target[] {
  const targets: Target[] = [];
  for (const r of results) {
    const base = { rows: r.rows, backend: r.backend };
    targets.push({
      ...base,
      name: `${r.run} run completes`,
      met: r.completed,
      detail: r.completed
        ? `${r.invocations} invocations, ${fixed(r.wallMs / 1000, 1)} s`
        : `FAILED: ${r.failure ?? r.finalStatus ?? "unknown"}`,
    });
    if (r.run === "full") {
      const allowed = FULL_WRITE_FACTOR * r.product.bytes + allowancePerInvocation * r.invocations;
      const perInvocation =
        r.invocations > 0 ? Math.max(0, r.kv.writtenBytes - FULL_WRITE_FACTOR * r.product.bytes) / r.invocations : 0;
      targets.push({
        ...base,
        name: `full run writes ≤ ${FULL_WRITE_FACTOR} × product + ${int(allowancePerInvocation)} B/invocation`,
        met: r.backend === "redis" ? null : r.kv.writtenBytes <= allowed,
        detail:
          `wrote ${int(r.kv.writtenBytes)} B for a product of ${int(r.product.bytes)} B (×${fixed(r.product.bytes ? r.kv.writtenBytes / r.product.bytes : 0, 2)}); ` +
          `excess over ${FULL_WRITE_FACTOR} × product = ${int(perInvocation)} B per invocation over ${r.invocations}` +
          (r.backend === "redis" ? REDIS_NOTE : ""),
      });
    } else {
      const bpr = r.kv.writtenBytes / r.rows;
      targets.push({
        ...base,
        name: `no-change run writes ≤ ${NO_CHANGE_TARGET_BYTES_PER_ROW} B/row`,
        met: r.backend === "redis" ? null : bpr <= NO_CHANGE_TARGET_BYTES_PER_ROW,
        detail: `${fixed(bpr, 1)} B/row (${int(r.kv.writtenBytes)} B in ${r.invocations} invocations)${r.backend === "redis" ? REDIS_NOTE : ""}`,
      });
    }
    targets.push({
      ...base,
      name: `${r.run}: every KV value ≤ ${int(MAX_VALUE_BYTES)} B`,
      met: (r.largest?.bytes ?? 0) <= MAX_VALUE_BYTES,
      detail: r.largest ? `largest ${int(r.largest.bytes)} B at ${r.largest.key}` : "no keys",
    });
  }
  return targets;
}

export function renderTargets(targets: Target[]): string {
  return targets
    .map(
      (t) =>
        `${t.met === null ? "info   " : t.met ? "met    " : "NOT MET"}  ${int(t.rows)} ${t.backend}: ${t.name}: ${t.detail}`,
    )
    .join("\n");
}
