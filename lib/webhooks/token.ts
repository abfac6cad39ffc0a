/**
 * The subscription's verification token (notion-facts.md §1.2-1.3): Notion
 * POSTs `{"verification_token": "secret_…"}` once when a subscription is
 * created (again on "Resend token"); it must be pasted back into Notion's UI,
 * and it is the HMAC key of every later delivery.
 *
 * Anybody can POST a handshake, so no handshake ever displaces the token in use:
 * - The first token received is stored in KV (never logged) and is the
 *   active one: deliveries are verified with it.
 * - A handshake with another token, at any time (verified delivery or not),
 *   is kept as *pending*: never used to verify, shown to the operator, made
 *   active only when the operator accepts it (`kv:cursors --webhook-token
 *   --accept`, or the dashboard) after having been shown it. One pending slot:
 *   a newer handshake replaces it (and must be shown before it can be accepted).
 * - NOTION_WEBHOOK_SECRET, when set, is the token, whatever KV holds.
 * - Each token is shown once (`--webhook-token`); a resent handshake of the
 *   same token makes it showable again.
 */
import { KvPreconditionError } from "../kv/errors";
import type { KvStore } from "../kv/store";
import type { WebhookKeys } from "./keys";

export interface PendingToken {
  token: string;
  receivedAt: string;
  /** When an operator was shown it (null: not yet, and it cannot be accepted). */
  shownAt: string | null;
}

export interface WebhookTokenRecord {
  token: string;
  receivedAt: string;
  /** When an operator was shown it (null: not yet). */
  shownAt: string | null;
  /** The first delivery that verified with it (status only: it does not make the token any more trusted). */
  verifiedAt: string | null;
  pending: PendingToken | null;
}

export type HandshakeOutcome = "stored" | "resent" | "pending" | "pending_resent";

/** Only `{"verification_token": "<string>"}` (nothing else) is a handshake. */
export function handshakeToken(body: unknown): string | null {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return null;
  const keys = Object.keys(body);
  const token = (body as { verification_token?: unknown }).verification_token;
  if (keys.length !== 1 || typeof token !== "string") return null;
  const trimmed = token.trim();
  return trimmed.length >= 8 && trimmed.length <= 512 ? trimmed : null;
}

function asRecord(raw: unknown): WebhookTokenRecord | null {
  return raw && typeof (raw as WebhookTokenRecord).token === "string" ? (raw as WebhookTokenRecord) : null;
}

export async function readTokenRecord(kv: KvStore, wk: WebhookKeys): Promise<WebhookTokenRecord | null> {
  return asRecord(await kv.get(wk.token()));
}

/** Tries of a compare-and-set: each one lost means another writer won, so 8 concurrent writers all get through. */
const CAS_ATTEMPTS = 8;

/**
 * Read, change, write only if nobody wrote in between: a handshake, an accept
 * and a verified delivery never undo one another. `next: null` writes nothing.
 */
async function updateRecord<T>(
  kv: KvStore,
  wk: WebhookKeys,
  change: (record: WebhookTokenRecord | null) => { next: WebhookTokenRecord | null; result: T },
): Promise<T> {
  for (let attempt = 1; attempt <= CAS_ATTEMPTS; attempt++) {
    const raw = await kv.get(wk.token());
    const { next, result } = change(asRecord(raw));
    if (!next) return result;
    if (raw === null) {
      if (await kv.set(wk.token(), next, { nx: true })) return result;
      continue;
    }
    try {
      await kv.atomic([
        { op: "require", key: wk.token(), equals: raw },
        { op: "set", key: wk.token(), value: next },
      ]);
      return result;
    } catch (error) {
      if (!(error instanceof KvPreconditionError)) throw error;
    }
  }
  throw new KvPreconditionError(wk.token());
}

export function storeHandshake(
  kv: KvStore,
  wk: WebhookKeys,
  token: string,
  now: Date = new Date(),
): Promise<HandshakeOutcome> {
  const at = now.toISOString();
  return updateRecord<HandshakeOutcome>(kv, wk, (record) => {
    if (!record)
      return { next: { token, receivedAt: at, shownAt: null, verifiedAt: null, pending: null }, result: "stored" };
    // "Resend token": the operator lost it; show it once more.
    if (record.token === token) return { next: { ...record, receivedAt: at, shownAt: null }, result: "resent" };
    const result = record.pending?.token === token ? "pending_resent" : "pending";
    return { next: { ...record, pending: { token, receivedAt: at, shownAt: null } }, result };
  });
}

