/**
 * The one place every KV key is built. The layout is documented in the README
 * ("What lands in KV"); change both together.
 */
import type { Section } from "../core/sections";

export const DEFAULT_KV_PREFIX = "nks";

export interface KeyBuilder {
  readonly prefix: string;
  /**
   * A synced page, addressed by section and slug: what a site reads. Slugs
   * are unique within a section (the databases' Slug properties may repeat
   * across them: a page and a post can both be "about").
   */
  page(section: Section, slug: string): string;
  /** Ordered list of a section's slugs with list metadata. */
  index(section: Section): string;
  /** Where a section's current run stands (versioned JSON). */
  cursor(section: Section): string;
  /** Held while one invocation of the section runs (SET NX PX + token). */
  lease(section: Section): string;
  /** The run's work list, written once by the list phase. */
  workList(section: Section, runId: string): string;
  /** Index entries of the pages a run has finished (a set, written with each page's commit). */
  runResults(section: Section, runId: string): string;
  /** Blocks fetched so far for a page too large for one invocation. */
  partialPage(section: Section, pageId: string): string;
  /** Set of child page ids discovered by pages/posts, drained by children. */
  childQueue(): string;
  /**
   * Set of page ids whose content must be re-read at their section's next run
   * whatever their timestamp says: the parent of a renamed child page (Notion
   * does not bump the parent's last_edited_time), a page given up after
   * repeated failures. Also the seam for webhooks (page.content_updated).
   */
  refetch(): string;
  /** The last run summaries of a section (newest first). */
  runs(section: Section): string;
  /** Data source id resolved for a database id (cached once). */
  dataSource(databaseId: string): string;
}

export function createKeys(prefix: string = DEFAULT_KV_PREFIX): KeyBuilder {
  const k = (...parts: string[]) => [prefix, ...parts].join(":");
  return {
    prefix,
    page: (section, slug) => k("page", section, slug),
    index: (section) => k("index", section),
    cursor: (section) => k("cursor", section),
    lease: (section) => k("lease", section),
    workList: (section, runId) => k("work", section, runId),
    runResults: (section, runId) => k("results", section, runId),
    partialPage: (section, pageId) => k("partial", section, pageId),
    childQueue: () => k("children", "queue"),
    refetch: () => k("refetch"),
    runs: (section) => k("runs", section),
    dataSource: (databaseId) => k("datasource", databaseId),
  };
}
