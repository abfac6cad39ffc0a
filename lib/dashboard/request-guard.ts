/**
 * What every state-changing dashboard request must pass before it is looked
 * at: it comes from a page of this very origin (Origin and Sec-Fetch-Site),
 * carries a valid session cookie and the session's CSRF token. SameSite=Strict
 * already keeps the cookie off cross-site requests; the Origin check also
 * refuses other origins of the same site (another port, a sibling subdomain),
 * and the token refuses anything that did not come from a form we rendered.
 */
import { publicBaseUrl } from "../core/base-url";
import { readBoundedBody } from "../http/body";
import { type Session, SESSION_COOKIE, checkCsrf, cookieFrom, dashboardSecret, readSession } from "./session";

type Env = Record<string, string | undefined>;

/** Dashboard forms are a few short fields. */
export const MAX_FORM_BYTES = 4096;

/** The origins this request may legitimately come from: where it arrived, as the proxy and the configuration tell it. */
export function expectedOrigins(request: Request, env: Env): Set<string> {
  const origins = new Set<string>([new URL(request.url).origin]);
  const host = request.headers.get("x-forwarded-host")?.split(",")[0]?.trim() || request.headers.get("host")?.trim();
  const proto =
    request.headers.get("x-forwarded-proto")?.split(",")[0]?.trim() || new URL(request.url).protocol.replace(":", "");
  if (host && /^[A-Za-z0-9.:[\]-]+$/.test(host)) origins.add(`${proto}://${host}`.toLowerCase());
  const base = publicBaseUrl(env);
  if (base) {
    try {
      origins.add(new URL(base).origin);
    } catch {
      // a malformed SYNC_BASE_URL: the sync endpoints report it; here it just adds nothing
    }
  }
  return origins;
}

export type OriginCheck = { ok: true } | { ok: false; reason: string };

/**
 * A browser sends Origin on every POST and Sec-Fetch-Site on every request
 * (all current engines); at least one must be there, and whichever is there
 * must say "this origin".
 */
export function checkSameOrigin(request: Request, env: Env): OriginCheck {
  const site = request.headers.get("sec-fetch-site");
  const origin = request.headers.get("origin");
  if (site !== null && site !== "same-origin")
    return { ok: false, reason: `the request came from another origin (Sec-Fetch-Site: ${site.slice(0, 20)})` };
  if (origin !== null && !expectedOrigins(request, env).has(origin.toLowerCase()))
    return { ok: false, reason: "the request came from another origin (Origin does not match)" };
  if (origin === null && site === null)
    return { ok: false, reason: "the request says neither where it came from (no Origin) nor how (no Sec-Fetch-Site)" };
  return { ok: true };
}

/** The session the request's cookie stands for, with the secret it is bound to. */
export function sessionOf(
  request: Request,
  env: Env,
): { secret: string; session: Session } | { secret: string | null; session: null } {
  const secret = dashboardSecret(env);
  const session = readSession(secret, cookieFrom(request, SESSION_COOKIE));
  return secret && session ? { secret, session } : { secret, session: null };
}

/** An urlencoded (or multipart) form, bounded; null when it is too large or not a form. */
export async function readForm(request: Request): Promise<URLSearchParams | null> {
  const type = request.headers.get("content-type")?.split(";")[0]?.trim().toLowerCase() ?? "";
  if (type === "multipart/form-data") {
    const declared = Number(request.headers.get("content-length") ?? NaN);
    if (!Number.isFinite(declared) || declared > MAX_FORM_BYTES) return null;
    try {
      const data = await request.formData();
      const out = new URLSearchParams();
      for (const [k, v] of data) if (typeof v === "string") out.append(k, v);
      return out;
    } catch {
      return null;
    }
  }
  if (type !== "application/x-www-form-urlencoded") return null;
  const body = await readBoundedBody(request, MAX_FORM_BYTES);
  return body.ok ? new URLSearchParams(body.text) : null;
}

export type Guarded =
  | { ok: true; secret: string; session: Session; form: URLSearchParams }
  | { ok: false; status: 400 | 401 | 403 | 503; code: string; message: string };

/** Origin, then session, then form and CSRF token: the gate of every dashboard POST but sign-in. */
export async function guardPost(request: Request, env: Env): Promise<Guarded> {
  const origin = checkSameOrigin(request, env);
  if (!origin.ok) return { ok: false, status: 403, code: "cross_origin", message: origin.reason };
  const { secret, session } = sessionOf(request, env);
  if (!secret)
    return {
      ok: false,
      status: 503,
      code: "config_error",
      message: "CRON_SECRET is not set: the dashboard stays closed until it is",
    };
  if (!session)
    return {
      ok: false,
      status: 401,
      code: "unauthorized",
      message: "not signed in, or the session expired: sign in again",
    };
  const form = await readForm(request);
  if (!form) return { ok: false, status: 400, code: "bad_form", message: "the request is not a dashboard form" };
  if (!checkCsrf(secret, session, form.get("csrf")))
    return {
      ok: false,
      status: 403,
      code: "csrf",
      message: "the form's CSRF token is missing or wrong: reload the dashboard and try again",
    };
  return { ok: true, secret, session, form };
}
