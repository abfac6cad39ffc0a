/**
 * A real stack for integration tests: a redis-server, the Notion emulator over
 * HTTP, and the real route handler (`handleSync`) called with real Requests.
 * Nothing in the engine is mocked.
 */
import { createKeys, type KeyBuilder } from "../../lib/kv/keys";
import { createRedisStore } from "../../lib/kv/redis";
import type { KvStore } from "../../lib/kv/store";
import { handleSync } from "../../lib/http/sync-route";
import type { Section } from "../../lib/core/sections";
import { type GenerateOptions, generateWorkspace } from "../../scripts/emulator/notion/generate";
import { type EmulatorOptions, type NotionEmulator, startNotionEmulator } from "../../scripts/emulator/notion/server";
import { compareKvWithWorkspace } from "../../scripts/emulator/notion/verify";
import type { Workspace } from "../../scripts/emulator/notion/workspace";
import { startRedisServer } from "./redis-server";
import { type UpstashBridge, type UpstashBridgeOptions, startUpstashBridge } from "./upstash-bridge";

export const TEST_SECRET = "test-cron-secret-0123456789";

export interface Stack {
  emulator: NotionEmulator;
  workspace: Workspace;
  redis: { url: string; stop(): Promise<void> };
  /** The Upstash REST bridge the route handlers use when started with `backend: "upstash"`. */
  bridge: UpstashBridge | null;
  /** Direct to the redis-server (for inspection; the handlers go through `env`). */
  kv: KvStore;
  env: Record<string, string>;
  keys: KeyBuilder;
  close(): Promise<void>;
}

let prefixCounter = 0;

export async function startStack(
  options: {
    workspace?: GenerateOptions;
    env?: Record<string, string>;
    rate?: number;
    /** Per request, or per route (e.g. `{"pages.properties.retrieve": 600}`). */
    latencyMs?: EmulatorOptions["latencyMs"];
    backend?: "redis" | "upstash";
    /** Limits of the Upstash bridge (backend "upstash"), e.g. a small maxRequestBytes. */
    bridgeLimits?: Pick<UpstashBridgeOptions, "maxRequestBytes" | "maxResponseBytes" | "maxRecordBytes">;
    /** More emulator options (e.g. serving hosted files itself). */
    emulator?: Omit<Partial<EmulatorOptions>, "workspace">;
  } = {},
): Promise<Stack> {
  const workspace = generateWorkspace(options.workspace);
  const emulator = await startNotionEmulator({
    workspace,
    ratePerSecond: options.rate ?? Infinity,
    latencyMs: options.latencyMs,
    ...options.emulator,
  });
  const redis = await startRedisServer();
  const bridge =
    options.backend === "upstash"
      ? await startUpstashBridge({ redisUrl: redis.url, token: "bridge-token-0123456789", ...options.bridgeLimits })
      : null;
  const kv = createRedisStore({ url: redis.url });
  const prefix = `t${process.pid}x${prefixCounter++}`;
  const env: Record<string, string> = {
    CRON_SECRET: TEST_SECRET,
    NOTION_API_KEY: emulator.token,
    NOTION_PAGES_DB: workspace.pagesDatabaseId,
    NOTION_POSTS_DB: workspace.postsDatabaseId,
    NOTION_BASE_URL: emulator.url,
    NOTION_RATE_PER_MIN: "100000",
    ...(bridge ? { KV_REST_API_URL: bridge.url, KV_REST_API_TOKEN: bridge.token } : { REDIS_URL: redis.url }),
    KV_PREFIX: prefix,
    SYNC_BUDGET_MS: "2000",
    SYNC_LOG: "off",
    // Tests start forced runs back to back; the limit itself is tested with its own value.
    SYNC_MIN_FORCE_INTERVAL_S: "0",
    // These suites make every call themselves; the self-chain has its own suite.
    SYNC_CHAIN: "off",
    ...options.env,
  };
  return {
    emulator,
    workspace,
    redis,
    bridge,
    kv,
    env,
    keys: createKeys(prefix),
    async close() {
      await kv.close();
      await bridge?.close();
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
  held?: { reason: string; removals: number; indexed: number };
  lastError?: { code: string; message: string; at: string };
  consecutiveErrors?: number;
}

/** What invoke and syncUntilDone need of a stack: the handler's environment. */
export type Invokable = Pick<Stack, "env">;

export async function invoke(
  stack: Invokable,
  section: string,
  init: {
    query?: string;
    method?: string;
    body?: string;
    headers?: Record<string, string>;
    env?: Record<string, string>;
    signal?: AbortSignal;
  } = {},
): Promise<{ status: number; body: InvocationBody & Record<string, unknown>; headers: Headers }> {
  const url = `http://localhost/api/sync/${section}?secret=${TEST_SECRET}${init.query ? `&${init.query}` : ""}`;
  const request = new Request(url, {
    method: init.method ?? "GET",
    body: init.body,
    headers: init.headers,
    signal: init.signal,
  });
  const response = await handleSync(section as Section, request, { ...stack.env, ...init.env });
  return {
    status: response.status,
    body: (await response.json()) as InvocationBody & Record<string, unknown>,
    headers: response.headers,
  };
}

/** Calls a section until its run is done, as crons or a person would; returns every answer. */
export async function syncUntilDone(
  stack: Invokable,
  section: Section,
  options: { query?: string; maxCalls?: number } = {},
): Promise<InvocationBody[]> {
  const answers: InvocationBody[] = [];
  for (let i = 0; i < (options.maxCalls ?? 200); i++) {
    const { status, body } = await invoke(stack, section, { query: options.query });
    if (status !== 200) throw new Error(`${section} answered ${status}: ${JSON.stringify(body)}`);
    answers.push(body);
    if (body.done || body.status === "held") return answers;
  }
  throw new Error(`${section} did not finish in ${options.maxCalls ?? 200} calls`);
}

export async function syncAll(stack: Stack, query?: string): Promise<Record<Section, InvocationBody[]>> {
  const pages = await syncUntilDone(stack, "pages", { query });
  const posts = await syncUntilDone(stack, "posts", { query });
  const children = await syncUntilDone(stack, "children", { query });
  return { pages, posts, children };
}

export function diffKvWithWorkspace(stack: Stack): Promise<string[]> {
  return compareKvWithWorkspace(stack.kv, stack.keys, stack.workspace, Number(stack.env.SYNC_CHILD_DEPTH ?? 5));
}
