/** The declarations file typegen writes: NotionKvSyncSections (lib/read.ts) augmented per section. */
import type { NotionPropertyType } from "../../lib/read";

export interface SectionSchema {
  section: string;
  /** Property name → Notion type, only the properties the index keeps. */
  properties: Record<string, NotionPropertyType>;
}

const KNOWN_TYPES: ReadonlySet<string> = new Set<NotionPropertyType>([
  "title",
  "rich_text",
  "number",
  "checkbox",
  "url",
  "email",
  "phone_number",
  "select",
  "status",
  "multi_select",
  "date",
  "people",
  "files",
  "relation",
  "formula",
  "rollup",
  "unique_id",
  "created_by",
  "last_edited_by",
  "created_time",
  "last_edited_time",
  "verification",
  "place",
  "button",
]);

/** A schema property's type as lib/read.ts knows it: one Notion added since is "unknown" (typed SimpleValue). */
export function propertyType(type: unknown): NotionPropertyType {
  return typeof type === "string" && KNOWN_TYPES.has(type) ? (type as NotionPropertyType) : "unknown";
}

/** `readModule`: how the file imports lib/read (relative to where it is written, without extension). */
export function renderDeclarations(schemas: readonly SectionSchema[], readModule: string): string {
  const sections = schemas.map(({ section, properties }) => {
    const lines = Object.keys(properties)
      .sort()
      .map((name) => `      ${JSON.stringify(name)}: ${JSON.stringify(properties[name])};`);
    return [`    ${JSON.stringify(section)}: {`, ...lines, "    };"].join("\n");
  });
  return [
    "// Written by `npm run typegen` from each section's data source schema: run it again after a schema change.",
    "export {};",
    "",
    `declare module ${JSON.stringify(readModule)} {`,
    "  interface NotionKvSyncSections {",
    ...sections,
    "  }",
    "}",
    "",
  ].join("\n");
}
