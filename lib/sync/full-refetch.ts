/**
 * A full refetch mark (set by a `data_source.schema_updated` webhook event:
 * a renamed or retyped property changes every row's properties without
 * moving last_edited_time) makes the section's next full run re-read every
 * page, whatever the timestamps say. The engine reads the mark when it starts
 * a run and clears it in the run's first commit. The run's overlap watermark
 * (`since`) is set to the epoch, so every listed row is fetched, as with
 * force=1, but the mass-removal brake still holds (a forced run would skip it).
 * Where the mark lives is the caller's (EngineDeps.fullRefetchKey).
 */
import type { Section } from "../core/sections";
import type { KvOp, KvStore } from "../kv/store";
import type { SectionSpec } from "../workspace/types";

export const REFETCH_ALL_SINCE = "1970-01-01T00:00:00.000Z";

/** The ops that clear the mark when it is set (null: no mark, nothing to change). */
export async function fullRefetchMark(
  kv: KvStore,
  markKey: ((section: Section) => string) | undefined,
  spec: Pick<SectionSpec, "kind" | "name">,
): Promise<KvOp[] | null> {
  if (spec.kind === "children" || !markKey) return null;
  const key = markKey(spec.name);
  return (await kv.get(key)) === null ? null : [{ op: "del", key }];
}
