/**
 * Which configured section a webhook's page belongs to, from its parent: a row
 * of a data source is in the database section reading that data source. A
 * section configured by database id reads the database's first data source;
 * that id is cached in KV by the engine (keys.dataSource) and resolved here
 * the same way when missing. One resolver per targeted run (its memo lives
 * as long as the run).
 */
import type { KeyBuilder } from "../kv/keys";
import type { KvStore } from "../kv/store";
import type { NotionSource } from "../notion/source";
import { normalizeId } from "../notion/types";
import type { DatabaseSectionSpec, Workspace } from "../workspace/types";
import { cachedDataSourceId } from "../sync/section-source";

/** A page's parent when it is a database row; null for a page under a page, a block or the workspace. */
export interface RowParent {
  databaseId: string | null;
  dataSourceId: string | null;
}

export function rowParentOf(parent: { type: string; [key: string]: unknown }): RowParent | null {
  if (parent.type !== "data_source_id" && parent.type !== "database_id") return null;
  const id = (v: unknown) => (typeof v === "string" && v ? v : null);
  return { databaseId: id(parent.database_id), dataSourceId: id(parent.data_source_id) };
}

export interface SectionResolver {
  /** The database section whose data source holds rows with this parent; null when no section reads it. Rejects when Notion must be asked and fails. */
  sectionOfRow(parent: RowParent): Promise<DatabaseSectionSpec | null>;
}

export function createSectionResolver(deps: {
  workspace: Pick<Workspace, "databaseSections">;
  kv: KvStore;
  keys: KeyBuilder;
  notion: Pick<NotionSource, "dataSourceIdOf">;
}): SectionResolver {
  const memo = new Map<string, Promise<string>>();
  /** The database's data source: the cached one, else from Notion (cached as the engine caches it). Rejects as Notion does. */
  const dataSourceOf = (databaseId: string): Promise<string> => {
    let found = memo.get(databaseId);
    if (!found) {
      found = cachedDataSourceId(deps, databaseId);
      memo.set(databaseId, found);
    }
    return found;
  };
  return {
    async sectionOfRow(parent) {
      const same = (a: string | null, b: string | null) =>
        a !== null && b !== null && normalizeId(a) === normalizeId(b);
      const specs = deps.workspace.databaseSections;
      const byDataSource = specs.filter((s) => "dataSourceId" in s.source);
      const byDatabase = specs.filter((s) => "databaseId" in s.source);
      const sourceOf = (s: DatabaseSectionSpec) => ("dataSourceId" in s.source ? s.source.dataSourceId : null);
      const databaseOf = (s: DatabaseSectionSpec) => ("databaseId" in s.source ? s.source.databaseId : null);
      if (parent.dataSourceId) {
        const direct = byDataSource.find((s) => same(sourceOf(s), parent.dataSourceId));
        if (direct) return direct;
        // Every section is asked: one whose database cannot be read does not hide a match in another.
        const found = await Promise.allSettled(byDatabase.map((s) => dataSourceOf(databaseOf(s)!)));
        const match = byDatabase.find((_, i) => {
          const r = found[i];
          return r.status === "fulfilled" && same(r.value, parent.dataSourceId);
        });
        const failed = found.find((r) => r.status === "rejected");
        if (!match && failed) throw failed.reason;
        return match ?? null;
      }
      // Only the database named (an older parent shape): its first data source is the one read.
      const direct = byDatabase.find((s) => same(databaseOf(s), parent.databaseId));
      if (direct || !parent.databaseId || byDataSource.length === 0) return direct ?? null;
      const source = await dataSourceOf(parent.databaseId);
      return byDataSource.find((s) => same(sourceOf(s), source)) ?? null;
    },
  };
}
