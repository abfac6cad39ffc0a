/**
 * Everything one invocation's phases share: its dependencies, the cursor in
 * memory, and the one path by which anything is written (`commit`), which
 * always carries the cursor so that KV never holds data ahead of it or a
 * cursor ahead of its data.
 */
import type { KeyBuilder } from "../kv/keys";
import type { KvOp, KvStore } from "../kv/store";
import type { ContentFetcher } from "../notion/block-tree";
import type { NotionSource } from "../notion/source";
import type { Cursor } from "./cursor";
import type { Deadline } from "../core/deadline";
import type { Section } from "../core/sections";
import type { WorkList } from "./worklist";

export interface EngineSettings {
  concurrency: number;
  childDepth: number;
  /** The database a pages/posts section reads; unused by children. */
  databaseId?: string;
}

export interface EngineDeps {
  kv: KvStore;
  keys: KeyBuilder;
  notion: NotionSource;
  content: ContentFetcher;
  settings: EngineSettings;
  deadline: Deadline;
  now?: () => Date;
}

export interface RunContext extends EngineDeps {
  section: Section;
  cursor: Cursor;
  work: WorkList;
  now: () => Date;
  /** Stop starting new work: what is left of the budget is for finishing requests and the last commit. */
  shouldStop(): boolean;
  /** Writes `ops` and the cursor as `mutate` leaves it, atomically; commits run one at a time. */
  commit(mutate: (cursor: Cursor) => KvOp[] | void): Promise<void>;
  /** Items finished by this invocation. */
  processed: number;
  /** Set when Notion asked us to wait longer than the budget allows. */
  rateLimitedUntil: number | null;
}

export function createRunContext(deps: EngineDeps, section: Section, cursor: Cursor, work: WorkList): RunContext {
  const now = deps.now ?? (() => new Date());
  // Stop starting work with a tenth of the budget left (at most a second):
  // requests in flight are cut at the deadline by their own timeouts.
  const stopMarginMs = Math.min(1000, deps.deadline.budgetMs * 0.1);
  let queue: Promise<void> = Promise.resolve();
  const ctx: RunContext = {
    ...deps,
    section,
    cursor,
    work,
    now,
    processed: 0,
    rateLimitedUntil: null,
    shouldStop: () => deps.deadline.remaining() < stopMarginMs || ctx.rateLimitedUntil !== null,
    commit(mutate) {
      const run = queue.then(async () => {
        const draft = structuredClone(ctx.cursor);
        const ops = mutate(draft) ?? [];
        await deps.kv.atomic([...ops, { op: "set", key: deps.keys.cursor(section), value: draft }]);
        ctx.cursor = draft;
      });
      queue = run.catch(() => {});
      return run;
    },
  };
  return ctx;
}
