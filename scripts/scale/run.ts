/**
 * One measured run: calls the real route handler (handleSync, in process, with
 * `?secret=` like a person or a cron) for a section until its run is done,
 * and measures what that cost the KV store and this process.
 */
import { handleSync } from "../../lib/http/sync-route";
import type { Section } from "../../lib/core/sections";
import { diffRedisStats, largestValue, readRedisStats, type RedisStatsReading } from "../../tests/support/redis-meter";
import type { BridgeStats } from "../../tests/support/upstash-bridge";
import { liveHeap, measureMemory } from "./memory";
import { redisCpuSeconds } from "./redis-cpu";

export type Backend = "redis" | "upstash";
export type RunKind = "full" | "no-change";

export interface Answer {
  status: number;
  body: Record<string, unknown> & {
    done?: boolean;
    status?: string;
    invocation?: number;
    elapsedMs?: number;
    counts?: Record<string, number>;
    error?: { code: string; message: string };
    ok?: boolean;
  };
}

export interface InvocationRecord {
  n: number;
  httpStatus: number;
  status: string | undefined;
  done: boolean;
  elapsedMs: number | null;
  callMs: number;
  heapBaseline: number;
  heapPeakDelta: number;
  rssPeak: number;
  error?: { code: string; message: string };
}

export interface KvTraffic {
  /** Billed commands (bridge) / commands processed (redis INFO). */
  commands: number;
  /** Bridge: value bytes of writes (BridgeStats.writtenBytes). Redis: RESP bytes the server read (every request, keys and framing included). */
  writtenBytes: number;
  /** Bridge: HTTP response body bytes (JSON, base64 values). Redis: RESP bytes the server sent. */
  readBytes: number;
  /** Bridge only: HTTP request body bytes. */
  requestBytes?: number;
  byCommand: Record<string, number>;
}

export interface RunResult {
  rows: number;
  backend: Backend;
  run: RunKind;
  completed: boolean;
  failure: string | null;
  finalStatus: string | null;
  invocations: number;
  wallMs: number;
  maxElapsedMs: number;
  maxCallMs: number;
  counts: Record<string, number> | null;
  kv: KvTraffic;
  largest: { key: string; bytes: number } | null;
  /** Every key under `{prefix}:` after the run. */
  store: { keys: number; bytes: number };
  /** Bundles (`{prefix}:page:`) + index chunks (`{prefix}:ichunk:`). */
  product: {
    bytes: number;
    bundleKeys: number;
    bundleBytes: number;
    largestBundle: { key: string; bytes: number } | null;
    chunkKeys: number;
    chunkBytes: number;
    largestChunk: { key: string; bytes: number } | null;
  };
  /**
   * CPU seconds (user + system) during the run: this process, the redis-server
   * holding the data (INFO cpu; behind the bridge for upstash, where it includes
   * the bridge's record-size EVALs), and the children.
   */
  cpu: { main: number; redisServer: number; bridge?: number; emulator?: number };
  memory: {
    /** max over invocations of (sampled heapUsed peak − heapUsed after GC before it), bytes. */
    heapPeakDelta: number;
    /** heapUsed baseline of the invocation that had that peak. */
    heapBaseline: number;
    /** highest RSS sampled during any invocation of the run. */
    rssPeak: number;
    /** heapUsed after GC, after the run minus before it (what the run left behind). */
    retainedHeap: number;
  };
  invocationLog: InvocationRecord[];
  errors: { invocation: number; code: string; message: string }[];
}

export interface RunContext {
  rows: number;
  backend: Backend;
  env: Record<string, string>;
  secret: string;
  prefix: string;
  /** The redis-server holding the data (behind the bridge for upstash). */
  redisUrl: string;
  bridge?: { stats(): Promise<BridgeStats>; reset(): Promise<void>; cpu(): Promise<number> };
  /** CPU seconds the emulator child has used so far. */
  emulatorCpu?: () => Promise<number>;
  gc: () => void;
  sampleMs: number;
  maxCalls: number;
  callTimeoutMs: number;
  runTimeoutMs: number;
  progress(line: string): void;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
    }),
  ]);
}

