/**
 * npm run build:package: the installable package in dist/ (run by `npm pack`
 * through prepack). esbuild bundles lib/ from four entries, sharing chunks so
 * the reader and the route handlers see one workspace config; every package
 * stays an import. The config-file alias maps to the stand-in: a site hands
 * its config to the handlers (lib/package/next.ts) and the CLI reads it by path.
 * tsc writes the declarations.
 */
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { CONFIG_ALIAS } from "../lib/workspace/config-path";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const DIST = path.join(ROOT, "dist");

export const ENTRIES = {
  index: "lib/package/index.ts",
  next: "lib/package/next.ts",
  config: "lib/package/config.ts",
  cli: "scripts/cli.ts",
};

async function main(): Promise<void> {
  rmSync(DIST, { recursive: true, force: true });
  await build({
    absWorkingDir: ROOT,
    entryPoints: ENTRIES,
    outdir: DIST,
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20",
    packages: "external",
    alias: { [CONFIG_ALIAS]: "./lib/workspace/fallback/notion-kv-sync.config.ts" },
    chunkNames: "chunks/[name]-[hash]",
    logLevel: "warning",
  });
  execFileSync(process.execPath, [path.join(ROOT, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.package.json"], {
    cwd: ROOT,
    stdio: "inherit",
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`build:package: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