/** The token deliveries are verified with: NOTION_WEBHOOK_SECRET, else the active stored one (never a pending one); null before any handshake. */
export async function verificationToken(
  kv: KvStore,
  wk: WebhookKeys,
  override: string | null,
): Promise<{ token: string; source: "env" | "kv"; record: WebhookTokenRecord | null } | null> {
  if (override) return { token: override, source: "env", record: null };
  const record = await readTokenRecord(kv, wk);
  return record ? { token: record.token, source: "kv", record } : null;
}

/** Records the first delivery verified with the active token (for the status). */
export async function markVerified(
  kv: KvStore,
  wk: WebhookKeys,
  record: WebhookTokenRecord,
  now: Date = new Date(),
): Promise<void> {
  if (record.verifiedAt) return;
  await updateRecord(kv, wk, (current) => ({
    next:
      current && current.token === record.token && !current.verifiedAt
        ? { ...current, verifiedAt: now.toISOString() }
        : null,
    result: undefined,
  }));
}

export interface TokenReveal {
  which: "active" | "pending";
  /** The token itself when shown now; null when it was shown before (at `shownAt`). */
  token: string | null;
  shownAt: string | null;
  receivedAt: string;
  verifiedAt: string | null;
}

/**
 * What `--webhook-token` shows: the active token and the pending one, each
 * once (a token already shown comes with `token: null`). [] before any handshake.
 */
export function revealTokens(kv: KvStore, wk: WebhookKeys, now: Date = new Date()): Promise<TokenReveal[]> {
  const at = now.toISOString();
  return updateRecord<TokenReveal[]>(kv, wk, (record) => {
    if (!record) return { next: null, result: [] };
    const reveal = (
      which: TokenReveal["which"],
      t: { token: string; shownAt: string | null; receivedAt: string },
      verifiedAt: string | null,
    ): TokenReveal => ({
      which,
      token: t.shownAt ? null : t.token,
      shownAt: t.shownAt ?? at,
      receivedAt: t.receivedAt,
      verifiedAt,
    });
    const result = [
      reveal("active", record, record.verifiedAt),
      ...(record.pending ? [reveal("pending", record.pending, null)] : []),
    ];
    if (result.every((r) => r.token === null)) return { next: null, result };
    const pending = record.pending ? { ...record.pending, shownAt: record.pending.shownAt ?? at } : null;
    return { next: { ...record, shownAt: record.shownAt ?? at, pending }, result };
  });
}

export type AcceptOutcome =
  | { kind: "none" }
  /** A pending token nobody has been shown (it arrived after the last `--webhook-token`): not accepted. */
  | { kind: "not_shown"; receivedAt: string }
  | { kind: "accepted"; receivedAt: string };

/**
 * Makes the pending token the active one. Only a pending token an operator
 * has been shown: one swapped in by a later handshake is never accepted blindly.
 */
export function acceptPendingToken(kv: KvStore, wk: WebhookKeys): Promise<AcceptOutcome> {
  return updateRecord<AcceptOutcome>(kv, wk, (record) => {
    const pending = record?.pending;
    if (!pending) return { next: null, result: { kind: "none" } };
    if (!pending.shownAt) return { next: null, result: { kind: "not_shown", receivedAt: pending.receivedAt } };
    return {
      next: {
        token: pending.token,
        receivedAt: pending.receivedAt,
        shownAt: pending.shownAt,
        verifiedAt: null,
        pending: null,
      },
      result: { kind: "accepted", receivedAt: pending.receivedAt },
    };
  });
}

/** The token's state for status pages and the dashboard: dates and flags, never a token. */
export interface TokenStatus {
  stored: boolean;
  receivedAt: string | null;
  verifiedAt: string | null;
  shown: boolean;
  pending: boolean;
  pendingReceivedAt: string | null;
  pendingShown: boolean;
}

export function tokenStatus(record: WebhookTokenRecord | null): TokenStatus {
  return {
    stored: record !== null,
    receivedAt: record?.receivedAt ?? null,
    verifiedAt: record?.verifiedAt ?? null,
    shown: Boolean(record?.shownAt),
    pending: Boolean(record?.pending),
    pendingReceivedAt: record?.pending?.receivedAt ?? null,
    pendingShown: Boolean(record?.pending?.shownAt),
  };
}
