/**
 * The shapes a site reads from KV: a page bundle per slug and the entries of a
 * section index. They are the product's public contract (README, "What lands
 * in KV"); lib/read.ts reads them, lib/sync writes them.
 */
import type { BlockTree, ChildPageRef } from "../notion/block-tree";
import type { NotionPage } from "../notion/types";
import type { Section } from "../core/sections";

export interface PageBundle {
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
  blocks: BlockTree[];
  childPages: ChildPageRef[];
  blockCount: number;
  /** Earliest expiry of a Notion-hosted file URL in the blocks: re-sync or proxy before it. */
  files_expire_at: string | null;
  synced_at: string;
}

export type SimpleValue = string | number | boolean | string[] | null;

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
