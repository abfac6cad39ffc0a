/**
 * The KV half of a signed manual link (lib/auth/manual-link.ts checked its
 * signature, expiry and endpoint): the request must ask for the force the
 * link was signed with, and its nonce is spent with SET NX, expiring when the
 * link does, so a link works once. Called only after authenticate() accepted
 * the token, so forged or expired tokens never write anything.
 *
 * A link is spent when accepted, whatever the call then answers (409 busy,
 * 429 rate limited): one-time means one call.
 */
import { type ManualLinkClaims, LINK_ALREADY_USED, linkExpiredMessage, linkForceMismatch } from "../auth/manual-link";
import type { KeyBuilder } from "../kv/keys";
import type { KvStore } from "../kv/store";
import { jsonError } from "./json";
import { logEvent } from "../core/log";

/** Null when the link may be used (its nonce is now spent); else the JSON answer to send. */
export async function redeemLink(
  kv: KvStore,
  keys: KeyBuilder,
  link: ManualLinkClaims,
  force: boolean,
  now: number = Date.now(),
): Promise<Response | null> {
  const refuse = (reason: string, message: string) => {
    // The target and why; never the token (it is a credential until it expires).
    logEvent("link.rejected", { target: link.t, reason }, "warn");
    return jsonError(401, "unauthorized", message);
  };
  const mismatch = linkForceMismatch(link, force);
  if (mismatch) return refuse("force_mismatch", mismatch);
  // It may have expired since authenticate() looked; PX must be positive anyway.
  const remainingMs = link.exp - now;
  if (remainingMs <= 0) return refuse("expired", linkExpiredMessage(link));
  let first: boolean;
  try {
    first = await kv.set(
      keys.linkNonce(link.n),
      { target: link.t, usedAt: new Date(now).toISOString() },
      { nx: true, pxMs: remainingMs },
    );
  } catch (error) {
    // The raw message can name hosts: the log gets it, the answer does not.
    logEvent(
      "link.redeem_failed",
      { target: link.t, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) },
      "warn",
    );
    return jsonError(
      503,
      "kv_unavailable",
      "the KV store could not be reached to spend the link (see the function log); nothing was done",
    );
  }
  return first ? null : refuse("already_used", LINK_ALREADY_USED);
}
