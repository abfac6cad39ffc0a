/**
 * The content fetcher of a section's content mode: the block tree, Notion's
 * markdown, or none (an index-only section: no content request, no bundle).
 */
import { type ContentFetcher, type ContentMode, createBlockTreeFetcher } from "./block-tree";
import { createMarkdownFetcher } from "./markdown-fetcher";
import type { NotionSource } from "./source";

/** Reads nothing: the page's index entry is all an index-only section keeps. */
export const NO_CONTENT: ContentFetcher = {
  mode: "none",
  fetch: async () => ({
    done: true,
    content: { content: "blocks", blocks: [], childPages: [], blockCount: 0, requests: 0 },
  }),
};

export function createContentFetcher(mode: ContentMode, notion: NotionSource): ContentFetcher {
  if (mode === "none") return NO_CONTENT;
  return mode === "markdown" ? createMarkdownFetcher(notion) : createBlockTreeFetcher(notion);
}
