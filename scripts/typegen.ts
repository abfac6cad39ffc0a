/**
 * npm run typegen [-- --out FILE] [--check] [--root DIR]
 *
 * Reads each configured database section's data source schema (Notion with
 * NOTION_API_KEY, or the emulator at NOTION_BASE_URL) and writes a
 * declarations file (default notion-kv-sync-env.d.ts at the root, which
 * tsconfig's include picks up) typing getSectionIndex / getPageBundle
 * properties by name for those sections. `properties` in the config: only
 * those are typed. --check writes nothing and exits 1 when the file differs.
 * Reads .env.local / .env like Next (shell variables win).
 * Exit codes: 0 ok, 1 out of date (--check), 2 usage, config or Notion error.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@notionhq/client";
import { ConfigError, readSyncSettings } from "../lib/config";
import type { DatabaseSectionSpec } from "../lib/workspace/types";
import { loadEnvFiles } from "./lib/env-files";
import { loadScriptWorkspace } from "./lib/workspace-file";
import { type SectionSchema, propertyType, renderDeclarations } from "./typegen/render";

type Env = Record<string, string | undefined>;

export const DEFAULT_OUT = "notion-kv-sync-env.d.ts";
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

export class TypegenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TypegenError";
  }
}

export interface TypegenCommand {
  root: string;
  out: string;
  check: boolean;
  /** The module the declarations augment: this repository's lib/read (relative), or "notion-kv-sync" for a site. */
  module?: string;
}

export function parseTypegenArgs(argv: readonly string[], root: string = ROOT): TypegenCommand {
  const command: TypegenCommand = { root, out: "", check: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => argv[++i] ?? fail(`${arg} needs a value`);
    if (arg === "--check") command.check = true;
    else if (arg === "--out") command.out = value();
    else if (arg === "--root") command.root = path.resolve(value());
    else fail(`unknown option ${arg} (options: --out FILE, --check, --root DIR)`);
  }
  command.out = path.resolve(command.root, command.out || DEFAULT_OUT);
  return command;
}

const fail = (message: string): never => {
  throw new TypegenError(message);
};

/** One section's schema, the `properties` option applied; `warn` hears of listed names the schema lacks. */
export async function sectionSchema(
  client: Client,
  spec: DatabaseSectionSpec,
  warn: (line: string) => void,
): Promise<SectionSchema> {
  const dataSourceId =
    "dataSourceId" in spec.source ? spec.source.dataSourceId : await firstDataSource(client, spec.source.databaseId);
  const source = await client.dataSources.retrieve({ data_source_id: dataSourceId });
  const all = (source as { properties?: Record<string, { type?: unknown }> }).properties ?? {};
  const kept = spec.properties ?? Object.keys(all);
  for (const name of kept.filter((n) => !(n in all)))
    warn(`sections.${spec.name}.properties: "${name}" is not a property of its data source (left out)`);
  const properties = Object.fromEntries(kept.filter((n) => n in all).map((n) => [n, propertyType(all[n].type)]));
  return { section: spec.name, properties };
}

async function firstDataSource(client: Client, databaseId: string): Promise<string> {
  const database = (await client.databases.retrieve({ database_id: databaseId })) as {
    data_sources?: { id: string }[];
  };
  return database.data_sources?.[0]?.id ?? fail(`database ${databaseId} has no data source the integration can read`);
}

export async function runTypegen(
  command: TypegenCommand,
  env: Env,
): Promise<{ code: 0 | 1; lines: string[]; text: string }> {
  const workspace = await loadScriptWorkspace(command.root, env);
  const auth = env.NOTION_API_KEY?.trim() || fail("NOTION_API_KEY is not set (typegen reads the schemas from Notion)");
  const client = new Client({
    auth,
    baseUrl: env.NOTION_BASE_URL?.trim() || undefined,
    notionVersion: readSyncSettings(env).notionVersion,
    logger: () => {},
  });
  const warnings: string[] = [];
  const schemas: SectionSchema[] = [];
  for (const spec of workspace.databaseSections)
    schemas.push(await sectionSchema(client, spec, (l) => warnings.push(l)));
  const readModule =
    command.module ?? moduleSpecifier(path.dirname(command.out), path.join(command.root, "lib", "read"));
  const text = await formatted(renderDeclarations(schemas, readModule), command.out);
  const relative = path.relative(command.root, command.out);
  const current = existsSync(command.out) ? readFileSync(command.out, "utf8") : undefined;
  if (command.check) {
    const same = current === text;
    return { code: same ? 0 : 1, lines: [...warnings, `${relative} ${same ? "is" : "is not"} up to date`], text };
  }
  if (current !== text) writeFileSync(command.out, text);
  const summary = schemas.map((s) => `  ${s.section}: ${Object.keys(s.properties).length} properties`);
  return { code: 0, lines: [...warnings, `${current === text ? "kept" : "wrote"} ${relative}`, ...summary], text };
}

/** Formatted as `npm run format` would, so the committed file passes `format:check`. */
async function formatted(text: string, file: string): Promise<string> {
  // A site without prettier gets the file as rendered.
  const prettier = await import("prettier").catch(() => null);
  if (!prettier) return text;
  const options = (await prettier.resolveConfig(file)) ?? {};
  return prettier.format(text, { ...options, filepath: file });
}

function moduleSpecifier(fromDir: string, target: string): string {
  const relative = path.relative(fromDir, target).split(path.sep).join("/");
  return relative.startsWith(".") ? relative : `./${relative}`;
}

/** `module`: what the declarations augment when they are not this repository's (a site: "notion-kv-sync"). */
export async function main(
  argv: readonly string[] = process.argv.slice(2),
  root: string = ROOT,
  module?: string,
): Promise<number> {
  loadEnvFiles(root);
  try {
    const outcome = await runTypegen({ ...parseTypegenArgs(argv, root), module }, process.env);
    process.stdout.write(outcome.lines.join("\n") + "\n");
    return outcome.code;
  } catch (error) {
    const known = error instanceof TypegenError || error instanceof ConfigError;
    const notion = error instanceof Error && "code" in error && typeof error.code === "string";
    if (!known && !notion) throw error;
    process.stderr.write(`typegen: ${(error as Error).message}\n`);
    return 2;
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then((code) => process.exit(code));
}
