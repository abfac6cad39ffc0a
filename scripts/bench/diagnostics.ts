/**
 * Where a run loses Notion request slots (the rate-share target), computed in
 * the notion child from its request log and the proxy's in-flight intervals
 * (scripts/bench/child.ts, `stats`), given the product's invocation windows
 * recorded by the bench process (scripts/bench/app-server.ts, product.ts):
 *
 * - idle: Σ over consecutive requests (arrivals at the emulator) of
 *   max(0, gap − slot), slot = 1 / Notion's rate (wall ms at --speed), the
 *   time in which the limit would have let one more request through;
 * - of that, the part inside a product invocation and the part between
 *   invocations (QStash hand-offs, cron call gaps), and the same within the
 *   first Notion minute (the target's "from the first minute");
 * - moments with 0 requests in flight (client side: proxy arrival to answer,
 *   latency included): how many, their total, their part inside invocations.
 *
 * All times are epoch ms on this machine's clock (every process shares it).
 */

export type Interval = [number, number];

export interface IdleSplit {
  ms: number;
  /** Inside a product invocation / between invocations; null without invocation windows (baseline, notion-to-md). */
  insideMs: number | null;
  betweenMs: number | null;
}

export interface RateDiagnostics {
  /** 1 / Notion's rate, wall ms. */
  slotMs: number;
  requests: number;
  /** First to last request. */
  spanMs: number;
  idle: IdleSplit;
  /** The same within the first window (the first Notion minute, from the first request). */
  firstWindow: IdleSplit & { windowMs: number };
  zeroInFlight: { count: number; ms: number; insideMs: number | null };
  /** Time covered by invocations between the first and the last request. */
  invocationMs: number | null;
  invocations: number | null;
}

/** Sorted, non-overlapping union of `intervals`. */
export function union(intervals: Interval[]): Interval[] {
  const sorted = intervals.filter(([a, b]) => b > a).sort((x, y) => x[0] - y[0]);
  const out: Interval[] = [];
  for (const [a, b] of sorted) {
    const last = out.at(-1);
    if (last && a <= last[1]) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

/** Length of [a, b] ∩ the (sorted, disjoint) `cover`. */
export function overlap(a: number, b: number, cover: Interval[]): number {
  let total = 0;
  // Binary search for the first interval ending after a.
  let lo = 0;
  let hi = cover.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cover[mid][1] <= a) lo = mid + 1;
    else hi = mid;
  }
  for (let i = lo; i < cover.length && cover[i][0] < b; i++)
    total += Math.max(0, Math.min(b, cover[i][1]) - Math.max(a, cover[i][0]));
  return total;
}

export function rateDiagnostics(input: {
  arrivals: number[];
  flights: Interval[];
  slotMs: number;
  windowMs: number;
  invocations?: Interval[] | null;
}): RateDiagnostics {
  const arrivals = [...input.arrivals].sort((a, b) => a - b);
  const cover = input.invocations ? union(input.invocations) : null;
  const first = arrivals[0] ?? 0;
  const last = arrivals.at(-1) ?? 0;
  const windowEnd = first + input.windowMs;
  const idle = { ms: 0, insideMs: 0, betweenMs: 0 };
  const inFirst = { ms: 0, insideMs: 0, betweenMs: 0 };
  for (let i = 1; i < arrivals.length; i++) {
    const from = arrivals[i - 1] + input.slotMs;
    const to = arrivals[i];
    if (to <= from) continue;
    const inside = cover ? overlap(from, to, cover) : 0;
    idle.ms += to - from;
    idle.insideMs += inside;
    if (from < windowEnd) {
      const end = Math.min(to, windowEnd);
      const insideFirst = cover ? overlap(from, end, cover) : 0;
      inFirst.ms += end - from;
      inFirst.insideMs += insideFirst;
    }
  }
  idle.betweenMs = idle.ms - idle.insideMs;
  inFirst.betweenMs = inFirst.ms - inFirst.insideMs;

  const flights = input.flights.filter(([a, b]) => b >= a).sort((x, y) => x[0] - y[0]);
  const zero = { count: 0, ms: 0, insideMs: 0 };
  let busyUntil = flights[0]?.[1] ?? 0;
  for (let i = 1; i < flights.length; i++) {
    const [a, b] = flights[i];
    if (a > busyUntil) {
      zero.count++;
      zero.ms += a - busyUntil;
      if (cover) zero.insideMs += overlap(busyUntil, a, cover);
    }
    busyUntil = Math.max(busyUntil, b);
  }
  const split = (s: { ms: number; insideMs: number; betweenMs: number }): IdleSplit => ({
    ms: s.ms,
    insideMs: cover ? s.insideMs : null,
    betweenMs: cover ? s.betweenMs : null,
  });
  return {
    slotMs: input.slotMs,
    requests: arrivals.length,
    spanMs: last - first,
    idle: split(idle),
    firstWindow: { ...split(inFirst), windowMs: input.windowMs },
    zeroInFlight: { count: zero.count, ms: zero.ms, insideMs: cover ? zero.insideMs : null },
    invocationMs: cover ? overlap(first, last, cover) : null,
    invocations: input.invocations ? input.invocations.length : null,
  };
}
