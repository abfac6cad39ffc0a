/**
 * The self-chain's link token (lib/orchestration/self-chain.ts): what lets an
 * invocation call its own section for the next step without QStash. An HMAC
 * (lib/auth/signed-token.ts) over the section, the run, the step and the link
 * number, keyed with CRON_SECRET, valid a few minutes. It is not the secret,
 * and it opens that one step only: a copy of it finds the step already run
 * (answered `stale`), a token for another section or run is refused.
 */
import type { Section } from "../core/sections";
import { signToken, verifyToken } from "./signed-token";

/** Header that carries the token (never the URL, so it stays out of request logs). */
export const CHAIN_TOKEN_HEADER = "x-sync-chain";

/** Long enough for a link to be delivered, short enough that a leaked one soon dies. */
export const CHAIN_TOKEN_TTL_MS = 5 * 60_000;

export interface ChainClaims {
  [claim: string]: unknown;
  /** Purpose: keeps these apart from manual links signed with the same key. */
  p: "chain";
  s: Section;
  /** Run id and the step (cursor seq) the link continues. */
  r: string;
  q: number;
  /** Links so far in this chain (SYNC_MAX_CHAIN bounds it). */
  l: number;
  f: boolean;
  /** Not before (epoch ms): a short Retry-After the link waits out before its batch. */
  w?: number;
  exp: number;
}

export interface ChainStep {
  section: Section;
  runId: string;
  seq: number;
  link: number;
  force: boolean;
  notBefore?: number;
}

export function signChainToken(secret: string, step: ChainStep, now: number = Date.now()): string {
  const claims: ChainClaims = {
    p: "chain",
    s: step.section,
    r: step.runId,
    q: step.seq,
    l: step.link,
    f: step.force,
    ...(step.notBefore ? { w: step.notBefore } : {}),
    exp: now + CHAIN_TOKEN_TTL_MS,
  };
  return signToken(secret, claims, { now });
}

export type ChainTokenCheck = { ok: true; step: ChainStep } | { ok: false; message: string };

export function verifyChainToken(
  secret: string,
  token: string,
  section: Section,
  now: number = Date.now(),
): ChainTokenCheck {
  const verified = verifyToken<ChainClaims>(secret, token, { expect: { p: "chain", s: section }, now });
  if (!verified.ok) return { ok: false, message: `invalid chain token: ${verified.message}` };
  const c = verified.claims;
  if (
    typeof c.r !== "string" ||
    !Number.isSafeInteger(c.q) ||
    c.q < 0 ||
    !Number.isSafeInteger(c.l) ||
    c.l < 0 ||
    typeof c.f !== "boolean" ||
    (c.w !== undefined && !Number.isSafeInteger(c.w))
  ) {
    return { ok: false, message: "invalid chain token: its claims are malformed" };
  }
  return {
    ok: true,
    step: { section, runId: c.r, seq: c.q, link: c.l, force: c.f, ...(c.w ? { notBefore: c.w } : {}) },
  };
}
