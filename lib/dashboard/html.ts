/**
 * The dashboard pages that route handlers answer themselves, because they
 * need a status code a page cannot set: the sign-in form (401 after a wrong
 * secret, 429 when rate limited) and the refusals (403 CSRF or foreign
 * origin). Every interpolated value goes through escapeHtml; nothing here
 * ever contains the secret (the password field is always rendered empty).
 */
import { DASHBOARD_CSS } from "./styles";

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

/** Answers the dashboard sends: never cached, never framed, a referrer only to this origin. */
export const PAGE_HEADERS: Record<string, string> = {
  "content-type": "text/html; charset=utf-8",
  "cache-control": "no-store",
  "x-frame-options": "DENY",
  "content-security-policy":
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  // Not no-referrer: with it a browser sends `Origin: null` on POSTs, which the origin check refuses.
  "referrer-policy": "same-origin",
  "x-content-type-options": "nosniff",
};

function document(title: string, body: string): string {
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex"><title>${escapeHtml(title)}</title><style>${DASHBOARD_CSS}</style></head><body><main class="dash">${body}</main></body></html>`;
}

export function htmlResponse(
  status: number,
  title: string,
  body: string,
  headers: Record<string, string | string[]> = {},
): Response {
  const h = new Headers(PAGE_HEADERS);
  for (const [name, value] of Object.entries(headers))
    for (const v of Array.isArray(value) ? value : [value]) h.append(name, v);
  return new Response(document(title, body), { status, headers: h });
}

export function signInPage(
  options: { error?: string | null; notice?: string | null; closed?: boolean; next?: string | null } = {},
): string {
  const error = options.error ? `<p class="flash error" role="alert">${escapeHtml(options.error)}</p>` : "";
  const notice = options.notice ? `<p class="flash ok" role="status">${escapeHtml(options.notice)}</p>` : "";
  const form = options.closed
    ? `<p>The dashboard is closed: <code>CRON_SECRET</code> is not set on this deployment.</p>`
    : `<form method="post" action="/sync/signin" autocomplete="off">
<label for="secret">Secret (<code>CRON_SECRET</code>)</label>
<input id="secret" name="secret" type="password" required autocomplete="current-password" autofocus spellcheck="false">
${options.next ? `<input type="hidden" name="next" value="${escapeHtml(options.next)}">` : ""}<button class="primary" type="submit">Sign in</button>
</form>
<p class="notice">The secret is sent once, in the body of this form; the browser then keeps only a signed session cookie for 8 hours.</p>`;
  return `<section class="signin card"><h1>notion-kv-sync dashboard</h1>${notice}${error}${form}</section>`;
}

export function refusalPage(title: string, message: string): string {
  return `<section class="confirm card"><h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p><p>Nothing was changed.</p><p><a class="button" href="/sync">Back to the dashboard</a></p></section>`;
}

/** A refusal as HTML for a browser, JSON for anything else (both say nothing was changed). */
export function refusal(request: Request, status: number, code: string, message: string): Response {
  const wantsHtml = (request.headers.get("accept") ?? "").includes("text/html");
  if (wantsHtml)
    return htmlResponse(status, "Refused", refusalPage(status === 401 ? "Signed out" : "Refused", message));
  return Response.json({ ok: false, error: { code, message } }, { status, headers: { "cache-control": "no-store" } });
}
