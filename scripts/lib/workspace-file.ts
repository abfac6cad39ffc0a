/**
 * The workspace as the scripts read it: the config file NKS_CONFIG_FILE or
 * notion-kv-sync.config.ts names (imported by path, as the app bundles it),
 * else the environment.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { configFilePath } from "../../lib/workspace/config-path";
import { resolveWorkspace } from "../../lib/workspace/resolve";
import type { Workspace } from "../../lib/workspace/types";

type Env = Record<string, string | undefined>;

const FALLBACK = path.join("lib", "workspace", "fallback", "notion-kv-sync.config.ts");

/** Stands in for a database whose variable is unset where only names matter (crons). */
const PLACEHOLDER_ID = "00000000000000000000000000000000";

export interface ConfigFileRead {
  /** The file read, relative to the root; undefined without one. */
  file: string | undefined;
  /** Its default export; undefined without a file. */
  config: unknown;
}

export async function readConfigFile(root: string, env: Env): Promise<ConfigFileRead> {
  const full = configFilePath(root, env);
  if (full.endsWith(FALLBACK) || !existsSync(full)) return { file: undefined, config: undefined };
  const mod = await importTypeScript(pathToFileURL(full).href);
  const config = mod.default ?? undefined;
  return { file: config === undefined ? undefined : path.relative(root, full), config };
}

/** A .ts module: imported as is under tsx or vitest; through tsx's loader from plain Node (the packaged CLI). */
async function importTypeScript(url: string): Promise<{ default?: unknown }> {
  try {
    return (await import(url)) as { default?: unknown };
  } catch (error) {
    if ((error as { code?: unknown }).code !== "ERR_UNKNOWN_FILE_EXTENSION") throw error;
    const { tsImport } = await import("tsx/esm/api");
    const mod = (await tsImport(url, import.meta.url)) as { default?: unknown };
    // In a project without "type": "module" the file loads as CommonJS: its default export is nested once more.
    const inner = mod.default as { default?: unknown; __esModule?: unknown } | undefined;
    return inner && typeof inner === "object" && "default" in inner && !("sections" in inner) ? inner : mod;
  }
}

/** The workspace, strictly: every database must be set (typegen reads them). */
export async function loadScriptWorkspace(root: string, env: Env): Promise<Workspace & ConfigFileRead> {
  const read = await readConfigFile(root, env);
  return { ...resolveWorkspace(read.config, env), ...read };
}

/**
 * The workspace's section names only: a database left to an unset variable
 * is fine here, since a deployment's variables live on Vercel, not locally.
 */
export async function loadSectionLayout(root: string, env: Env): Promise<Workspace & ConfigFileRead> {
  const read = await readConfigFile(root, env);
  return { ...resolveWorkspace(withPlaceholderDatabases(read.config), env), ...read };
}

function withPlaceholderDatabases(config: unknown): unknown {
  if (!isRecord(config) || !isRecord(config.sections)) return config;
  const sections = Object.fromEntries(
    Object.entries(config.sections).map(([name, options]) => [
      name,
      isRecord(options) && options.database === undefined ? { ...options, database: PLACEHOLDER_ID } : options,
    ]),
  );
  return { ...config, sections };
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
