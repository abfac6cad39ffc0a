/**
 * Targeted runs: re-sync only the pages webhook events named (the dirty set,
 * lib/webhooks/dirty.ts), without a full list (README, "Near real time").
 *
 * Per dirty page, oldest event first, the dirty set read once, in batches
 * (plan.ts, then apply.ts per section): dropped without a request when a read already covers its newest
 * event; else one `pages.retrieve` places it, and under its section's lease
 * its content is fetched and committed in one fenced atomic batch; after each
 * commit that changed pages, their tags are revalidated.
 *
 * With a full run of the page's section live (running, stalled, failed: not
 * finished), the page is left dirty and the section is marked deferred: that
 * run's finalize rebuilds the index from its own pieces and its ledger reads,
 * so an in-place update made meanwhile could be overwritten or an added page
 * dropped. When the run finishes, lib/webhooks/after-full-run.ts schedules a
 * targeted run for what was deferred.
 *
 * Errors follow the engine's failure policy (lib/sync/failure-policy.ts): a
 * 429 stops the run (the shared pause is recorded, the rest stays dirty, the
 * continuation is scheduled after Retry-After); transient failures leave the
 * page dirty (3 attempts, then the next scheduled run takes it through the
 * refetch set); a 400 or a value too large for KV leaves it to the next
 * scheduled run; 401/403 stop the run with the reason.
 */
import { BudgetExhaustedError } from "../../core/deadline";
import type { KvOp } from "../../kv/store";
import { isWritesRefused } from "../../sync/errors";
import { type DirtyPage, readDirty } from "../dirty";
import { applySection } from "./apply";
import { planBatch, readCursors } from "./plan";
import { type TargetedDeps, type TargetedRun, type TargetedRunResult, shouldStop, startRun } from "./state";

export { type TargetedDeps, type TargetedRunResult, READ_MARGIN_MS, TARGETED_RUN_ID } from "./state";

/** Dirty pages planned and committed together. */
const BATCH = 50;

export async function runTargeted(deps: TargetedDeps): Promise<TargetedRunResult> {
  const run = startRun(deps);
  const { kv, keys } = deps;
  const pause = await kv.get<{ until?: number }>(keys.notionPause());
  if (pause && typeof pause.until === "number" && pause.until > Date.now()) run.result.rateLimitedUntil = pause.until;
  // Read once: an event recorded from here on schedules a run of its own (lib/webhooks/schedule.ts).
  const { pages, junk } = await readDirty(kv, run.wk.dirtyBase());
  if (junk.length > 0) await kv.atomic(junk.map((j): KvOp => ({ op: "srem", key: j.key, members: j.members })));
  for (const page of pages) run.queue.set(page.id, page);
  try {
    while (run.queue.size > 0 && !shouldStop(run)) {
      const todo = [...run.queue.values()].slice(0, BATCH);
      for (const page of todo) {
        run.queue.delete(page.id);
        run.taken.add(page.id);
      }
      run.result.pages += todo.length;
      await handleBatch(run, todo);
    }
  } catch (error) {
    if (!(isWritesRefused(error) || error instanceof BudgetExhaustedError)) throw error;
  } finally {
    await run.revalidations;
  }
  return finish(run);
}

async function handleBatch(run: TargetedRun, todo: DirtyPage[]): Promise<void> {
  const { kv, keys, workspace } = run.deps;
  const cursors = await readCursors(kv, keys.cursor, workspace.names);
  const bySection = await planBatch(run, todo, cursors);
  for (const section of workspace.names) {
    const items = bySection.get(section);
    if (items && !shouldStop(run)) await applySection(run, section, items, cursors);
  }
}

/** The shared pause, what is left over, and the figures. */
async function finish(run: TargetedRun): Promise<TargetedRunResult> {
  const { kv, keys, notion } = run.deps;
  const { result } = run;
  if (result.rateLimitedUntil && result.rateLimitedUntil > Date.now()) {
    await kv
      .set(
        keys.notionPause(),
        { until: result.rateLimitedUntil, scope: "unknown" },
        { pxMs: Math.ceil(result.rateLimitedUntil - Date.now()) },
      )
      .catch(() => {});
  }
  const left = [...run.taken, ...run.queue.keys()].filter((id) => !run.settledIds.has(id) && !run.deferredIds.has(id));
  result.leftover = new Set([...left, ...run.foundLate]).size;
  result.deferred = run.deferredIds.size;
  result.deferredSections = [...run.deferredSections];
  result.notionRequests = Object.values(notion.requests).reduce((a, b) => a + b, 0);
  result.elapsedMs = Date.now() - run.deps.startedAt;
  return result;
}
