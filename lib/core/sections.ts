/**
 * Section names. Which sections exist comes from the workspace config
 * (lib/workspace); this module only knows the names every deployment shares.
 */

/** A section's name: its endpoint (`/api/sync/<name>`), its KV keys and its cache tags. */
export type Section = string;

/** A section read from a Notion data source (every configured section but children). */
export type DatabaseSection = Section;

/** The section of child pages found under the pages of sections that follow them. */
export const CHILDREN_SECTION = "children";

/** The two sections a deployment without a config file has, from NOTION_PAGES_DB / NOTION_POSTS_DB. */
export const ENV_SECTIONS = ["pages", "posts"] as const;

export const SECTION_NAME_PATTERN = /^[a-z][a-z0-9-]{0,30}$/;

/** Paths under /api/sync/ that are not sections. */
export const RESERVED_SECTION_NAMES = ["trigger", "status", "failed", "dirty", "all"] as const;

export function isSectionName(value: unknown): value is Section {
  return (
    typeof value === "string" &&
    SECTION_NAME_PATTERN.test(value) &&
    !(RESERVED_SECTION_NAMES as readonly string[]).includes(value)
  );
}
