/**
 * The Notion API versions the product speaks (NOTION_VERSION). Each changes
 * what some answers look like (docs/architecture.md, "API versions"); the
 * code reads what every one of them sends, so only requests differ.
 */
export const NOTION_VERSIONS = ["2025-09-03", "2026-03-11", "2026-12-01"] as const;

export type NotionVersion = (typeof NOTION_VERSIONS)[number];

export const DEFAULT_NOTION_VERSION: NotionVersion = "2026-12-01";

/** The beta header that lets versions before 2026-12-01 filter a status by its group. */
export const STATUS_GROUP_BETA = "status-group-filters-2026-10-06";

/** Whether `version` is `since` or later (versions are ISO dates: they compare as strings). */
export function versionAtLeast(version: string, since: NotionVersion): boolean {
  return version >= since;
}
