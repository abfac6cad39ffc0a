/**
 * `data_source.schema_updated` (or the older `database.schema_updated`)
 * marks a database section (`{p}:wh:refetch-all:{section}`): its next full
 * run re-reads every page, whatever the timestamps say (a renamed or retyped
 * property changes every row's properties without moving last_edited_time).
 * The engine reads the mark when it starts a run (engine.ts) and clears it in
 * the run's first commit. The run's overlap watermark (`since`) is set to the
 * epoch, so every listed row is fetched, as with force=1, but the mass-removal
 * brake still holds (a forced run would skip it).
 */
import type { Section } from "../core/sections";
import type { KeyBuilder } from "../kv/keys";
import type { KvOp, KvStore } from "../kv/store";
import { webhookKeys } from "./keys";

export const REFETCH_ALL_SINCE = "1970-01-01T00:00:00.000Z";

/** The ops that clear the mark when it is set (null: no mark, nothing to change). */
export async function fullRefetchMark(kv: KvStore, keys: KeyBuilder, section: Section): Promise<KvOp[] | null> {
  if (section === "children") return null;
  const key = webhookKeys(keys).fullRefetch(section);
  return (await kv.get(key)) === null ? null : [{ op: "del", key }];
}
