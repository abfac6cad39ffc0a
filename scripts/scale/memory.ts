/**
 * Memory of one invocation, measured in this process while the real route
 * handler runs: a full GC first (so the baseline holds only live objects),
 * then process.memoryUsage() sampled every `intervalMs` on a timer and once
 * more when the invocation ends (before any GC).
 *
 * heapUsed samples include garbage not yet collected, so peak − baseline is
 * what the invocation made the V8 heap grow to, not its live set; a peak
 * inside one long synchronous stretch (no timer can fire) is only seen at its
 * end. RSS is the whole process (code, Node's buffers, the KV client).
 */
import v8 from "node:v8";
import vm from "node:vm";

type Gc = () => void;

/** global.gc when run with --expose-gc; otherwise the flag is set at run time and gc fetched from a fresh context. */
export function exposeGc(): Gc {
  const existing = (globalThis as { gc?: Gc }).gc;
  if (typeof existing === "function") return existing;
  v8.setFlagsFromString("--expose-gc");
  return vm.runInNewContext("gc") as Gc;
}

export interface MemorySample {
  /** heapUsed after the GC before the invocation, bytes. */
  baselineHeap: number;
  /** Highest heapUsed seen during the invocation, bytes. */
  peakHeap: number;
  /** Highest RSS seen during the invocation, bytes. */
  peakRss: number;
  /** Samples taken. */
  samples: number;
}

export async function measureMemory<T>(
  gc: Gc,
  intervalMs: number,
  fn: () => Promise<T>,
): Promise<{ value: T; memory: MemorySample }> {
  gc();
  const start = process.memoryUsage();
  const memory: MemorySample = {
    baselineHeap: start.heapUsed,
    peakHeap: start.heapUsed,
    peakRss: start.rss,
    samples: 1,
  };
  const sample = () => {
    const m = process.memoryUsage();
    memory.samples++;
    if (m.heapUsed > memory.peakHeap) memory.peakHeap = m.heapUsed;
    if (m.rss > memory.peakRss) memory.peakRss = m.rss;
  };
  const timer = setInterval(sample, intervalMs);
  try {
    const value = await fn();
    return { value, memory };
  } finally {
    clearInterval(timer);
    sample();
  }
}

/** heapUsed after a full GC: what stays behind once invocations are over. */
export function liveHeap(gc: Gc): number {
  gc();
  return process.memoryUsage().heapUsed;
}
