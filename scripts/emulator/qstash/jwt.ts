/**
 * The `Upstash-Signature` JWT, built the way QStash builds it, with node:crypto
 * only (no dependency on the SDK's own jose copy).
 *
 * HS256 over `base64url(header).base64url(payload)`, keyed with the signing
 * key's UTF-8 bytes (the SDK's Receiver does `new TextEncoder().encode(key)`).
 * Claims: iss "Upstash", sub = destination URL, iat/nbf = now, exp = now + 300,
 * jti random, and `body` = base64url SHA-256 of the raw body. QStash pads that
 * hash with "=" (Go's base64.URLEncoding); the Receiver strips padding on
 * both sides before comparing, so the emulator pads too, to exercise that.
 */
import { createHash, createHmac, randomBytes } from "node:crypto";

export interface SignOptions {
  key: string;
  /** The JWT `sub`: the URL the request is delivered to. */
  url: string;
  body: string | Uint8Array;
  /** Defaults to 300 s, like QStash. Negative values make an expired token. */
  expiresInSec?: number;
  issuer?: string;
  nowSec?: number;
}

function b64url(input: string | Buffer): string {
  return Buffer.from(input).toString("base64url");
}

/** base64url of SHA-256, padded with "=" as QStash sends it. */
export function bodyHash(body: string | Uint8Array): string {
  return createHash("sha256").update(body).digest("base64").replace(/\+/g, "-").replace(/\//g, "_");
}

export function signJwt(options: SignOptions): string {
  const now = options.nowSec ?? Math.floor(Date.now() / 1000);
  const exp = now + (options.expiresInSec ?? 300);
  // An already expired test token still needs nbf/iat before exp to be a
  // well-formed token whose only fault is its age.
  const issued = Math.min(now, exp - 1);
  const header = { alg: "HS256", typ: "JWT" };
  const payload = {
    iss: options.issuer ?? "Upstash",
    sub: options.url,
    exp,
    nbf: issued,
    iat: issued,
    jti: `jwt_${randomBytes(12).toString("hex")}`,
    body: bodyHash(options.body),
  };
  const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  const signature = createHmac("sha256", Buffer.from(options.key, "utf8")).update(signingInput).digest("base64url");
  return `${signingInput}.${signature}`;
}
