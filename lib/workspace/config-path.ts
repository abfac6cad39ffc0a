/** Which file the `@notion-kv-sync/root/notion-kv-sync.config` alias points at, for next.config.ts and vitest.config.ts. */
import { existsSync } from "node:fs";
import path from "node:path";

export const CONFIG_FILE_NAME = "notion-kv-sync.config.ts";
const NO_CONFIG_FILE = "lib/workspace/fallback/notion-kv-sync.config.ts";

/** The specifier lib/workspace/load.ts imports the config file by. */
export const CONFIG_ALIAS = "@notion-kv-sync/root/notion-kv-sync.config";

/** NKS_CONFIG_FILE (relative to `root`), else notion-kv-sync.config.ts when it exists, else the stand-in. */
export function configFilePath(root: string, env: Record<string, string | undefined> = process.env): string {
  const chosen = env.NKS_CONFIG_FILE?.trim();
  if (chosen) {
    const full = path.resolve(root, chosen);
    if (!existsSync(full)) throw new Error(`NKS_CONFIG_FILE: ${chosen} does not exist`);
    return full;
  }
  const conventional = path.join(root, CONFIG_FILE_NAME);
  return existsSync(conventional) ? conventional : path.join(root, NO_CONFIG_FILE);
}

/** Where `next build` writes (and `next start` reads): a build bundling NKS_CONFIG_FILE gets its own, beside `.next`. */
export function buildDirFor(env: Record<string, string | undefined> = process.env): string {
  const chosen = env.NKS_CONFIG_FILE?.trim();
  if (!chosen) return ".next";
  const name = path.basename(chosen).replace(/(\.config)?\.[cm]?ts$/, "");
  return `.next-${name.replace(/[^a-zA-Z0-9-]/g, "-")}`;
}
