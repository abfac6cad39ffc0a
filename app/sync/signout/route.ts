/** POST /sync/signout: drops the session cookie (CSRF-checked like every dashboard POST). */
import { refusal } from "@/lib/dashboard/html";
import { guardPost } from "@/lib/dashboard/request-guard";
import { FLASH_COOKIE, SESSION_COOKIE, clearCookieHeader, servedOverHttps } from "@/lib/dashboard/session";
import { clearPreviewCookieHeader } from "@/lib/preview/session";

export const runtime = "nodejs";
export const dynamic = "force-dynamic";

export async function POST(request: Request): Promise<Response> {
  const guard = await guardPost(request, process.env);
  // Without a session there is nothing to sign out of: go to the form.
  if (!guard.ok && guard.status !== 401) return refusal(request, guard.status, guard.code, guard.message);
  const secure = servedOverHttps(request);
  const headers = new Headers({ location: "/sync/signin?out=1", "cache-control": "no-store" });
  headers.append("set-cookie", clearCookieHeader(SESSION_COOKIE, secure));
  headers.append("set-cookie", clearCookieHeader(FLASH_COOKIE, secure));
  headers.append("set-cookie", clearPreviewCookieHeader(secure));
  return new Response(null, { status: 303, headers });
}
