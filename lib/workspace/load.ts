/**
 * The deployment's workspace: the config a site hands the package
 * (`createSyncHandler(config)`, lib/package/next.ts), else
 * notion-kv-sync.config.ts when this repository's app bundles one (through the
 * `@notion-kv-sync/root/notion-kv-sync.config` alias; the packaged build maps
 * the alias to the stand-in), else the env.
 */
import configFile from "@notion-kv-sync/root/notion-kv-sync.config";
import { declaredNames, resolveWorkspace } from "./resolve";
import type { Workspace } from "./types";

type Env = Record<string, string | undefined>;

/** Process-wide wiring, like the shared KV store: set once when a route module is evaluated. */
let provided: { config: unknown } | undefined;

/** Makes `config` the workspace's config file for this process (a site's route handlers, the CLI). */
export function provideWorkspaceConfig(config: unknown): void {
  provided = { config };
}

/** The config object in force: the provided one, else the bundled file's default export (undefined without either). */
export function workspaceConfig(): unknown {
  return provided ? provided.config : (configFile ?? undefined);
}

export function loadWorkspace(env: Env = process.env): Workspace {
  return resolveWorkspace(workspaceConfig(), env);
}

/** The section names declared here, even when a section's settings are broken (resolve.ts declaredNames). */
export function declaredSectionNames(env: Env = process.env): string[] | null {
  return declaredNames(workspaceConfig(), env);
}
