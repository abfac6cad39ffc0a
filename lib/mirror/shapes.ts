/**
 * The shapes a site reads from KV: a page bundle per slug and the entries of a
 * section index. They are the product's public contract (README, "What lands
 * in KV"); lib/read.ts reads them, lib/sync writes them.
 */
import type { BlockTree, ChildPageRef } from "../notion/block-tree";
import type { NotionPage } from "../notion/types";
import type { Section } from "../core/sections";

/**
 * A page bundle, by the content it holds (`content`: the section's content mode,
 * SYNC_CONTENT by default; an index-only section, content "none", has no bundles):
 * - "blocks": Notion's block tree (`blocks`, `blockCount`). `fallback:
 *   "markdown_truncated"` when markdown was asked for but Notion's markdown
 *   for the page was truncated, so it was read as blocks. Bundles written
 *   before content modes have no `content`: they are block bundles.
 * - "markdown": Notion-flavoured markdown (`markdown`), with Notion's
 *   `unknown_block_ids` (unsupported blocks) and `truncated` (always false:
 *   a truncated page falls back to blocks). No `blocks`.
 */
export type PageBundle = BlocksPageBundle | MarkdownPageBundle;

export interface BlocksPageBundle extends PageBundleBase {
  content?: "blocks";
  blocks: BlockTree[];
  blockCount: number;
  fallback?: "markdown_truncated";
}

export interface MarkdownPageBundle extends PageBundleBase {
  content: "markdown";
  markdown: string;
  truncated: boolean;
  unknown_block_ids: string[];
  blocks?: undefined;
  blockCount?: undefined;
}

interface PageBundleBase {
  id: string;
  slug: string;
  title: string;
  section: Section;
  /** Notion's parent object; for child pages also the parent page id. */
  parent: NotionPage["parent"];
  properties: NotionPage["properties"];
  created_time: string;
  last_edited_time: string;
  url: string | null;
  icon: unknown;
  cover: unknown;
  /** Child pages found in the content (child_page blocks, or the markdown's page tags). */
  childPages: ChildPageRef[];
  /**
   * Earliest expiry of a Notion-hosted file URL in the bundle (blocks at any depth, cover, icon,
   * files properties; lib/files/expiry.ts). Null in what the read API returns: it serves them
   * through /api/files/<ref> (lib/files), which never expire. Markdown bundles: the signed URLs
   * in `markdown` count too (X-Amz-Date + X-Amz-Expires), and the file route does not rewrite them.
   */
  files_expire_at: string | null;
  synced_at: string;
}

/** A property value flattened for the index (lib/mirror/properties.ts; README, "Flattened property values"). */
export type { SimpleValue } from "./properties";
import type { SimpleValue } from "./properties";

/** One row of a section index: enough to render a list without reading bundles. */
export interface IndexEntry {
  id: string;
  slug: string;
  title: string;
  created_time: string;
  last_edited_time: string;
  properties: Record<string, SimpleValue>;
  /** Child page ids found in the page's content (what the children section follows). */
  childPages: string[];
  /** Children only: the page whose content holds this one, and how deep it is. */
  parentId?: string;
  depth?: number;
}
