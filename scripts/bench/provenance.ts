/** Where a results file comes from: the commit it measured, whether the tree differed from it, when and on what machine. */
import { execFileSync } from "node:child_process";
import os from "node:os";
import v8 from "node:v8";

function git(args: string[]): string | null {
  try {
    return execFileSync("git", args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return null;
  }
}

export function machine() {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? "unknown",
    totalMemGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
  };
}

/** The engine's code is what a figure measures: a dirty `lib/`, `app/` or `scripts/` means the commit alone does not reproduce it. */
export function provenance() {
  const dirty = git(["status", "--porcelain", "--", "lib", "app", "scripts"]);
  return {
    commit: git(["rev-parse", "HEAD"]),
    commitSubject: git(["log", "-1", "--format=%s"]),
    dirty: dirty === null ? null : dirty.length > 0,
    startedAt: new Date().toISOString(),
    // V8's whole heap limit (old space plus young generation), and the flags that set it (--max-old-space-size).
    heapLimitMB: Math.round(v8.getHeapStatistics().heap_size_limit / 2 ** 20),
    nodeFlags: [
      ...process.execArgv.filter((a) => a.startsWith("--max-")),
      ...(process.env.NODE_OPTIONS ? [process.env.NODE_OPTIONS] : []),
    ],
    // How busy the machine was as the run began (1-minute load average against the CPUs): other work inflates wall times.
    loadAverageAtStart: Math.round(os.loadavg()[0] * 100) / 100,
    machine: machine(),
  };
}
