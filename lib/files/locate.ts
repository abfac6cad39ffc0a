/**
 * Where files sit in Notion's objects, and what a file object says. Notion
 * has one file object for blocks, covers, icons and `files` properties:
 *   { type: "file", file: { url, expiry_time } }   hosted by Notion, signed for an hour
 *   { type: "external", external: { url } }         never expires, returned as is
 *   { type: "file_upload", file_upload: { id } }     becomes "file" once attached
 * (files properties add a `name`, blocks a `caption` and sometimes a `name`).
 */
import type { FileRefTarget } from "./refs";

export interface HostedFile {
  type: "file";
  file: { url: string; expiry_time?: string | null };
  [key: string]: unknown;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** A Notion-hosted file object (signed URL that expires). */
export function isNotionHosted(value: unknown): value is HostedFile {
  if (!isObject(value) || value.type !== "file" || !isObject(value.file)) return false;
  return typeof value.file.url === "string" && value.file.url !== "";
}

/**
 * A Notion-hosted file the sync copied to the files store (FILES_MIRROR):
 * `{type: "file", file: {url: <store URL>, mirrored: true}}`, or a flattened
 * files value `{name, url, notionHosted: true, mirrored: true}`. Its URL never
 * expires, so readers get it as it is.
 */
export function isMirrored(value: unknown): boolean {
  if (!isObject(value)) return false;
  if (value.mirrored === true) return true;
  return value.type === "file" && isObject(value.file) && value.file.mirrored === true;
}

/** The URL a file object points at now, and until when (null: never expires). */
export function fileLocation(value: unknown): { url: string; expiresAt: string | null } | null {
  if (isNotionHosted(value)) {
    const expiry = value.file.expiry_time;
    return {
      url: value.file.url,
      expiresAt: typeof expiry === "string" && !Number.isNaN(Date.parse(expiry)) ? expiry : null,
    };
  }
  if (
    isObject(value) &&
    value.type === "external" &&
    isObject(value.external) &&
    typeof value.external.url === "string" &&
    value.external.url !== ""
  ) {
    return { url: value.external.url, expiresAt: null };
  }
  return null;
}

interface BlockLike {
  type?: unknown;
  [key: string]: unknown;
}

/** The file object of a block (image, file, video, audio, pdf: the body is the file object), or its icon (callouts). */
export function blockFile(block: BlockLike, kind: "block" | "block_icon"): unknown {
  const body = typeof block.type === "string" ? block[block.type] : undefined;
  if (!isObject(body)) return undefined;
  return kind === "block" ? body : body.icon;
}

interface PageLike {
  cover?: unknown;
  icon?: unknown;
  properties?: Record<string, unknown>;
}

/**
 * The items of the `files` property a ref names. By id (bundles carry
 * Notion's property ids): Notion's list as it is. By name (index entries,
 * whose flattened lists keep only the items that have a URL,
 * lib/mirror/properties.ts fileValues): those items, so positions agree.
 */
export function filesProperty(page: PageLike, by: "id" | "name", key: string): unknown[] | undefined {
  const properties = isObject(page.properties) ? page.properties : {};
  const prop = by === "name" ? properties[key] : Object.values(properties).find((p) => isObject(p) && p.id === key);
  if (!isObject(prop) || prop.type !== "files" || !Array.isArray(prop.files)) return undefined;
  return by === "id" ? prop.files : prop.files.filter((file) => fileLocation(file) !== null);
}

/**
 * Whether a flattened file value (`{name, url}`, no expiry) is Notion-hosted:
 * its `notionHosted` flag when it has one, else its URL: a signed S3 URL
 * (X-Amz-Signature / X-Amz-Credential), as Notion hands out. An external
 * file that happens to be presigned S3 is then served through the route
 * too, which redirects to the same external URL.
 */
export function looksNotionHosted(value: { url: string; notionHosted?: unknown }): boolean {
  if (typeof value.notionHosted === "boolean") return value.notionHosted;
  try {
    const url = new URL(value.url);
    return (
      url.protocol === "https:" && (url.searchParams.has("X-Amz-Signature") || url.searchParams.has("X-Amz-Credential"))
    );
  } catch {
    return false;
  }
}

/** The file object a page-level ref names, as the page holds it now. */
export function pageFile(
  page: PageLike,
  target: Exclude<FileRefTarget, { kind: "block" } | { kind: "block_icon" }>,
): unknown {
  switch (target.kind) {
    case "cover":
      return page.cover;
    case "icon":
      return page.icon;
    case "prop":
      return filesProperty(page, target.by, target.key)?.[target.index];
  }
}
