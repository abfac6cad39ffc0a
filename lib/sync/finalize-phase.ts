/**
 * The finalize phase, one atomic write: the new section index, the removal of
 * bundles whose pages disappeared (trashed, unshared, deleted, no longer
 * referenced, renamed), the run's summary, and the cursor marked done.
 */
import type { KvOp } from "../kv/store";
import { type IndexEntry, type SectionIndex, indexEntryFor } from "./bundle";
import type { RunContext } from "./context";
import type { Cursor } from "./cursor";
import type { ItemResult } from "./worklist";

export const RUN_HISTORY_LENGTH = 20;

export interface RunSummary {
  runId: string;
  section: Cursor["section"];
  status: Cursor["status"];
  force: boolean;
  startedAt: string;
  finishedAt: string | null;
  invocations: number;
  counts: Cursor["counts"];
  removed: number;
  error: Cursor["error"];
  /** Pages given up on after repeated transient failures (first 20). */
  failedPages: { id: string; error: string }[];
}

export function summarize(cursor: Cursor, removed = 0, failedPages: RunSummary["failedPages"] = []): RunSummary {
  return {
    runId: cursor.runId,
    section: cursor.section,
    status: cursor.status,
    force: cursor.force,
    startedAt: cursor.startedAt,
    finishedAt: cursor.finishedAt,
    invocations: cursor.seq,
    counts: cursor.counts,
    removed,
    error: cursor.error,
    failedPages: failedPages.slice(0, 20),
  };
}

export async function runFinalizePhase(ctx: RunContext): Promise<void> {
  const { kv, keys, section } = ctx;
  const runId = ctx.cursor.runId;
  const [previous, rawResults, history] = await Promise.all([
    kv.get<SectionIndex>(keys.index(section)),
    kv.smembers(keys.runResults(section, runId)),
    kv.get<RunSummary[]>(keys.runs(section)),
  ]);
  const results = new Map<string, ItemResult>();
  for (const raw of rawResults) {
    const result = JSON.parse(raw) as ItemResult;
    results.set(result.id, result);
  }
  const entries = section === "children" ? childEntries(ctx, results, previous) : databaseEntries(ctx, results, previous);

  const failedPages = [...results.values()].flatMap((r) => (r.status === "failed" ? [{ id: r.id, error: r.error }] : []));
  const keep = new Set(entries.map((e) => e.slug));
  const removedSlugs = (previous?.entries ?? []).map((e) => e.slug).filter((slug) => !keep.has(slug));
  const index: SectionIndex = { section, runId, updatedAt: ctx.now().toISOString(), entries };

  await ctx.commit((c) => {
    c.phase = "done";
    c.status = "done";
    c.finishedAt = ctx.now().toISOString();
    c.error = null;
    c.retryAt = null;
    const ops: KvOp[] = [
      { op: "set", key: keys.index(section), value: index },
      ...removedSlugs.map((slug): KvOp => ({ op: "del", key: keys.page(section, slug) })),
      ...c.partials.map((id): KvOp => ({ op: "del", key: keys.partialPage(section, id) })),
      // Given up this run: their old entries keep old timestamps, so only this makes the next run try again.
      ...(failedPages.length > 0 ? [{ op: "sadd" as const, key: keys.refetch(), members: failedPages.map((f) => f.id) }] : []),
      { op: "del", key: keys.workList(section, runId) },
      { op: "del", key: keys.runResults(section, runId) },
      { op: "set", key: keys.runs(section), value: [summarize(c, removedSlugs.length, failedPages), ...(history ?? []).filter((h) => h.runId !== runId)].slice(0, RUN_HISTORY_LENGTH) },
    ];
    c.partials = [];
    return ops;
  });
}

/** Rows in listing order; a page not fetched this run keeps its previous entry's content facts. */
function databaseEntries(ctx: RunContext, results: Map<string, ItemResult>, previous: SectionIndex | null): IndexEntry[] {
  const previousById = new Map((previous?.entries ?? []).map((e) => [e.id, e]));
  const freshSlugs = new Set([...results.values()].flatMap((r) => (r.status === "ok" ? [r.entry.slug] : [])));
  const entries: IndexEntry[] = [];
  for (const row of ctx.work.rows) {
    const result = results.get(row.id);
    if (result?.status === "gone") continue;
    if (result?.status === "ok") {
      entries.push(result.entry);
      continue;
    }
    const before = previousById.get(row.id);
    if (!before) continue; // never fetched: cannot be indexed without its bundle
    // Given up after repeated failures: the old entry as it was, so it matches the old
    // bundle and its older last_edited_time makes the next run try again.
    if (result?.status === "failed") {
      // Its old slug went to another page this run (whose bundle now holds it): leave it
      // out until the retry next run gives it its own.
      if (!freshSlugs.has(before.slug)) entries.push(before);
    }
    else entries.push(indexEntryFor(row, before.slug, before.childPages)); // unchanged
  }
  return entries;
}

/** Children in the order they were reached (breadth first from the database rows). */
function childEntries(ctx: RunContext, results: Map<string, ItemResult>, previous: SectionIndex | null): IndexEntry[] {
  const previousById = new Map((previous?.entries ?? []).map((e) => [e.id, e]));
  const entries: IndexEntry[] = [];
  for (const item of ctx.work.items) {
    const result = results.get(item.id);
    if (result?.status === "ok") entries.push(result.entry);
    else if (result?.status === "failed" && previousById.has(item.id)) entries.push(previousById.get(item.id)!);
  }
  return entries;
}
