import { configDefaults, defineConfig } from "vitest/config";
import { CONFIG_ALIAS, configFilePath } from "./lib/workspace/config-path";
import { longestFirst } from "./tests/support/longest-first";

/**
 * Suites that assert nothing about wall time (no budgets, deadlines, pacing,
 * leases expiring or sleeps) and start no `next start`: they run two at a
 * time on the two cores, before the others. A suite that measures time
 * belongs in the sequential project.
 */
const PARALLEL = [
  // npm test's type and format checks (scripts/checks.sh).
  "tests/checks.test.ts",
  "tests/unit/auth-and-input.test.ts",
  "tests/unit/block-tree.test.ts",
  "tests/unit/bundle.test.ts",
  "tests/unit/chain-health.test.ts",
  "tests/unit/cursor.test.ts",
  "tests/unit/files.test.ts",
  "tests/unit/files-mirror.test.ts",
  "tests/unit/files-reading.test.ts",
  "tests/unit/function-length.test.ts",
  "tests/unit/import-boundaries.test.ts",
  "tests/unit/large-value.test.ts",
  "tests/unit/markdown.test.ts",
  "tests/unit/needs-fetch.test.ts",
  "tests/unit/piece-ranges.test.ts",
  "tests/unit/properties.test.ts",
  "tests/unit/readme-tables.test.ts",
  "tests/unit/env-docs.test.ts",
  "tests/unit/docs-links.test.ts",
  "tests/unit/section-index-update.test.ts",
  "tests/unit/signed-token.test.ts",
  "tests/unit/slug.test.ts",
  "tests/unit/sync-router.test.ts",
  "tests/conformance/*.test.ts",
  "tests/children-walk.test.ts",
  "tests/versions.test.ts",
  "tests/kv-commands.test.ts",
  "tests/relations.test.ts",
  "tests/slug.integration.test.ts",
  "tests/sync.fencing.test.ts",
  "tests/unit/workspace-config.test.ts",
  "tests/unit/publish-filter.test.ts",
  "tests/unit/filter-match.test.ts",
  "tests/unit/api-versions.test.ts",
  "tests/unit/compound-filter.test.ts",
  "tests/unit/index-sort.test.ts",
  "tests/unit/crons.test.ts",
  "tests/unit/read-sections.test.ts",
  "tests/unit/typed-reads.test.ts",
  "tests/sections.engine.test.ts",
  "tests/notion-emulator.databases.test.ts",
  "tests/env-files.test.ts",
  "tests/doctor.test.ts",
  "tests/workspace-broken-config.test.ts",
  "tests/workspace-edge.test.ts",
  "tests/typegen.test.ts",
  "tests/s3-server.test.ts",
  "tests/files-store.test.ts",
  // Its own build and a real half minute of QStash delay, with a minute of slack: it overlaps the rest of this group.
  "tests/config.e2e.test.ts",
  "tests/package/package.test.ts",
  "tests/files-mirror.browser.test.ts",
];

/**
 * Suites whose wall time is mostly waiting (real Retry-After seconds, lease ends, QStash backoffs,
 * emulated latency), a third of a core or less on average, and whose timing assertions have a
 * second or more of slack or are lower bounds: two at a time, after the sequential ones. Each
 * partner is as idle, so neither's timing moves by more than a scheduling blip. A suite that
 * keeps a core busy belongs in the sequential project.
 */
const PAIRED = [
  // Real Retry-After seconds (the 429 storm); each invocation's bound is its budget + 1 s.
  "tests/reliability/matrix.test.ts",
  // QStash flow control and next start, asserting the order of runs (timestamps), no duration.
  "tests/children-kick.e2e.test.ts",
  // A hanging or resetting Upstash endpoint: the answer's bound is budget + tail + 1 s, then 3.5 s of listening.
  "tests/http.kv-down.test.ts",
  // 5 s a KV call through a delaying proxy: the answer's bound is budget + tail + 1 s.
  "tests/sync.kv-slow.test.ts",
  // QStash delays and a reviver due in a second, over next start; lower bounds only.
  "tests/posts-only.e2e.test.ts",
  // Deliveries to an unreachable QStash and a held lease; no duration asserted.
  "tests/qstash.publish-failure.test.ts",
  // Notion unreachable (connection refused) for a few invocations; no duration asserted.
  "tests/sync.honest-errors.test.ts",
  // Runs meeting runs through requests the emulator holds until released; counts, no duration.
  "tests/webhooks.targeted.test.ts",
  // A poison page and a workspace-wide 429 (Retry-After 120 s: bounds of 110 s); counts, no duration.
  "tests/reliability/given-up.test.ts",
];

/**
 * Started first in their group, longest first (tests/support/longest-first.ts): in a fresh clone
 * vitest knows no durations and orders by file size, which started these late.
 */
const LONGEST_FIRST = [
  "tests/config.e2e.test.ts",
  "tests/package/package.test.ts",
  "tests/files-mirror.browser.test.ts",
  "tests/checks.test.ts",
  "tests/reliability/matrix.test.ts",
  "tests/children-kick.e2e.test.ts",
  "tests/posts-only.e2e.test.ts",
];

/** The package's entry points, compiled from the source as the app's route files import them. */
const PACKAGE_ENTRIES = [
  { find: /^notion-kv-sync$/, replacement: `${__dirname}/lib/package/index.ts` },
  { find: /^notion-kv-sync\/next$/, replacement: `${__dirname}/lib/package/next.ts` },
  { find: /^notion-kv-sync\/config$/, replacement: `${__dirname}/lib/package/config.ts` },
];

export default defineConfig({
  resolve: { alias: [{ find: CONFIG_ALIAS, replacement: configFilePath(__dirname) }, ...PACKAGE_ENTRIES] },
  test: {
    testTimeout: 60_000,
    hookTimeout: 180_000,
    pool: "forks",
    env: { SYNC_LOG: "off" },
    reporters: ["default", "./tests/support/summary-reporter.ts"],
    sequence: { sequencer: longestFirst(LONGEST_FIRST) },
    projects: [
      {
        extends: true,
        test: { name: "parallel", include: PARALLEL, maxWorkers: 2, sequence: { groupOrder: 0 } },
      },
      {
        extends: true,
        test: {
          name: "sequential",
          include: ["tests/**/*.test.ts"],
          exclude: [...configDefaults.exclude, ...PARALLEL, ...PAIRED],
          // Integration suites start real servers (redis-server, emulators, next start);
          // two cores: one file at a time so timing-sensitive budgets stay honest.
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
      {
        extends: true,
        test: { name: "paired", include: PAIRED, maxWorkers: 2, sequence: { groupOrder: 2 } },
      },
    ],
  },
});
