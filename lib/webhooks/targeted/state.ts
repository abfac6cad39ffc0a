/**
 * What one targeted run carries from batch to batch: its dependencies (built
 * by lib/webhooks/run.ts, like the engine's EngineDeps), its result so far,
 * and the bookkeeping of dirty pages it settles, gives up or defers.
 */
import type { Section } from "../../core/sections";
import type { KvOp } from "../../kv/store";
import type { NotionSyncError } from "../../notion/errors";
import type { EngineDeps } from "../../sync/context";
import { type FailureDecision, decideFailure } from "../../sync/failure-policy";
import { type DirtyEntry, type DirtyPage, canonicalId, dirtyMember, removeDirtyOps } from "../dirty";
import { type WebhookKeys, webhookKeys } from "../keys";
import { type ChangedPage, type Revalidator, drainChangedPages } from "../revalidate";
import { logEvent } from "../../core/log";
import type { Workspace } from "../../workspace/types";
import { type SectionResolver, createSectionResolver } from "../sections";

/** An event this much older than the page's last read is covered by that read (clock skew, Notion's own lag). */
export const READ_MARGIN_MS = 2000;
/** How long a page's read time is kept: Notion redelivers for about 24 h. */
export const READ_AT_TTL_MS = 48 * 3600_000;
const TRIES_TTL_MS = 3600_000;
export const MAX_TRIES = 3;
/** The ledger's `run.id` of pages a targeted run wrote (never a real run id). */
export const TARGETED_RUN_ID = "webhook";

export interface TargetedDeps extends EngineDeps {
  now: () => Date;
  /** When the invocation began (the deadline is measured from it). */
  startedAt: number;
  /** The configured sections: a row's parent data source says which database section holds it. */
  workspace: Workspace;
  revalidate: Revalidator;
}

export interface TargetedRunResult {
  /** Distinct dirty pages looked at. */
  pages: number;
  fetched: number;
  removed: number;
  /** Events older than the page's last read, or pages nothing mirrors: no request. */
  dropped: number;
  /** Left dirty for after a live full run of their section. */
  deferred: number;
  deferredSections: Section[];
  /** Sections a run was requested for: a page's publish filter could not be decided from its properties. */
  sectionRuns: Section[];
  /** Left to the next scheduled run (repeated failures, 400, too large). */
  givenUp: number;
  notionRequests: number;
  /** Dirty pages left for a later targeted run (not deferred). */
  leftover: number;
  rateLimitedUntil: number | null;
  error: { code: string; message: string } | null;
  changed: ChangedPage[];
  elapsedMs: number;
}

export interface TargetedRun {
  deps: TargetedDeps;
  wk: WebhookKeys;
  sections: SectionResolver;
  result: TargetedRunResult;
  deferredIds: Set<string>;
  deferredSections: Set<Section>;
  /** Pages whose dirty members this run removed (settled, committed, given up). */
  settledIds: Set<string>;
  /** Dirty pages still to handle: the dirty set as read once, then the pages its commits found. */
  queue: Map<string, DirtyPage>;
  /** Pages taken from the queue. */
  taken: Set<string>;
  /** Pages found again after this run took them: left dirty for the next run. */
  foundLate: Set<string>;
  /** Drains of the changed-pages record after this run's commits, one after another. */
  revalidations: Promise<void>;
  /** Stop starting work with this much of the budget left. */
  stopMarginMs: number;
}

export function startRun(deps: TargetedDeps): TargetedRun {
  return {
    deps,
    wk: webhookKeys(deps.keys),
    sections: createSectionResolver(deps),
    result: {
      pages: 0,
      fetched: 0,
      removed: 0,
      dropped: 0,
      deferred: 0,
      deferredSections: [],
      sectionRuns: [],
      givenUp: 0,
      notionRequests: 0,
      leftover: 0,
      rateLimitedUntil: null,
      error: null,
      changed: [],
      elapsedMs: 0,
    },
    deferredIds: new Set(),
    deferredSections: new Set(),
    settledIds: new Set(),
    queue: new Map(),
    taken: new Set(),
    foundLate: new Set(),
    revalidations: Promise.resolve(),
    stopMarginMs: Math.min(1000, deps.deadline.budgetMs * 0.1),
  };
}

