/**
 * Everything one invocation's phases share: its dependencies, the cursor in
 * memory, and the two paths by which anything is written, one at a time:
 * `commit` (ops and the cursor, atomically: KV never holds a cursor ahead of
 * its data) and `write` (one page's ops, atomically, without the cursor: the
 * run's done set says the page is finished, so a page commit costs its own
 * bytes, not the cursor's). A write's counts go in its own batch as
 * keys.pendingCounts, which the next commit adds to the cursor: a kill loses
 * no count. A batch whose outcome is unknown (a timeout: it may still land)
 * ends the invocation's writes, as a lost lease does.
 */
import type { Deadline } from "../core/deadline";
import { CHILDREN_SECTION, ENV_SECTIONS, type Section } from "../core/sections";
import type { KeyBuilder } from "../kv/keys";
import type { KvOp, KvStore } from "../kv/store";
import type { FilesMirrorSettings } from "../files/store/types";
import type { ContentFetcher } from "../notion/block-tree";
import type { NotionSyncError, RateLimitScope } from "../notion/errors";
import type { NotionSource } from "../notion/source";
import { createContentFetcher } from "../notion/content-fetcher";
import { childrenSpec, databaseSpec } from "../workspace/resolve";
import { type SectionSpec, type Workspace, findSection } from "../workspace/types";
import { errorMessage, isKvSizeLimitError } from "../kv/codec";
import { KvClosedError, KvPreconditionError } from "../kv/errors";
import type { Cursor, Phase, RunCounts } from "./cursor";
import { LeaseLostError, WritesEndedError } from "./errors";

export interface EngineSettings {
  concurrency: number;
  childDepth: number;
  /** Hours between two full checks of the child pages (lib/sync/child-check.ts); default 24, 0: every run. */
  childFullCheckHours?: number;
  /** Hours between two full listings of a database section (lib/sync/listing-mode.ts); default 24, 0: every run. */
  fullListHours?: number;
  /** Largest share of a section's indexed pages one unforced run may remove (else it is held). */
  maxDeleteRatio: number;
  /** Invocations in a row that may meet errors without progress before the run shows as stalled. */
  stallAfter: number;
}

export interface EngineDeps {
  kv: KvStore;
  keys: KeyBuilder;
  notion: NotionSource;
  content: ContentFetcher;
  settings: EngineSettings;
  deadline: Deadline;
  now?: () => Date;
  /** Where a section's full refetch mark lives (lib/sync/full-refetch.ts); none: no marks. */
  fullRefetchKey?: (section: Section) => string;
  /** The section this invocation serves (lib/runtime.ts engineDeps: the runtime's spec). */
  spec?: SectionSpec;
  /** The configured sections: the children walk reads its parents' specs here. */
  workspace?: Workspace;
  /** FILES_MIRROR: where hosted files are copied at sync time; absent or null: not copied (the file route serves them). */
  files?: FilesMirrorSettings | null;
}

/** Counts of this invocation not yet added to the cursor (added by the next commit that carries them). */
export type Tally = Pick<
  RunCounts,
  "fetched" | "skipped" | "gone" | "failed" | "blocks" | "filesUploaded" | "bytesUploaded" | "filesTooLarge"
>;
export const emptyTally = (): Tally => ({
  fetched: 0,
  skipped: 0,
  gone: 0,
  failed: 0,
  blocks: 0,
  filesUploaded: 0,
  bytesUploaded: 0,
  filesTooLarge: 0,
});

/** What keys.pendingCounts holds: counts of `runId` written with page commits, not yet in its cursor. */
interface PendingCounts {
  runId: string;
  counts: Partial<Tally>;
}

function addTally(into: Tally, counts: Partial<Tally> | undefined): Tally {
  const out = { ...into };
  for (const [name, n] of Object.entries(counts ?? {})) out[name as keyof Tally] += n ?? 0;
  return out;
}

