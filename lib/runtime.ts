/**
 * Builds what one invocation needs from the environment. Configuration
 * problems surface here as ConfigError (→ 503 naming the variable).
 */
import { ConfigError, type NotionSettings, type SyncSettings, readNotionSettings, readSyncSettings } from "./config";
import { createKvStore, resolveKvBackend } from "./kv/backend";
import { createKeys, type KeyBuilder } from "./kv/keys";
import type { KvStore } from "./kv/store";
import { DEFAULT_KV_BOUNDS, type KvCallMeter, boundedByDeadline } from "./kv/bounded-store";
import { createContentFetcher } from "./notion/content-fetcher";
import { createNotionSource } from "./notion/source";
import type { EngineDeps } from "./sync/context";
import { FILES_MIRROR_VARIABLES, filesMirrorFromEnv } from "./files/store/from-env";
import type { FilesMirrorSettings } from "./files/store/types";
import { createDeadline } from "./core/deadline";
import type { Section } from "./core/sections";
import { webhookKeys } from "./webhooks/keys";
import { UnknownSectionError } from "./workspace/errors";
import { loadWorkspace } from "./workspace/load";
import { findSection, type SectionSpec, type Workspace } from "./workspace/types";

const ENV_DATABASE_VARIABLES = ["NOTION_PAGES_DB", "NOTION_POSTS_DB"];

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
  workspace: Workspace;
}

export interface Runtime extends StoreRuntime {
  notionSettings: NotionSettings;
  /** The section this invocation serves. */
  spec: SectionSpec;
  /** FILES_MIRROR: where hosted files are copied at sync time; null (or absent) when off. */
  files?: FilesMirrorSettings | null;
}

const mirrors = new Map<string, FilesMirrorSettings | null>();

/** One file store per configuration per process (a warm function reuses its client); ConfigError for a bad variable. */
export function sharedFilesMirror(env: Env = process.env): FilesMirrorSettings | null {
  const id = JSON.stringify(FILES_MIRROR_VARIABLES.map((name) => env[name] ?? null));
  if (!mirrors.has(id)) mirrors.set(id, filesMirrorFromEnv(env));
  return mirrors.get(id)!;
}

export function loadStoreRuntime(env: Env = process.env): StoreRuntime {
  const settings = readSyncSettings(env);
  return { settings, kv: sharedKvStore(env), keys: createKeys(settings.kvPrefix), workspace: loadWorkspace(env) };
}

/** Throws UnknownSectionError for a name the workspace lacks, ConfigError for a missing variable. */
export function loadRuntime(section: Section, env: Env = process.env): Runtime {
  const store = loadStoreRuntime(env);
  const spec = findSection(store.workspace, section);
  if (!spec) throw unconfigured(store.workspace, section);
  return { ...store, notionSettings: readNotionSettings(env, {}), spec, files: sharedFilesMirror(env) };
}

/** Without a config file, pages and posts name the variable that would configure them. */
function unconfigured(workspace: Workspace, section: Section): Error {
  const variables = { pages: ["NOTION_PAGES_DB"], posts: ["NOTION_POSTS_DB"], children: ENV_DATABASE_VARIABLES };
  const missing = workspace.origin === "env" ? variables[section as keyof typeof variables] : undefined;
  if (missing) return new ConfigError(`missing environment variable: ${missing.join(" or ")}`, [...missing]);
  return new UnknownSectionError(section, workspace.names);
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
    notionVersion: settings.notionVersion,
    deadline,
  });
  const meter: KvCallMeter = { calls: 0 };
  // The section served: the runtime's, or another of its workspace (a targeted run names children).
  const spec = runtime.spec.name === section ? runtime.spec : (findSection(runtime.workspace, section) ?? runtime.spec);
  return {
    // Every KV call of the invocation ends by the budget plus its tail, whatever KV does.
    kv: boundedByDeadline(runtime.kv, deadline, DEFAULT_KV_BOUNDS, meter),
    kvCalls: () => meter.calls,
    keys: runtime.keys,
    notion,
    // The section's content mode: one markdown request a page, the block tree, or none (index only).
    content: createContentFetcher(spec.content, notion),
    spec,
    workspace: runtime.workspace,
    deadline,
    files: runtime.files ?? null,
    // Set by a schema_updated webhook event (lib/webhooks/events.ts).
    fullRefetchKey: (s) => webhookKeys(runtime.keys).fullRefetch(s),
    settings: {
      concurrency: settings.concurrency,
      childDepth: settings.childDepth,
      childFullCheckHours: settings.childFullCheckHours,
      fullListHours: settings.fullListHours,
      maxDeleteRatio: settings.maxDeleteRatio,
      stallAfter: settings.stallAfter,
    },
  };
}
