/**
 * GET /api/sync/status: where every section's run stands, from KV alone.
 */
import type { KeyBuilder } from "../kv/keys";
import type { KvStore } from "../kv/store";
import { readManifest } from "../mirror/section-index";
import { parseCursor } from "../sync/cursor";
import type { RunSummary } from "../sync/run-history";
import { SECTIONS, type Section } from "../core/sections";
import { loadStoreRuntime } from "../runtime";
import { jsonOk } from "./json";
import { answeringErrors } from "./unavailable";
import { operatorRequest } from "./operator";

type Env = Record<string, string | undefined>;

export function statusRoute() {
  return { GET: (request: Request) => handleStatus(request, process.env) };
}

export async function sectionStatus(kv: KvStore, keys: KeyBuilder, section: Section) {
  const [rawCursor, runs, index, leaseMs] = await Promise.all([
    kv.get(keys.cursor(section)),
    kv.get<RunSummary[]>(keys.runs(section)),
    readManifest(kv, keys, section),
    kv.pttl(keys.lease(section)),
  ]);
  const loaded = parseCursor(rawCursor);
  const cursor = loaded.kind === "ok" ? loaded.cursor : null;
  return {
    section,
    run: cursor && {
      runId: cursor.runId,
      status: cursor.status,
      phase: cursor.phase,
      invocations: cursor.seq,
      force: cursor.force,
      startedAt: cursor.startedAt,
      finishedAt: cursor.finishedAt,
      counts: cursor.counts,
      error: cursor.error,
      retryAt: cursor.retryAt,
      chain: cursor.chain,
      listing: { pieces: cursor.list.pieces, windows: cursor.list.windows },
      lastError: cursor.lastError,
      consecutiveErrors: cursor.consecutiveErrors,
      held: cursor.held,
    },
    cursorProblem: loaded.kind === "invalid" ? loaded.reason : null,
    running: leaseMs !== null,
    indexed: index?.total ?? 0,
    lastRuns: (runs ?? []).slice(0, 5),
  };
}

export const handleStatus = answeringErrors("status", async (request: Request, env: Env): Promise<Response> => {
  const front = await operatorRequest(request, env, loadStoreRuntime);
  if ("error" in front) return front.error;
  const { kv, keys } = front.runtime;
  const sections = await Promise.all(SECTIONS.map((s) => sectionStatus(kv, keys, s)));
  return jsonOk({ ok: true, sections });
});
