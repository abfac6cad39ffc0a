/** What the engine and the routes know about each configured section. */
import type { Section } from "../core/sections";
import type { SectionSort } from "./schema";

export type ContentMode = "blocks" | "markdown" | "none";

export interface DatabaseSectionSpec {
  kind: "database";
  name: Section;
  /** A database id (its first data source is read) or a data source id. */
  source: { databaseId: string } | { dataSourceId: string };
  /** Where the source came from, for messages: `NOTION_PAGES_DB` or `sections.blog.database`. */
  sourceOrigin: string;
  /** Notion filter JSON; a date condition's value "now" is substituted at each run. */
  filter: Record<string, unknown> | undefined;
  /** Property holding the slug; undefined: derived from the title (today's rules). */
  slugProperty: string | undefined;
  /** Property holding the title; undefined: the data source's title property. */
  titleProperty: string | undefined;
  content: ContentMode;
  followsChildren: boolean;
  childDepth: number;
  /** Properties index entries keep; undefined: all. */
  properties: string[] | undefined;
  sort: SectionSort;
}

export interface ChildrenSectionSpec {
  kind: "children";
  name: Section;
  /** Database sections whose pages' child pages this section holds, in config order. */
  parents: Section[];
  content: Exclude<ContentMode, "none">;
  childDepth: number;
}

export type SectionSpec = DatabaseSectionSpec | ChildrenSectionSpec;

export interface Workspace {
  /** "file": notion-kv-sync.config.ts; "env": NOTION_PAGES_DB / NOTION_POSTS_DB. */
  origin: "file" | "env";
  /** Database sections in config order, then children when any section follows child pages. */
  sections: SectionSpec[];
  databaseSections: DatabaseSectionSpec[];
  children: ChildrenSectionSpec | undefined;
  names: Section[];
}

export function findSection(workspace: Workspace, name: string): SectionSpec | undefined {
  return workspace.sections.find((s) => s.name === name);
}

export function databaseSection(workspace: Workspace, name: string): DatabaseSectionSpec | undefined {
  const spec = findSection(workspace, name);
  return spec?.kind === "database" ? spec : undefined;
}