/** Errors after which the batch is known not to have been applied. */
function notApplied(error: unknown): boolean {
  return error instanceof KvPreconditionError || error instanceof KvClosedError || isKvSizeLimitError(error);
}

export interface RunContext extends EngineDeps {
  section: Section;
  /** What the section is: its source, filter, content mode, slug and index options (or its parents, for children). */
  spec: SectionSpec;
  cursor: Cursor;
  now: () => Date;
  /** Stop starting new work: what is left of the budget is for finishing requests and the last commit. */
  shouldStop(): boolean;
  /** Writes `ops` and the cursor as `mutate` leaves it (with `counts` added), atomically; commits run one at a time. */
  commit(mutate: (cursor: Cursor) => KvOp[] | void, counts?: Partial<Tally>): Promise<void>;
  /** Writes `ops` atomically, in the same queue as commits, without the cursor; `counts` go to keys.pendingCounts in the same batch. */
  write(ops: KvOp[], counts?: Partial<Tally>): Promise<void>;
  /** Items finished by this invocation. */
  processed: number;
  /** Counts written with this invocation's writes (keys.pendingCounts) and not yet in the cursor. */
  tally: Tally;
  /** The last error this invocation met and got past (it ends up in the cursor and the answer). */
  lastError: { code: string; message: string } | null;
  /** The run's position when the invocation began (see engine progressMark). */
  startMark: string;
  /** The run's phase when the invocation began: a sync phase begun here finds no done marks of earlier invocations. */
  startPhase: Phase;
  /** Set when Notion asked us to wait longer than the budget allows. */
  rateLimitedUntil: number | null;
  /** Which of Notion's limits asked it (see RateLimitScope). */
  rateLimitScope: RateLimitScope | null;
  /** Notion said 429 (or the pacer is paused by one): stop starting work until `Retry-After` has passed. */
  noteRateLimit(error: NotionSyncError): void;
}

/**
 * `leaseToken` fences every write: each batch carries a `require` op on the
 * lease, so a commit from an invocation whose lease expired and was taken
 * (an orphan still running on Fluid compute) writes nothing, and its workers stop.
 */
export function createRunContext(
  deps: EngineDeps,
  section: Section,
  cursor: Cursor,
  leaseToken: string,
  spec: SectionSpec = sectionSpec(deps, section),
): RunContext {
  const now = deps.now ?? (() => new Date());
  // Stop starting work with a tenth of the budget left (≤ 1 s): requests in flight end by their own timeouts.
  const stopMarginMs = Math.min(1000, deps.deadline.budgetMs * 0.1);
  const batches = createFencedQueue(deps, section, leaseToken);
  const carried = createCarriedCounts(deps, section);
  const ctx: RunContext = {
    ...deps,
    content: contentOf(deps, spec),
    section,
    spec,
    cursor,
    now,
    processed: 0,
    tally: emptyTally(),
    lastError: null,
    startMark: "",
    startPhase: cursor.phase,
    rateLimitedUntil: null,
    rateLimitScope: null,
    noteRateLimit: (error) => noteRateLimit(ctx, error),
    shouldStop: () => batches.refused() || deps.deadline.remaining() < stopMarginMs || ctx.rateLimitedUntil !== null,
    commit(mutate, counts) {
      return batches.enqueue(async () => {
        const draft = structuredClone(ctx.cursor);
        const added = await carried.addTo(addTally(ctx.tally, counts), draft.runId);
        for (const [name, n] of Object.entries(added)) draft.counts[name as keyof Tally] += n;
        const ops = mutate(draft) ?? [];
        await batches.atomic([
          ...ops,
          { op: "set", key: deps.keys.cursor(section), value: draft },
          { op: "del", key: carried.key },
        ]);
        ctx.cursor = draft;
        ctx.tally = emptyTally();
        carried.taken();
      });
    },
    write(ops, counts) {
      return batches.enqueue(async () => {
        const counted = Object.values(counts ?? {}).some((n) => n > 0);
        if (!counted) return batches.atomic(ops);
        const tally = await carried.addTo(addTally(ctx.tally, counts), ctx.cursor.runId);
        await batches.atomic([
          ...ops,
          { op: "set", key: carried.key, value: { runId: ctx.cursor.runId, counts: tally } satisfies PendingCounts },
        ]);
        ctx.tally = tally;
        carried.taken();
      });
    },
  };
  return ctx;
}

