import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    // Integration suites start real servers (redis-server, emulators, next start);
    // two cores: keep files sequential so timing-sensitive budgets stay honest.
    fileParallelism: false,
    pool: "forks",
    env: { SYNC_LOG: "off" },
    reporters: ["default", "./tests/support/summary-reporter.ts"],
  },
});
