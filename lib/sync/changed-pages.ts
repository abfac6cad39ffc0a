/**
 * Which pages changed, recorded with the commits that changed them: a batch
 * that writes or deletes a bundle also adds its slug to the section's
 * keys.changedPages set, and a finalize that swaps in a different index adds
 * INDEX_CHANGED. Whoever revalidates drains the set afterwards
 * (lib/webhooks/revalidate.ts drainChangedPages), so a commit whose invocation
 * dies before revalidating is revalidated by the next drain, and nothing
 * depends on an invocation's counts in memory.
 */
import type { Section } from "../core/sections";
import type { KeyBuilder } from "../kv/keys";
import type { KvOp } from "../kv/store";

/** The member that says the section's index changed (a slug never holds `:`, lib/mirror/slug.ts). */
export const INDEX_CHANGED = ":index";

/**
 * The ops that record the pages `ops` change: every bundle key (keys.page) it
 * sets or deletes, by section. Add them to the same atomic batch as `ops`.
 */
export function changedPageOps(keys: KeyBuilder, ops: KvOp[]): KvOp[] {
  // keys.page(section, slug) is `{base}{section}:{slug}`: section names and slugs never hold `:`.
  const base = keys.page("s", "x").slice(0, -"s:x".length);
  const bySection = new Map<Section, Set<string>>();
  for (const o of ops) {
    if ((o.op !== "set" && o.op !== "del") || !o.key.startsWith(base)) continue;
    const rest = o.key.slice(base.length);
    const colon = rest.indexOf(":");
    if (colon <= 0 || colon === rest.length - 1 || rest.indexOf(":", colon + 1) >= 0) continue;
    const section = rest.slice(0, colon);
    if (!bySection.has(section)) bySection.set(section, new Set());
    bySection.get(section)!.add(rest.slice(colon + 1));
  }
  return [...bySection].map(([section, slugs]) => ({
    op: "sadd",
    key: keys.changedPages(section),
    members: [...slugs],
  }));
}

/** The op that records a new index of `section` (its chunks differ from the previous manifest's). */
export function indexChangedOp(keys: KeyBuilder, section: Section): KvOp {
  return { op: "sadd", key: keys.changedPages(section), members: [INDEX_CHANGED] };
}
