/**
 * The README's measured tables, generated from the committed results files so
 * they cannot drift from them: the scale table from bench/scale-results.json
 * (`npm run scale`), the capped-heap line from bench/scale-capped-results.json,
 * and the benchmark's tables from bench/results.json (`npm run bench`): the
 * main one, the webhook one, and the files-mirror one where the README has
 * its markers; the no-change listing block from bench/results-listing.json.
 * `npm run docs:tables` rewrites them between their markers in README.md;
 * tests/unit/readme-tables.test.ts fails when the README disagrees.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Result } from "../bench";
import { renderMarkdown } from "../scale/report";
import type { RunResult } from "../scale/run";
import { LISTING_CONTENDER, renderListingTable } from "./listing-report";
import { FILES_CONTENDER, type Target, renderFilesTable, renderTable, targetLine } from "./table";
import { type WebhookResult, renderWebhookTable } from "./webhook";

export const SCALE_RESULTS = "bench/scale-results.json";
export const SCALE_CAPPED_RESULTS = "bench/scale-capped-results.json";
export const BENCH_RESULTS = "bench/results.json";
/** The files-mirror rows, measured side by side with qstash-blocks in a run of their own (`--contenders qstash-blocks,qstash-files`). */
export const BENCH_FILES_RESULTS = "bench/results-files.json";
/** The no-change-listing rows, measured in a run of their own (`--contenders no-change-listing`). */
export const BENCH_LISTING_RESULTS = "bench/results-listing.json";

interface ScaleDoc {
  ok: boolean;
  commit: string | null;
  dirty: boolean | null;
  startedAt: string;
  heapLimitMB: number;
  nodeFlags?: string[];
  loadAverageAtStart?: number;
  loadAverageAtEnd?: number;
  /** Written by hand when something about the run is known but was not recorded. */
  note?: string;
  machine: { cpus: number; cpuModel: string; totalMemGiB: number; node: string };
  options: { sizes: number[]; backends: string[]; budgetMs: number };
  results: (RunResult & { prefix: string })[];
}

const int = (n: number) => n.toLocaleString("en-US");
const commitOf = (doc: ScaleDoc) =>
  doc.commit ? `\`${doc.commit.slice(0, 7)}\`${doc.dirty ? " plus uncommitted changes" : ""}` : "an unknown commit";
const machineOf = (doc: ScaleDoc) =>
  `${doc.machine.cpus} × ${doc.machine.cpuModel}, ${doc.machine.totalMemGiB} GiB, Node ${doc.machine.node.replace(/^v/, "")}`;

/** The machine's load as recorded, and the note written about the run, if any. */
const loadOf = (doc: ScaleDoc) =>
  (doc.loadAverageAtStart !== undefined
    ? ` Load average ${doc.loadAverageAtStart} at the start, ${doc.loadAverageAtEnd ?? "?"} at the end, on ${doc.machine.cpus} CPUs.`
    : "") + (doc.note ? ` ${doc.note}` : "");

/** The sentence above the table and the table itself. */
export function scaleTable(doc: ScaleDoc): string {
  const sizes = doc.options.sizes.map(int).join(", ");
  return [
    `From \`${SCALE_RESULTS}\` (${doc.ok ? "every run done and checked" : "NOT all runs done and checked"}): ${sizes} rows, backends ${doc.options.backends.join(" and ")}, ` +
      `\`SYNC_BUDGET_MS=${doc.options.budgetMs}\`, commit ${commitOf(doc)}, ${doc.startedAt.slice(0, 10)}, ${machineOf(doc)}; full run then no-change run.${loadOf(doc)}`,
    "",
    renderMarkdown(doc.results),
  ].join("\n");
}

/** The capped-heap sentence: what a 50,000-row run needs of the heap. */
export function cappedLine(doc: ScaleDoc): string {
  const runs = doc.results.map((r) => `${r.run} ${r.completed ? "done" : "NOT done"}`).join(", ");
  const oldSpace = doc.nodeFlags?.map((f) => /^--max-old-space-size=(\d+)$/.exec(f)?.[1]).find(Boolean);
  const peak = Math.max(...doc.results.map((r) => r.memory.heapPeakDelta)) / 1e6;
  return (
    `With the process's heap capped (${oldSpace ? `old space ${oldSpace} MB, ` : ""}V8's whole heap limit ${int(doc.heapLimitMB)} MB: \`node ${oldSpace ? `--max-old-space-size=${oldSpace} ` : ""}--import tsx scripts/scale.ts --rows ${doc.options.sizes.join(",")} ` +
    `--backend ${doc.options.backends.join(",")} --json-out ${SCALE_CAPPED_RESULTS}\`; the emulator runs in its own process), ${int(doc.options.sizes[0])} rows: ${runs}, ` +
    `heap peak ${peak.toFixed(1)} MB (its growth in the hungriest invocation, as in the table; \`${SCALE_CAPPED_RESULTS}\`, commit ${commitOf(doc)}, ${doc.startedAt.slice(0, 10)}).${loadOf(doc)}`
  );
}

/** The files-mirror block: its table, or what is missing when the results hold no files rows. */
export function filesBlock(results: Result[]): string {
  if (!results.some((r) => r.contender === FILES_CONTENDER && r.files))
    return `No \`${FILES_CONTENDER}\` rows in \`${BENCH_FILES_RESULTS}\` yet: \`npm run bench -- --contenders qstash-blocks,${FILES_CONTENDER}\` measures them.`;
  return renderFilesTable(results);
}

