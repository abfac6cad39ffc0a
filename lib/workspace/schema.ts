/**
 * The shape of notion-kv-sync.config.ts: what a user writes. Validated with
 * zod at startup; lib/workspace/resolve.ts turns it into section specs.
 */
import { z } from "zod";

const DIRECTIONS = ["ascending", "descending"] as const;
const TIMESTAMPS = ["created_time", "last_edited_time"] as const;

const DatabaseRefSchema = z.union([
  z.string().trim().min(1, "must be a database id or URL"),
  z.strictObject({ dataSource: z.string().trim().min(1, "must be a data source id") }),
]);

const SortSchema = z.union([
  z.strictObject({ property: z.string().min(1), direction: z.enum(DIRECTIONS).default("descending") }),
  z.strictObject({ timestamp: z.enum(TIMESTAMPS), direction: z.enum(DIRECTIONS).default("descending") }),
]);

/** A Notion filter object, passed to the data source query as is (a date value "now" is substituted per run). */
const FilterSchema = z.record(z.string(), z.unknown()).refine((f) => Object.keys(f).length > 0, "must not be empty");

export const SectionOptionsSchema = z.strictObject({
  database: DatabaseRefSchema.optional(),
  filter: FilterSchema.optional(),
  slug: z.string().min(1).optional(),
  title: z.string().min(1).optional(),
  content: z.enum(["blocks", "markdown", "none"]).optional(),
  children: z.boolean().optional(),
  childDepth: z.number().int().min(0).max(20).optional(),
  properties: z.array(z.string().min(1)).optional(),
  sort: SortSchema.optional(),
});

export const ConfigFileSchema = z.strictObject({
  sections: z.record(z.string(), SectionOptionsSchema),
});

export type SectionOptions = z.input<typeof SectionOptionsSchema>;
export type SectionSort = z.output<typeof SortSchema>;

/** The default export of notion-kv-sync.config.ts. */
export interface NotionKvSyncConfig {
  sections: Record<string, SectionOptions>;
}

/** Identity: gives a config object its types; a plain object works as well. */
export function defineConfig<const C extends NotionKvSyncConfig>(config: C): C {
  return config;
}
