/**
 * GET /sync/signin: the sign-in form. POST: checks the secret (constant
 * time), sets the session cookie and goes to /sync; a wrong secret gets the
 * form again with 401. The page is rendered here (not by a page.tsx) because
 * it needs those status codes.
 */
import { htmlResponse, refusal, signInPage } from "@/lib/dashboard/html";
import { checkSameOrigin, readForm, sessionOf } from "@/lib/dashboard/request-guard";
import {
  SESSION_COOKIE,
  SESSION_TTL_MS,
  cookieHeader,
  createSession,
  dashboardSecret,
  servedOverHttps,
} from "@/lib/dashboard/session";
import { clearSignInFailures, recordSignInFailure, signInBlocked } from "@/lib/dashboard/signin-limit";
import { safeEqual } from "@/lib/auth";
import { logEvent } from "@/lib/core/log";
import { loadStoreRuntime } from "@/lib/runtime";
import { previewTarget } from "@/lib/preview/session";

export const runtime = "nodejs";
export const dynamic = "force-dynamic";

const TITLE = "Sign in · notion-kv-sync";

export async function GET(request: Request): Promise<Response> {
  const { secret, session } = sessionOf(request, process.env);
  if (!secret) return htmlResponse(503, TITLE, signInPage({ closed: true }));
  // `next`: a preview page to come back to (lib/preview/session.ts; nothing else is ever redirected to).
  const next = previewTarget(new URL(request.url).searchParams.get("next"));
  if (session)
    return new Response(null, {
      status: 303,
      headers: {
        location: next ? `/sync/preview?to=${encodeURIComponent(next)}` : "/sync",
        "cache-control": "no-store",
      },
    });
  const signedOut = new URL(request.url).searchParams.get("out") === "1";
  return htmlResponse(200, TITLE, signInPage({ notice: signedOut ? "Signed out." : null, next }));
}

/** The limiter is a courtesy: with KV unreachable, sign-in still works (the dashboard will say KV is down). */
async function limiter<T>(what: string, run: () => Promise<T>): Promise<T | null> {
  try {
    return await run();
  } catch (error) {
    logEvent("dashboard.signin_limit_error", { what, error: error instanceof Error ? error.message : String(error) });
    return null;
  }
}

export async function POST(request: Request): Promise<Response> {
  const env = process.env;
  const origin = checkSameOrigin(request, env);
  if (!origin.ok) return refusal(request, 403, "cross_origin", origin.reason);
  const secret = dashboardSecret(env);
  if (!secret) return htmlResponse(503, TITLE, signInPage({ closed: true }));
  const form = await readForm(request);
  const given = form?.get("secret")?.trim() ?? "";
  const next = previewTarget(form?.get("next"));
  const store = await limiter("load", async () => loadStoreRuntime(env));
  const blockedS = store ? await limiter("read", () => signInBlocked(store.kv, store.keys, request)) : null;
  if (blockedS !== null) {
    return htmlResponse(
      429,
      TITLE,
      signInPage({
        error: `Too many wrong secrets from this address: try again in ${Math.ceil(blockedS / 60)} min.`,
        next,
      }),
      { "retry-after": String(blockedS) },
    );
  }
  if (given === "" || !safeEqual(given, secret)) {
    if (store) await limiter("record", () => recordSignInFailure(store.kv, store.keys, request));
    logEvent("dashboard.signin_refused", {});
    return htmlResponse(401, TITLE, signInPage({ error: given === "" ? "Enter the secret." : "Wrong secret.", next }));
  }
  if (store) await limiter("clear", () => clearSignInFailures(store.kv, store.keys, request));
  const { token } = createSession(secret);
  logEvent("dashboard.signed_in", {});
  return new Response(null, {
    status: 303,
    headers: {
      location: next ? `/sync/preview?to=${encodeURIComponent(next)}` : "/sync",
      "cache-control": "no-store",
      "set-cookie": cookieHeader(SESSION_COOKIE, token, {
        maxAgeS: SESSION_TTL_MS / 1000,
        secure: servedOverHttps(request),
      }),
    },
  });
}
