/**
 * The subscription's verification token (notion-facts.md §1.2-1.3): Notion
 * POSTs `{"verification_token": "secret_…"}` once when a subscription is
 * created (again on "Resend token"); it must be pasted back into Notion's UI,
 * and it is the HMAC key of every later delivery.
 *
 * - The first token received is stored in KV (never logged) and becomes the
 *   active one. While no delivery has verified with it, a new handshake
 *   replaces it (the subscription was recreated before being verified).
 * - Once a delivery has verified with it, a handshake with another token is
 *   kept as *pending* and not used: anybody can POST a handshake, so a token
 *   that already works is never replaced by an unauthenticated request. The
 *   operator promotes it (`npm run kv:cursors -- --webhook-token --accept`) or
 *   sets NOTION_WEBHOOK_SECRET.
 * - NOTION_WEBHOOK_SECRET, when set, is the token, whatever KV holds.
 * - The token is shown once to an operator (`--webhook-token`); a resent
 *   handshake of the same token makes it showable again.
 */
import type { KvStore } from "../kv/store";
import type { WebhookKeys } from "./keys";

export interface WebhookTokenRecord {
  token: string;
  receivedAt: string;
  /** When an operator was shown it (null: not yet). */
  shownAt: string | null;
  /** The first delivery that verified with it (then a handshake can no longer replace it). */
  verifiedAt: string | null;
  pending: { token: string; receivedAt: string; shownAt: string | null } | null;
}

export type HandshakeOutcome = "stored" | "resent" | "replaced" | "pending";

/** Only `{"verification_token": "<string>"}` (nothing else) is a handshake. */
export function handshakeToken(body: unknown): string | null {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return null;
  const keys = Object.keys(body);
  const token = (body as { verification_token?: unknown }).verification_token;
  if (keys.length !== 1 || typeof token !== "string") return null;
  const trimmed = token.trim();
  return trimmed.length >= 8 && trimmed.length <= 512 ? trimmed : null;
}

export async function readTokenRecord(kv: KvStore, wk: WebhookKeys): Promise<WebhookTokenRecord | null> {
  const raw = await kv.get<WebhookTokenRecord>(wk.token());
  return raw && typeof raw.token === "string" ? raw : null;
}

export async function storeHandshake(kv: KvStore, wk: WebhookKeys, token: string, now: Date = new Date()): Promise<HandshakeOutcome> {
  const at = now.toISOString();
  const fresh: WebhookTokenRecord = { token, receivedAt: at, shownAt: null, verifiedAt: null, pending: null };
  if (await kv.set(wk.token(), fresh, { nx: true })) return "stored";
  const record = await readTokenRecord(kv, wk);
  if (!record) {
    await kv.set(wk.token(), fresh);
    return "stored";
  }
  if (record.token === token) {
    // "Resend token": the operator lost it; show it once more.
    await kv.set(wk.token(), { ...record, receivedAt: at, shownAt: null, pending: null });
    return "resent";
  }
  if (!record.verifiedAt) {
    await kv.set(wk.token(), fresh);
    return "replaced";
  }
  await kv.set(wk.token(), { ...record, pending: { token, receivedAt: at, shownAt: null } });
  return "pending";
}

/** The token deliveries are verified with: NOTION_WEBHOOK_SECRET, else the stored one; null before any handshake. */
export async function verificationToken(kv: KvStore, wk: WebhookKeys, override: string | null): Promise<{ token: string; source: "env" | "kv"; record: WebhookTokenRecord | null } | null> {
  if (override) return { token: override, source: "env", record: null };
  const record = await readTokenRecord(kv, wk);
  return record ? { token: record.token, source: "kv", record } : null;
}

/** Records the first verified delivery (from then on a handshake cannot replace the token). */
export async function markVerified(kv: KvStore, wk: WebhookKeys, record: WebhookTokenRecord, now: Date = new Date()): Promise<void> {
  if (record.verifiedAt) return;
  const current = await readTokenRecord(kv, wk);
  if (current && current.token === record.token && !current.verifiedAt) await kv.set(wk.token(), { ...current, verifiedAt: now.toISOString() });
}

export type RevealOutcome =
  | { kind: "none" }
  | { kind: "shown"; token: string; which: "active" | "pending"; receivedAt: string; verifiedAt: string | null }
  | { kind: "already_shown"; which: "active" | "pending"; shownAt: string; receivedAt: string; verifiedAt: string | null }
  | { kind: "accepted"; receivedAt: string };

/**
 * What `--webhook-token` shows: the pending token if there is one, else the
 * active one, once. `accept` promotes a pending token to the active one.
 */
export async function revealToken(kv: KvStore, wk: WebhookKeys, options: { accept?: boolean; now?: Date } = {}): Promise<RevealOutcome> {
  const at = (options.now ?? new Date()).toISOString();
  const record = await readTokenRecord(kv, wk);
  if (!record) return { kind: "none" };
  if (options.accept) {
    if (!record.pending) return { kind: "none" };
    await kv.set(wk.token(), { token: record.pending.token, receivedAt: record.pending.receivedAt, shownAt: record.pending.shownAt, verifiedAt: null, pending: null } satisfies WebhookTokenRecord);
    return { kind: "accepted", receivedAt: record.pending.receivedAt };
  }
  if (record.pending) {
    const p = record.pending;
    if (p.shownAt) return { kind: "already_shown", which: "pending", shownAt: p.shownAt, receivedAt: p.receivedAt, verifiedAt: null };
    await kv.set(wk.token(), { ...record, pending: { ...p, shownAt: at } });
    return { kind: "shown", which: "pending", token: p.token, receivedAt: p.receivedAt, verifiedAt: null };
  }
  if (record.shownAt) return { kind: "already_shown", which: "active", shownAt: record.shownAt, receivedAt: record.receivedAt, verifiedAt: record.verifiedAt };
  await kv.set(wk.token(), { ...record, shownAt: at });
  return { kind: "shown", which: "active", token: record.token, receivedAt: record.receivedAt, verifiedAt: record.verifiedAt };
}
