/** A run's Notion requests as the bench reports them, from the emulator's request log (scripts/bench/child.ts, scripts/scale/child.ts). */

export interface RequestFigures {
  total: number;
  byRoute: Record<string, number>;
  byStatus: Record<string, number>;
  firstAt: number;
  lastAt: number;
  /** Requests in the first `windowMs` after the first one (the first Notion minute). */
  firstWindow: number;
  /** Requests per Notion-Version header they carried (counted by the proxy in front of the emulator). */
  versions: Record<string, number>;
}

export function requestFigures(
  log: { route: string; status: number; at: number }[],
  windowMs: number,
  versions: Record<string, number>,
): RequestFigures {
  const byRoute: Record<string, number> = {};
  const byStatus: Record<string, number> = {};
  for (const r of log) {
    byRoute[r.route] = (byRoute[r.route] ?? 0) + 1;
    byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
  }
  const first = log[0]?.at ?? 0;
  return {
    total: log.length,
    byRoute,
    byStatus,
    firstAt: first,
    lastAt: log.at(-1)?.at ?? 0,
    firstWindow: log.filter((r) => r.at < first + windowMs).length,
    versions: { ...versions },
  };
}

/** The Notion-Version a run's requests carried: one version, several joined by " + " (most used first), null without requests. */
export function versionOf(versions: Record<string, number> | undefined): string | null {
  const seen = Object.entries(versions ?? {}).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  return seen.length ? seen.map(([v]) => v).join(" + ") : null;
}
