/**
 * The public URL of this deployment: where QStash is told to deliver, and the
 * URL a delivery's signature names. SYNC_BASE_URL, else NEXT_PUBLIC_SITE_URL,
 * else https://$VERCEL_PROJECT_PRODUCTION_URL. Never $VERCEL_URL: that is the
 * per-deployment URL Vercel's Deployment Protection guards, so every delivery
 * would get 401 and the chain would die unreported. Off Vercel, with none of
 * them, the origin the request arrived on (a local run). Used by the QStash
 * chain and the self-chain alike.
 */
export function publicBaseUrl(env: Record<string, string | undefined>, request?: Request): string | null {
  const explicit = env.SYNC_BASE_URL?.trim() || env.NEXT_PUBLIC_SITE_URL?.trim();
  if (explicit) return explicit.replace(/\/+$/, "");
  const production = env.VERCEL_PROJECT_PRODUCTION_URL?.trim();
  if (production) return `https://${production.replace(/^https?:\/\//, "").replace(/\/+$/, "")}`;
  if (env.VERCEL === "1" || env.VERCEL_ENV) return null;
  return request ? new URL(request.url).origin : null;
}

/** The message a missing base URL is answered with (503 config_error names the variable). */
export const MISSING_BASE_URL = {
  message:
    "QStash is configured but the deployment's public URL is not known: set SYNC_BASE_URL (never the per-deployment VERCEL_URL)",
  variables: ["SYNC_BASE_URL"],
} as const;

export const sectionPath = (section: string) => `/api/sync/${section}`;
