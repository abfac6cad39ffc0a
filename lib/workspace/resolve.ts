/**
 * Turns the config file (or, without one, NOTION_PAGES_DB / NOTION_POSTS_DB)
 * into the workspace's sections. Every problem is a ConfigError naming the
 * section and the field, so the routes answer 503 config_error naming them.
 */
import { z } from "zod";
import { ConfigError, readSyncSettings } from "../config";
import { CHILDREN_SECTION, ENV_SECTIONS, RESERVED_SECTION_NAMES, SECTION_NAME_PATTERN } from "../core/sections";
import { parseNotionId } from "./database-ref";
import { ConfigFileSchema, type SectionOptions, type SectionSort } from "./schema";
import type { ChildrenSectionSpec, DatabaseSectionSpec, SectionSpec, Workspace } from "./types";

type Env = Record<string, string | undefined>;

const DEFAULT_SORT: SectionSort = { timestamp: "created_time", direction: "descending" };
const ENV_VARIABLES = { pages: "NOTION_PAGES_DB", posts: "NOTION_POSTS_DB" } as const;

/** `file` is the config module's default export, undefined when there is no file. */
export function resolveWorkspace(file: unknown, env: Env = process.env): Workspace {
  const settings = readSyncSettings(env);
  const defaults = { content: settings.content, childDepth: settings.childDepth };
  const databases = file === undefined ? fromEnv(env, defaults) : fromFile(file, defaults);
  return assemble(file === undefined ? "env" : "file", databases, defaults);
}

/**
 * The section names the config file declares (or, without one, the env sets), in config
 * order with `children` last when a section follows child pages, even when a section's own
 * settings are broken (an unset database variable): what operators' tools list, each
 * section then reporting its own error. Null when the file itself does not parse.
 */
export function declaredNames(file: unknown, env: Env = process.env): string[] | null {
  if (file === undefined) {
    const set = ENV_SECTIONS.filter((name) => env[ENV_VARIABLES[name]]?.trim());
    return set.length > 0 ? [...set, CHILDREN_SECTION] : [];
  }
  const parsed = ConfigFileSchema.safeParse(file);
  if (!parsed.success) return null;
  const entries = Object.entries(parsed.data.sections).filter(([name]) => isSectionName(name));
  const names = entries.map(([name]) => name);
  return entries.some(([, options]) => options.children) ? [...names, CHILDREN_SECTION] : names;
}

interface Defaults {
  content: "blocks" | "markdown";
  childDepth: number;
}

function fromEnv(env: Env, defaults: Defaults): DatabaseSectionSpec[] {
  return ENV_SECTIONS.flatMap((name) => {
    const id = env[ENV_VARIABLES[name]]?.trim();
    if (!id) return [];
    return [databaseSpec(name, { databaseId: id }, ENV_VARIABLES[name], { children: true }, defaults)];
  });
}

function fromFile(file: unknown, defaults: Defaults): DatabaseSectionSpec[] {
  const parsed = ConfigFileSchema.safeParse(file);
  if (!parsed.success) throw fileError(parsed.error);
  const specs = Object.entries(parsed.data.sections).map(([name, options]) => {
    checkName(name);
    if (options.content === "none" && options.children)
      throw new ConfigError(
        `sections.${name}.children: an index-only section (content: "none") reads no content to find child pages in`,
        [],
        [`sections.${name}.children`],
      );
    return databaseSpec(name, sourceOf(name, options), `sections.${name}.database`, options, defaults);
  });
  if (specs.length === 0) throw new ConfigError("the config file declares no section", [], ["sections"]);
  return specs;
}

const isSectionName = (name: string) =>
  SECTION_NAME_PATTERN.test(name) &&
  !(RESERVED_SECTION_NAMES as readonly string[]).includes(name) &&
  name !== CHILDREN_SECTION;

function checkName(name: string): void {
  const field = `sections.${name.slice(0, 40)}`;
  if (!SECTION_NAME_PATTERN.test(name))
    throw new ConfigError(`${field}: a section name must match ${SECTION_NAME_PATTERN}`, [], [field]);
  if ((RESERVED_SECTION_NAMES as readonly string[]).includes(name) || name === CHILDREN_SECTION)
    throw new ConfigError(`${field}: "${name}" is reserved`, [], [field]);
}

function sourceOf(name: string, options: SectionOptions): DatabaseSectionSpec["source"] {
  const field = `sections.${name}.database`;
  const ref = options.database;
  if (ref === undefined) throw new ConfigError(`${field} is missing (an unset environment variable?)`, [], [field]);
  const raw = typeof ref === "string" ? ref : ref.dataSource;
  const id = parseNotionId(raw);
  if (!id) throw new ConfigError(`${field} must be a Notion id or URL`, [], [field]);
  return typeof ref === "string" ? { databaseId: id } : { dataSourceId: id };
}

/** A database section's spec from its options, the env's defaults filling the rest. */
export function databaseSpec(
  name: string,
  source: DatabaseSectionSpec["source"],
  sourceOrigin: string,
  options: SectionOptions,
  defaults: Defaults,
): DatabaseSectionSpec {
  return {
    kind: "database",
    name,
    source,
    sourceOrigin,
    filter: options.filter,
    slugProperty: options.slug,
    titleProperty: options.title,
    content: options.content ?? defaults.content,
    followsChildren: options.children ?? false,
    childDepth: options.childDepth ?? defaults.childDepth,
    properties: options.properties,
    sort: (options.sort as SectionSort | undefined) ?? DEFAULT_SORT,
  };
}

function assemble(origin: Workspace["origin"], databases: DatabaseSectionSpec[], defaults: Defaults): Workspace {
  const parents = databases.filter((d) => d.followsChildren);
  const children =
    parents.length === 0
      ? undefined
      : childrenSpec(
          parents.map((p) => p.name),
          defaults.content,
          Math.max(...parents.map((p) => p.childDepth)),
        );
  const sections: SectionSpec[] = children ? [...databases, children] : [...databases];
  return { origin, sections, databaseSections: databases, children, names: sections.map((s) => s.name) };
}

/** The children section of child pages found under `parents`. */
export function childrenSpec(
  parents: string[],
  content: ChildrenSectionSpec["content"],
  childDepth: number,
): ChildrenSectionSpec {
  return { kind: "children", name: CHILDREN_SECTION, parents, content, childDepth };
}

function fileError(error: z.ZodError): ConfigError {
  const fields = [...new Set(error.issues.map((i) => i.path.map(String).join(".") || "(root)"))];
  const detail = error.issues.map((i) => `${i.path.map(String).join(".") || "(root)"}: ${i.message}`).join("; ");
  return new ConfigError(`invalid notion-kv-sync.config.ts: ${detail}`, [], fields);
}
