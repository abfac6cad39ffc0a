/**
 * Short-lived signed tokens: `base64url(JSON claims) + "." + base64url(HMAC-SHA256)`.
 *
 * Generic and pure (no KV, no HTTP): the claims are whatever the caller signs,
 * plus `exp` (epoch milliseconds, like every other duration in this code base),
 * which is always checked. Used by manual links (lib/auth/manual-link.ts); meant
 * to be reused by other tokens (e.g. a self-chain over {runId, seq, exp}).
 *
 * The MAC covers the encoded payload exactly as sent, so there is no JSON
 * canonicalisation to get wrong: any change to either part fails the check.
 * Claims are readable by whoever holds the token (base64url is not
 * encryption): never put a secret in them. One-time use is not this module's
 * job: a caller that needs it records a nonce claim (lib/http/link-redeem.ts).
 */
import { createHmac } from "node:crypto";
import { safeEqual } from "./safe-equal";

/** No token lives longer than this: a leaked one stops working within a day. */
export const MAX_TOKEN_TTL_MS = 24 * 60 * 60 * 1000;

/** Tokens are URL parameters; anything longer is not one of ours (and is not parsed). */
const MAX_TOKEN_LENGTH = 2048;
/** base64url payload, a dot, an unpadded base64url SHA-256 MAC (32 bytes → 43 characters). */
const TOKEN_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/;
/** Bound into the MAC so a signature made for something else with the same key never verifies here. */
const MAC_CONTEXT = "notion-kv-sync.token.v1.";

export interface TokenClaims {
  /** Expiry, epoch milliseconds. */
  exp: number;
  [claim: string]: unknown;
}

export type TokenFailure = "malformed" | "bad_signature" | "expired" | "wrong_target";

export type VerifyResult<C extends TokenClaims> =
  | { ok: true; claims: C }
  // `message` is safe to answer with: it never contains the token or the key.
  | { ok: false; reason: TokenFailure; message: string; claims?: C };

type Primitive = string | number | boolean | null;

export interface VerifyOptions<C extends TokenClaims> {
  /** Claims that must hold exactly these values (compared with ===); a difference is `wrong_target`. */
  expect?: { [K in keyof C]?: C[K] & Primitive };
  now?: number;
}

function mac(secret: string, payload: string): string {
  return createHmac("sha256", secret).update(MAC_CONTEXT).update(payload).digest("base64url");
}

function requireSecret(secret: string): void {
  if (typeof secret !== "string" || secret.length === 0) throw new TypeError("a signing secret is required");
}

/**
 * Signs `claims`. Refuses (RangeError) an `exp` that is not in the future or
 * more than MAX_TOKEN_TTL_MS away, so no long-lived token can be minted by mistake.
 */
export function signToken<C extends TokenClaims>(secret: string, claims: C, options: { now?: number } = {}): string {
  requireSecret(secret);
  const now = options.now ?? Date.now();
  if (!Number.isSafeInteger(claims.exp)) throw new RangeError("exp must be an integer (epoch milliseconds)");
  const ttlMs = claims.exp - now;
  if (ttlMs <= 0) throw new RangeError("exp must be in the future");
  if (ttlMs > MAX_TOKEN_TTL_MS) throw new RangeError(`a token may live at most ${MAX_TOKEN_TTL_MS / 3_600_000} h`);
  const payload = Buffer.from(JSON.stringify(claims), "utf8").toString("base64url");
  return `${payload}.${mac(secret, payload)}`;
}

const fail = <C extends TokenClaims>(reason: TokenFailure, message: string, claims?: C): VerifyResult<C> => ({
  ok: false,
  reason,
  message,
  ...(claims ? { claims } : {}),
});

/**
 * Checks, in this order: shape (malformed), MAC (bad_signature), claims JSON
 * (malformed), expiry (expired), `expect` (wrong_target). Expiry and claims
 * are only looked at once the MAC holds, so nothing unsigned is trusted or
 * reported back. A failure past the MAC carries the (authentic) claims.
 */
export function verifyToken<C extends TokenClaims>(
  secret: string,
  token: string,
  options: VerifyOptions<C> = {},
): VerifyResult<C> {
  requireSecret(secret);
  if (typeof token !== "string" || token.length > MAX_TOKEN_LENGTH || !TOKEN_SHAPE.test(token)) {
    return fail("malformed", "the token is malformed");
  }
  const dot = token.indexOf(".");
  const payload = token.slice(0, dot);
  if (!safeEqual(token.slice(dot + 1), mac(secret, payload))) {
    return fail("bad_signature", "the token's signature does not match (altered, or signed with another key)");
  }
  let claims: C;
  try {
    const decoded: unknown = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
    if (typeof decoded !== "object" || decoded === null || Array.isArray(decoded)) throw new Error("not an object");
    claims = decoded as C;
  } catch {
    return fail("malformed", "the token's claims are not a JSON object");
  }
  if (!Number.isSafeInteger(claims.exp)) return fail("malformed", "the token has no valid expiry");
  const now = options.now ?? Date.now();
  if (now >= claims.exp) return fail("expired", `the token expired at ${new Date(claims.exp).toISOString()}`, claims);
  for (const [name, value] of Object.entries(options.expect ?? {})) {
    if (claims[name] !== value)
      return fail("wrong_target", `the token is not for this use (claim "${name}" differs)`, claims);
  }
  return { ok: true, claims };
}