interface ListingDoc {
  generatedAt: string;
  elapsedMs: number;
  options: Record<string, unknown> & {
    commit?: string | null;
    dirty?: boolean | null;
    machine?: { cpus: number; cpuModel: string; totalMemGiB: number; node: string };
    loadAverageAtStart?: number;
    loadAverageAtEnd?: number;
    notionVersionEnv?: string | null;
  };
  results: Result[];
  targets: Target[];
  /** Written by hand when something about the run is known but was not recorded. */
  note?: string;
}

/** The no-change listing block: where the figures come from, their table and their targets. */
export function listingBlock(doc: ListingDoc | null): string {
  if (!doc || !doc.results.some((r) => r.contender === LISTING_CONTENDER))
    return `No \`${LISTING_CONTENDER}\` rows in \`${BENCH_LISTING_RESULTS}\` yet: \`npm run bench -- --contenders ${LISTING_CONTENDER}\` measures them.`;
  const o = doc.options;
  const sizes = [...new Set(doc.results.map((r) => r.size))].map(int).join(", ");
  const commit = o.commit
    ? `\`${o.commit.slice(0, 7)}\`${o.dirty !== false ? " plus uncommitted changes" : ""}`
    : "an unknown commit";
  const machine = o.machine
    ? `${o.machine.cpus} × ${o.machine.cpuModel}, ${o.machine.totalMemGiB} GiB, Node ${o.machine.node.replace(/^v/, "")}`
    : "an unrecorded machine";
  const load =
    o.loadAverageAtStart !== undefined
      ? ` Load average ${o.loadAverageAtStart} at the start, ${o.loadAverageAtEnd ?? "?"} at the end.`
      : "";
  return [
    `From \`${BENCH_LISTING_RESULTS}\`: ${sizes} rows, one run of ${(doc.elapsedMs / 60_000).toFixed(0)} minutes ending ${doc.generatedAt.slice(0, 16).replace("T", " ")} UTC, commit ${commit}, ${machine}; NOTION_VERSION ${o.notionVersionEnv ?? "not set (the product's default)"}.${load}${doc.note ? ` ${doc.note}` : ""}`,
    "",
    renderListingTable(doc.results),
    "",
    ...doc.targets.map((t) => `- ${targetLine(t).replace(/^(\S+)\s+/, "**$1** ")}`),
  ].join("\n");
}

const hasBlock = (readme: string, name: string) =>
  readme.includes(`<!-- ${name}:start (generated by npm run docs:tables) -->`);

/** README.md with the text between `<!-- name:start -->` and `<!-- name:end -->` replaced. */
export function replaceBlock(readme: string, name: string, content: string): string {
  const start = `<!-- ${name}:start (generated by npm run docs:tables) -->`;
  const end = `<!-- ${name}:end -->`;
  const from = readme.indexOf(start);
  const to = readme.indexOf(end);
  if (from < 0 || to < from) throw new Error(`${TABLES_DOC}: markers ${start} … ${end} not found`);
  return `${readme.slice(0, from + start.length)}\n${content}\n${readme.slice(to)}`;
}

/** The README as the results files say it should read. */
export function generatedReadme(root: string, readme: string): string {
  const load = (file: string) => JSON.parse(readFileSync(path.join(root, file), "utf8")) as ScaleDoc;
  let out = replaceBlock(readme, "scale-table", scaleTable(load(SCALE_RESULTS)));
  if (existsSync(path.join(root, SCALE_CAPPED_RESULTS)))
    out = replaceBlock(out, "scale-capped", cappedLine(load(SCALE_CAPPED_RESULTS)));
  const bench = JSON.parse(readFileSync(path.join(root, BENCH_RESULTS), "utf8")) as {
    results: Result[];
    webhook: WebhookResult[];
  };
  out = replaceBlock(out, "bench-table", renderTable(bench.results));
  if (hasBlock(out, "bench-files-table")) {
    const own = path.join(root, BENCH_FILES_RESULTS);
    const files = existsSync(own)
      ? (JSON.parse(readFileSync(own, "utf8")) as { results: Result[] }).results
      : bench.results;
    out = replaceBlock(out, "bench-files-table", filesBlock(files));
  }
  if (hasBlock(out, "bench-listing")) {
    const own = path.join(root, BENCH_LISTING_RESULTS);
    out = replaceBlock(
      out,
      "bench-listing",
      listingBlock(existsSync(own) ? (JSON.parse(readFileSync(own, "utf8")) as ListingDoc) : null),
    );
  }
  return replaceBlock(out, "bench-webhook-table", renderWebhookTable(bench.webhook));
}

/** The page the tables live in (the README links to it). */
export const TABLES_DOC = "docs/benchmark.md";

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
  const file = path.join(root, TABLES_DOC);
  const before = readFileSync(file, "utf8");
  const after = generatedReadme(root, before);
  writeFileSync(file, after);
  process.stdout.write(
    after === before
      ? `${TABLES_DOC}: the tables already match the results files\n`
      : `${TABLES_DOC}: tables rewritten from the results files\n`,
  );
}
