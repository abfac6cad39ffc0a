/**
 * A real stack for integration tests: a redis-server, the Notion emulator over
 * HTTP, and the real route handler (`handleSync`) called with real Requests.
 * Nothing in the engine is mocked.
 */
import { createKeys, type KeyBuilder } from "../../lib/kv/keys";
import { createRedisStore } from "../../lib/kv/redis";
import type { KvStore } from "../../lib/kv/store";
import { handleSync } from "../../lib/http/sync-route";
import type { PageBundle, SectionIndex } from "../../lib/sync/bundle";
import type { Section } from "../../lib/sync/sections";
import { INDEX_SORTS } from "../../lib/notion/source";
import { type GenerateOptions, generateWorkspace } from "../../scripts/emulator/notion/generate";
import { type NotionEmulator, startNotionEmulator } from "../../scripts/emulator/notion/server";
import type { Workspace } from "../../scripts/emulator/notion/workspace";
import { startRedisServer } from "./redis-server";

export const TEST_SECRET = "test-cron-secret-0123456789";

export interface Stack {
  emulator: NotionEmulator;
  workspace: Workspace;
  redis: { url: string; stop(): Promise<void> };
  kv: KvStore;
  env: Record<string, string>;
  keys: KeyBuilder;
  close(): Promise<void>;
}

let prefixCounter = 0;

export async function startStack(options: { workspace?: GenerateOptions; env?: Record<string, string>; rate?: number; latencyMs?: number } = {}): Promise<Stack> {
  const workspace = generateWorkspace(options.workspace);
  const emulator = await startNotionEmulator({ workspace, ratePerSecond: options.rate ?? Infinity, latencyMs: options.latencyMs });
  const redis = await startRedisServer();
  const kv = createRedisStore({ url: redis.url });
  const prefix = `t${process.pid}x${prefixCounter++}`;
  const env: Record<string, string> = {
    CRON_SECRET: TEST_SECRET,
    NOTION_API_KEY: emulator.token,
    NOTION_PAGES_DB: workspace.pagesDatabaseId,
    NOTION_POSTS_DB: workspace.postsDatabaseId,
    NOTION_BASE_URL: emulator.url,
    NOTION_RATE_PER_MIN: "100000",
    REDIS_URL: redis.url,
    KV_PREFIX: prefix,
    SYNC_BUDGET_MS: "2000",
    SYNC_LOG: "off",
    ...options.env,
  };
  return {
    emulator,
    workspace,
    redis,
    kv,
    env,
    keys: createKeys(prefix),
    async close() {
      await kv.close();
      await emulator.close();
      await redis.stop();
    },
  };
}

export interface InvocationBody {
  ok: boolean;
  section: Section;
  runId: string;
  done: boolean;
  processed: number;
  remaining: number | null;
  invocation: number;
  elapsedMs: number;
  phase: string;
  status: string;
  counts: Record<string, number>;
  next: unknown;
  error?: { code: string; message: string };
  stale?: boolean;
}

export async function invoke(
  stack: Stack,
  section: string,
  init: { query?: string; method?: string; body?: string; headers?: Record<string, string>; env?: Record<string, string>; signal?: AbortSignal } = {},
): Promise<{ status: number; body: InvocationBody & Record<string, unknown>; headers: Headers }> {
  const url = `http://localhost/api/sync/${section}?secret=${TEST_SECRET}${init.query ? `&${init.query}` : ""}`;
  const request = new Request(url, { method: init.method ?? "GET", body: init.body, headers: init.headers, signal: init.signal });
  const response = await handleSync(section as Section, request, { ...stack.env, ...init.env });
  return { status: response.status, body: (await response.json()) as InvocationBody & Record<string, unknown>, headers: response.headers };
}

/** Calls a section until its run is done, as crons or a person would; returns every answer. */
export async function syncUntilDone(stack: Stack, section: Section, options: { query?: string; maxCalls?: number } = {}): Promise<InvocationBody[]> {
  const answers: InvocationBody[] = [];
  for (let i = 0; i < (options.maxCalls ?? 200); i++) {
    const { status, body } = await invoke(stack, section, { query: options.query });
    if (status !== 200) throw new Error(`${section} answered ${status}: ${JSON.stringify(body)}`);
    answers.push(body);
    if (body.done) return answers;
  }
  throw new Error(`${section} did not finish in ${options.maxCalls ?? 200} calls`);
}

