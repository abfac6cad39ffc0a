/**
 * Reads a page's content as Notion-flavoured markdown: ONE request
 * (GET /v1/pages/{id}/markdown, `pages.retrieveMarkdown`) through the same
 * paced, deadline-bound, classified client as every other call.
 *
 * - Child pages are taken from the markdown's `<page url="…">Title</page>`
 *   tags (Notion never inlines them), so the children section follows them
 *   as it follows `child_page` blocks in block mode.
 * - A truncated answer (past about 20,000 blocks, or content not shared with
 *   the integration) falls back to the block tree for that page, which
 *   checkpoints block list by block list like block mode; the checkpoint is
 *   marked, so a page resumed in a later invocation does not ask for its
 *   markdown again. The content then says `fallback: "markdown_truncated"`.
 * - Notion-hosted file URLs in the markdown are signed and expire (an hour);
 *   their earliest expiry (X-Amz-Date + X-Amz-Expires) is reported with the
 *   content so the bundle's `files_expire_at` covers them.
 */
import { BudgetExhaustedError } from "../core/deadline";
import {
  type BlockFetchCheckpoint,
  type ChildPageRef,
  type ContentFetcher,
  type ContentResult,
  type FetchedContent,
  type PageContent,
  createBlockTreeFetcher,
} from "./block-tree";
import type { NotionSource } from "./source";

export const MARKDOWN_TRUNCATED = "markdown_truncated" as const;

/** A block-tree checkpoint taken after Notion's markdown came back truncated. */
type FallbackCheckpoint = BlockFetchCheckpoint & { fallback?: typeof MARKDOWN_TRUNCATED };

export function createMarkdownFetcher(
  notion: NotionSource,
  blockTree: ContentFetcher<PageContent> = createBlockTreeFetcher(notion),
): ContentFetcher {
  const viaBlocks = async (
    pageId: string,
    resume: FallbackCheckpoint,
    options: Parameters<ContentFetcher["fetch"]>[1],
  ): Promise<ContentResult<FetchedContent>> => {
    const result = await blockTree.fetch(pageId, { ...options, resume });
    if (!result.done) return result;
    return { done: true, content: { ...result.content, content: "blocks", fallback: MARKDOWN_TRUNCATED } };
  };
  return {
    mode: "markdown",
    async fetch(pageId, options) {
      const resume = options.resume as FallbackCheckpoint | undefined;
      // A fallback under way continues; a block-mode checkpoint (the mode changed mid-page) is dropped.
      if (resume?.fallback === MARKDOWN_TRUNCATED) return viaBlocks(pageId, resume, options);
      if (options.shouldStop()) throw new BudgetExhaustedError("no budget left for the page's markdown");
      const answer = await notion.retrievePageMarkdown(pageId);
      if (answer.truncated) {
        const start: FallbackCheckpoint = {
          pageId,
          fetched: [],
          pending: [{ parentId: pageId, cursor: null }],
          requests: 1,
          fallback: MARKDOWN_TRUNCATED,
        };
        return viaBlocks(pageId, start, options);
      }
      return {
        done: true,
        content: {
          content: "markdown",
          markdown: answer.markdown,
          truncated: false,
          unknown_block_ids: answer.unknown_block_ids,
          childPages: pageTags(answer.markdown),
          blockCount: 0,
          requests: 1,
          filesExpireAt: markdownFilesExpireAt(answer.markdown),
        },
      };
    },
  };
}

// ------------------------------------------------------------------ reading the markdown

/** The markdown without code: fenced blocks (at any indentation) and inline code spans, where tags are literal text. */
function withoutCode(markdown: string): string {
  const out: string[] = [];
  let fence: string | null = null;
  for (const line of markdown.split("\n")) {
    const marker = /^[\t ]*(`{3,}|~{3,})/.exec(line)?.[1];
    if (fence !== null) {
      if (marker && marker[0] === fence[0] && marker.length >= fence.length && line.trim() === marker) fence = null;
      continue;
    }
    if (marker) {
      fence = marker;
      continue;
    }
    out.push(line.replace(/(?<!\\)(`+)[^`]*?(?<!\\)\1/g, ""));
  }
  return out.join("\n");
}

const UUID = /([0-9a-f]{8})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{12})$/i;

/**
 * The page id a Notion URL names: the 32 hex digits (dashed or not) ending
 * its last path segment, whatever the host or title words
 * (`https://www.notion.so/Title-<id>`, `https://app.notion.com/p/<id>`).
 */
export function notionIdFromUrl(url: string): string | null {
  const path = decodeEntities(url).split(/[?#]/)[0].replace(/\/+$/, "");
  const match = UUID.exec(path.slice(path.lastIndexOf("/") + 1));
  if (!match) return null;
  return match.slice(1, 6).join("-").toLowerCase();
}

function decodeEntities(text: string): string {
  return text.replace(
    /&(amp|lt|gt|quot|apos|#39);/g,
    (_m, name: string) => ({ amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", "#39": "'" })[name] ?? _m,
  );
}

/** Markdown backslash escapes undone, inline tags dropped: the plain title. */
function plainTitle(text: string): string {
  return decodeEntities(text.replace(/<[^>]+>/g, ""))
    .replace(/\\([\\*~`$[\]<>{}|^_#+\-.!()])/g, "$1")
    .trim();
}

/**
 * Child pages in the markdown, in document order, once each:
 * `<page url="URL" …>Title</page>` (not `<mention-page>`, which links a page
 * without holding it). Tags inside code are text, not pages.
 */
export function pageTags(markdown: string): ChildPageRef[] {
  const found = new Map<string, ChildPageRef>();
  for (const match of withoutCode(markdown).matchAll(/<page\b([^>]*)>([\s\S]*?)<\/page>/g)) {
    const url = /\burl="([^"]*)"/.exec(match[1])?.[1];
    const id = url ? notionIdFromUrl(url) : null;
    if (id && !found.has(id)) found.set(id, { id, title: plainTitle(match[2]) });
  }
  return [...found.values()];
}

/**
 * When a signed URL stops working: AWS SigV4 (`X-Amz-Date` + `X-Amz-Expires`,
 * what Notion hands out for its S3 files), or an `expirationTimestamp` in ms
 * (Notion's file.notion.so links). Null for a URL that does not expire.
 */
export function signedUrlExpiresAt(url: string): number | null {
  let u: URL;
  try {
    u = new URL(decodeEntities(url));
  } catch {
    return null;
  }
  const date = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(u.searchParams.get("X-Amz-Date") ?? "");
  const expires = Number(u.searchParams.get("X-Amz-Expires") ?? NaN);
  if (date && Number.isFinite(expires))
    return Date.UTC(+date[1], +date[2] - 1, +date[3], +date[4], +date[5], +date[6]) + expires * 1000;
  const stamp = Number(u.searchParams.get("expirationTimestamp") ?? NaN);
  return Number.isFinite(stamp) && stamp > 0 ? stamp : null;
}

/** The earliest expiry among the signed URLs in the markdown (images, files, icons), as ISO time, or null. */
export function markdownFilesExpireAt(markdown: string): string | null {
  let earliest = Infinity;
  for (const [url] of markdown.matchAll(/https?:\/\/[^\s"'<>()\\\]]+/g)) {
    const at = signedUrlExpiresAt(url);
    if (at !== null && at < earliest) earliest = at;
  }
  return Number.isFinite(earliest) ? new Date(earliest).toISOString() : null;
}
