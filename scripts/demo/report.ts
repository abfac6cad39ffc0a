/** What the demo prints: a line per invocation and a summary table per run. */
import Table from "cli-table3";
import type { InvocationAnswer, SectionRun } from "./driver";

const pad = (s: string | number, n: number) => String(s).padEnd(n);

export function invocationLine(a: InvocationAnswer): string {
  const total =
    a.phase === "list" ? "listing" : `${a.counts.fetched + a.counts.skipped + a.counts.gone}/${a.counts.listed}`;
  const state = a.done ? "done" : a.phase;
  return `  ${pad(a.section, 9)} #${pad(a.invocation, 3)} ${pad(state, 9)} +${pad(a.processed, 4)} ${pad(total, 10)} fetched ${pad(a.counts.fetched, 4)} blocks ${pad(a.counts.blocks, 6)} ${(a.elapsedMs / 1000).toFixed(2)} s`;
}

export function runTable(runs: SectionRun[]): string {
  const table = new Table({
    head: [
      "section",
      "invocations",
      "listed",
      "fetched",
      "unchanged",
      "gone",
      "blocks",
      "Notion requests",
      "longest call",
      "wall time",
    ],
    style: { head: [], border: [] },
  });
  for (const run of runs) {
    const last = run.answers.at(-1)!;
    const longest = Math.max(...run.answers.map((a) => a.elapsedMs));
    table.push([
      run.section,
      run.answers.length,
      last.counts.listed,
      last.counts.fetched,
      last.counts.skipped,
      last.counts.gone,
      last.counts.blocks,
      last.counts.notionRequests,
      `${(longest / 1000).toFixed(2)} s`,
      `${(run.wallMs / 1000).toFixed(1)} s`,
    ]);
  }
  return table.toString();
}
