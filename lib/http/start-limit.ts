/**
 * Starting runs is rate limited: whoever holds the secret can otherwise burn
 * the QStash quota (1,000 messages a day on the free plan) and the Notion
 * budget with forced runs or triggers. A forced run may start, and the
 * trigger may be called, once per SYNC_MIN_FORCE_INTERVAL_S (default 600 s);
 * calls that continue a forced run already going are not limited.
 */
import type { KeyBuilder } from "../kv/keys";
import type { KvStore } from "../kv/store";
import { isLive, parseCursor } from "../sync/cursor";
import type { Section } from "../core/sections";
import { jsonError } from "./json";

/** Claims the start slot of `scope`; null when claimed, else the 429 to answer. */
export async function claimStartSlot(
  kv: KvStore,
  keys: KeyBuilder,
  scope: string,
  intervalS: number,
): Promise<Response | null> {
  if (intervalS <= 0) return null;
  const key = keys.startLimit(scope);
  if (await kv.set(key, new Date().toISOString(), { nx: true, pxMs: intervalS * 1000 })) return null;
  const leftMs = (await kv.pttl(key)) ?? intervalS * 1000;
  const retryAfter = Math.max(1, Math.ceil(leftMs / 1000));
  return jsonError(
    429,
    "too_many_starts",
    `${scope === "trigger" ? "the trigger" : "a forced run"} may start once every ${intervalS} s (SYNC_MIN_FORCE_INTERVAL_S); try again in ${retryAfter} s`,
    { retryAfterS: retryAfter },
    { "Retry-After": String(retryAfter) },
  );
}

/** A forced call that would start a new forced run (not continue the one going). */
export async function startsForcedRun(kv: KvStore, keys: KeyBuilder, section: Section): Promise<boolean> {
  const loaded = parseCursor(await kv.get(keys.cursor(section)));
  return !(loaded.kind === "ok" && isLive(loaded.cursor) && loaded.cursor.force);
}
