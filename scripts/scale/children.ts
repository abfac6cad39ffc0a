/**
 * Parent side of scripts/scale/child.ts (scripts/lib/forked-child.ts does the IPC).
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type ChildHandle, forkChild } from "../lib/forked-child";
import type { BridgeChildOptions, EmulatorChildOptions, ReadyMessage } from "./child";

export type { ChildHandle };

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), "child.ts");

function startChild<R extends ReadyMessage>(
  kind: string,
  options: unknown,
  startupTimeoutMs: number,
): Promise<ChildHandle<R>> {
  return forkChild<R>({ script: CHILD, label: "scale", kind, options, startupTimeoutMs });
}

export interface EmulatorReady extends ReadyMessage {
  url: string;
  token: string;
  pagesDatabaseId: string;
  postsDatabaseId: string;
  queryResultLimit: number | null;
  stats: Record<string, unknown>;
}

export interface BridgeReady extends ReadyMessage {
  url: string;
  token: string;
}

export const startEmulatorChild = (options: EmulatorChildOptions, startupTimeoutMs = 300_000) =>
  startChild<EmulatorReady>("emulator", options, startupTimeoutMs);

export const startBridgeChild = (options: BridgeChildOptions, startupTimeoutMs = 60_000) =>
  startChild<BridgeReady>("bridge", options, startupTimeoutMs);

/**
 * The product's env for a run against the scale emulator child: its token and databases, unpaced, no chain
 * (the driver makes every call), no log; the caller adds its KV variables and what else it measures.
 */
export function scaleSyncEnv(
  emulator: ChildHandle<EmulatorReady>,
  o: { secret: string; prefix: string; budgetMs: number },
): Record<string, string> {
  return {
    CRON_SECRET: o.secret,
    NOTION_API_KEY: emulator.ready.token,
    NOTION_PAGES_DB: emulator.ready.pagesDatabaseId,
    NOTION_POSTS_DB: emulator.ready.postsDatabaseId,
    NOTION_BASE_URL: emulator.ready.url,
    NOTION_RATE_PER_MIN: "100000",
    KV_PREFIX: o.prefix,
    SYNC_BUDGET_MS: String(o.budgetMs),
    SYNC_CHAIN: "off",
    SYNC_LOG: "off",
  };
}
