/**
 * The single-function baseline: what the old /api/sync did. One request lists
 * both databases and syncs every page sequentially with the SDK directly (no
 * budget, no checkpoint, no pacing of its own), reading each page's block tree
 * level by level, then its child pages breadth first to SYNC_CHILD_DEPTH, and
 * writes one KV value per page plus one index per section through @vercel/kv
 * (the same Upstash REST path as the product). A 429 is waited out for its
 * Retry-After (retryAfterFetch); nothing else is retried.
 */
import { Client } from "@notionhq/client";
import { createClient } from "@vercel/kv";

type Json = Record<string, unknown>;

/** fetch that waits out a 429's Retry-After (fractional seconds, as the bench's proxy sends them) and sends again. */
export function retryAfterFetch(maxTries = 30): typeof fetch {
  return async (input, init) => {
    for (let attempt = 1; ; attempt++) {
      const res = await fetch(input, init);
      if (res.status !== 429 || attempt >= maxTries) return res;
      const seconds = Number(res.headers.get("retry-after") ?? "1");
      await res.arrayBuffer();
      await new Promise((r) => setTimeout(r, Math.max(0, (Number.isFinite(seconds) ? seconds : 1) * 1000)));
    }
  };
}

export interface SdkTarget {
  notionUrl: string;
  token: string;
  pagesDatabaseId: string;
  postsDatabaseId: string;
}

export function sdkClient(t: SdkTarget): Client {
  return new Client({ auth: t.token, baseUrl: t.notionUrl, fetch: retryAfterFetch(), retry: false, logger: () => {} });
}

/** Every row of a database's first data source, 100 a request. */
export async function listRows(client: Client, databaseId: string): Promise<Json[]> {
  const db = (await client.databases.retrieve({ database_id: databaseId })) as unknown as {
    data_sources: { id: string }[];
  };
  const rows: Json[] = [];
  let cursor: string | undefined;
  do {
    const res = await client.dataSources.query({
      data_source_id: db.data_sources[0].id,
      page_size: 100,
      ...(cursor ? { start_cursor: cursor } : {}),
    });
    rows.push(...(res.results as unknown as Json[]));
    cursor = res.has_more ? (res.next_cursor ?? undefined) : undefined;
  } while (cursor);
  return rows;
}

async function blockTree(client: Client, blockId: string, childPages: string[]): Promise<Json[]> {
  const out: Json[] = [];
  let cursor: string | undefined;
  do {
    const res = await client.blocks.children.list({
      block_id: blockId,
      page_size: 100,
      ...(cursor ? { start_cursor: cursor } : {}),
    });
    for (const b of res.results as unknown as Json[]) {
      if (b.type === "child_page") childPages.push(String(b.id));
      if (b.has_children && b.type !== "child_page" && b.type !== "child_database")
        out.push({ ...b, children: await blockTree(client, String(b.id), childPages) });
      else out.push(b);
    }
    cursor = res.has_more ? (res.next_cursor ?? undefined) : undefined;
  } while (cursor);
  return out;
}

export interface BaselineResult {
  pages: number;
  childPages: number;
  kvValues: number;
}

export async function runBaseline(
  t: SdkTarget & { kvUrl: string; kvToken: string; prefix: string; childDepth?: number },
): Promise<BaselineResult> {
  const client = sdkClient(t);
  const kv = createClient({ url: t.kvUrl, token: t.kvToken, automaticDeserialization: false });
  const depthLimit = t.childDepth ?? 5;
  let pages = 0;
  let kvValues = 0;
  let queue: { id: string; depth: number }[] = [];
  const seen = new Set<string>();
  for (const [section, dbId] of [
    ["pages", t.pagesDatabaseId],
    ["posts", t.postsDatabaseId],
  ] as const) {
    const index: Json[] = [];
    for (const row of await listRows(client, dbId)) {
      const childPages: string[] = [];
      const blocks = await blockTree(client, String(row.id), childPages);
      await kv.set(`${t.prefix}:page:${section}:${String(row.id)}`, JSON.stringify({ ...row, blocks, childPages }));
      kvValues++;
      pages++;
      index.push({ id: row.id, last_edited_time: row.last_edited_time, properties: row.properties, childPages });
      queue.push(...childPages.map((id) => ({ id, depth: 1 })));
    }
    await kv.set(`${t.prefix}:index:${section}`, JSON.stringify(index));
    kvValues++;
  }
  let childCount = 0;
  const index: Json[] = [];
  while (queue.length > 0) {
    const next: typeof queue = [];
    for (const { id, depth } of queue) {
      if (seen.has(id) || depth > depthLimit) continue;
      seen.add(id);
      const page = (await client.pages.retrieve({ page_id: id })) as unknown as Json;
      const childPages: string[] = [];
      const blocks = await blockTree(client, id, childPages);
      await kv.set(`${t.prefix}:page:children:${id}`, JSON.stringify({ ...page, blocks, childPages }));
      kvValues++;
      childCount++;
      index.push({ id, last_edited_time: page.last_edited_time, depth });
      next.push(...childPages.map((c) => ({ id: c, depth: depth + 1 })));
    }
    queue = next;
  }
  await kv.set(`${t.prefix}:index:children`, JSON.stringify(index));
  kvValues++;
  return { pages: pages + childCount, childPages: childCount, kvValues };
}
