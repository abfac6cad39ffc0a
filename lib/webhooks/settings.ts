/**
 * Webhook and revalidation settings from the environment (README,
 * "Configuration"). Messages name variables, never their values.
 */
import { ConfigError } from "../config";

type Env = Record<string, string | undefined>;

export interface WebhookSettings {
  /** NOTION_WEBHOOK_SECRET: overrides the token stored by the handshake. */
  secretOverride: string | null;
  /** WEBHOOK_DEBOUNCE_S: one targeted run per window of this many seconds (QStash deduplication id). */
  debounceS: number;
  /** SITE_REVALIDATE_URL: revalidate a site in another deployment (signed POST) instead of this app's revalidateTag. */
  siteRevalidateUrl: string | null;
  /** SITE_REVALIDATE_SECRET: the HMAC key of those POSTs. */
  siteRevalidateSecret: string | null;
}

export const DEFAULT_DEBOUNCE_S = 30;

export function readWebhookSettings(env: Env = process.env): WebhookSettings {
  const rawDebounce = env.WEBHOOK_DEBOUNCE_S?.trim();
  let debounceS = DEFAULT_DEBOUNCE_S;
  if (rawDebounce) {
    const n = Number(rawDebounce);
    if (!Number.isInteger(n) || n < 1 || n > 600)
      throw new ConfigError("invalid configuration: WEBHOOK_DEBOUNCE_S must be an integer from 1 to 600", [
        "WEBHOOK_DEBOUNCE_S",
      ]);
    debounceS = n;
  }
  const url = env.SITE_REVALIDATE_URL?.trim() || null;
  const secret = env.SITE_REVALIDATE_SECRET?.trim() || null;
  if (url) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new ConfigError("invalid configuration: SITE_REVALIDATE_URL is not a URL", ["SITE_REVALIDATE_URL"]);
    }
    if (parsed.protocol !== "https:" && parsed.protocol !== "http:")
      throw new ConfigError("invalid configuration: SITE_REVALIDATE_URL must be http(s)", ["SITE_REVALIDATE_URL"]);
    if (!secret || secret.length < 16) {
      throw new ConfigError(
        "SITE_REVALIDATE_URL is set but SITE_REVALIDATE_SECRET is missing or shorter than 16 characters",
        ["SITE_REVALIDATE_SECRET"],
      );
    }
  }
  return {
    secretOverride: env.NOTION_WEBHOOK_SECRET?.trim() || null,
    debounceS,
    siteRevalidateUrl: url,
    siteRevalidateSecret: secret,
  };
}
