/**
 * Manual links: a URL a person can open once, for a short time, instead of a
 * URL carrying CRON_SECRET itself (which stays valid forever and ends up in
 * request logs and browser history).
 *
 * The token (lib/auth/signed-token.ts, keyed with CRON_SECRET) signs which
 * endpoint it opens (`t`: a section or "trigger"), whether it forces (`f`),
 * its expiry (`exp`, epoch ms) and a random nonce (`n`). The signature, expiry
 * and endpoint are checked here; the nonce is spent in KV by the HTTP layer
 * (lib/http/link-redeem.ts), because lib/auth does not touch KV.
 */
import { randomBytes } from "node:crypto";
import { CHILDREN_SECTION, ENV_SECTIONS, type Section, isSectionName } from "../core/sections";
import { MAX_TOKEN_TTL_MS, type TokenFailure, signToken, verifyToken } from "./signed-token";

export type LinkTarget = Section | "trigger";
/** The targets of a deployment without a config file; any section name is a target (the route checks it is configured). */
export const LINK_TARGETS: readonly LinkTarget[] = [...ENV_SECTIONS, CHILDREN_SECTION, "trigger"];

export interface ManualLinkClaims {
  [claim: string]: unknown;
  /** The endpoint: a section, or "trigger". */
  t: LinkTarget;
  /** The force flag the request must ask for (a link cannot be turned into a forced run). */
  f: boolean;
  /** Expiry, epoch milliseconds. */
  exp: number;
  /** Random, spent in KV on first use: a link works once. */
  n: string;
}

export const DEFAULT_LINK_TTL_MS = 15 * 60 * 1000;
export const MAX_LINK_TTL_MS = MAX_TOKEN_TTL_MS;

/** 16 random bytes in base64url (22 characters); accepted up to 64 so the KV key stays short. */
const NONCE_SHAPE = /^[A-Za-z0-9_-]{16,64}$/;

const PRINT_ANOTHER = "print a new one with `npm run sync:url`";

export function isLinkTarget(value: unknown): value is LinkTarget {
  return value === "trigger" || isSectionName(value);
}

export const linkPath = (target: LinkTarget) => `/api/sync/${target}`;

export interface LinkOptions {
  force: boolean;
  ttlMs?: number;
  secret: string;
  now?: number;
}

/** Signs a one-time link token; throws RangeError for a TTL over MAX_LINK_TTL_MS or not positive. */
export function signManualLink(target: LinkTarget, options: LinkOptions): { token: string; claims: ManualLinkClaims } {
  if (!isLinkTarget(target)) throw new TypeError(`unknown link target: ${String(target)}`);
  const now = options.now ?? Date.now();
  const ttlMs = options.ttlMs ?? DEFAULT_LINK_TTL_MS;
  const claims: ManualLinkClaims = {
    t: target,
    f: options.force,
    exp: now + ttlMs,
    n: randomBytes(16).toString("base64url"),
  };
  return { token: signToken(options.secret, claims, { now }), claims };
}

/**
 * The URL to open: `{base}/api/sync/{target}[?force=1]&token=…`. `force=1` is
 * in the URL because the request, not the token, says what a call does; the
 * route refuses a token whose `f` differs from it.
 */
export function manualLinkUrl(baseUrl: string, target: LinkTarget, options: LinkOptions): string {
  const base = new URL(baseUrl);
  if (base.protocol !== "http:" && base.protocol !== "https:") throw new TypeError("the base URL must be http(s)");
  // Keep a path prefix the base may have (a deployment under /something).
  const url = new URL(`${base.origin}${base.pathname.replace(/\/+$/, "")}${linkPath(target)}`);
  if (options.force) url.searchParams.set("force", "1");
  url.searchParams.set("token", signManualLink(target, options).token);
  return url.toString();
}

/** The `?token=` of a request; null when absent (an empty one is present, and malformed). */
export function linkTokenFrom(url: URL): string | null {
  return url.searchParams.get("token");
}

export type LinkCheck = { ok: true; claims: ManualLinkClaims } | { ok: false; reason: TokenFailure; message: string };

const MESSAGES: Record<TokenFailure, (claims?: ManualLinkClaims) => string> = {
  malformed: () => `the link's token is malformed: copy the whole URL, or ${PRINT_ANOTHER}`,
  bad_signature: () => "the link's token has a bad signature: it was altered, or signed with another CRON_SECRET",
  expired: (claims) => `the link expired${claims ? ` at ${new Date(claims.exp).toISOString()}` : ""}: ${PRINT_ANOTHER}`,
  wrong_target: (claims) =>
    `the link is not for this endpoint${claims && isLinkTarget(claims.t) ? `: it was signed for ${linkPath(claims.t)}` : ""}`,
};

/** Signature, expiry and endpoint; the messages name the failure and never contain the token. */
export function verifyManualLink(
  secret: string,
  token: string,
  target: LinkTarget,
  options: { now?: number } = {},
): LinkCheck {
  const result = verifyToken<ManualLinkClaims>(secret, token, { expect: { t: target }, now: options.now });
  if (!result.ok) return { ok: false, reason: result.reason, message: MESSAGES[result.reason](result.claims) };
  const { claims } = result;
  // Signed by us, so only a signer of another version gets here; still checked, the nonce becomes a KV key.
  if (
    !isLinkTarget(claims.t) ||
    typeof claims.f !== "boolean" ||
    typeof claims.n !== "string" ||
    !NONCE_SHAPE.test(claims.n)
  ) {
    return { ok: false, reason: "malformed", message: MESSAGES.malformed() };
  }
  return { ok: true, claims };
}

/** Null when the request asks for the force the link was signed with; else why not. */
export function linkForceMismatch(claims: ManualLinkClaims, force: boolean): string | null {
  if (claims.f === force) return null;
  return `the link is not for this call: it was signed for force=${claims.f ? 1 : 0} and the request asks force=${force ? 1 : 0}`;
}

export const LINK_ALREADY_USED = `the link was already used (a link works once): ${PRINT_ANOTHER}`;
export const linkExpiredMessage = (claims: ManualLinkClaims) => MESSAGES.expired(claims);
