/**
 * The dashboard's session and CSRF tokens.
 *
 * A person signs in once with CRON_SECRET; the browser then holds only a
 * session cookie: a signed token (lib/auth/signed-token.ts) carrying a random
 * session id and its expiry (8 h), MACed with a key derived from CRON_SECRET
 * by HKDF. The secret itself never goes back to the browser, and changing
 * CRON_SECRET changes the key, so every session ends at once.
 *
 * Every form carries a CSRF token: an HMAC of the session id under a second
 * derived key. It is worthless without the session cookie and the cookie is
 * worthless to a form on another site (SameSite=Strict, Origin checked, see
 * request-guard.ts).
 *
 * Pure (node:crypto only): no Next.js, no KV.
 */
import { createHmac, hkdfSync, randomBytes } from "node:crypto";
import { safeEqual } from "../auth/safe-equal";
import { signToken, verifyToken } from "../auth/signed-token";

export const SESSION_COOKIE = "nks_dashboard";
export const FLASH_COOKIE = "nks_dashboard_flash";
/** Every dashboard cookie is scoped to the dashboard's own paths. */
export const COOKIE_PATH = "/sync";
export const SESSION_TTL_MS = 8 * 60 * 60 * 1000;
/** A flash message lives long enough for the redirect that shows it. */
export const FLASH_TTL_MS = 60 * 1000;

type Env = Record<string, string | undefined>;

/** CRON_SECRET as the endpoints read it (trimmed); null when unset: the dashboard is closed. */
export function dashboardSecret(env: Env = process.env): string | null {
  const secret = env.CRON_SECRET?.trim();
  return secret ? secret : null;
}

const derivedKeys = new Map<string, string>();

/**
 * A key derived from CRON_SECRET for one purpose (HKDF-SHA256). The signed
 * tokens of manual links are keyed with CRON_SECRET itself, so a dashboard
 * token is never a valid link and the other way round.
 */
export function deriveKey(secret: string, purpose: "session" | "csrf" | "flash"): string {
  const id = `${purpose}\u0000${secret}`;
  let key = derivedKeys.get(id);
  if (!key) {
    key = Buffer.from(hkdfSync("sha256", secret, "notion-kv-sync", `dashboard-${purpose}-v1`, 32)).toString(
      "base64url",
    );
    if (derivedKeys.size > 16) derivedKeys.clear(); // a rotated secret leaves its keys behind
    derivedKeys.set(id, key);
  }
  return key;
}

interface SessionClaims {
  [claim: string]: unknown;
  /** Purpose, so no other token signed with the same key passes as a session. */
  p: "dashboard-session";
  /** Random session id: what the CSRF token is bound to. */
  sid: string;
  exp: number;
}

export interface Session {
  sid: string;
  /** Expiry, epoch milliseconds. */
  exp: number;
}

export function createSession(secret: string, now = Date.now()): { token: string; session: Session } {
  const claims: SessionClaims = {
    p: "dashboard-session",
    sid: randomBytes(18).toString("base64url"),
    exp: now + SESSION_TTL_MS,
  };
  return {
    token: signToken(deriveKey(secret, "session"), claims, { now }),
    session: { sid: claims.sid, exp: claims.exp },
  };
}

/** The session a cookie value stands for, or null (missing, altered, expired, signed under another CRON_SECRET). */
export function readSession(secret: string | null, token: string | null | undefined, now = Date.now()): Session | null {
  if (!secret || !token) return null;
  const verified = verifyToken<SessionClaims>(deriveKey(secret, "session"), token, {
    expect: { p: "dashboard-session" },
    now,
  });
  if (!verified.ok || typeof verified.claims.sid !== "string" || verified.claims.sid.length < 16) return null;
  return { sid: verified.claims.sid, exp: verified.claims.exp };
}

/** The CSRF token of a session: HMAC(csrf key, session id). Stable for the session's life. */
export function csrfToken(secret: string, session: Session): string {
  return createHmac("sha256", deriveKey(secret, "csrf")).update("csrf:").update(session.sid).digest("base64url");
}

export function checkCsrf(secret: string, session: Session, given: string | null): boolean {
  if (!given || given.length > 200) return false;
  return safeEqual(given, csrfToken(secret, session));
}

// ---------------------------------------------------------------- flash messages

export interface Flash {
  kind: "ok" | "error";
  text: string;
  /** Shown only on the redirect that carries the same nonce in `?r=`, so a plain reload drops it. */
  n: string;
}

interface FlashClaims extends Flash {
  [claim: string]: unknown;
  p: "dashboard-flash";
  exp: number;
}

export function signFlash(secret: string, flash: Omit<Flash, "n">, now = Date.now()): { token: string; nonce: string } {
  const nonce = randomBytes(6).toString("base64url");
  const claims: FlashClaims = {
    p: "dashboard-flash",
    kind: flash.kind,
    text: flash.text.slice(0, 600),
    n: nonce,
    exp: now + FLASH_TTL_MS,
  };
  return { token: signToken(deriveKey(secret, "flash"), claims, { now }), nonce };
}

export function readFlash(
  secret: string | null,
  token: string | null | undefined,
  nonce: string | null | undefined,
  now = Date.now(),
): Flash | null {
  if (!secret || !token || !nonce) return null;
  const verified = verifyToken<FlashClaims>(deriveKey(secret, "flash"), token, {
    expect: { p: "dashboard-flash" },
    now,
  });
  if (!verified.ok || verified.claims.n !== nonce) return null;
  const { kind, text } = verified.claims;
  return { kind: kind === "error" ? "error" : "ok", text: String(text), n: nonce };
}

// ---------------------------------------------------------------- cookies

/** Served over https (directly, or behind a proxy that says so): cookies get `Secure`. */
export function servedOverHttps(request: Request): boolean {
  const forwarded = request.headers.get("x-forwarded-proto")?.split(",")[0]?.trim().toLowerCase();
  if (forwarded) return forwarded === "https";
  return new URL(request.url).protocol === "https:";
}

export function cookieHeader(name: string, value: string, options: { maxAgeS: number; secure: boolean }): string {
  return [
    `${name}=${value}`,
    `Path=${COOKIE_PATH}`,
    `Max-Age=${Math.max(0, Math.floor(options.maxAgeS))}`,
    "HttpOnly",
    "SameSite=Strict",
    ...(options.secure ? ["Secure"] : []),
  ].join("; ");
}

export function clearCookieHeader(name: string, secure: boolean): string {
  return `${cookieHeader(name, "", { maxAgeS: 0, secure })}; Expires=Thu, 01 Jan 1970 00:00:00 GMT`;
}

/** One cookie's value from a Cookie header (the first of that name). */
export function cookieFrom(request: Request, name: string): string | null {
  const header = request.headers.get("cookie");
  if (!header) return null;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}
