/**
 * A hosted file's identity and its object's key. Notion signs the same S3
 * object anew at every read: the origin and path name the object, the query
 * only signs it, so the identity changes when the file is replaced, never
 * when it is re-signed.
 */
import { createHash } from "node:crypto";

/** 32 hex digits: sha256 of the URL's origin and path (of the whole text when it is not a URL). */
export function fileIdentity(url: string): string {
  return createHash("sha256").update(stableUrl(url)).digest("hex").slice(0, 32);
}

/** The URL without its query and fragment (HTML entities of markdown attributes undone). */
export function stableUrl(url: string): string {
  const text = url.replace(/&amp;/g, "&");
  try {
    const u = new URL(text);
    return `${u.origin}${u.pathname}`;
  } catch {
    return text;
  }
}

const MAX_NAME = 100;

/** The URL's last path segment, decoded, kept to [A-Za-z0-9._-] and 100 characters; "file" when nothing is left. */
export function fileName(url: string): string {
  let segment = "";
  try {
    segment = new URL(url.replace(/&amp;/g, "&")).pathname.split("/").pop() ?? "";
  } catch {
    segment = "";
  }
  let decoded = segment;
  try {
    decoded = decodeURIComponent(segment);
  } catch {
    // a malformed escape: the segment as it is
  }
  const safe = decoded
    .replace(/[^A-Za-z0-9._-]+/g, "_")
    .replace(/^[._]+/, "")
    .slice(0, MAX_NAME);
  return safe === "" ? "file" : safe;
}

/** Where the object lives in the store: `<kv prefix>/<section>/<identity>/<file name>`. */
export function objectKey(prefix: string, section: string, identity: string, url: string): string {
  return `${prefix}/${section}/${identity}/${fileName(url)}`;
}
