/**
 * Builds what one invocation needs from the environment. Configuration
 * problems surface here as ConfigError (→ 503 naming the variable).
 */
import { type NotionSettings, type SyncSettings, readNotionSettings, readSyncSettings } from "./config";
import { createKvStore, resolveKvBackend } from "./kv/backend";
import { createKeys, type KeyBuilder } from "./kv/keys";
import type { KvStore } from "./kv/store";
import { DEFAULT_KV_BOUNDS, type KvCallMeter, boundedByDeadline } from "./kv/bounded-store";
import { createBlockTreeFetcher } from "./notion/block-tree";
import { createMarkdownFetcher } from "./notion/markdown-fetcher";
import { createNotionSource } from "./notion/source";
import type { EngineDeps } from "./sync/context";
import { createDeadline } from "./core/deadline";
import type { Section } from "./core/sections";
import { webhookKeys } from "./webhooks/keys";

type Env = Record<string, string | undefined>;

const stores = new Map<string, KvStore>();

/** One store per backend per process: a warm function reuses its connection. */
export function sharedKvStore(env: Env = process.env): KvStore {
  const id = JSON.stringify(resolveKvBackend(env));
  let store = stores.get(id);
  if (!store) {
    store = createKvStore(env);
    stores.set(id, store);
  }
  return store;
}

/** What reading and writing the mirror needs (no Notion). */
export interface StoreRuntime {
  settings: SyncSettings;
  kv: KvStore;
  keys: KeyBuilder;
}

export interface Runtime extends StoreRuntime {
  notionSettings: NotionSettings;
}

export function loadStoreRuntime(env: Env = process.env): StoreRuntime {
  const settings = readSyncSettings(env);
  return { settings, kv: sharedKvStore(env), keys: createKeys(settings.kvPrefix) };
}

const DATABASE_VARIABLE = { pages: "NOTION_PAGES_DB", posts: "NOTION_POSTS_DB", children: undefined } as const;

export function loadRuntime(section: Section, env: Env = process.env): Runtime {
  const notionSettings = readNotionSettings(env, {
    database: DATABASE_VARIABLE[section as keyof typeof DATABASE_VARIABLE],
  });
  return { ...loadStoreRuntime(env), notionSettings };
}

export function engineDeps(
  runtime: Runtime,
  section: Section,
  startedAt: number,
  budgetMs: number = runtime.settings.budgetMs,
): EngineDeps & { kvCalls(): number } {
  const { settings, notionSettings } = runtime;
  const deadline = createDeadline(budgetMs, startedAt);
  const notion = createNotionSource({
    token: notionSettings.token,
    baseUrl: settings.notionBaseUrl,
    ratePerMin: settings.notionRatePerMin,
    deadline,
  });
  const meter: KvCallMeter = { calls: 0 };
  return {
    // Every KV call of the invocation ends by the budget plus its tail, whatever KV does.
    kv: boundedByDeadline(runtime.kv, deadline, DEFAULT_KV_BOUNDS, meter),
    kvCalls: () => meter.calls,
    keys: runtime.keys,
    notion,
    // SYNC_CONTENT: one markdown request a page, or the block tree.
    content: settings.content === "markdown" ? createMarkdownFetcher(notion) : createBlockTreeFetcher(notion),
    deadline,
    // Set by a schema_updated webhook event (lib/webhooks/events.ts).
    fullRefetchKey: (s) => webhookKeys(runtime.keys).fullRefetch(s),
    settings: {
      concurrency: settings.concurrency,
      childDepth: settings.childDepth,
      childFullCheckHours: settings.childFullCheckHours,
      maxDeleteRatio: settings.maxDeleteRatio,
      stallAfter: settings.stallAfter,
      databaseId:
        section === "pages"
          ? notionSettings.pagesDatabaseId
          : section === "posts"
            ? notionSettings.postsDatabaseId
            : undefined,
    },
  };
}
