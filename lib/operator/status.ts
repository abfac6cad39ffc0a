/**
 * Where a section stands, read from KV alone: what `GET /api/sync/status`,
 * the dashboard and `npm run kv:cursors` show. One shape for all three, so an
 * operator sees the same thing wherever they look (documented in docs/operations.md,
 * "Status API").
 */
import type { Section } from "../core/sections";
import type { KeyBuilder } from "../kv/keys";
import type { KvStore } from "../kv/store";
import { readManifest } from "../mirror/section-index";
import { type Cursor, type RunStatus, parseCursor } from "../sync/cursor";
import { leaseHolderDeadline } from "../sync/lease";
import { type ChainHealth, chainHealth } from "../sync/chain-health";
import { LINK_START_GRACE_MS } from "../orchestration/self-chain";
import { type ScheduledRun, parseScheduledRun, scheduledRunKey } from "../orchestration/scheduled-run";
import { type StartRequest, parseStartRequest, startRequestKey } from "../sync/start-requests";
import type { LedgerEntry } from "../sync/ledger";
import {
  type ListingSummary,
  type OperatorAction,
  type RunSummary,
  childCheckSummary,
  listingSummary,
  readActions,
  readHistory,
} from "../sync/run-history";

/** Failed pages listed per section (the count is exact; the list stops here). */
export const FAILED_PAGES_SHOWN = 50;

export interface RunProgress {
  /** Pages handled so far (fetched, unchanged, gone or given up). */
  done: number;
  /** Pages listed so far (final once listing is over). */
  total: number;
  /** 0–100, null while the total is still growing (listing). */
  percent: number | null;
}

export interface ActiveRun {
  runId: string;
  status: RunStatus;
  phase: Cursor["phase"];
  force: boolean;
  invocations: number;
  startedAt: string;
  finishedAt: string | null;
  progress: RunProgress;
  counts: Cursor["counts"];
  /** Why the run failed (Notion refused, QStash gave up). */
  error: Cursor["error"];
  /** The last error an invocation met and got past; with consecutiveErrors, what a stall is about. */
  lastError: Cursor["lastError"];
  consecutiveErrors: number;
  stalled: boolean;
  retryAt: string | null;
  rateLimit: Cursor["rateLimit"];
  held: Cursor["held"];
  chain: ChainStatus;
  listing: { pieces: number; windows: number };
  /** The overlap watermark: pages edited since this instant are re-read even if their timestamp looks unchanged. */
  since: string | null;
  /** Children: how this run checks the child pages it knows: by search since the watermark, or all of them (and why). */
  childCheck: RunSummary["childCheck"];
  /** Database sections: whether this run lists every row or only those edited since its watermark, and why (null until decided). */
  listingMode: ListingSummary | null;
}

/**
 * Who carries the run on: the successor the cursor records, and whether its carrier died
 * (`lost`: a link accepted but never started, a step that ended without handing over) until
 * the next invocation of any route relaunches it (`relaunchedAt`).
 */
export type ChainStatus = Partial<NonNullable<Cursor["chain"]>> & {
  state: ChainHealth["state"];
  lost: boolean;
  /** Why it is lost, parked or due. */
  reason: string | null;
  relaunchedAt: string | null;
};

export interface LeaseState {
  held: boolean;
  expiresAt: string | null;
  /** When its holder has finished at the latest; after that the lease was left by a dead invocation. */
  holderEndsBy: string | null;
  /** Held, but its holder has certainly ended: `--release-lease` may free it. */
  abandoned: boolean;
}

export interface FailedPage {
  id: string;
  error: string;
  runId: string | null;
  notionUrl: string;
  /** In the refetch set: the next run fetches it whatever its timestamp says. */
  queuedForRetry: boolean;
}

export interface SectionStatus {
  section: Section;
  run: ActiveRun | null;
  /** Set when the stored cursor could not be read (older release, damaged): the next call starts a new run. */
  cursorProblem: string | null;
  lease: LeaseState;
  /** Pages in the published index. */
  indexed: number;
  failedPages: { count: number; pages: FailedPage[] };
  /** The last runs, newest first (at most RUN_HISTORY_LENGTH). */
  runs: RunSummary[];
  /** Operator actions (reset, retry, lease release), newest first. */
  actions: OperatorAction[];
  /** A cron or manual call that met the held lease, waiting for its release to start a run (null: none). */
  queued: StartRequest | null;
  /** The run scheduled for the section's next publish date (lib/orchestration/scheduled-run.ts; null: none). */
  scheduled: ScheduledRun | null;
}

export function progressOf(cursor: Cursor): RunProgress {
  const c = cursor.counts;
  const total = c.listed;
  const done = Math.min(total, c.fetched + c.skipped + c.gone + c.failed);
  if (cursor.phase === "list") return { done, total, percent: null };
  if (cursor.phase === "done") return { done: total, total, percent: 100 };
  // Finalize: every page is handled, the index is being written.
  const percent = cursor.phase === "finalize" ? 99 : total === 0 ? 0 : Math.min(99, Math.floor((done / total) * 100));
  return { done, total, percent };
}

