/**
 * Parent side of scripts/bench/child.ts (scripts/lib/forked-child.ts does the IPC).
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type ChildHandle, forkChild } from "../lib/forked-child";

export type { ChildHandle };

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), "child.ts");

export function startChild<R>(
  kind: "notion" | "bridge" | "qstash" | "s3",
  options: unknown,
  startupTimeoutMs = 300_000,
): Promise<ChildHandle<R>> {
  return forkChild<R>({ script: CHILD, label: "bench", kind, options, startupTimeoutMs, callTimeoutMs: 120_000 });
}
