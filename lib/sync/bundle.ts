/**
 * What lands in KV for a site to read: a page bundle per slug and an index
 * per section. These shapes are the product's public contract (README, "What
 * lands in KV"); lib/read.ts is how a site reads them.
 */
import type { BlockTree, FetchedContent } from "../notion/block-tree";
import type { NotionPage } from "../notion/types";
import type { Section } from "../core/sections";
import { filesExpireAt } from "../files/expiry";
import { type EntryOptions, entryTitle, keptProperties } from "../mirror/entry-shape";
import { keepCompletedValues, simplifyProperties } from "../mirror/properties";
import type { SectionSpec } from "../workspace/types";

export type { IndexEntry, PageBundle, SimpleValue } from "../mirror/shapes";
import type { IndexEntry, PageBundle } from "../mirror/shapes";
export { simplifyProperties } from "../mirror/properties";

/** What a section's spec says of its entries (a children section: nothing, today's entries). */
export function entryOptions(spec: SectionSpec): EntryOptions {
  return spec.kind === "database" ? { titleProperty: spec.titleProperty, properties: spec.properties } : {};
}

export function indexEntryFor(
  page: NotionPage,
  slug: string,
  childPages: string[],
  extra: Pick<IndexEntry, "parentId" | "depth"> = {},
  options: EntryOptions = {},
): IndexEntry {
  return {
    id: page.id,
    slug,
    title: entryTitle(page, options.titleProperty),
    created_time: page.created_time,
    last_edited_time: page.last_edited_time,
    properties: keptProperties(simplifyProperties(page.properties), options.properties),
    childPages,
    ...extra,
  };
}

/**
 * The entry of a page that was not re-read (its content unchanged): from the
 * page object or listed row, keeping the complete values the previous entry
 * holds for relations and people the row cuts at 25 references. Null when
 * such a value no longer agrees with the row: the page must be re-read.
 */
export function unchangedEntry(
  page: NotionPage,
  slug: string,
  previous: IndexEntry,
  extra: Pick<IndexEntry, "parentId" | "depth"> = {},
  options: EntryOptions = {},
): IndexEntry | null {
  const entry = indexEntryFor(page, slug, previous.childPages, extra, options);
  const properties = keepCompletedValues(page, entry.properties, previous.properties);
  return properties ? { ...entry, properties } : null;
}

export function buildBundle(
  page: NotionPage,
  section: Section,
  slug: string,
  content: FetchedContent,
  now: Date,
  options: EntryOptions = {},
): PageBundle {
  const base = {
    id: page.id,
    slug,
    title: entryTitle(page, options.titleProperty),
    section,
    parent: page.parent,
    properties: page.properties,
    created_time: page.created_time,
    last_edited_time: page.last_edited_time,
    url: page.url ?? null,
    icon: page.icon ?? null,
    cover: page.cover ?? null,
  };
  if (content.content === "markdown") {
    // The page's own files (cover, icon, files properties) and the signed URLs in the markdown.
    const own = filesExpireAt({ cover: page.cover, icon: page.icon, properties: page.properties });
    const times = [own, content.filesExpireAt].filter((t): t is string => t !== null);
    return {
      ...base,
      content: "markdown",
      markdown: content.markdown,
      truncated: content.truncated,
      unknown_block_ids: content.unknown_block_ids,
      childPages: content.childPages,
      files_expire_at: times.sort((a, b) => Date.parse(a) - Date.parse(b))[0] ?? null,
      synced_at: now.toISOString(),
    };
  }
  return {
    ...base,
    content: "blocks",
    ...(content.fallback ? { fallback: content.fallback } : {}),
    blocks: content.blocks,
    childPages: content.childPages,
    blockCount: content.blockCount,
    // Every Notion-hosted file: blocks at any depth, cover, icon, files properties (lib/files/expiry.ts).
    files_expire_at: filesExpireAt({
      blocks: content.blocks,
      cover: page.cover,
      icon: page.icon,
      properties: page.properties,
    }),
    synced_at: now.toISOString(),
  };
}
