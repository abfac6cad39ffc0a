/**
 * What the search sweep of forced and first children runs (lib/sync/child-check.ts)
 * is measured against: the child pages search returns, the child pages a sync
 * lists, the pages.retrieve requests sent, and the scratch keys left.
 */
import { Client } from "@notionhq/client";
import type { BlockTree, Workspace } from "../../scripts/emulator/notion/workspace";
import type { Stack } from "./harness";

export const normalize = (id: string): string => id.replace(/-/g, "");

/**
 * Ids (no dashes) of the child pages Notion's search returns now, read to its end as
 * the sweep reads it. Sent through the emulator: call before resetting its request log.
 */
export async function searchedChildIds(stack: Stack): Promise<Set<string>> {
  const client = new Client({
    auth: stack.emulator.token,
    baseUrl: stack.emulator.url,
    retry: false,
    logger: () => {},
  });
  const ids = new Set<string>();
  for (let cursor: string | null | undefined = undefined; ;) {
    const page = await client.search({
      filter: { property: "object", value: "page" },
      sort: { timestamp: "last_edited_time", direction: "descending" },
      page_size: 100,
      ...(cursor ? { start_cursor: cursor } : {}),
    });
    for (const r of page.results as { id: string; parent: { type: string } }[])
      if (r.parent.type === "page_id" || r.parent.type === "block_id") ids.add(normalize(r.id));
    cursor = page.next_cursor;
    if (!cursor) return ids;
  }
}

/** Pages (of every kind) search returns: what one sweep request reads 100 of. */
export async function searchTotal(stack: Stack): Promise<number> {
  const client = new Client({
    auth: stack.emulator.token,
    baseUrl: stack.emulator.url,
    retry: false,
    logger: () => {},
  });
  let total = 0;
  for (let cursor: string | null | undefined = undefined; ;) {
    const page = await client.search({
      filter: { property: "object", value: "page" },
      page_size: 100,
      ...(cursor ? { start_cursor: cursor } : {}),
    });
    total += page.results.length;
    cursor = page.next_cursor;
    if (!cursor) return total;
  }
}

/**
 * Ids (no dashes) of the child pages a sync lists to `depth`: every child_page block of
 * the rows and of the child pages below them, unshared ones included (they answer 404).
 */
export function listedChildIds(ws: Workspace, depth = 5): Set<string> {
  const out = new Set<string>();
  const blocks = (nodes: BlockTree[]): string[] =>
    nodes.flatMap((b) => (b.type === "child_page" ? [b.id] : blocks(b.children ?? [])));
  const visit = (pageId: string, d: number): void => {
    if (d > depth) return;
    for (const id of blocks(ws.contentTree(pageId))) {
      if (out.has(normalize(id))) continue;
      out.add(normalize(id));
      if (ws.page(id)) visit(id, d + 1);
    }
  };
  for (const db of [ws.pagesDatabaseId, ws.postsDatabaseId]) for (const row of ws.visibleRows(db)) visit(row.id, 1);
  return out;
}

/** Ids (no dashes) of the pages.retrieve requests since the request log was reset, in order. */
export function retrievedIds(stack: Stack): string[] {
  return stack.emulator
    .requests()
    .filter((r) => r.route === "pages.retrieve")
    .map((r) => normalize(decodeURIComponent(/\/v1\/pages\/([^/?]+)/.exec(r.path)![1])));
}

/** The database rows of the default sections: the sync retrieves a changed row for its expensive properties (lib/sync/list-properties.ts). */
export function rowIds(stack: Stack): Set<string> {
  const ws = stack.workspace;
  return new Set(
    [...ws.visibleRows(ws.pagesDatabaseId), ...ws.visibleRows(ws.postsDatabaseId)].map((r) => normalize(r.id)),
  );
}

/** retrievedIds without the database rows: the child pages retrieved. */
export function childRetrievedIds(stack: Stack): string[] {
  const rows = rowIds(stack);
  return retrievedIds(stack).filter((id) => !rows.has(id));
}

/** Scratch keys of runs still in KV (the sweep's page objects and their id set among them). */
export async function scratchLeft(stack: Stack): Promise<string[]> {
  const p = stack.keys.prefix;
  const found = await Promise.all(
    ["found:", "foundids:", "edited:", "work:", "done:", "removals:", "partial:"].map((what) =>
      stack.kv.scanKeys(`${p}:${what}`),
    ),
  );
  return found.flat();
}

export const sorted = (ids: Iterable<string>): string[] => [...ids].sort();
