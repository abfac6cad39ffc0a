/**
 * This product as the bench runs it: the real route handlers in this process.
 * - "cron": one call after another per section (pages, posts, children) until
 *   each run is done, as crons or a person with the manual URLs would
 *   (SYNC_CHAIN=off); each invocation's heap is measured on its own.
 * - "qstash": one trigger call; the QStash test server carries every step to
 *   the end through app-server.ts (signed deliveries, flow control), children
 *   kicked when pages and posts are done. Pages and posts run side by side,
 *   so the heap figure is the process's peak over the run.
 */
import { createKeys } from "../../lib/kv/keys";
import { createRedisStore } from "../../lib/kv/redis";
import type { KvStore } from "../../lib/kv/store";
import { handleSync } from "../../lib/http/sync-route";
import { type Cursor, isFinished, parseCursor } from "../../lib/sync/cursor";
import type { Section } from "../../lib/core/sections";
import { loadWorkspace } from "../../lib/workspace/load";
import { measureMemory } from "../scale/memory";
import type { AppServer } from "./app-server";

export interface Invocation {
  section: string;
  elapsedMs: number;
  /** When the handler began and answered (epoch ms): the windows the rate diagnostics split idle time by. */
  startedAt: number;
  endedAt: number;
  heapPeakDelta?: number;
}

export interface ProductRun {
  ok: boolean;
  failure: string | null;
  invocations: Invocation[];
  /** Run summaries' childCheck and counts, per section. */
  sections: Record<string, { status: string; counts: Record<string, number>; childCheck: unknown }>;
  heapPeakDelta: number;
}

type Gc = () => void;

/** Samples heapUsed every `ms` while `fn` runs, after a GC: peak − baseline. */
export async function heapHighWater<T>(
  gc: Gc,
  ms: number,
  fn: () => Promise<T>,
): Promise<{ value: T; peakDelta: number }> {
  gc();
  const base = process.memoryUsage().heapUsed;
  let peak = base;
  const timer = setInterval(() => {
    const h = process.memoryUsage().heapUsed;
    if (h > peak) peak = h;
  }, ms);
  try {
    const value = await fn();
    return { value, peakDelta: Math.max(0, peak - base) };
  } finally {
    clearInterval(timer);
  }
}

/** The sections the app serves with this env, in run order (database sections, then children). */
const sectionsOf = (env: Record<string, string>): Section[] => loadWorkspace(env).names;

async function summaries(kv: KvStore, env: Record<string, string>): Promise<ProductRun["sections"]> {
  const keys = createKeys(env.KV_PREFIX);
  const out: ProductRun["sections"] = {};
  for (const section of sectionsOf(env)) {
    const loaded = parseCursor(await kv.get(keys.cursor(section)));
    const c = loaded.kind === "ok" ? loaded.cursor : null;
    out[section] = {
      status: c?.status ?? "none",
      counts: (c?.counts ?? {}) as Record<string, number>,
      childCheck: c?.childCheck ?? null,
    };
  }
  return out;
}

export async function runCron(
  env: Record<string, string>,
  opts: { force: boolean; gc: Gc; redisUrl: string; maxCalls?: number },
): Promise<ProductRun> {
  const invocations: Invocation[] = [];
  let failure: string | null = null;
  for (const section of sectionsOf(env)) {
    let done = false;
    for (let n = 0; n < (opts.maxCalls ?? 5_000) && !done; n++) {
      const url = `http://bench.local/api/sync/${section}?secret=${encodeURIComponent(env.CRON_SECRET)}${opts.force ? "&force=1" : ""}`;
      const { value, memory } = await measureMemory(opts.gc, 5, async () => {
        const startedAt = Date.now();
        const res = await handleSync(section, new Request(url), env);
        return {
          status: res.status,
          body: (await res.json()) as Record<string, unknown>,
          startedAt,
          endedAt: Date.now(),
        };
      });
      invocations.push({
        section,
        elapsedMs: Number(value.body.elapsedMs ?? 0),
        startedAt: value.startedAt,
        endedAt: value.endedAt,
        heapPeakDelta: memory.peakHeap - memory.baselineHeap,
      });
      if (value.status !== 200) {
        failure = `${section} answered ${value.status}: ${JSON.stringify(value.body).slice(0, 300)}`;
        break;
      }
      done = value.body.done === true || value.body.status === "held";
    }
    if (failure) break;
    if (!done) failure = `${section} not done after ${opts.maxCalls ?? 5_000} calls`;
  }
  const kv = createRedisStore({ url: opts.redisUrl });
  try {
    return {
      ok: failure === null,
      failure,
      invocations,
      sections: await summaries(kv, env),
      heapPeakDelta: Math.max(0, ...invocations.map((i) => i.heapPeakDelta ?? 0)),
    };
  } finally {
    await kv.close();
  }
}

export async function runQStash(
  env: Record<string, string>,
  opts: { force: boolean; gc: Gc; redisUrl: string; app: AppServer; timeoutMs: number; idle: () => Promise<void> },
): Promise<ProductRun> {
  const kv = createRedisStore({ url: opts.redisUrl });
  const keys = createKeys(env.KV_PREFIX);
  const firstInvocation = opts.app.invocations.length;
  try {
    const t0 = new Date().toISOString();
    const { value: failure, peakDelta } = await heapHighWater(opts.gc, 5, async () => {
      const res = await fetch(
        `${opts.app.url}/api/sync/trigger?secret=${encodeURIComponent(env.CRON_SECRET)}${opts.force ? "&force=1" : ""}`,
        { method: "POST" },
      );
      if (res.status !== 200) return `trigger answered ${res.status}: ${(await res.text()).slice(0, 300)}`;
      const deadline = Date.now() + opts.timeoutMs;
      for (;;) {
        const cursors = await Promise.all(
          sectionsOf(env).map(async (s: Section) => {
            const loaded = parseCursor(await kv.get(keys.cursor(s)));
            return loaded.kind === "ok" ? loaded.cursor : null;
          }),
        );
        const failed = cursors.find((c): c is Cursor => c?.status === "failed" && c.startedAt >= t0);
        if (failed) return `${failed.section} run failed: ${JSON.stringify(failed.error)}`;
        if (cursors.every((c) => c && c.startedAt >= t0 && isFinished(c))) break;
        if (Date.now() > deadline)
          return `not done within ${opts.timeoutMs} ms: ${JSON.stringify(cursors.map((c) => c && [c.section, c.status, c.phase, c.seq]))}`;
        await new Promise((r) => setTimeout(r, 50));
      }
      await opts.idle();
      return null;
    });
    const invocations = opts.app.invocations
      .slice(firstInvocation)
      .filter((i) => i.ran)
      .map((i) => ({ section: i.section, elapsedMs: i.elapsedMs ?? 0, startedAt: i.startedAt, endedAt: i.at }));
    return {
      ok: failure === null,
      failure,
      invocations,
      sections: await summaries(kv, env),
      heapPeakDelta: peakDelta,
    };
  } finally {
    await kv.close();
  }
}