export async function syncAll(stack: Stack, query?: string): Promise<Record<Section, InvocationBody[]>> {
  const pages = await syncUntilDone(stack, "pages", { query });
  const posts = await syncUntilDone(stack, "posts", { query });
  const children = await syncUntilDone(stack, "children", { query });
  return { pages, posts, children };
}

/** Notion-hosted file URLs are signed per request (url + expiry_time); everything else must match exactly. */
export function stripVolatile<T>(value: T): T {
  return JSON.parse(JSON.stringify(value), (_key, v) => {
    if (v && typeof v === "object" && "expiry_time" in v) return { signed: true };
    return v;
  }) as T;
}

/** The rows of a database in the order the sync indexes them (the emulator answering the same query). */
export function expectedOrder(workspace: Workspace, databaseId: string): string[] {
  const dataSourceId = workspace.database(databaseId)!.data_sources[0].id;
  const ids: string[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = workspace.queryDataSource(dataSourceId, { sorts: INDEX_SORTS, page_size: 100, ...(cursor ? { start_cursor: cursor } : {}) });
    ids.push(...page.results.map((r) => r.id));
    if (!page.has_more || !page.next_cursor) return ids;
    cursor = page.next_cursor;
  }
}

/**
 * Compares everything in KV with the emulated workspace: every visible row and
 * reachable child page has a bundle whose blocks equal the workspace's tree,
 * indexes list them in order, and nothing else is stored under page keys.
 */
export async function diffKvWithWorkspace(stack: Stack): Promise<string[]> {
  const { kv, keys, workspace } = stack;
  const problems: string[] = [];
  const expectedSlugs = new Set<string>();
  const checkSection = async (section: Section, ids: string[]) => {
    const index = await kv.get<SectionIndex>(keys.index(section));
    if (!index) return problems.push(`${section}: no index`);
    const indexed = index.entries.map((e) => e.id);
    if (JSON.stringify(indexed) !== JSON.stringify(ids)) problems.push(`${section}: index order/content differs (${indexed.length} vs ${ids.length} entries)`);
    for (const entry of index.entries) {
      expectedSlugs.add(entry.slug);
      const bundle = await kv.get<PageBundle>(keys.page(entry.slug));
      if (!bundle) {
        problems.push(`${section}: no bundle for ${entry.slug}`);
        continue;
      }
      if (bundle.id !== entry.id) problems.push(`${section}: ${entry.slug} holds ${bundle.id}, index says ${entry.id}`);
      const page = workspace.page(entry.id);
      if (!page) continue;
      if (bundle.last_edited_time !== page.last_edited_time) problems.push(`${section}: ${entry.slug} is stale`);
      if (JSON.stringify(stripVolatile(bundle.properties)) !== JSON.stringify(stripVolatile(page.properties))) problems.push(`${section}: ${entry.slug} properties differ`);
      const tree = stripVolatile(workspace.contentTree(entry.id));
      if (JSON.stringify(stripVolatile(bundle.blocks)) !== JSON.stringify(tree)) problems.push(`${section}: ${entry.slug} blocks differ`);
    }
  };
  await checkSection("pages", expectedOrder(workspace, workspace.pagesDatabaseId));
  await checkSection("posts", expectedOrder(workspace, workspace.postsDatabaseId));
  const children = workspace.reachableChildPages(Number(stack.env.SYNC_CHILD_DEPTH ?? 5));
  const childIndex = await kv.get<SectionIndex>(keys.index("children"));
  const childIds = new Set(children.map((c) => c.id));
  const indexedChildren = new Set((childIndex?.entries ?? []).map((e) => e.id));
  for (const id of childIds) if (!indexedChildren.has(id)) problems.push(`children: ${id} missing from index`);
  for (const id of indexedChildren) if (!childIds.has(id)) problems.push(`children: ${id} indexed but not reachable`);
  await checkSection("children", (childIndex?.entries ?? []).map((e) => e.id).filter((id) => childIds.has(id)));

  const stored = (await kv.scanKeys(`${keys.prefix}:page:`)).map((k) => k.slice(`${keys.prefix}:page:`.length));
  for (const slug of stored) if (!expectedSlugs.has(slug)) problems.push(`orphan bundle ${slug}`);
  return problems;
}
