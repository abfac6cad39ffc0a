/**
 * The deployment's workspace: notion-kv-sync.config.ts when there is one
 * (bundled through the `@notion-kv-sync/root/notion-kv-sync.config` alias), else the env.
 */
import configFile from "@notion-kv-sync/root/notion-kv-sync.config";
import { resolveWorkspace } from "./resolve";
import type { Workspace } from "./types";

type Env = Record<string, string | undefined>;

export function loadWorkspace(env: Env = process.env): Workspace {
  return resolveWorkspace(configFile ?? undefined, env);
}
