/**
 * What every block component of the preview gets besides its block: where
 * linked pages are previewed, and the page's headings (for a table of
 * contents). Plain data: the components are server components.
 */
import type { BlockTree } from "@/lib/notion/block-tree";
import { normalizeId } from "@/lib/notion/types";

export type Block = BlockTree;

export interface RenderContext {
  /** Preview paths by page id without dashes (lib/preview/load.ts). */
  links: Record<string, string>;
  headings: { id: string; level: number; text: string }[];
}

export const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** A block's own object (`block[block.type]`), or an empty one. */
export function payload(block: Block): Record<string, unknown> {
  const body = block[block.type];
  return isObject(body) ? body : {};
}

export function linkFor(ctx: RenderContext, pageId: unknown): string | undefined {
  return typeof pageId === "string" ? ctx.links[normalizeId(pageId)] : undefined;
}

/** Where a heading's anchor points (a table of contents links to it). */
export const headingAnchor = (blockId: string) => `h-${normalizeId(blockId)}`;

/** Notion colours (`red`, `gray_background`, …) as a class; anything else as none. */
export function colorClass(color: unknown): string | undefined {
  return typeof color === "string" && color !== "default" && /^[a-z]+(_background)?$/.test(color)
    ? `c-${color}`
    : undefined;
}

/**
 * Links a reader may follow: http(s), mailto and tel, and paths of this site.
 * A Notion-relative link (`/<page id>`) goes to that page's preview when it
 * is in the mirror, else to notion.so. Anything else (javascript:, data:) is dropped.
 */
export function safeHref(url: unknown, ctx: RenderContext): string | undefined {
  if (typeof url !== "string" || url.trim() === "") return undefined;
  const value = url.trim();
  const relative = value.match(/^\/(?:[^/?#]*-)?([0-9a-f]{32})(?:[?#].*)?$/i);
  if (relative) return ctx.links[relative[1].toLowerCase()] ?? `https://www.notion.so${value}`;
  if (value.startsWith("/") && !value.startsWith("//")) return `https://www.notion.so${value}`;
  try {
    const parsed = new URL(value);
    return ["http:", "https:", "mailto:", "tel:"].includes(parsed.protocol) ? parsed.href : undefined;
  } catch {
    return undefined;
  }
}

/** A file object's URL (`file`, `external`, or what the file route made of it). */
export function fileUrl(file: unknown): string | undefined {
  if (!isObject(file)) return undefined;
  const inner = file.type === "external" ? file.external : file.file;
  return isObject(inner) && typeof inner.url === "string" ? inner.url : undefined;
}

/** Media sources a page may load: the file route (relative or absolute) and http(s) URLs (the files store's among them). */
export function safeSrc(url: string | undefined): string | undefined {
  if (!url) return undefined;
  if (url.startsWith("/") && !url.startsWith("//")) return url;
  try {
    const parsed = new URL(url);
    return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : undefined;
  } catch {
    return undefined;
  }
}
