/**
 * The webhook part of the operator status (`/api/sync/status` → `webhooks`,
 * `npm run kv:cursors`): the last event received, how many events wait in
 * the dirty set, which sections hold deferred pages or a full re-read mark,
 * and whether a verification token is stored (never the token itself).
 */
import { SECTIONS, type Section } from "../core/sections";
import type { KeyBuilder } from "../kv/keys";
import type { KvStore } from "../kv/store";
import { dirtySize } from "./dirty";
import type { LastWebhookEvent } from "./events";
import { webhookKeys } from "./keys";
import { type TokenStatus, readTokenRecord, tokenStatus } from "./token";

export interface WebhookStatus {
  lastEvent: LastWebhookEvent | null;
  /** Events recorded and not yet handled by a targeted run (a page with several counts several). */
  dirty: number;
  /** Sections whose dirty pages wait for their live full run to finish. */
  deferred: Section[];
  /** Sections whose next full run re-reads every page (a schema change). */
  fullRefetch: Section[];
  token: TokenStatus;
}

export async function readWebhookStatus(kv: KvStore, keys: KeyBuilder): Promise<WebhookStatus> {
  const wk = webhookKeys(keys);
  const [lastEvent, dirty, deferred, marks, record] = await Promise.all([
    kv.get<LastWebhookEvent>(wk.lastEvent()),
    dirtySize(kv, wk.dirtyBase()),
    kv.smembers(wk.deferred()),
    kv.mget(SECTIONS.map((s) => wk.fullRefetch(s))),
    readTokenRecord(kv, wk),
  ]);
  return {
    lastEvent,
    dirty,
    deferred: SECTIONS.filter((s) => deferred.includes(s)),
    fullRefetch: SECTIONS.filter((_, i) => marks[i] !== null),
    token: tokenStatus(record),
  };
}
