/**
 * Which KV store the environment points at, and what to say when it cannot be
 * used: the variable to check, never its value (no URL, host, port, token or
 * password). Adapter messages name hosts, so they are classified, and only a
 * message of no known kind is shown, with every configured value scrubbed
 * (scrub.ts).
 */
import { ConfigError } from "../../lib/config";
import { resolveKvBackend } from "../../lib/kv/backend";
import { KvConfigError, KvTimeoutError } from "../../lib/kv/errors";
import { scrub } from "./scrub";

type Env = Record<string, string | undefined>;

export interface KvSource {
  /** "redis (REDIS_URL)", "Upstash REST (KV_REST_API_URL, KV_REST_API_TOKEN)", "file store (KV_FILE_DIR)". */
  label: string;
  kind: "redis" | "vercel-kv" | "file";
  /** The variables to check when it fails. */
  variables: string[];
}

export function kvSource(env: Env): KvSource {
  const config = resolveKvBackend(env);
  switch (config.kind) {
    case "vercel-kv":
      return {
        kind: "vercel-kv",
        label: `Upstash REST (${config.variables.join(", ")})`,
        variables: [...config.variables],
      };
    case "redis":
      return { kind: "redis", label: `redis (${config.variable})`, variables: [config.variable] };
    case "file":
      return env.KV_FILE_DIR?.trim()
        ? { kind: "file", label: "file store (KV_FILE_DIR)", variables: ["KV_FILE_DIR"] }
        : { kind: "file", label: "file store (.data/, KV_FILE_DIR unset)", variables: ["KV_FILE_DIR"] };
  }
}

/** Every message and cause of an error, and any `code` on the way. */
function chain(error: unknown): { text: string; codes: string[] } {
  const texts: string[] = [];
  const codes: string[] = [];
  let e: unknown = error;
  for (let depth = 0; e && depth < 8; depth++) {
    if (e instanceof Error) {
      texts.push(e.message);
      const code = (e as { code?: unknown }).code;
      if (typeof code === "string") codes.push(code);
      e = (e as { cause?: unknown }).cause;
    } else {
      texts.push(String(e));
      break;
    }
  }
  return { text: texts.join(" | "), codes };
}

const KINDS: { test: RegExp; say: string }[] = [
  { test: /ERR_INVALID_URL|Invalid URL/, say: "its URL cannot be parsed" },
  { test: /ECONNREFUSED|connection refused/i, say: "connection refused" },
  { test: /ENOTFOUND|EAI_AGAIN|getaddrinfo/i, say: "its host name does not resolve" },
  {
    test: /WRONGPASS|NOAUTH|invalid password|invalid username-password|unauthori[sz]ed|\b401\b|\bWRONGTOKEN\b/i,
    say: "the credentials were refused",
  },
  { test: /ETIMEDOUT|timed? ?out|timeout|did not answer within|aborted/i, say: "no answer in time" },
  {
    test: /ECONNRESET|EPIPE|socket hang up|socket closed|connection (was )?closed|fetch failed|network/i,
    say: "the connection failed",
  },
  { test: /EACCES|EPERM|EROFS|permission denied|read-only/i, say: "permission denied" },
];

/** Raised by a KV adapter or its client for a value it cannot use (a REDIS_URL that is no URL). */
export function isKvSetupError(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === "ERR_INVALID_URL";
}

/** What to print when reading or writing KV failed (exit 3). */
export function describeKvFailure(error: unknown, env: Env, timeoutMs: number): string {
  if (error instanceof ConfigError) {
    // These messages name variables only (lib/config.ts, lib/kv/backend.ts).
    const variables = error.variables.length > 0 ? ` (check ${error.variables.join(", ")})` : "";
    return error instanceof KvConfigError
      ? `the KV store is not configured: ${error.message}${variables}`
      : `${error.message}${variables}`;
  }
  let source: KvSource | null = null;
  try {
    source = kvSource(env);
  } catch {
    source = null;
  }
  const where = source ? source.label : "the KV store";
  const check = source ? `check ${source.variables.join(" and ")}` : "check the KV variables";
  if (error instanceof KvTimeoutError) return `cannot reach ${where}: no answer within ${timeoutMs / 1000} s; ${check}`;
  const { text, codes } = chain(error);
  const haystack = `${codes.join(" ")} ${text}`;
  const kind = KINDS.find((k) => k.test.test(haystack));
  if (kind) return `cannot reach ${where}: ${kind.say}; ${check}`;
  return `the KV store failed (${where}): ${scrub(text, env)}; ${check}`;
}
