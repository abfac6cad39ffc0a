/**
 * Picks the KV backend from the environment:
 *
 *   KV_REST_API_URL + KV_REST_API_TOKEN  → Upstash REST (Vercel's KV integration)
 *   UPSTASH_REDIS_REST_URL + _TOKEN      → Upstash REST (a database from the Upstash console)
 *   REDIS_URL (or KV_URL)                → a Redis server
 *   nothing                              → file store under KV_FILE_DIR or .data/
 *
 * The file store is a local convenience; on a production deployment missing
 * configuration is an error rather than a silent fallback to a filesystem
 * that is read-only and not shared between invocations.
 *
 * Errors and descriptions name variables and hosts, never tokens or passwords.
 */
import path from "node:path";
import { KvConfigError } from "./errors";
import { FILE_STORE_NAME, createFileStore } from "./file";
import { createRedisStore, redisEndpoint } from "./redis";
import type { KvStore } from "./store";
import { createVercelKvStore } from "./vercel-kv";

type Env = NodeJS.ProcessEnv | Record<string, string | undefined>;

export type KvBackendConfig =
  | { kind: "vercel-kv"; url: string; token: string; variables: readonly [string, string] }
  | { kind: "redis"; url: string; variable: "REDIS_URL" | "KV_URL" }
  | { kind: "file"; dir: string };

const value = (env: Env, name: string): string | undefined => {
  const v = env[name]?.trim();
  return v ? v : undefined;
};

/** The REST variable pairs, Vercel's integration first, then the Upstash console's. */
const REST_PAIRS = [
  ["KV_REST_API_URL", "KV_REST_API_TOKEN"],
  ["UPSTASH_REDIS_REST_URL", "UPSTASH_REDIS_REST_TOKEN"],
] as const;

/** The Upstash REST endpoint of the first complete pair; a half-set pair is an error naming its missing half. */
function restBackend(env: Env): KvBackendConfig | null {
  for (const [urlName, tokenName] of REST_PAIRS) {
    const url = value(env, urlName);
    const token = value(env, tokenName);
    if (url && token) return { kind: "vercel-kv", url, token, variables: [urlName, tokenName] };
    if (url || token) {
      const [present, missing] = url ? [urlName, tokenName] : [tokenName, urlName];
      throw new KvConfigError(`${present} is set but ${missing} is missing: set both to use Upstash/Vercel KV`, [
        missing,
      ]);
    }
  }
  return null;
}

/** The backend the environment asks for; throws KvConfigError when it is incomplete. */
export function resolveKvBackend(env: Env = process.env): KvBackendConfig {
  const rest = restBackend(env);
  if (rest) return rest;
  const redisUrl = value(env, "REDIS_URL");
  if (redisUrl) return { kind: "redis", url: redisUrl, variable: "REDIS_URL" };
  // Vercel's KV integration also provides KV_URL (redis protocol) next to the
  // REST variables; on its own it is still a usable Redis endpoint.
  const kvUrl = value(env, "KV_URL");
  if (kvUrl) return { kind: "redis", url: kvUrl, variable: "KV_URL" };
  // Vercel's filesystem is read-only outside /tmp and not shared between
  // instances: the embedded store would lose or refuse every write there.
  if (env.VERCEL_ENV === "production" || env.VERCEL === "1") {
    throw new KvConfigError(
      "no KV store configured for production: set KV_REST_API_URL and KV_REST_API_TOKEN (Vercel KV), UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN (Upstash console), or REDIS_URL",
      ["KV_REST_API_URL", "KV_REST_API_TOKEN", "UPSTASH_REDIS_REST_URL", "UPSTASH_REDIS_REST_TOKEN", "REDIS_URL"],
    );
  }
  // A production server (next start) that fell through to here most likely has a misspelled
  // REDIS_URL: a per-instance file would silently stop leases from excluding anything.
  // Only an explicit KV_FILE_DIR says the embedded store is meant.
  if (env.NODE_ENV === "production" && !value(env, "KV_FILE_DIR")) {
    throw new KvConfigError(
      "no KV store configured (NODE_ENV=production): set KV_REST_API_URL and KV_REST_API_TOKEN, UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN, or REDIS_URL; set KV_FILE_DIR to use the embedded file store on purpose",
      [
        "KV_REST_API_URL",
        "KV_REST_API_TOKEN",
        "UPSTASH_REDIS_REST_URL",
        "UPSTASH_REDIS_REST_TOKEN",
        "REDIS_URL",
        "KV_FILE_DIR",
      ],
    );
  }
  return {
    kind: "file",
    dir: path.resolve(/* turbopackIgnore: true */ process.cwd(), value(env, "KV_FILE_DIR") ?? ".data"),
  };
}

export function createKvStore(env: Env = process.env): KvStore {
  const config = resolveKvBackend(env);
  switch (config.kind) {
    case "vercel-kv":
      return createVercelKvStore({ url: config.url, token: config.token });
    case "redis":
      return createRedisStore({ url: config.url });
    case "file":
      return createFileStore({ dir: config.dir });
  }
}

/** Short, credential-free description for logs and the demo banner. */
export function describeKvBackend(env: Env = process.env): string {
  let config: KvBackendConfig;
  try {
    config = resolveKvBackend(env);
  } catch (err) {
    if (err instanceof KvConfigError) return `KV not configured (${err.message})`;
    throw err;
  }
  switch (config.kind) {
    case "vercel-kv":
      return `Upstash REST at ${originOf(config.url)}`;
    case "redis":
      return `redis at ${redisEndpoint(config.url)}`;
    case "file": {
      const file = path.join(config.dir, FILE_STORE_NAME);
      const rel = path.relative(process.cwd(), file);
      return `file store at ${rel && !rel.startsWith("..") && !path.isAbsolute(rel) ? rel : file}`;
    }
  }
}

/** scheme://host[:port] only: drops any user info, path or query string. */
function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return "(unparseable REST URL)";
  }
}
