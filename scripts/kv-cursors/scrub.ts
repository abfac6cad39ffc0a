/**
 * Removes every configured KV value (URLs, their host, port, user and
 * password, tokens, the file store's path) and anything shaped like a URL or
 * an address from a message before it is printed. No heavy imports: the entry
 * point uses it for unexpected errors.
 */
type Env = Record<string, string | undefined>;

/** Each configured value and its parts (a URL's host, port, user, password), longest first. */
function secretsOf(env: Env): string[] {
  const found = new Set<string>();
  for (const name of [
    "REDIS_URL",
    "KV_URL",
    "KV_REST_API_URL",
    "KV_REST_API_TOKEN",
    "KV_REST_API_READ_ONLY_TOKEN",
    "UPSTASH_REDIS_REST_URL",
    "UPSTASH_REDIS_REST_TOKEN",
    "KV_FILE_DIR",
  ]) {
    const value = env[name]?.trim();
    if (!value) continue;
    found.add(value);
    try {
      const u = new URL(value);
      for (const part of [
        u.host,
        u.hostname,
        u.port,
        u.username,
        u.password,
        decodeURIComponent(u.password),
        decodeURIComponent(u.username),
        u.origin,
      ]) {
        if (part) found.add(part);
      }
    } catch {
      // not a URL: the value itself is scrubbed
    }
  }
  return [...found].filter((s) => s.length >= 2).sort((a, b) => b.length - a.length);
}

/** `text` with every configured value, and anything shaped like a URL or host:port, replaced. */
export function scrub(text: string, env: Env): string {
  let out = text;
  for (const secret of secretsOf(env)) out = out.split(secret).join("…");
  return out
    .replace(/\b[a-z][a-z0-9+.-]*:\/\/\S+/gi, "…")
    .replace(/\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b/g, "…")
    .replace(/\[[0-9a-f:]+\](?::\d+)?/gi, "…");
}