export function notionUrl(pageId: string): string {
  return `https://www.notion.so/${pageId.replace(/-/g, "")}`;
}

export async function readFailedPages(
  kv: KvStore,
  keys: KeyBuilder,
  section: Section,
  limit = FAILED_PAGES_SHOWN,
): Promise<SectionStatus["failedPages"]> {
  const [count, ids] = await Promise.all([
    kv.scard(keys.failedPages(section)),
    kv.srandmember(keys.failedPages(section), limit),
  ]);
  if (ids.length === 0) return { count, pages: [] };
  ids.sort();
  const [ledgers, queued] = await Promise.all([
    kv.mget<LedgerEntry>(ids.map((id) => keys.entry(section, id))),
    kv.smismember(keys.refetch(), ids),
  ]);
  return {
    count,
    pages: ids.map((id, i) => ({
      id,
      error: ledgers[i]?.run?.error ?? "given up",
      runId: ledgers[i]?.run?.id ?? null,
      notionUrl: notionUrl(id),
      queuedForRetry: queued[i],
    })),
  };
}

export async function readSectionStatus(
  kv: KvStore,
  keys: KeyBuilder,
  section: Section,
  options: { runId?: string; now?: number } = {},
): Promise<SectionStatus> {
  const now = options.now ?? Date.now();
  const [[rawCursor, leaseToken, rawRequest, rawScheduled], runs, actions, index, leaseMs, failedPages] =
    await Promise.all([
      kv.mget([
        keys.cursor(section),
        keys.lease(section),
        startRequestKey(keys, section),
        scheduledRunKey(keys, section),
      ]),
      readHistory(kv, keys, section),
      readActions(kv, keys, section),
      readManifest(kv, keys, section),
      kv.pttl(keys.lease(section)),
      readFailedPages(kv, keys, section),
    ]);
  const loaded = parseCursor(rawCursor);
  const cursor =
    loaded.kind === "ok" && (!options.runId || loaded.cursor.runId === options.runId) ? loaded.cursor : null;
  const endsBy = leaseHolderDeadline(leaseToken);
  const held = leaseToken !== null;
  return {
    section,
    run: cursor && activeRun(cursor, chainStatus(cursor, leaseToken, now)),
    cursorProblem: loaded.kind === "invalid" ? loaded.reason : null,
    lease: {
      held,
      expiresAt: held && leaseMs !== null ? new Date(now + leaseMs).toISOString() : null,
      holderEndsBy: held && endsBy !== null ? new Date(endsBy).toISOString() : null,
      abandoned: held && endsBy !== null && endsBy < now,
    },
    indexed: index?.total ?? 0,
    failedPages,
    runs: options.runId ? runs.filter((r) => r.runId === options.runId) : runs,
    actions: options.runId ? actions.filter((a) => a.runId === options.runId) : actions,
    queued: parseStartRequest(rawRequest),
    scheduled: parseScheduledRun(rawScheduled),
  };
}

export function chainStatus(cursor: Cursor, leaseToken: unknown, now: number): ChainStatus {
  const health = chainHealth(cursor, leaseToken, now, LINK_START_GRACE_MS);
  return {
    ...(cursor.chain ?? {}),
    state: health.state,
    lost: health.state === "lost",
    reason: "reason" in health ? health.reason : null,
    relaunchedAt: cursor.chain?.relaunchedAt ?? null,
  };
}

function activeRun(cursor: Cursor, chain: ChainStatus): ActiveRun {
  return {
    runId: cursor.runId,
    status: cursor.status,
    phase: cursor.phase,
    force: cursor.force,
    invocations: cursor.seq,
    startedAt: cursor.startedAt,
    finishedAt: cursor.finishedAt,
    progress: progressOf(cursor),
    counts: cursor.counts,
    error: cursor.error,
    lastError: cursor.lastError,
    consecutiveErrors: cursor.consecutiveErrors,
    stalled: cursor.status === "stalled",
    retryAt: cursor.retryAt,
    rateLimit: cursor.retryAt ? cursor.rateLimit : null,
    held: cursor.held,
    chain,
    listing: { pieces: cursor.list.pieces, windows: cursor.list.windows },
    since: cursor.since,
    childCheck: cursor.childCheck ? childCheckSummary(cursor.childCheck) : null,
    listingMode: cursor.listing ? listingSummary(cursor.listing) : null,
  };
}

/** The section's cursor exactly as stored, unvalidated (the inspection script's detail view); null when there is none. */
export function readStoredCursor(kv: KvStore, keys: KeyBuilder, section: Section): Promise<unknown> {
  return kv.get(keys.cursor(section));
}

/** A section needs attention: its run failed, stalled or lost its carrier (exit code 1 of the inspection script). */
export function needsAttention(status: SectionStatus): boolean {
  return status.run?.status === "failed" || status.run?.status === "stalled" || status.run?.chain.lost === true;
}

/** Webhooks (lib/webhooks/status.ts): the last event received, the dirty set's size, deferred sections, the token's state. */
export { type WebhookStatus, readWebhookStatus } from "../webhooks/status";
