/**
 * Reads a page's content as a block tree, one level per request, and can stop
 * at any request boundary and resume later from a serializable checkpoint.
 * That is what lets a page of thousands of blocks span invocations without
 * pushing any of them past its budget.
 *
 * This is one ContentFetcher; the markdown fetcher (markdown-fetcher.ts,
 * GET /pages/{id}/markdown) is the other, with the same contract.
 */
import { NotionSyncError } from "./errors";
import type { NotionSource } from "./source";
import { type NotionBlock, OWN_OBJECT_BLOCK_TYPES } from "./types";

export type BlockTree = NotionBlock & { children?: BlockTree[] };

export interface ChildPageRef {
  id: string;
  title: string;
}

/** Where a partly read page stands. Plain JSON: it is stored in KV between invocations. */
export interface BlockFetchCheckpoint {
  pageId: string;
  /** Blocks read so far, flat, in the order Notion returned them. */
  fetched: { parentId: string; block: NotionBlock }[];
  /** Lists still to read: a parent and the cursor to continue it from. */
  pending: { parentId: string; cursor: string | null }[];
  requests: number;
  /** Blocks whose children Notion would not give (404/400): kept without children. */
  unreadable?: string[];
}

function isUnreadableBlock(error: unknown): boolean {
  return NotionSyncError.is(error, "gone") || (NotionSyncError.is(error, "permanent") && error.details.status === 400);
}

/** Block types whose children the API does not serve. */
const NO_DESCENT_TYPES = new Set(["unsupported"]);

/** How page content is read (a section's `content`; SYNC_CONTENT by default). "none": not at all (index only). */
export type ContentMode = "blocks" | "markdown" | "none";

/** What the block-tree fetcher reads. */
export interface PageContent {
  content?: "blocks";
  blocks: BlockTree[];
  childPages: ChildPageRef[];
  blockCount: number;
  requests: number;
  /** Read as blocks because Notion's markdown for the page was truncated (markdown mode). */
  fallback?: "markdown_truncated";
}

export interface MarkdownPageContent {
  content: "markdown";
  markdown: string;
  truncated: boolean;
  unknown_block_ids: string[];
  /** From the markdown's `<page url="…">Title</page>` tags, in document order. */
  childPages: ChildPageRef[];
  /** Blocks read through the block API: 0 (the markdown is one request). */
  blockCount: number;
  requests: number;
  /** Earliest expiry of a Notion-hosted (signed) URL in the markdown. */
  filesExpireAt: string | null;
}

/** What a content fetcher reads: a block tree or markdown (`content` tells them apart). */
export type FetchedContent = PageContent | MarkdownPageContent;

export type ContentResult<C extends FetchedContent = PageContent> =
  { done: true; content: C } | { done: false; checkpoint: BlockFetchCheckpoint };

export interface ContentFetcher<C extends FetchedContent = FetchedContent> {
  /** The mode it reads in (absent: blocks); recorded in each fetched page's ledger entry. */
  readonly mode?: ContentMode;
  /**
   * Reads the page's content, starting from `resume` when given. Returns a
   * checkpoint instead of finishing when `shouldStop()` says the budget is
   * nearly spent. Errors (NotionSyncError, BudgetExhaustedError) propagate:
   * the caller keeps the last checkpoint it stored.
   */
  fetch(
    pageId: string,
    options: {
      resume?: BlockFetchCheckpoint;
      shouldStop: () => boolean;
      onProgress?: (c: BlockFetchCheckpoint) => void;
    },
  ): Promise<ContentResult<C>>;
}

export function createBlockTreeFetcher(notion: NotionSource): ContentFetcher<PageContent> {
  return {
    mode: "blocks",
    async fetch(pageId, { resume, shouldStop, onProgress }) {
      const state: BlockFetchCheckpoint = resume
        ? structuredClone(resume)
        : { pageId, fetched: [], pending: [{ parentId: pageId, cursor: null }], requests: 0 };
      // Lists already read or queued: a synced copy lists its original's children (the same
      // blocks, by id), so a nested block under both would otherwise be read twice and its
      // children appear twice.
      const queued = new Set([...state.pending.map((p) => p.parentId), ...state.fetched.map((f) => f.parentId)]);
      while (state.pending.length > 0) {
        if (shouldStop()) return { done: false, checkpoint: state };
        const next = state.pending[0];
        let page;
        try {
          page = await notion.listBlockChildren(next.parentId, next.cursor);
        } catch (error) {
          // One unreadable block must not cost the page: a synced-block copy whose
          // original is not shared answers 404, a block deleted between two reads
          // answers 404, some block types answer 400. Keep the block, without children.
          if (next.parentId !== pageId && isUnreadableBlock(error)) {
            state.pending.shift();
            state.unreadable = [...(state.unreadable ?? []), next.parentId];
            continue;
          }
          throw error;
        }
        state.requests++;
        // Replace the head only after the request succeeded, so a failure leaves
        // the checkpoint pointing at the list that must be read again.
        state.pending.shift();
        if (page.nextCursor) state.pending.unshift({ parentId: next.parentId, cursor: page.nextCursor });
        for (const block of page.results) {
          state.fetched.push({ parentId: next.parentId, block });
          if (
            block.has_children &&
            !OWN_OBJECT_BLOCK_TYPES.has(block.type) &&
            !NO_DESCENT_TYPES.has(block.type) &&
            !queued.has(block.id)
          ) {
            queued.add(block.id);
            state.pending.push({ parentId: block.id, cursor: null });
          }
        }
        onProgress?.(state);
      }
      return { done: true, content: assemble(state) };
    },
  };
}

/** Builds the nested tree from the flat list; children keep Notion's order. */
export function assemble(state: BlockFetchCheckpoint): PageContent {
  const byParent = new Map<string, BlockTree[]>();
  for (const { parentId, block } of state.fetched) {
    const list = byParent.get(parentId) ?? [];
    list.push({ ...block });
    byParent.set(parentId, list);
  }
  const childPages: ChildPageRef[] = [];
  const attach = (nodes: BlockTree[]): BlockTree[] =>
    nodes.map((node) => {
      if (node.type === "child_page") {
        const title = (node.child_page as { title?: string } | undefined)?.title ?? "";
        childPages.push({ id: node.id, title });
      }
      if (node.has_children && !OWN_OBJECT_BLOCK_TYPES.has(node.type) && !NO_DESCENT_TYPES.has(node.type)) {
        return { ...node, children: attach(byParent.get(node.id) ?? []) };
      }
      return node;
    });
  const blocks = attach(byParent.get(state.pageId) ?? []);
  return { blocks, childPages, blockCount: state.fetched.length, requests: state.requests };
}
