/**
 * Parent side of scripts/bench/child.ts: forks a child with tsx, waits for its
 * "ready" message, then offers call(op, args) over IPC and stop().
 */
import { fork } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { waitForExit } from "../lib/wait-for-exit";

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), "child.ts");

export interface ChildHandle<R = Record<string, unknown>> {
  ready: R;
  call<T>(op: string, args?: Record<string, unknown>, timeoutMs?: number): Promise<T>;
  stop(): Promise<void>;
}

export async function startChild<R>(kind: "notion" | "bridge" | "qstash", options: unknown, startupTimeoutMs = 300_000): Promise<ChildHandle<R>> {
  const child = fork(CHILD, [kind, JSON.stringify(options)], { execArgv: ["--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  let nextId = 1;
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void; timer: NodeJS.Timeout }>();
  const failAll = (why: string) => {
    for (const [id, p] of pending) {
      clearTimeout(p.timer);
      p.reject(new Error(why));
      pending.delete(id);
    }
  };
  const ready = await new Promise<R>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`bench ${kind} child did not start within ${startupTimeoutMs} ms`)), startupTimeoutMs);
    child.on("message", (raw) => {
      const msg = raw as { type?: string; id?: number; ok?: boolean; result?: unknown; error?: string };
      if (msg.type === "ready") {
        clearTimeout(timer);
        resolve(msg as R);
        return;
      }
      const p = msg.id !== undefined ? pending.get(msg.id) : undefined;
      if (!p) return;
      pending.delete(msg.id!);
      clearTimeout(p.timer);
      if (msg.ok) p.resolve(msg.result);
      else p.reject(new Error(`${kind} child: ${msg.error}`));
    });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      failAll(`bench ${kind} child exited (code ${code}, signal ${signal})`);
      reject(new Error(`bench ${kind} child exited (code ${code}, signal ${signal})`));
    });
  }).catch((err: unknown) => {
    process.removeListener("exit", killOnExit);
    child.kill("SIGKILL");
    throw err;
  });
  let stopped = false;
  return {
    ready,
    call<T>(op: string, args: Record<string, unknown> = {}, timeoutMs = 120_000): Promise<T> {
      if (stopped || !child.connected) return Promise.reject(new Error(`bench ${kind} child is gone`));
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`bench ${kind} child: ${op} timed out after ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
        child.send({ id, op, args });
      });
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      process.removeListener("exit", killOnExit);
      failAll(`bench ${kind} child stopped`);
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      if (!(await waitForExit(child, 5_000))) {
        child.kill("SIGKILL");
        await waitForExit(child, 3_000);
      }
    },
  };
}