export function shouldStop(run: TargetedRun): boolean {
  return (
    run.deps.deadline.remaining() < run.stopMarginMs ||
    run.result.rateLimitedUntil !== null ||
    run.result.error !== null
  );
}

export function noteRateLimit(run: TargetedRun, error: NotionSyncError): void {
  const until = Date.now() + (error.details.retryAfterMs ?? 1000);
  run.result.rateLimitedUntil = Math.max(run.result.rateLimitedUntil ?? 0, until);
}

export function defer(run: TargetedRun, page: DirtyPage, section: Section): void {
  run.deferredIds.add(page.id);
  run.deferredSections.add(section);
}

/** Pages a commit made dirty (with exactly the members it wrote): handled by this run, once a page. */
export function enqueueFound(run: TargetedRun, found: DirtyEntry[]): void {
  for (const e of found) {
    const id = canonicalId(e.pageId);
    const at = Date.parse(e.timestamp);
    if (run.taken.has(id)) {
      run.foundLate.add(id);
      continue;
    }
    const page = run.queue.get(id) ?? { id, newest: 0, members: [], parentHint: null };
    page.members.push(dirtyMember(e.pageId, e.timestamp, e.parentHint));
    page.newest = Math.max(page.newest, at);
    page.parentHint = e.parentHint ? canonicalId(e.parentHint) : page.parentHint;
    run.queue.set(id, page);
  }
}

/** Plain (unfenced) bookkeeping: dirty members handled without touching the mirror. */
export async function settle(run: TargetedRun, page: DirtyPage, extra: KvOp[] = []): Promise<void> {
  await run.deps.kv.atomic([...removeDirtyOps(run.wk.dirtyBase(), page), ...extra]);
  run.settledIds.add(page.id);
}

/** The next scheduled run re-reads it whatever its timestamp (the engine's refetch set). */
async function giveUp(run: TargetedRun, page: DirtyPage, why: string): Promise<void> {
  run.result.givenUp++;
  logEvent("targeted.given_up", { pageId: page.id, reason: why }, "warn");
  await settle(run, page, [
    { op: "sadd", key: run.deps.keys.refetch(), members: [page.id] },
    { op: "del", key: run.wk.tries(page.id) },
  ]);
}

/** A page's failure, through the engine's failure policy; `tries` are its earlier failed attempts. */
export async function onPageError(run: TargetedRun, page: DirtyPage, tries: number, error: unknown): Promise<void> {
  await applyDecision(
    run,
    page,
    tries + 1,
    decideFailure(error, { attempts: tries + 1, maxAttempts: MAX_TRIES, stopping: shouldStop(run) }),
  );
}

export async function applyDecision(
  run: TargetedRun,
  page: DirtyPage,
  attempts: number,
  decision: FailureDecision,
): Promise<void> {
  if (decision.kind === "rate_limited") noteRateLimit(run, decision.error);
  else if (decision.kind === "retry") await run.deps.kv.set(run.wk.tries(page.id), attempts, { pxMs: TRIES_TTL_MS });
  else if (decision.kind === "give_up") await giveUp(run, page, `${decision.code}: ${decision.message.slice(0, 200)}`);
  else if (decision.kind === "fatal")
    run.result.error = {
      code: `notion_${decision.error.details.code ?? decision.error.kind}`,
      message: decision.error.message,
    };
}

/** The page's earlier failed attempts (`{p}:wh:tries:{id}`). */
export async function triesOf(run: TargetedRun, pageId: string): Promise<number> {
  const tries = await run.deps.kv.get<number>(run.wk.tries(pageId));
  return typeof tries === "number" ? tries : 0;
}

/** Pages a commit changed (recorded in its batch): revalidated now by draining the record, reported in the result. */
export function afterCommit(run: TargetedRun, section: Section, changed: ChangedPage[]): void {
  if (changed.length === 0) return;
  run.result.changed.push(...changed);
  const { kv, keys, revalidate } = run.deps;
  // One drain at a time: a later one takes what the earlier left (a failed call keeps its members).
  run.revalidations = run.revalidations
    .then(() => drainChangedPages(kv, keys, section, revalidate))
    .then(
      () => {},
      () => {},
    );
}
