import { defineConfig } from "vitest/config";
import { CONFIG_ALIAS, configFilePath } from "./lib/workspace/config-path";

export default defineConfig({
  resolve: { alias: { [CONFIG_ALIAS]: configFilePath(__dirname) } },
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
