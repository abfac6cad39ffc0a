/**
 * The KV keys of webhook delivery and targeted runs, all under `{p}:wh:`
 * (built from the app's KeyBuilder prefix, so KV_PREFIX applies; README,
 * "Near real time: webhooks").
 */
import type { Section } from "../core/sections";
import type { KeyBuilder } from "../kv/keys";

export interface WebhookKeys {
  /** The subscription's verification token as received in the handshake (WebhookTokenRecord). */
  token(): string;
  /** One event id seen (SET NX PX): a redelivery of the same event is recorded once. */
  event(eventId: string): string;
  /** The dirty set, sharded by page id (lib/webhooks/dirty.ts): `{id}|{event timestamp}[|{parent hint}]`. */
  dirtyBase(): string;
  /** The last event received (LastWebhookEvent), for status. */
  lastEvent(): string;
  /** When a targeted run last read the page from Notion (ISO), kept 48 h: older events are dropped. */
  readAt(pageId: string): string;
  /** Failed targeted attempts at a page (a number, kept an hour): past 3 it is left to the next scheduled run. */
  tries(pageId: string): string;
  /** The chunk of the section index that last held the page (a hint for in-place updates). */
  chunkHint(section: Section, pageId: string): string;
  /** QStash mode: the debounce window whose targeted run is already published (SET NX PX). */
  window(window: number): string;
  /** after() mode: a targeted run is scheduled in some invocation and has not read the dirty set yet (SET NX PX). */
  pending(): string;
  /** Set of sections whose dirty pages wait for a full run of that section to finish. */
  deferred(): string;
  /** A data_source.schema_updated event: the section's next full run re-reads every page (lib/sync/full-refetch.ts). */
  fullRefetch(section: Section): string;
}

export function webhookKeys(keys: Pick<KeyBuilder, "prefix">): WebhookKeys {
  const k = (...parts: (string | number)[]) => [keys.prefix, "wh", ...parts].join(":");
  return {
    token: () => k("token"),
    event: (eventId) => k("event", eventId),
    dirtyBase: () => k("dirty"),
    lastEvent: () => k("last"),
    readAt: (pageId) => k("read", pageId),
    tries: (pageId) => k("tries", pageId),
    chunkHint: (section, pageId) => k("loc", section, pageId),
    window: (window) => k("window", window),
    pending: () => k("pending"),
    deferred: () => k("deferred"),
    fullRefetch: (section) => k("refetch-all", section),
  };
}
