/**
 * The public URL of this deployment: where QStash is told to deliver, and the
 * URL a delivery's signature names. SYNC_BASE_URL, else NEXT_PUBLIC_SITE_URL,
 * else https://$VERCEL_URL, else the origin the request arrived on (local).
 */
export function publicBaseUrl(env: Record<string, string | undefined>, request?: Request): string | null {
  const explicit = env.SYNC_BASE_URL?.trim() || env.NEXT_PUBLIC_SITE_URL?.trim();
  if (explicit) return explicit.replace(/\/+$/, "");
  if (env.VERCEL_URL?.trim()) return `https://${env.VERCEL_URL.trim()}`;
  return request ? new URL(request.url).origin : null;
}

export const sectionPath = (section: string) => `/api/sync/${section}`;
