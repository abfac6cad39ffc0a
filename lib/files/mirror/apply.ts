/**
 * Pure functions between Notion's objects and the mirror: which hosted files
 * a page and its content hold, and the same objects with each copied file
 * pointing at its store URL. A mirrored file object is
 * `{type: "file", file: {url: <store URL>, mirrored: true}, …rest}` (no
 * expiry_time; name and caption kept); in markdown each hosted URL whose
 * identity is mapped is replaced by the store URL.
 */
import type { FetchedContent } from "../../notion/block-tree";
import { markdownFilesExpireAt, signedUrlExpiresAt } from "../../notion/markdown-fetcher";
import { isMirrored, isNotionHosted } from "../locate";
import { fileIdentity } from "./identity";

/** identity → store URL; "" for a file kept at Notion's URL (over FILES_MAX_BYTES). */
export type MirrorMap = Record<string, string>;

/** One hosted file as Notion's answer gives it: its identity and its signed URL. */
export interface HostedRef {
  identity: string;
  url: string;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null;

/** Every hosted file not mirrored yet in `value` (any depth), once per identity, in document order. */
export function hostedFiles(value: unknown): HostedRef[] {
  const found = new Map<string, HostedRef>();
  const visit = (node: unknown): void => {
    if (!isObject(node)) return;
    if (isNotionHosted(node) && !isMirrored(node)) {
      const identity = fileIdentity(node.file.url);
      if (!found.has(identity)) found.set(identity, { identity, url: node.file.url });
    }
    for (const child of Object.values(node)) if (isObject(child)) visit(child);
  };
  visit(value);
  return [...found.values()];
}

const URL_IN_TEXT = /https?:\/\/[^\s"'<>()\\\]]+/g;

/** A URL found in markdown, HTML entities undone (markdown escapes `&`), when it is a signed one; else null. */
function signedUrl(raw: string): string | null {
  return signedUrlExpiresAt(raw) === null ? null : raw.replace(/&amp;/g, "&");
}

/** The signed (Notion-hosted) URLs of a markdown text, once per identity, HTML entities undone. */
export function markdownFiles(markdown: string): HostedRef[] {
  const found = new Map<string, HostedRef>();
  for (const [raw] of markdown.matchAll(URL_IN_TEXT)) {
    const url = signedUrl(raw);
    if (url === null) continue;
    const identity = fileIdentity(url);
    if (!found.has(identity)) found.set(identity, { identity, url });
  }
  return [...found.values()];
}

interface PageFiles {
  cover?: unknown;
  icon?: unknown;
  properties?: unknown;
}

/** The hosted files of a page object (cover, icon, files properties) and of its content. */
export function pageHostedFiles(page: PageFiles, content?: FetchedContent): HostedRef[] {
  const own = hostedFiles([page.cover, page.icon, page.properties]);
  const inContent = !content
    ? []
    : content.content === "markdown"
      ? markdownFiles(content.markdown)
      : hostedFiles(content.blocks);
  const seen = new Set(own.map((f) => f.identity));
  return [...own, ...inContent.filter((f) => !seen.has(f.identity) && seen.add(f.identity))];
}

/** The files of `refs` the map has no entry for (not copied, not known too large). */
export function unmapped(refs: HostedRef[], map: MirrorMap | undefined): HostedRef[] {
  return refs.filter((ref) => map?.[ref.identity] === undefined);
}

/** `value` with each mapped hosted file pointing at the store (copy on write). */
export function mirrorValue<T>(value: T, map: MirrorMap): T {
  if (Array.isArray(value)) {
    let changed = false;
    const out = value.map((item) => {
      const next = mirrorValue(item, map);
      if (next !== item) changed = true;
      return next;
    });
    return (changed ? out : value) as T;
  }
  if (!isObject(value)) return value;
  if (isNotionHosted(value) && !isMirrored(value)) {
    const url = map[fileIdentity(value.file.url)];
    return url ? ({ ...value, type: "file", file: { url, mirrored: true } } as T) : value;
  }
  let out: Record<string, unknown> | null = null;
  for (const [key, child] of Object.entries(value)) {
    if (!isObject(child)) continue;
    const next = mirrorValue(child, map);
    if (next !== child) (out ??= { ...value })[key] = next;
  }
  return (out ?? value) as T;
}

/** The markdown with each mapped hosted URL replaced by its store URL. */
export function mirrorMarkdown(markdown: string, map: MirrorMap): string {
  return markdown.replace(URL_IN_TEXT, (raw) => {
    const url = signedUrl(raw);
    return (url !== null && map[fileIdentity(url)]) || raw;
  });
}

/** A page object with its cover, icon and files properties mirrored. */
export function mirrorPage<P extends PageFiles>(page: P, map: MirrorMap): P {
  const cover = mirrorValue(page.cover, map);
  const icon = mirrorValue(page.icon, map);
  const properties = mirrorValue(page.properties, map);
  if (cover === page.cover && icon === page.icon && properties === page.properties) return page;
  return { ...page, cover, icon, properties };
}

/** Fetched content with its files mirrored: blocks at any depth (callout icons too), or the markdown's URLs. */
export function mirrorContent<C extends FetchedContent>(content: C, map: MirrorMap): C {
  if (content.content === "markdown") {
    const markdown = mirrorMarkdown(content.markdown, map);
    return { ...content, markdown, filesExpireAt: markdownFilesExpireAt(markdown) };
  }
  return { ...content, blocks: mirrorValue(content.blocks, map) };
}
