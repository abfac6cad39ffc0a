/**
 * Runs the Notion emulator as a process:
 *   tsx scripts/notion-emulator.ts --port 4010 --rate 3 --seed 1 --pages 200 --posts 150
 * Prints one JSON line ({url, token, database and data source ids, stats}) on
 * stdout once listening, then serves until SIGINT/SIGTERM. Other flags:
 * --burst N, --token T, --host H, --child-depth N, --huge-pages N,
 * --huge-page-blocks N, --latency MS, --retry-after S, --frozen-clock
 * (by default the workspace clock runs with wall time from 2025-06-01, so
 * edits made minutes apart get different last_edited_time values).
 * --rate inf (or infinity, none) disables rate limiting.
 */
import { parseArgs } from "node:util";
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

const rateRaw = values.rate.toLowerCase();
const rate = rateRaw === "inf" || rateRaw === "infinity" || rateRaw === "none" ? Infinity : num("rate", values.rate);

const workspace = generateWorkspace({
  seed: num("seed", values.seed),
  pages: num("pages", values.pages),
  posts: num("posts", values.posts),
  childDepth: num("child-depth", values["child-depth"]),
  hugePages: num("huge-pages", values["huge-pages"]),
  hugePageBlocks: num("huge-page-blocks", values["huge-page-blocks"]),
});
if (!values["frozen-clock"]) workspace.setClockRunning(true);

const emulator = await startNotionEmulator({
  workspace,
  token: values.token,
  port: num("port", values.port),
  host: values.host,
  ratePerSecond: rate,
  burst: num("burst", values.burst),
  retryAfterSeconds: num("retry-after", values["retry-after"]),
  latencyMs: num("latency", values.latency),
});

process.stdout.write(
  `${JSON.stringify({
    url: emulator.url,
    token: emulator.token,
    pagesDatabaseId: workspace.pagesDatabaseId,
    postsDatabaseId: workspace.postsDatabaseId,
    pagesDataSourceId: workspace.pagesDataSourceId,
    postsDataSourceId: workspace.postsDataSourceId,
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
