/**
 * Who may start a sync invocation:
 * - Vercel cron: `Authorization: Bearer $CRON_SECRET`;
 * - a person with a manual URL: `?secret=$CRON_SECRET` (kept for compatibility),
 *   or a signed one-time link `?token=` (lib/auth/manual-link.ts; its nonce is
 *   spent by the HTTP layer, lib/http/link-redeem.ts, since this module has no KV);
 * - QStash: a signed POST (`Upstash-Signature`), verified over the raw body.
 * An unset CRON_SECRET is a configuration error (503), never an open endpoint.
 */
import { CHAIN_TOKEN_HEADER, type ChainStep, verifyChainToken } from "./chain-token";
import { type LinkTarget, type ManualLinkClaims, linkTokenFrom, verifyManualLink } from "./manual-link";
import { safeEqual } from "./safe-equal";

export { safeEqual };

export type Caller = "cron" | "manual" | "qstash" | "link" | "chain" | "dashboard";

/**
 * Set by the dashboard on the calls it makes with the bearer, so logs tell its starts from a
 * cron's. Only read once the bearer is proven: whoever sends it holds the secret anyway.
 */
export const CALLER_HEADER = "x-sync-caller";

export type AuthResult =
  | { ok: true; caller: Exclude<Caller, "link" | "chain"> }
  /** A self-chain link (lib/auth/chain-token.ts): the step it continues. */
  | { ok: true; caller: "chain"; chain: ChainStep }
  /** Signature, expiry and endpoint checked; the caller must still spend `link.n` and match `link.f`. */
  | { ok: true; caller: "link"; link: ManualLinkClaims }
  | { ok: false; status: 401 | 503; code: "unauthorized" | "config_error"; message: string };

export function bearerToken(request: Request): string | null {
  const header = request.headers.get("authorization");
  const match = header?.match(/^Bearer\s+(.+)$/i);
  return match ? match[1].trim() : null;
}

export interface AuthInput {
  request: Request;
  env: Record<string, string | undefined>;
  /** Checks a QStash signature; given by the route so this module stays free of QStash. */
  verifySignature?: (signature: string) => Promise<{ ok: true } | { ok: false; reason: string }>;
  /** The endpoint a signed link (`?token=`) must name; unset: links are refused here. */
  linkTarget?: LinkTarget;
}

const unauthorized = (message: string): AuthResult => ({ ok: false, status: 401, code: "unauthorized", message });

export async function authenticate({ request, env, verifySignature, linkTarget }: AuthInput): Promise<AuthResult> {
  const signature = request.headers.get("upstash-signature");
  if (signature !== null) {
    if (request.method !== "POST") return unauthorized("QStash deliveries must be POST");
    if (!verifySignature) {
      return {
        ok: false,
        status: 503,
        code: "config_error",
        message: "QStash signing keys are not configured: set QSTASH_CURRENT_SIGNING_KEY and QSTASH_NEXT_SIGNING_KEY",
      };
    }
    const verified = await verifySignature(signature);
    return verified.ok ? { ok: true, caller: "qstash" } : unauthorized(`invalid QStash signature: ${verified.reason}`);
  }

  const secret = env.CRON_SECRET?.trim();
  if (!secret) {
    return {
      ok: false,
      status: 503,
      code: "config_error",
      message: "CRON_SECRET is not set: the sync endpoints stay closed until it is",
    };
  }
  const chainToken = request.headers.get(CHAIN_TOKEN_HEADER);
  if (chainToken !== null) {
    if (request.method !== "POST") return unauthorized("chain links must be POST");
    const section = linkTarget && linkTarget !== "trigger" ? linkTarget : null;
    if (!section) return unauthorized("chain links only open section endpoints");
    const checked = verifyChainToken(secret, chainToken, section);
    return checked.ok ? { ok: true, caller: "chain", chain: checked.step } : unauthorized(checked.message);
  }
  const bearer = bearerToken(request);
  if (bearer !== null) {
    if (!safeEqual(bearer, secret)) return unauthorized("wrong bearer token");
    return { ok: true, caller: request.headers.get(CALLER_HEADER) === "dashboard" ? "dashboard" : "cron" };
  }
  const url = new URL(request.url);
  const querySecret = url.searchParams.get("secret");
  if (querySecret !== null)
    return safeEqual(querySecret, secret) ? { ok: true, caller: "manual" } : unauthorized("wrong secret");
  const token = linkTokenFrom(url);
  if (token !== null) {
    if (!linkTarget)
      return unauthorized(
        "the link is not for this endpoint: signed links open the section and trigger endpoints only",
      );
    const link = verifyManualLink(secret, token, linkTarget);
    return link.ok ? { ok: true, caller: "link", link: link.claims } : unauthorized(link.message);
  }
  return unauthorized(
    "missing credentials: send Authorization: Bearer <CRON_SECRET>, ?token=<signed link> or ?secret=<CRON_SECRET>",
  );
}