export async function invoke(
  ctx: Pick<RunContext, "env" | "secret">,
  section: Section,
  timeoutMs: number,
): Promise<Answer> {
  const request = new Request(`http://localhost/api/sync/${section}?secret=${encodeURIComponent(ctx.secret)}`, {
    method: "GET",
  });
  return withTimeout(
    (async () => {
      const response = await handleSync(section, request, ctx.env);
      const text = await response.text();
      let body: Answer["body"];
      try {
        body = JSON.parse(text) as Answer["body"];
      } catch {
        body = { raw: text.slice(0, 500) };
      }
      return { status: response.status, body };
    })(),
    timeoutMs,
    `${section} invocation`,
  );
}

/** Calls a section until done, unmeasured (posts and children before the verification); `onAnswer` sees each answer. */
export async function syncPlain(
  ctx: Pick<RunContext, "env" | "secret" | "callTimeoutMs">,
  section: Section,
  maxCalls: number,
  onAnswer?: (n: number, answer: Answer) => void,
): Promise<{ ok: boolean; calls: number; last: Answer | null }> {
  let last: Answer | null = null;
  for (let i = 1; i <= maxCalls; i++) {
    last = await invoke(ctx, section, ctx.callTimeoutMs);
    onAnswer?.(i, last);
    if (last.status !== 200) return { ok: false, calls: i, last };
    if (last.body.done) return { ok: true, calls: i, last };
    if (last.body.status === "held") return { ok: false, calls: i, last };
  }
  return { ok: false, calls: maxCalls, last };
}

async function storeSizes(redisUrl: string, prefix: string) {
  const [all, bundles, chunks] = await Promise.all([
    largestValue(redisUrl, `${prefix}:`),
    largestValue(redisUrl, `${prefix}:page:`),
    largestValue(redisUrl, `${prefix}:ichunk:`),
  ]);
  return {
    largest: all ? { key: all.key, bytes: all.bytes } : null,
    store: { keys: all?.keys ?? 0, bytes: all?.totalBytes ?? 0 },
    product: {
      bytes: (bundles?.totalBytes ?? 0) + (chunks?.totalBytes ?? 0),
      bundleKeys: bundles?.keys ?? 0,
      bundleBytes: bundles?.totalBytes ?? 0,
      largestBundle: bundles ? { key: bundles.key, bytes: bundles.bytes } : null,
      chunkKeys: chunks?.keys ?? 0,
      chunkBytes: chunks?.totalBytes ?? 0,
      largestChunk: chunks ? { key: chunks.key, bytes: chunks.bytes } : null,
    },
  };
}

