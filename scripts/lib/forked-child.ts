/**
 * A server kept out of the measuring process (npm run scale, npm run bench):
 * forked with tsx and an IPC channel. The child sends {type: "ready", ...}
 * once listening, then answers {id, op, args} requests with {id, ok, result |
 * error}; it exits when the channel closes. The parent side is forkChild.
 */
import { fork } from "node:child_process";
import { waitForExit } from "./wait-for-exit";

export interface ChildHandle<R> {
  ready: R;
  pid: number;
  call<T>(op: string, args?: Record<string, unknown>, timeoutMs?: number): Promise<T>;
  stop(): Promise<void>;
}

export interface ForkSpec {
  /** The child script (run with tsx). */
  script: string;
  /** Who forks it, for messages ("scale", "bench"). */
  label: string;
  /** Which server the child starts (its first argument). */
  kind: string;
  /** Its options, as JSON (its second argument). */
  options: unknown;
  startupTimeoutMs: number;
  callTimeoutMs?: number;
}

export async function forkChild<R>(spec: ForkSpec): Promise<ChildHandle<R>> {
  const { script, label, kind, options, startupTimeoutMs, callTimeoutMs = 60_000 } = spec;
  const child = fork(script, [kind, JSON.stringify(options)], {
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  // A parent that exits without stop() still takes its children along.
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
    const timer = setTimeout(
      () => reject(new Error(`${label} ${kind} child did not start within ${startupTimeoutMs} ms`)),
      startupTimeoutMs,
    );
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
      const why = `${label} ${kind} child exited (code ${code}, signal ${signal})`;
      failAll(why);
      reject(new Error(why));
    });
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  }).catch(async (err: unknown) => {
    process.removeListener("exit", killOnExit);
    child.kill("SIGKILL");
    throw err;
  });

  let stopped = false;
  return {
    ready,
    pid: child.pid!,
    call<T>(op: string, args: Record<string, unknown> = {}, timeoutMs = callTimeoutMs): Promise<T> {
      if (stopped || !child.connected) return Promise.reject(new Error(`${label} ${kind} child is gone`));
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`${label} ${kind} child: ${op} timed out after ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
        child.send({ id, op, args });
      });
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      process.removeListener("exit", killOnExit);
      failAll(`${label} ${kind} child stopped`);
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      if (!(await waitForExit(child, 5_000))) {
        child.kill("SIGKILL");
        await waitForExit(child, 3_000);
      }
    },
  };
}
