/**
 * Checks that a request really comes from QStash, with the SDK's Receiver.
 * Returns a result instead of throwing so a route handler can answer a clean
 * 401 and log the reason; nothing secret ever goes into the reason.
 */
import { Receiver } from "@upstash/qstash";
import type { QStashConfig } from "./config";

export type VerifyResult = { ok: true } | { ok: false; reason: string };

export interface VerifyDeliveryInput {
  /** The `Upstash-Signature` header as received (null/undefined when absent). */
  signature: string | null | undefined;
  /** The raw request body, exactly as received, before any JSON parsing. */
  rawBody: string;
  /**
   * The URL QStash was asked to deliver to (the JWT `sub`). Pass the public
   * URL the message was published to, not `request.url`, which behind a proxy
   * can carry another host or scheme.
   */
  url: string;
  config: Pick<QStashConfig, "currentSigningKey" | "nextSigningKey">;
  /**
   * Seconds of clock skew accepted on `nbf`/`exp`. QStash sets `nbf` to its
   * own "now", so a receiver whose clock runs a second behind would reject a
   * fresh delivery with no tolerance at all.
   */
  clockToleranceSec?: number;
}

const DEFAULT_CLOCK_TOLERANCE_SEC = 5;

/** Reads JWT claims without checking anything; only used to explain a failure. */
function peekClaims(jwt: string): Record<string, unknown> | undefined {
  const part = jwt.split(".")[1];
  if (!part) return undefined;
  try {
    const claims: unknown = JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
    return claims && typeof claims === "object" ? (claims as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A short, fixed reason. The SDK's messages can embed the claimed subject and
 * body hash; they are not secrets but they are attacker-controlled text, so
 * they do not go into logs verbatim.
 */
function explain(error: unknown, signature: string): string {
  const message = error instanceof Error ? error.message : "";
  // The Receiver checks subject and body only after a key accepted the
  // signature, so these two mean "genuine token, wrong request".
  if (message.startsWith("invalid subject")) return "signature is for another URL";
  if (message.startsWith("body hash does not match")) return "body does not match signature";
  // Any other failure: the Receiver tried the current key, then the next
  // one, and reports the next key's error, so an expired token signed with
  // the current key surfaces as a bad signature. Peek at the claims for a
  // more useful reason.
  const claims = peekClaims(signature);
  if (!claims) return "malformed signature";
  const now = Date.now() / 1000;
  if (typeof claims.exp === "number" && claims.exp < now) return "signature expired";
  if (typeof claims.nbf === "number" && claims.nbf > now) return "signature not yet valid";
  if (claims.iss !== "Upstash") return "signature issuer is not Upstash";
  if (typeof claims.body !== "string") return "signature has no body hash";
  return "invalid signature";
}

export async function verifyDelivery(input: VerifyDeliveryInput): Promise<VerifyResult> {
  const signature = input.signature?.trim();
  if (!signature) return { ok: false, reason: "missing Upstash-Signature header" };
  const { currentSigningKey, nextSigningKey } = input.config;
  if (!currentSigningKey || !nextSigningKey) return { ok: false, reason: "signing keys not configured" };
  try {
    const receiver = new Receiver({
      currentSigningKey,
      nextSigningKey,
      // QSTASH_DEV=true would make the SDK swap our keys for its dev keys.
      devMode: false,
    });
    await receiver.verify({
      signature,
      body: input.rawBody,
      url: input.url,
      clockTolerance: input.clockToleranceSec ?? DEFAULT_CLOCK_TOLERANCE_SEC,
    });
    return { ok: true };
  } catch (error) {
    // SignatureError for bad tokens, but also TypeError (e.g. a token without
    // a `body` claim) and anything else: a verifier must never throw.
    return { ok: false, reason: explain(error, signature) };
  }
}
