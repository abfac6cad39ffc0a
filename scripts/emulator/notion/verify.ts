/**
 * Checks a KV mirror against the emulated workspace it was synced from: every
 * visible row and reachable child page has a bundle whose blocks equal the
 * workspace's tree, the indexes list them in the sync's order, and no other
 * page bundle is stored. Used by the tests and by `npm run demo`.
 */
import type { KeyBuilder } from "../../../lib/kv/keys";
import type { KvStore } from "../../../lib/kv/store";
import { readLarge } from "../../../lib/kv/large-value";
import { readIndexPage } from "../../../lib/mirror/section-index";
import type { PageBundle } from "../../../lib/mirror/shapes";
import type { Section } from "../../../lib/core/sections";
import { withCompleteRelations } from "./property-items";
import type { Workspace } from "./workspace";
import { DEFAULT_EMULATED_VERSION, forVersion } from "./versions";

/** Notion-hosted file URLs are signed per request (url + expiry_time); everything else must match exactly. */
export function stripVolatile<T>(value: T): T {
  return JSON.parse(JSON.stringify(value), (_key, v) => {
    if (v && typeof v === "object" && "expiry_time" in v) return { signed: true };
    return v;
  }) as T;
}

/** The sync lists rows oldest first (what @notionhq/client's iterateAllDataSourceRows does to get past the 10,000-row cap). */
const CREATED_ASCENDING = [{ timestamp: "created_time", direction: "ascending" }] as const;

/**
 * The rows of a database in the order the sync indexes them: newest first,
 * as the reverse of the emulator answering the sync's created_time-ascending
 * query. The query is uncapped here (`limit: Infinity`) so every row counts,
 * however large the database.
 */
export function expectedOrder(workspace: Workspace, databaseId: string): string[] {
  const dataSourceId = workspace.database(databaseId)!.data_sources[0].id;
  const ids: string[] = [];
  let cursor: string | undefined;
  for (;;) {
    const body = { sorts: CREATED_ASCENDING, page_size: 100, ...(cursor ? { start_cursor: cursor } : {}) };
    const page = workspace.queryDataSource(dataSourceId, body, { limit: Infinity });
    ids.push(...page.results.map((r) => r.id));
    if (!page.has_more || !page.next_cursor) return ids.reverse();
    cursor = page.next_cursor;
  }
}

export async function compareKvWithWorkspace(
  kv: KvStore,
  keys: KeyBuilder,
  workspace: Workspace,
  childDepth = 5,
  /** The Notion-Version the sync read with: the shapes its bundles hold (versions.ts). */
  version: string = DEFAULT_EMULATED_VERSION,
): Promise<string[]> {
  const problems: string[] = [];
  const expectedSlugs = new Set<string>();
  const checkSection = async (section: Section, ids: string[]) => {
    const index = await readIndexPage(kv, keys, section);
    if (!index) return problems.push(`${section}: no index`);
    const indexed = index.entries.map((e) => e.id);
    if (JSON.stringify(indexed) !== JSON.stringify(ids))
      problems.push(`${section}: index order/content differs (${indexed.length} vs ${ids.length} entries)`);
    for (const entry of index.entries) {
      expectedSlugs.add(`${section}:${entry.slug}`);
      const bundle = (await readLarge<PageBundle>(kv, keys, keys.page(section, entry.slug)))?.value;
      if (!bundle) {
        problems.push(`${section}: no bundle for ${entry.slug}`);
        continue;
      }
      if (bundle.id !== entry.id) problems.push(`${section}: ${entry.slug} holds ${bundle.id}, index says ${entry.id}`);
      const page = workspace.page(entry.id);
      if (!page) continue;
      if (bundle.last_edited_time !== page.last_edited_time) problems.push(`${section}: ${entry.slug} is stale`);
      // Relations past 25 references: the sync stores them complete (page objects show the first 25).
      const properties = forVersion(withCompleteRelations(workspace, entry.id, page.properties), version);
      if (JSON.stringify(stripVolatile(bundle.properties)) !== JSON.stringify(stripVolatile(properties)))
        problems.push(`${section}: ${entry.slug} properties differ`);
      const tree = stripVolatile(forVersion(workspace.contentTree(entry.id), version));
      if (JSON.stringify(stripVolatile(bundle.blocks)) !== JSON.stringify(tree))
        problems.push(`${section}: ${entry.slug} blocks differ`);
    }
  };
  await checkSection("pages", expectedOrder(workspace, workspace.pagesDatabaseId));
  await checkSection("posts", expectedOrder(workspace, workspace.postsDatabaseId));
  const children = workspace.reachableChildPages(childDepth);
  const childIndex = await readIndexPage(kv, keys, "children");
  const childIds = new Set(children.map((c) => c.id));
  const indexedChildren = new Set((childIndex?.entries ?? []).map((e) => e.id));
  for (const id of childIds) if (!indexedChildren.has(id)) problems.push(`children: ${id} missing from index`);
  for (const id of indexedChildren) if (!childIds.has(id)) problems.push(`children: ${id} indexed but not reachable`);
  await checkSection(
    "children",
    (childIndex?.entries ?? []).map((e) => e.id).filter((id) => childIds.has(id)),
  );

  const stored = (await kv.scanKeys(`${keys.prefix}:page:`)).map((k) => k.slice(`${keys.prefix}:page:`.length));
  for (const slug of stored) if (!expectedSlugs.has(slug)) problems.push(`orphan bundle ${slug}`);
  return problems;
}
