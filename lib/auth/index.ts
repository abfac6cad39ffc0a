/**
 * Who may start a sync invocation:
 * - Vercel cron: `Authorization: Bearer $CRON_SECRET`;
 * - a person with a manual URL: `?secret=$CRON_SECRET`;
 * - QStash: a signed POST (`Upstash-Signature`), verified over the raw body.
 * An unset CRON_SECRET is a configuration error (503), never an open endpoint.
 */
import { createHash, timingSafeEqual } from "node:crypto";

export type Caller = "cron" | "manual" | "qstash";

export type AuthResult =
  | { ok: true; caller: Caller }
  | { ok: false; status: 401 | 503; code: "unauthorized" | "config_error"; message: string };

/** Compares digests so neither the content nor the length of the secret leaks through timing. */
export function safeEqual(given: string, expected: string): boolean {
  const a = createHash("sha256").update(given).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}

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
}

const unauthorized = (message: string): AuthResult => ({ ok: false, status: 401, code: "unauthorized", message });

export async function authenticate({ request, env, verifySignature }: AuthInput): Promise<AuthResult> {
  const signature = request.headers.get("upstash-signature");
  if (signature !== null) {
    if (request.method !== "POST") return unauthorized("QStash deliveries must be POST");
    if (!verifySignature) {
      return { ok: false, status: 503, code: "config_error", message: "QStash signing keys are not configured: set QSTASH_CURRENT_SIGNING_KEY and QSTASH_NEXT_SIGNING_KEY" };
    }
    const verified = await verifySignature(signature);
    return verified.ok ? { ok: true, caller: "qstash" } : unauthorized(`invalid QStash signature: ${verified.reason}`);
  }

  const secret = env.CRON_SECRET?.trim();
  if (!secret) {
    return { ok: false, status: 503, code: "config_error", message: "CRON_SECRET is not set: the sync endpoints stay closed until it is" };
  }
  const bearer = bearerToken(request);
  if (bearer !== null) return safeEqual(bearer, secret) ? { ok: true, caller: "cron" } : unauthorized("wrong bearer token");
  const querySecret = new URL(request.url).searchParams.get("secret");
  if (querySecret !== null) return safeEqual(querySecret, secret) ? { ok: true, caller: "manual" } : unauthorized("wrong secret");
  return unauthorized("missing credentials: send Authorization: Bearer <CRON_SECRET> or ?secret=<CRON_SECRET>");
}
