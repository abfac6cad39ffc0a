/**
 * Builds (when the sources changed) and starts the real Next.js server, for
 * the demo and the end-to-end tests. `next build` runs offline here.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { buildDirFor } from "../../lib/workspace/config-path";

const ROOT = path.resolve(import.meta.dirname, "..", "..");
const NEXT_BIN = path.join(ROOT, "node_modules", "next", "dist", "bin", "next");
const SOURCE_DIRS = ["app", "lib"];
const SOURCE_FILES = [
  "next.config.ts",
  "package.json",
  "tsconfig.json",
  "tsconfig.next.json",
  "notion-kv-sync.config.ts",
];

function newestMtime(target: string): number {
  const stat = statSync(target);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const entry of readdirSync(target)) newest = Math.max(newest, newestMtime(path.join(target, entry)));
  return newest;
}

/** The build's variables: NKS_CONFIG_FILE bundles that config file, into its own build dir (buildDirFor). */
export type BuildEnv = { NKS_CONFIG_FILE?: string };

/** True when the build dir holds a production build newer than every source file (and the config file built in). */
export function buildIsFresh(buildEnv: BuildEnv = {}): boolean {
  const buildId = path.join(ROOT, buildDirFor(buildEnv), "BUILD_ID");
  if (!existsSync(buildId)) return false;
  const built = statSync(buildId).mtimeMs;
  const configFile = buildEnv.NKS_CONFIG_FILE ? [buildEnv.NKS_CONFIG_FILE] : [];
  const sources = [...SOURCE_DIRS, ...SOURCE_FILES, ...configFile].map((p) => path.join(ROOT, p)).filter(existsSync);
  return sources.every((p) => newestMtime(p) <= built);
}

/** Two test files (or a test and the demo) must not build into one .next at once. */
function withBuildLock<T>(fn: () => T): T {
  const lock = path.join(ROOT, ".next-build.lock");
  const started = Date.now();
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      const age = Date.now() - statSync(lock, { throwIfNoEntry: false } as never)?.mtimeMs;
      if (age > 300_000) rmSync(lock, { recursive: true, force: true }); // a crashed build's lock
      if (Date.now() - started > 600_000) throw new Error("waited 10 minutes for another next build");
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

export function buildIfNeeded(log: (line: string) => void = () => {}, buildEnv: BuildEnv = {}): void {
  if (buildIsFresh(buildEnv)) return;
  withBuildLock(() => {
    if (buildIsFresh(buildEnv)) return; // built by whoever held the lock
    log("building the Next.js app (next build, about a minute the first time)...");
    const result = spawnSync(process.execPath, [NEXT_BIN, "build"], {
      cwd: ROOT,
      env: { ...process.env, NKS_CONFIG_FILE: "", ...buildEnv, NODE_ENV: "production", NEXT_TELEMETRY_DISABLED: "1" },
      encoding: "utf8",
    });
    if (result.status !== 0) {
      throw new Error(
        `next build failed (exit ${result.status}):\n${(result.stdout ?? "").slice(-3000)}\n${(result.stderr ?? "").slice(-3000)}`,
      );
    }
  });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface NextApp {
  url: string;
  port: number;
  /** Everything the server printed (its structured logs), for assertions. */
  output(): string;
  stop(): Promise<void>;
  /** SIGKILL, as a crashed instance: nothing after it runs (no after() callbacks, no cleanup). */
  kill(): Promise<void>;
}

/** Starts `next start` on a free loopback port with exactly `env` (plus PATH/HOME). */
export async function startNextApp(
  env: Record<string, string>,
  options: { port?: number; /** Another app's directory (built, with its own next). */ cwd?: string } = {},
): Promise<NextApp> {
  const port = options.port ?? (await freePort());
  const bin = options.cwd ? path.join(options.cwd, "node_modules", "next", "dist", "bin", "next") : NEXT_BIN;
  const child: ChildProcess = spawn(process.execPath, [bin, "start", "-p", String(port), "-H", "127.0.0.1"], {
    cwd: options.cwd ?? ROOT,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "",
      NODE_ENV: "production",
      NEXT_TELEMETRY_DISABLED: "1",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`next start exited with ${child.exitCode}:\n${output.slice(-2000)}`);
    try {
      const res = await fetch(`${url}/`, { signal: AbortSignal.timeout(2000) });
      if (res.status > 0) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`next start did not answer within 60 s:\n${output.slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    port,
    output: () => output,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGKILL");
        await exited;
      }
    },
    async stop() {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}
