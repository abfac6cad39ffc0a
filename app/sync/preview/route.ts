/**
 * GET /sync/preview?to=/preview/<section>/<slug>: hands the dashboard session
 * to the preview pages (lib/preview/session.ts). Signed in: the session token
 * is set again as a cookie scoped to /preview, for what is left of the
 * session, and the browser goes on to the page. Not signed in: to the
 * sign-in form, which comes back to the page afterwards. A `to` that is not
 * a preview path is refused (no open redirect).
 */
import { sessionOf } from "@/lib/dashboard/request-guard";
import { SESSION_COOKIE, cookieFrom, servedOverHttps } from "@/lib/dashboard/session";
import { htmlResponse, signInPage } from "@/lib/dashboard/html";
import { previewCookieHeader, previewTarget } from "@/lib/preview/session";

export const runtime = "nodejs";
export const dynamic = "force-dynamic";

const see = (location: string, cookie?: string) =>
  new Response(null, {
    status: 303,
    headers: {
      location,
      "cache-control": "no-store",
      "referrer-policy": "same-origin",
      ...(cookie ? { "set-cookie": cookie } : {}),
    },
  });

export async function GET(request: Request): Promise<Response> {
  const target = previewTarget(new URL(request.url).searchParams.get("to"));
  if (!target) return see("/sync");
  const { secret, session } = sessionOf(request, process.env);
  if (!secret) return htmlResponse(503, "Preview · notion-kv-sync", signInPage({ closed: true }));
  if (!session) return see(`/sync/signin?next=${encodeURIComponent(target)}`);
  const token = cookieFrom(request, SESSION_COOKIE)!;
  const cookie = previewCookieHeader(token, {
    maxAgeS: (session.exp - Date.now()) / 1000,
    secure: servedOverHttps(request),
  });
  return see(target, cookie);
}