function noteRateLimit(ctx: RunContext, error: NotionSyncError): void {
  const until = Date.now() + (error.details.retryAfterMs ?? 1000);
  if (until > (ctx.rateLimitedUntil ?? 0)) {
    ctx.rateLimitedUntil = until;
    ctx.rateLimitScope = error.details.rateLimitScope ?? ctx.rateLimitScope ?? "unknown";
  }
}

/** The section's own content fetcher: one set of deps may serve sections of several modes (targeted runs). */
function contentOf(deps: EngineDeps, spec: SectionSpec): EngineDeps["content"] {
  return (deps.content.mode ?? "blocks") === spec.content
    ? deps.content
    : createContentFetcher(spec.content, deps.notion);
}

/**
 * The section's spec: the deps' when it is this section's, else the workspace's, else the
 * spec a deployment without a config file has (deps built by hand name only the section).
 */
export function sectionSpec(deps: EngineDeps, section: Section): SectionSpec {
  if (deps.spec?.name === section) return deps.spec;
  const configured = deps.workspace ? findSection(deps.workspace, section) : undefined;
  if (configured) return configured;
  const content = deps.content.mode ?? "blocks";
  const { childDepth } = deps.settings;
  if (section === CHILDREN_SECTION)
    return childrenSpec([...ENV_SECTIONS], content === "none" ? "blocks" : content, childDepth);
  return databaseSpec(
    section,
    { databaseId: "" },
    section,
    { children: true, content },
    { content: "blocks", childDepth },
  );
}

/** Batches fenced by the lease token, run one at a time; refused once the lease is lost or an outcome is unknown. */
interface FencedQueue {
  atomic(ops: KvOp[]): Promise<void>;
  enqueue(job: () => Promise<void>): Promise<void>;
  refused(): boolean;
}

function createFencedQueue(deps: EngineDeps, section: Section, leaseToken: string): FencedQueue {
  let queue: Promise<void> = Promise.resolve();
  let leaseLost = false;
  let unknownOutcome: string | null = null;
  const fence: KvOp = { op: "require", key: deps.keys.lease(section), equals: leaseToken };
  return {
    refused: () => leaseLost || unknownOutcome !== null,
    async atomic(ops) {
      if (leaseLost) throw new LeaseLostError(deps.keys.lease(section));
      if (unknownOutcome) throw new WritesEndedError(unknownOutcome);
      try {
        await deps.kv.atomic([fence, ...ops]);
      } catch (error) {
        if (!notApplied(error)) unknownOutcome ??= errorMessage(error).slice(0, 200);
        if (!(error instanceof KvPreconditionError)) throw error;
        leaseLost = true;
        throw new LeaseLostError(deps.keys.lease(section));
      }
    },
    enqueue(job) {
      const run = queue.then(job);
      queue = run.catch(() => {});
      return run;
    },
  };
}

/**
 * The previous invocation's pending counts (keys.pendingCounts): added by this
 * one's first batch that carries counts; after that batch, none are left to read.
 */
function createCarriedCounts(
  deps: EngineDeps,
  section: Section,
): { key: string; addTo(tally: Tally, runId: string): Promise<Tally>; taken(): void } {
  const key = deps.keys.pendingCounts(section);
  let pendingRead = false;
  return {
    key,
    async addTo(tally, runId) {
      if (pendingRead) return tally;
      const pending = await deps.kv.get<PendingCounts>(key);
      return pending?.runId === runId ? addTally(tally, pending.counts) : tally;
    },
    taken: () => void (pendingRead = true),
  };
}
