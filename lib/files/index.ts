/**
 * Files that never expire for the site: refs (refs.ts), where files sit in
 * Notion's objects (locate.ts), the earliest expiry of a bundle (expiry.ts),
 * read-time rewriting to `/api/files/<ref>` (rewrite.ts) and the cached,
 * single-flight refresh behind the route (resolve.ts).
 */
import { ConfigError } from "../config";
import { fileLinker, type FileLinker } from "./rewrite";
import { fileRefKey } from "./refs";

export { filesExpireAt, type FileHolders } from "./expiry";
export { blockFile, fileLocation, isNotionHosted, pageFile } from "./locate";
export {
  type FileRef,
  type FileRefTarget,
  decodeFileRef,
  encodeFileRef,
  fileRefKey,
  fileRefSlot,
  fileTag,
} from "./refs";
export { FILES_PATH, type FileLinker, fileLinker, rewriteBundleFiles, rewriteEntryFiles } from "./rewrite";
export {
  type CachedFile,
  type FileNotion,
  type FileResolver,
  type Resolved,
  createFileResolver,
  REFRESH_MARGIN_MS,
} from "./resolve";

type Env = Record<string, string | undefined>;

export interface FileLinkSettings {
  /** Put before `/api/files/<ref>`: "" (origin-relative, the default) or an origin such as https://example.com. */
  base?: string;
  /** The ref key's secret; default FILES_REF_SECRET, else CRON_SECRET. */
  secret?: string;
}

/** FILES_BASE_URL: "" or an http(s) origin (a path prefix is kept), without a trailing slash. */
export function filesBaseUrl(env: Env): string {
  const raw = env.FILES_BASE_URL?.trim() ?? "";
  if (raw === "") return "";
  if (raw.startsWith("/")) return raw.replace(/\/+$/, "");
  try {
    const url = new URL(raw);
    if (url.protocol !== "https:" && url.protocol !== "http:") throw new Error("not http");
  } catch {
    throw new ConfigError("invalid configuration: FILES_BASE_URL must be an http(s) URL or a path starting with /", [
      "FILES_BASE_URL",
    ]);
  }
  return raw.replace(/\/+$/, "");
}

/** The linker the read API uses, from explicit settings or the environment (throws ConfigError without a key). */
export function linkerFromSettings(settings: FileLinkSettings = {}, env: Env = process.env): FileLinker {
  const key = fileRefKey(settings.secret !== undefined ? { FILES_REF_SECRET: settings.secret } : env);
  return fileLinker({ key, base: settings.base ?? filesBaseUrl(env) });
}
