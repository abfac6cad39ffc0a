/**
 * The operator scripts read the same env files as `next dev` / `next start`
 * (.env.local first, then .env; variables already set win), so a script run
 * after `vercel env pull` sees the deployment's KV instead of an empty local store.
 */
import nextEnv from "@next/env";

/** Loads the env files of `dir` into process.env; returns the files it read, for a banner. */
export function loadEnvFiles(dir: string = process.cwd()): string[] {
  const { loadedEnvFiles } = nextEnv.loadEnvConfig(dir, false, { info: () => {}, error: () => {} });
  return loadedEnvFiles.map((f) => f.path);
}
