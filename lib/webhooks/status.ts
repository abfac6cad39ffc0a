/**
 * The webhook part of the operator status (`/api/sync/status` → `webhooks`,
 * `npm run kv:cursors`): the last event received, how many events wait in
 * the dirty set, which sections hold deferred pages or a full re-read mark,
 * and whether a verification token is stored (never the token itself).
 */
import type { Section } from "../core/sections";
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

/**
 * `sections`: the workspace's section names, in its order. Without them, the sections named by
 * the deferred set and by the full re-read marks found by a key scan.
 */
export async function readWebhookStatus(
  kv: KvStore,
  keys: KeyBuilder,
  sections?: readonly Section[],
): Promise<WebhookStatus> {
  const wk = webhookKeys(keys);
  const [lastEvent, dirty, deferred, fullRefetch, record] = await Promise.all([
    kv.get<LastWebhookEvent>(wk.lastEvent()),
    dirtySize(kv, wk.dirtyBase()),
    kv.smembers(wk.deferred()),
    markedForFullRefetch(kv, keys, sections),
    readTokenRecord(kv, wk),
  ]);
  return {
    lastEvent,
    dirty,
    deferred: sections ? sections.filter((s) => deferred.includes(s)) : deferred.sort(),
    fullRefetch,
    token: tokenStatus(record),
  };
}

async function markedForFullRefetch(
  kv: KvStore,
  keys: KeyBuilder,
  sections: readonly Section[] | undefined,
): Promise<Section[]> {
  const wk = webhookKeys(keys);
  if (sections) {
    const marks = sections.length > 0 ? await kv.mget(sections.map((s) => wk.fullRefetch(s))) : [];
    return sections.filter((_, i) => marks[i] !== null);
  }
  const base = wk.fullRefetch("");
  return (await kv.scanKeys(base)).map((k) => k.slice(base.length)).sort();
}
