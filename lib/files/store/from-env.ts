/**
 * FILES_MIRROR and its variables → the store the engine copies Notion-hosted files to, or
 * null (off: files stay behind the /api/files route). Every variable is checked here, once;
 * errors name variables, never values (keys and tokens are secrets).
 */
import { ConfigError } from "../../config";
import type { BlobStoreOptions } from "./blob";
import type { S3StoreOptions } from "./s3";
import type { FileStore, FilesMirrorSettings } from "./types";

type Env = Record<string, string | undefined>;

/** Every variable the mirror's settings depend on (the runtime keys its per-process store on them). */
export const FILES_MIRROR_VARIABLES = [
  "FILES_MIRROR",
  "FILES_MAX_BYTES",
  "FILES_GC_DAYS",
  "FILES_PUBLIC_BASE_URL",
  "S3_ENDPOINT",
  "S3_BUCKET",
  "S3_REGION",
  "S3_ACCESS_KEY_ID",
  "S3_SECRET_ACCESS_KEY",
  "S3_FORCE_PATH_STYLE",
  "BLOB_READ_WRITE_TOKEN",
  "VERCEL_BLOB_API_URL",
] as const;

export const FILES_MAX_BYTES_DEFAULT = 52_428_800;
export const FILES_GC_DAYS_DEFAULT = 7;
/** S3's limit for one PutObject. */
const FILES_MAX_BYTES_LIMIT = 5 * 1024 ** 3;

export function filesMirrorFromEnv(env: Env): FilesMirrorSettings | null {
  const mode = (env.FILES_MIRROR ?? "").trim().toLowerCase();
  if (mode === "" || mode === "off") return null;
  if (mode !== "s3" && mode !== "blob") invalid("FILES_MIRROR", 'must be "s3", "blob" or "off"');
  const maxBytes = integer(env, "FILES_MAX_BYTES", 1, FILES_MAX_BYTES_LIMIT, FILES_MAX_BYTES_DEFAULT);
  const gcDays = integer(env, "FILES_GC_DAYS", 0, 3650, FILES_GC_DAYS_DEFAULT);
  const store = mode === "s3" ? s3FromEnv(env) : blobFromEnv(env);
  return { store, maxBytes, gcDays };
}

function s3FromEnv(env: Env): FileStore {
  const endpoint = optional(env, "S3_ENDPOINT");
  const region = optional(env, "S3_REGION");
  requirePresent(env, [
    "S3_BUCKET",
    "S3_ACCESS_KEY_ID",
    "S3_SECRET_ACCESS_KEY",
    "FILES_PUBLIC_BASE_URL",
    // Without an endpoint the SDK signs for (and reaches) AWS in this region: it must be the bucket's.
    ...(endpoint ? [] : ["S3_REGION"]),
  ]);
  if (endpoint !== undefined) httpUrl("S3_ENDPOINT", endpoint);
  if (region !== undefined && !/^[a-z0-9-]{1,40}$/.test(region)) {
    invalid("S3_REGION", 'must be a region name such as "us-east-1" or "auto"');
  }
  const bucket = optional(env, "S3_BUCKET")!;
  if (!/^[A-Za-z0-9._-]{1,255}$/.test(bucket)) invalid("S3_BUCKET", "must be a bucket name (letters, digits, . _ -)");
  for (const name of ["S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"]) {
    if (/\s/.test(optional(env, name)!)) invalid(name, "must not contain whitespace");
  }
  const options: S3StoreOptions = {
    endpoint,
    region: region ?? "auto",
    bucket,
    accessKeyId: optional(env, "S3_ACCESS_KEY_ID")!,
    secretAccessKey: optional(env, "S3_SECRET_ACCESS_KEY")!,
    forcePathStyle: boolean(env, "S3_FORCE_PATH_STYLE"),
    publicBaseUrl: httpUrl("FILES_PUBLIC_BASE_URL", optional(env, "FILES_PUBLIC_BASE_URL")!).replace(/\/+$/, ""),
  };
  return lazyStore("s3", async () => (await import("./s3")).createS3Store(options));
}

function blobFromEnv(env: Env): FileStore {
  requirePresent(env, ["BLOB_READ_WRITE_TOKEN"]);
  const token = optional(env, "BLOB_READ_WRITE_TOKEN")!;
  // @vercel/blob reads the store id from the token's fourth "_"-separated part.
  if (!/^vercel_blob_rw_[A-Za-z0-9]+_\S+$/.test(token)) {
    invalid("BLOB_READ_WRITE_TOKEN", "must be a Vercel Blob read-write token (vercel_blob_rw_…)");
  }
  const apiUrl = optional(env, "VERCEL_BLOB_API_URL");
  if (apiUrl !== undefined) httpUrl("VERCEL_BLOB_API_URL", apiUrl);
  const options: BlobStoreOptions = { token };
  return lazyStore("blob", async () => (await import("./blob")).createBlobStore(options));
}

/** The store, its SDK loaded at its first call: every process importing the runtime would pay for it otherwise. */
function lazyStore(kind: FileStore["kind"], load: () => Promise<FileStore>): FileStore {
  let loading: Promise<FileStore> | undefined;
  const store = () => (loading ??= load());
  return {
    kind,
    put: async (key, body, meta) => (await store()).put(key, body, meta),
    delete: async (objects) => (await store()).delete(objects),
  };
}

function optional(env: Env, name: string): string | undefined {
  const v = env[name]?.trim();
  return v ? v : undefined;
}

function requirePresent(env: Env, names: string[]): void {
  const missing = names.filter((n) => optional(env, n) === undefined);
  if (missing.length > 0) {
    const which = `FILES_MIRROR=${env.FILES_MIRROR?.trim().toLowerCase()}`;
    throw new ConfigError(
      `missing environment variable${missing.length > 1 ? "s" : ""} for ${which}: ${missing.join(", ")}`,
      missing,
    );
  }
}

function invalid(name: string, rule: string): never {
  throw new ConfigError(`invalid configuration: ${name} ${rule}`, [name]);
}

function integer(env: Env, name: string, min: number, max: number, fallback: number): number {
  const v = optional(env, name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < min || n > max) {
    invalid(name, `must be an integer from ${min} to ${max}`);
  }
  return n;
}

function boolean(env: Env, name: string): boolean {
  const v = optional(env, name)?.toLowerCase();
  if (v === undefined || v === "false" || v === "0") return false;
  if (v === "true" || v === "1") return true;
  return invalid(name, 'must be "true" or "false"');
}

function httpUrl(name: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return invalid(name, "must be an http(s) URL");
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") invalid(name, "must be an http(s) URL");
  if (url.username || url.password) invalid(name, "must not carry credentials");
  if (url.search || url.hash) invalid(name, "must have no query or fragment");
  return value;
}
