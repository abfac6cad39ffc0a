/**
 * QStash settings read from the environment. QStash is optional: without
 * QSTASH_TOKEN the product chains invocations some other way, so "not
 * configured" is a normal answer (null), not an error.
 */

export interface QStashConfig {
  /** Bearer token for publishing (QSTASH_TOKEN). */
  token: string;
  /**
   * API base URL (QSTASH_URL), without a trailing slash. Unset means the SDK
   * default, https://qstash.upstash.io. Set it for a regional endpoint or for
   * the local emulator.
   */
  url?: string;
  /** Keys that verify `Upstash-Signature` on deliveries; QStash rotates them. */
  currentSigningKey: string;
  nextSigningKey: string;
}

export type Env = Readonly<Record<string, string | undefined>>;

/**
 * The environment is half set up. The message names the variables involved
 * and never their values: it ends up in logs and error pages.
 */
export class QStashConfigError extends Error {
  readonly variables: readonly string[];
  constructor(message: string, variables: readonly string[]) {
    super(message);
    this.name = "QStashConfigError";
    this.variables = variables;
  }
}

/** Empty and whitespace-only values count as unset (a common .env slip). */
function read(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

export function readQStashConfig(env: Env = process.env): QStashConfig | null {
  const token = read(env, "QSTASH_TOKEN");
  if (!token) return null;

  const currentSigningKey = read(env, "QSTASH_CURRENT_SIGNING_KEY");
  const nextSigningKey = read(env, "QSTASH_NEXT_SIGNING_KEY");
  const missing = [
    currentSigningKey ? undefined : "QSTASH_CURRENT_SIGNING_KEY",
    nextSigningKey ? undefined : "QSTASH_NEXT_SIGNING_KEY",
  ].filter((name): name is string => name !== undefined);
  // Publishing without being able to verify what comes back would leave the
  // sync endpoint callable by anyone: refuse the half configuration outright.
  if (missing.length > 0 || !currentSigningKey || !nextSigningKey) {
    throw new QStashConfigError(
      `QSTASH_TOKEN is set but ${missing.join(" and ")} ${missing.length > 1 ? "are" : "is"} missing; ` +
        "copy both signing keys from the QStash console",
      missing,
    );
  }

  const rawUrl = read(env, "QSTASH_URL");
  let url: string | undefined;
  if (rawUrl) {
    let parsed: URL;
    try {
      parsed = new URL(rawUrl);
    } catch {
      throw new QStashConfigError("QSTASH_URL is not a valid URL", ["QSTASH_URL"]);
    }
    if (parsed.protocol !== "https:" && parsed.protocol !== "http:") {
      throw new QStashConfigError("QSTASH_URL must be an http(s) URL", ["QSTASH_URL"]);
    }
    // The SDK joins `${baseUrl}/v2/publish/...`; a trailing slash would double it.
    url = rawUrl.replace(/\/+$/, "");
  }

  return { token, ...(url ? { url } : {}), currentSigningKey, nextSigningKey };
}
