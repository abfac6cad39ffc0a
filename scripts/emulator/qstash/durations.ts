/** Duration strings as QStash reads them in headers. */

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/**
 * "30s", "2m", "1h", "1d", Go-style compounds like "6m5s" or "500ms", or a
 * bare number of seconds. Undefined when it is none of those.
 */
export function parseDurationMs(value: string | null | undefined): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (text === "") return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  const part = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d)/gy;
  let total = 0;
  let consumed = 0;
  for (let match = part.exec(text); match; match = part.exec(text)) {
    total += Number(match[1]) * (UNIT_MS[match[2] ?? ""] ?? Number.NaN);
    consumed = part.lastIndex;
  }
  return consumed === text.length && Number.isFinite(total) ? total : undefined;
}

/**
 * `Retry-After` as QStash reads it from a destination's answer: seconds, an
 * HTTP date, or a duration ("6m5s"). Capped at one day, like QStash.
 */
export function parseRetryAfterMs(value: string | null, nowMs: number): number | undefined {
  if (!value) return undefined;
  let ms = parseDurationMs(value);
  if (ms === undefined) {
    const date = Date.parse(value);
    if (Number.isNaN(date)) return undefined;
    ms = Math.max(0, date - nowMs);
  }
  return Math.min(ms, 86_400_000);
}
