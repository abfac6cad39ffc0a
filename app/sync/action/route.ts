/**
 * POST /sync/action: every dashboard button. Origin, session and CSRF token
 * are checked first (anything else: 403/401, nothing done); a destructive
 * action without `confirmed=1` goes to its confirmation page; the outcome
 * comes back as a flash message through a redirect to /sync.
 */
import { ACTIONS, parseAction } from "@/lib/dashboard/action-specs";
import { configuredSections } from "@/lib/dashboard/sections";
import { runAction } from "@/lib/dashboard/actions";
import { refusal } from "@/lib/dashboard/html";
import { guardPost } from "@/lib/dashboard/request-guard";
import { FLASH_COOKIE, FLASH_TTL_MS, cookieHeader, servedOverHttps, signFlash } from "@/lib/dashboard/session";
import { logEvent } from "@/lib/core/log";

export const runtime = "nodejs";
export const dynamic = "force-dynamic";
// "Start" runs one batch of a section here, like a cron call would.
export const maxDuration = 30;

function redirect(location: string, cookie?: string): Response {
  const headers = new Headers({ location, "cache-control": "no-store" });
  if (cookie) headers.append("set-cookie", cookie);
  return new Response(null, { status: 303, headers });
}

export async function POST(request: Request): Promise<Response> {
  const env = process.env;
  const guard = await guardPost(request, env);
  if (!guard.ok) {
    logEvent("dashboard.refused", { status: guard.status, code: guard.code });
    return refusal(request, guard.status, guard.code, guard.message);
  }
  const { secret, form } = guard;
  const secure = servedOverHttps(request);
  const flash = (kind: "ok" | "error", text: string) => {
    const { token, nonce } = signFlash(secret, { kind, text });
    return redirect(`/sync?r=${nonce}`, cookieHeader(FLASH_COOKIE, token, { maxAgeS: FLASH_TTL_MS / 1000, secure }));
  };
  const parsed = parseAction(form, configuredSections(env));
  if ("error" in parsed) return flash("error", parsed.error);
  if (ACTIONS[parsed.action].confirm && form.get("confirmed") !== "1") {
    const query = new URLSearchParams({
      action: parsed.action,
      ...(parsed.section ? { section: parsed.section } : {}),
    });
    return redirect(`/sync/confirm?${query}`);
  }
  const outcome = await runAction(parsed, { secret, origin: new URL(request.url).origin, env });
  logEvent("dashboard.action", { action: parsed.action, section: parsed.section, ok: outcome.ok });
  return flash(outcome.ok ? "ok" : "error", outcome.text);
}
