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
  "tests/kv-commands.test.ts",
  "tests/relations.test.ts",
  "tests/slug.integration.test.ts",
  "tests/sync.fencing.test.ts",
  "tests/unit/workspace-config.test.ts",
  "tests/unit/publish-filter.test.ts",
  "tests/unit/filter-match.test.ts",
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
  // Its own build and a real minute of QStash delay, with a minute of slack: it overlaps the rest of this group.
  "tests/config.e2e.test.ts",
  "tests/package/package.test.ts",
  "tests/files-mirror.browser.test.ts",
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
          exclude: [...configDefaults.exclude, ...PARALLEL],
          // Integration suites start real servers (redis-server, emulators, next start);
          // two cores: one file at a time so timing-sensitive budgets stay honest.
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
