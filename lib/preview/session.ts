/**
 * The preview's share of the dashboard session (lib/dashboard/session.ts).
 *
 * The dashboard's cookie is scoped to `Path=/sync`, so a browser never sends
 * it to `/preview/…`. `/sync/preview?to=/preview/<section>/<slug>` (which does
 * get it) copies the signed session token into a second cookie scoped to
 * `Path=/preview`, for what is left of the session, and goes on to the page.
 * The preview checks that cookie with the dashboard's own readSession, so it
 * ends when the session does (expiry, a new CRON_SECRET) and signing out
 * clears both. Not signed in: /sync/signin, which comes back here after.
 *
 * SameSite=Lax, not Strict like the dashboard's: the preview only reads (no
 * form, no action), and a preview link opened from elsewhere (chat, a demo's
 * output) should show the page rather than the sign-in form again.
 */
import { slugFromPath } from "../mirror/slug";
import { SESSION_TTL_MS } from "../dashboard/session";

export const PREVIEW_COOKIE = "nks_preview";
export const PREVIEW_PATH = "/preview";
/** The route under /sync that hands the session to the preview. */
export const PREVIEW_PASS_PATH = "/sync/preview";

/** `/preview/<section>/<slug>` with the slug percent-encoded: the only places a preview redirect may lead. */
const PREVIEW_TARGET = /^\/preview\/(pages|posts|children)\/[A-Za-z0-9%._~-]{1,600}$/;

/** A preview path that is safe to redirect to (same origin, nothing but a preview page), or null. */
export function previewTarget(value: string | null | undefined): string | null {
  if (typeof value !== "string" || !PREVIEW_TARGET.test(value)) return null;
  try {
    decodeURIComponent(value);
  } catch {
    return null;
  }
  return value;
}

export function previewPath(section: string, slug: string): string {
  return `${PREVIEW_PATH}/${section}/${encodeURIComponent(slug)}`;
}

/** Where a preview without a valid cookie goes: the pass, which sends on to sign-in when needed. */
export function previewPassUrl(target: string): string {
  return `${PREVIEW_PASS_PATH}?to=${encodeURIComponent(target)}`;
}

export function previewCookieHeader(token: string, options: { maxAgeS: number; secure: boolean }): string {
  const maxAge = Math.max(0, Math.min(Math.floor(options.maxAgeS), SESSION_TTL_MS / 1000));
  return [
    `${PREVIEW_COOKIE}=${token}`,
    `Path=${PREVIEW_PATH}`,
    `Max-Age=${maxAge}`,
    "HttpOnly",
    "SameSite=Lax",
    ...(options.secure ? ["Secure"] : []),
  ].join("; ");
}

export function clearPreviewCookieHeader(secure: boolean): string {
  return `${previewCookieHeader("", { maxAgeS: 0, secure })}; Expires=Thu, 01 Jan 1970 00:00:00 GMT`;
}

/** A slug from the route's params (lib/mirror/slug.ts slugFromPath). */
export const slugParam = slugFromPath;