export async function measuredRun(ctx: RunContext, run: RunKind, section: Section = "pages"): Promise<RunResult> {
  const log: InvocationRecord[] = [];
  const errors: RunResult["errors"] = [];
  let failure: string | null = null;
  let finalStatus: string | null = null;
  let counts: Record<string, number> | null = null;
  let completed = false;

  const cpuNow = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  };
  // Read before the traffic counters (and after them at the end), so this INFO stays out of the redis diff.
  const redisCpuBefore = await redisCpuSeconds(ctx.redisUrl);
  let redisBefore: RedisStatsReading | null = null;
  if (ctx.bridge) await ctx.bridge.reset();
  else redisBefore = await readRedisStats(ctx.redisUrl);
  const liveBefore = liveHeap(ctx.gc);
  const cpuBefore = { main: cpuNow(), bridge: await ctx.bridge?.cpu(), emulator: await ctx.emulatorCpu?.() };

  const started = Date.now();
  const deadline = started + ctx.runTimeoutMs;
  try {
    for (let n = 1; ; n++) {
      if (n > ctx.maxCalls) {
        failure = `not done after ${ctx.maxCalls} invocations (--max-calls)`;
        break;
      }
      if (Date.now() > deadline) {
        failure = `not done after ${Math.round(ctx.runTimeoutMs / 1000)} s (--run-timeout-s), ${n - 1} invocations`;
        break;
      }
      const callStart = Date.now();
      const { value: answer, memory } = await measureMemory(ctx.gc, ctx.sampleMs, () =>
        invoke(ctx, section, ctx.callTimeoutMs),
      );
      const callMs = Date.now() - callStart;
      const body = answer.body;
      const record: InvocationRecord = {
        n,
        httpStatus: answer.status,
        status: body.status,
        done: body.done === true,
        elapsedMs: typeof body.elapsedMs === "number" ? body.elapsedMs : null,
        callMs,
        heapBaseline: memory.baselineHeap,
        heapPeakDelta: memory.peakHeap - memory.baselineHeap,
        rssPeak: memory.peakRss,
        ...(body.error ? { error: body.error } : {}),
      };
      log.push(record);
      if (body.error) errors.push({ invocation: n, code: body.error.code, message: body.error.message });
      if (body.counts) counts = body.counts;
      finalStatus = body.status ?? null;
      if (n === 1 || n % 10 === 0 || record.done || answer.status !== 200) {
        ctx.progress(
          `  ${ctx.backend} ${ctx.rows} ${run} #${n}: ${answer.status} ${body.status ?? "?"}/${String(body.phase ?? "?")} ` +
            `elapsed ${record.elapsedMs ?? "?"} ms, heap +${(record.heapPeakDelta / 1e6).toFixed(1)} MB` +
            (body.counts
              ? `, listed ${body.counts.listed ?? "?"} fetched ${body.counts.fetched ?? "?"} skipped ${body.counts.skipped ?? "?"}`
              : ""),
        );
      }
      if (answer.status !== 200) {
        failure = `invocation ${n} answered HTTP ${answer.status}: ${JSON.stringify(body).slice(0, 600)}`;
        break;
      }
      if (body.status === "held") {
        failure = `run held at invocation ${n}: ${JSON.stringify(body.held ?? body.error ?? null).slice(0, 600)}`;
        break;
      }
      if (record.done) {
        completed = true;
        break;
      }
    }
  } catch (err) {
    failure = err instanceof Error ? err.message : String(err);
  }
  const wallMs = Date.now() - started;
  const cpu: RunResult["cpu"] = { main: cpuNow() - cpuBefore.main, redisServer: 0 };
  if (ctx.bridge && cpuBefore.bridge !== undefined) cpu.bridge = (await ctx.bridge.cpu()) - cpuBefore.bridge;
  if (ctx.emulatorCpu && cpuBefore.emulator !== undefined)
    cpu.emulator = (await ctx.emulatorCpu()) - cpuBefore.emulator;
  const retainedHeap = liveHeap(ctx.gc) - liveBefore;

  let kv: KvTraffic;
  if (ctx.bridge) {
    const s = await ctx.bridge.stats();
    kv = {
      commands: s.commands,
      writtenBytes: s.writtenBytes,
      readBytes: s.responseBytes,
      requestBytes: s.requestBytes,
      byCommand: s.byCommand,
    };
  } else {
    const d = diffRedisStats(redisBefore!, await readRedisStats(ctx.redisUrl));
    kv = { commands: d.commands, writtenBytes: d.netInputBytes, readBytes: d.netOutputBytes, byCommand: d.byCommand };
  }
  cpu.redisServer = (await redisCpuSeconds(ctx.redisUrl)) - redisCpuBefore;
  const sizes = await storeSizes(ctx.redisUrl, ctx.prefix);

  let peak: InvocationRecord | null = null;
  for (const r of log) if (!peak || r.heapPeakDelta > peak.heapPeakDelta) peak = r;
  return {
    rows: ctx.rows,
    backend: ctx.backend,
    run,
    completed,
    failure,
    finalStatus,
    invocations: log.length,
    wallMs,
    maxElapsedMs: Math.max(0, ...log.map((r) => r.elapsedMs ?? 0)),
    maxCallMs: Math.max(0, ...log.map((r) => r.callMs)),
    counts,
    kv,
    ...sizes,
    cpu,
    memory: {
      heapPeakDelta: peak?.heapPeakDelta ?? 0,
      heapBaseline: peak?.heapBaseline ?? 0,
      rssPeak: Math.max(0, ...log.map((r) => r.rssPeak)),
      retainedHeap,
    },
    invocationLog: log,
    errors,
  };
}
