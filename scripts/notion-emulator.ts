/**
 * Runs the Notion emulator as a process:
 *   tsx scripts/notion-emulator.ts --port 4010 --rate 3 --seed 1 --pages 200 --posts 150
 * Prints one JSON line ({url, token, database and data source ids, stats}) on
 * stdout once listening, then serves until SIGINT/SIGTERM. Other flags:
 * --burst N, --token T, --host H, --child-depth N, --huge-pages N,
 * --huge-page-blocks N, --latency MS, --retry-after S, --frozen-clock
 * (by default the workspace clock runs with wall time from 2025-06-01, so
 * edits made minutes apart get different last_edited_time values),
 * --query-limit N (rows one data source query serves at most, default 10000
 * like Notion since 2026-04-20; inf lifts the cap), --blocks-per-row N (simple
 * rows: N paragraphs each, no child pages, created in bursts of at most
 * --max-rows-per-minute rows, default 100; for large databases).
 * --rate inf (or infinity, none) disables rate limiting. --databases FILE
 * adds databases beside the generated two: a JSON list of
 * {title, properties, icon?, rows?: [{values, paragraphs?}]} (databases.ts
 * describes properties and values); their ids are in the printed line.
 * --hosted-files self: hosted files' URLs point at the emulator, which serves
 * their bytes (server.ts; default: Notion's bucket, served by nobody).
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import type { DatabaseInput, RowInput } from "./emulator/notion/databases.js";
import { generateWorkspace } from "./emulator/notion/generate.js";
import { startNotionEmulator } from "./emulator/notion/server.js";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "4010" },
    host: { type: "string", default: "127.0.0.1" },
    rate: { type: "string", default: "3" },
    burst: { type: "string", default: "10" },
    seed: { type: "string", default: "1" },
    pages: { type: "string", default: "200" },
    posts: { type: "string", default: "150" },
    "child-depth": { type: "string", default: "3" },
    "huge-pages": { type: "string", default: "3" },
    "huge-page-blocks": { type: "string", default: "1200" },
    token: { type: "string" },
    latency: { type: "string", default: "0" },
    "retry-after": { type: "string", default: "1" },
    "frozen-clock": { type: "boolean", default: false },
    "query-limit": { type: "string", default: "10000" },
    "blocks-per-row": { type: "string" },
    "max-rows-per-minute": { type: "string" },
    databases: { type: "string" },
    "hosted-files": { type: "string", default: "notion" },
  },
  strict: true,
});

function num(name: string, raw: string | undefined): number {
  const value = Number(raw);
  if (raw === undefined || raw === "" || Number.isNaN(value)) {
    process.stderr.write(`--${name} must be a number, got ${String(raw)}\n`);
    process.exit(2);
  }
  return value;
}

function numOrInf(name: string, raw: string): number {
  const lower = raw.toLowerCase();
  return lower === "inf" || lower === "infinity" || lower === "none" ? Infinity : num(name, raw);
}

const rate = numOrInf("rate", values.rate);
const queryResultLimit = numOrInf("query-limit", values["query-limit"]);
if (queryResultLimit !== Infinity && !(Number.isInteger(queryResultLimit) && queryResultLimit >= 1)) {
  process.stderr.write(`--query-limit must be a positive integer or inf, got ${values["query-limit"]}\n`);
  process.exit(2);
}

const workspace = generateWorkspace({
  seed: num("seed", values.seed),
  pages: num("pages", values.pages),
  posts: num("posts", values.posts),
  childDepth: num("child-depth", values["child-depth"]),
  hugePages: num("huge-pages", values["huge-pages"]),
  hugePageBlocks: num("huge-page-blocks", values["huge-page-blocks"]),
  ...(values["blocks-per-row"] !== undefined ? { blocksPerRow: num("blocks-per-row", values["blocks-per-row"]) } : {}),
  ...(values["max-rows-per-minute"] !== undefined
    ? { maxRowsPerMinute: num("max-rows-per-minute", values["max-rows-per-minute"]) }
    : {}),
});
const extra: { id: string; dataSourceId: string; title: string }[] = [];
if (values.databases !== undefined) {
  try {
    const list = JSON.parse(readFileSync(values.databases, "utf8")) as (DatabaseInput & { rows?: RowInput[] })[];
    for (const { rows, ...input } of list) {
      const db = workspace.createDatabase(input);
      for (const row of rows ?? []) workspace.addRow(db.id, row);
      extra.push({ id: db.id, dataSourceId: db.data_sources[0].id, title: input.title });
    }
  } catch (error) {
    process.stderr.write(
      `--databases ${values.databases}: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    process.exit(2);
  }
}
if (!values["frozen-clock"]) workspace.setClockRunning(true);

function hostedFilesMode(raw: string | undefined): "notion" | "self" {
  if (raw === "notion" || raw === "self") return raw;
  process.stderr.write(`--hosted-files must be notion or self, got ${raw}\n`);
  process.exit(2);
}

const emulator = await startNotionEmulator({
  workspace,
  token: values.token,
  port: num("port", values.port),
  host: values.host,
  ratePerSecond: rate,
  burst: num("burst", values.burst),
  retryAfterSeconds: num("retry-after", values["retry-after"]),
  latencyMs: num("latency", values.latency),
  queryResultLimit,
  hostedFiles: hostedFilesMode(values["hosted-files"]),
});

process.stdout.write(
  `${JSON.stringify({
    url: emulator.url,
    token: emulator.token,
    pagesDatabaseId: workspace.pagesDatabaseId,
    postsDatabaseId: workspace.postsDatabaseId,
    pagesDataSourceId: workspace.pagesDataSourceId,
    postsDataSourceId: workspace.postsDataSourceId,
    databases: extra,
    queryResultLimit: Number.isFinite(queryResultLimit) ? queryResultLimit : null,
    stats: workspace.stats(),
  })}\n`,
);

let closing = false;
const shutdown = (): void => {
  if (closing) return;
  closing = true;
  void emulator.close().then(() => process.exit(0));
};
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
