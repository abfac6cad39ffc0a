/**
 * One section's commits under its lease (the one section runs take), fenced
 * like every engine write: per page, its content through the configured
 * fetcher, then ONE atomic commit of the page write (lib/sync/page-write.ts),
 * the index chunk holding it and the manifest (updateEntryInPlace), the
 * index's id set, its read time, and the removal of exactly the dirty members
 * read (an event recorded meanwhile stays). A page that left the section is
 * removed from it the same way.
 */
import type { Section } from "../../core/sections";
import { deleteLarge } from "../../kv/large-value";
import * as shardedSet from "../../kv/sharded-set";
import type { KvOp } from "../../kv/store";
import { type ChunkCache, type IndexManifest, readManifest, updateEntryInPlace } from "../../mirror/section-index";
import { NotionSyncError } from "../../notion/errors";
import { completeProperties } from "../../notion/property-items";
import { unclaimedSlug } from "../../mirror/slug-rules";
import { indexChangedOp } from "../../sync/changed-pages";
import { type RunContext, createRunContext } from "../../sync/context";
import { isWritesRefused } from "../../sync/errors";
import { parseCursor, startCursor } from "../../sync/cursor";
import { counted } from "../../sync/failure-policy";
import { acquireLeaseWaiting } from "../../sync/lease";
import { copyPageFiles } from "../../sync/page-files";
import { pageWriteOps } from "../../sync/page-write";
import { claimSlugs } from "../../sync/slug-claims";
import type { LedgerEntry } from "../../sync/ledger";
import { type DirtyEntry, addDirtyOps, removeDirtyOps } from "../dirty";
import type { ChangedPage } from "../revalidate";
import { type Cursors, type PageAction, isLiveRun } from "./plan";
import {
  MAX_TRIES,
  READ_AT_TTL_MS,
  TARGETED_RUN_ID,
  type TargetedRun,
  afterCommit,
  applyDecision,
  defer,
  enqueueFound,
  onPageError,
  settle,
  shouldStop,
  triesOf,
} from "./state";
import { logEvent } from "../../core/log";
import { type Workspace, databaseSection } from "../../workspace/types";

/** Waiting for a section lease another invocation holds (it is released within its budget). */
const LEASE_WAIT_MS = 3000;

interface SectionState {
  run: TargetedRun;
  ctx: RunContext;
  manifest: IndexManifest | null;
  cache: ChunkCache;
}

export async function applySection(
  run: TargetedRun,
  section: Section,
  items: PageAction[],
  cursors: Cursors,
): Promise<void> {
  const { kv, keys, deadline } = run.deps;
  const lease = await acquireLeaseWaiting(
    kv,
    keys.lease(section),
    deadline.budgetMs,
    Math.min(LEASE_WAIT_MS, deadline.remaining() - run.stopMarginMs),
  );
  // A section invocation or another targeted run is working: the pages stay dirty and count as
  // left over, so a continuation comes back for them (deferred, if that holder is a full run).
  if (!lease) return;
  try {
    const loaded = parseCursor(await kv.get(keys.cursor(section)));
    const cursor = loaded.kind === "ok" ? loaded.cursor : null;
    if (isLiveRun(cursor)) {
      // Marked while the lease is held: that run cannot finish before the mark is there.
      await kv.atomic([{ op: "sadd", key: run.wk.deferred(), members: [section] }]);
      for (const item of items) defer(run, item.page, section);
      return;
    }
    cursors[section] = cursor;
    const spec = databaseSection(run.deps.workspace, section);
    const databaseId = spec && "databaseId" in spec.source ? spec.source.databaseId : undefined;
    const deps = { ...run.deps, settings: { ...run.deps.settings, databaseId } };
    const ctx = createRunContext(
      deps,
      section,
      cursor ?? startCursor(section, { force: false, previous: null, now: run.deps.now() }),
      lease.token,
    );
    const state: SectionState = { run, ctx, manifest: await readManifest(kv, keys, section), cache: new Map() };
    for (const item of items) {
      if (shouldStop(run)) break;
      await applyItem(state, item);
    }
  } finally {
    await lease.release().catch(() => {});
  }
}

async function applyItem(state: SectionState, item: PageAction): Promise<void> {
  try {
    if (item.kind === "upsert") await upsert(state, item);
    else await remove(state, item);
  } catch (error) {
    if (isWritesRefused(error)) throw error;
    if (NotionSyncError.is(error, "gone")) return remove(state, { ...item, kind: "remove" });
    await onPageError(state.run, item.page, await triesOf(state.run, item.page.id), error);
  }
}

async function upsert(state: SectionState, item: PageAction): Promise<void> {
  const { run, ctx } = state;
  const { kv, keys, notion } = run.deps;
  const section = ctx.section;
  const id = item.page.id;
  if (!state.manifest) {
    // The section was never indexed: its first full run will take the page.
    if (item.primary) {
      run.result.dropped++;
      await settle(run, item.page);
    }
    return;
  }
  const [ledger, hint, lastRead] = await kv.mget<unknown>([
    keys.entry(section, id),
    run.wk.chunkHint(section, id),
    run.wk.readAt(id),
  ]);
  const previousLedger = (ledger as LedgerEntry | null) ?? null;
  const previous = previousLedger?.entry ?? null;
  if (newerReadStored(previousLedger, item)) return skipOlderRead(state, item, lastRead);
  const slug =
    section === run.deps.workspace.children?.name
      ? unclaimedSlug(item.notionPage!, ctx.spec, previous)
      : (await claimSlugs(kv, keys, section, [{ row: item.notionPage!, previous }], ctx.spec)).get(id)!;
  const properties = await completeProperties(notion, item.notionPage!, { shouldStop: () => shouldStop(run) });
  if (!properties.done) return; // out of budget: stays dirty
  const fetched = await ctx.content.fetch(id, { shouldStop: () => shouldStop(run) });
  if (!fetched.done) {
    // Larger than what is left of this invocation: the next targeted run starts it again.
    const attempts = (await triesOf(run, id)) + 1;
    return applyDecision(
      run,
      item.page,
      attempts,
      counted({ attempts, maxAttempts: MAX_TRIES }, "too_long", "larger than one invocation"),
    );
  }
  // FILES_MIRROR: the page's files in the store first; out of budget, the page stays dirty (copies are kept).
  const files = ctx.files
    ? await copyPageFiles(ctx, properties.page, fetched.content, previousLedger, {
        shouldStop: () => shouldStop(run),
        counted: false,
      })
    : undefined;
  if (files === null) return;
  const written = pageWriteOps(keys, {
    section,
    spec: ctx.spec,
    page: properties.page,
    slug,
    content: fetched.content,
    placement: item.placement,
    ledger: previousLedger,
    runId: TARGETED_RUN_ID,
    mode: ctx.content.mode,
    now: run.deps.now(),
    clearRefetch: true,
    claimSlug: true,
    readAt: item.readStart,
    files,
  });
  const index = await updateEntryInPlace(
    kv,
    keys,
    state.manifest,
    { kind: "upsert", entry: written.entry },
    { cache: state.cache, hint: typeof hint === "string" ? hint : null, now: run.deps.now() },
  );
  const ops: KvOp[] = [...written.ops, ...index.ops];
  if (state.manifest.idsKey) ops.push(...shardedSet.saddOps(state.manifest.idsKey, [id]));
  if (index.chunkKey) ops.push({ op: "set", key: run.wk.chunkHint(section, id), value: index.chunkKey });
  await commitPage(
    state,
    item,
    ops,
    lastRead,
    written.slugs.map((s) => ({ section, slug: s })),
    followUps(item, previous, written.entry, childPagesMirrored(run.deps.workspace, section)),
  );
  state.manifest = index.manifest;
  run.result.fetched++;
}

/** Child pages that appeared or went, each looked at by this run too (its parent is the hint); a renamed child page's parent. */
function followUps(
  item: PageAction,
  previous: LedgerEntry["entry"],
  entry: NonNullable<LedgerEntry["entry"]>,
  withChildPages: boolean,
): DirtyEntry[] {
  const before = new Set(withChildPages ? (previous?.childPages ?? []) : []);
  const after = new Set(withChildPages ? entry.childPages : []);
  const moved = [...[...after].filter((c) => !before.has(c)), ...[...before].filter((c) => !after.has(c))];
  const found: DirtyEntry[] = moved.map((c) => ({ pageId: c, timestamp: item.readStart, parentHint: item.page.id }));
  // A renamed child page changes its parent's child_page block, not the parent's timestamp.
  if (previous && previous.title !== entry.title && entry.parentId)
    found.push({ pageId: entry.parentId, timestamp: item.readStart });
  return found;
}

/** Whether the section's pages have their child pages in the children section (or are child pages). */
function childPagesMirrored(workspace: Workspace, section: Section): boolean {
  const children = workspace.children;
  return children !== undefined && (section === children.name || children.parents.includes(section));
}

async function remove(state: SectionState, item: PageAction): Promise<void> {
  const { run, ctx } = state;
  const { kv, keys } = run.deps;
  const section = ctx.section;
  const id = item.page.id;
  const [ledger, lastRead] = (await kv.mget<unknown>([keys.entry(section, id), run.wk.readAt(id)])) as [
    LedgerEntry | null,
    unknown,
  ];
  if (newerReadStored(ledger, item)) return skipOlderRead(state, item, lastRead);
  const ops: KvOp[] = [];
  const changed: ChangedPage[] = [];
  const orphans: DirtyEntry[] = [];
  if (ledger) {
    ops.push({ op: "del", key: keys.entry(section, id) }, { op: "del", key: run.wk.chunkHint(section, id) });
    if (ledger.run?.outcome === "failed") ops.push({ op: "srem", key: keys.failedPages(section), members: [id] });
    if (ledger.entry) {
      ops.push(...deleteLarge(keys, keys.page(section, ledger.entry.slug), ledger.bundle));
      if (section !== run.deps.workspace.children?.name)
        ops.push({ op: "del", key: keys.slugOwner(section, ledger.entry.slug) });
      changed.push({ section, slug: ledger.entry.slug });
      // Its child pages are no longer reachable through it: each is looked at again.
      if (childPagesMirrored(run.deps.workspace, section))
        orphans.push(...ledger.entry.childPages.map((c) => ({ pageId: c, timestamp: item.readStart, parentHint: id })));
    }
  }
  if (state.manifest) {
    const hint = await kv.get<string>(run.wk.chunkHint(section, id));
    const index = await updateEntryInPlace(
      kv,
      keys,
      state.manifest,
      { kind: "remove", id },
      { cache: state.cache, hint, now: run.deps.now() },
    );
    ops.push(...index.ops);
    if (state.manifest.idsKey) ops.push(...shardedSet.sremOps(state.manifest.idsKey, [id]));
    state.manifest = index.manifest;
  }
  ops.push({ op: "srem", key: keys.refetch(), members: [id] });
  await commitPage(state, item, ops, lastRead, changed, orphans);
  if (changed.length > 0) run.result.removed++;
}

/**
 * The stored entry comes from a newer read than this item's (another targeted run read the
 * page after this one and committed first): this read must not replace it. Read under the
 * section's lease, which every writer of the entry holds, and committed under its fence:
 * nothing can change the entry in between.
 */
function newerReadStored(ledger: LedgerEntry | null, item: PageAction): boolean {
  if (ledger?.readAt && ledger.readAt > item.readStart) return true;
  const stored = ledger?.entry?.last_edited_time;
  const read = item.notionPage?.last_edited_time;
  return Boolean(stored && read && Date.parse(stored) > Date.parse(read));
}

/** Nothing of an older read is written; the dirty members it read are settled (the newer read covers them). */
async function skipOlderRead(state: SectionState, item: PageAction, lastRead: unknown): Promise<void> {
  logEvent(
    "targeted.older_read",
    { pageId: item.page.id, section: state.ctx.section, readStart: item.readStart },
    "warn",
  );
  if (!item.primary) return;
  await commitPage(state, item, [], lastRead, []);
  state.run.result.dropped++;
}

/**
 * Every targeted commit of a page: its ops, the pages it found to look at (dirty, and queued
 * for this run), and with its last item its dirty members and read time, in one fenced atomic batch.
 */
async function commitPage(
  state: SectionState,
  item: PageAction,
  ops: KvOp[],
  lastRead: unknown,
  changed: ChangedPage[],
  found: DirtyEntry[] = [],
): Promise<void> {
  ops.push(...addDirtyOps(state.run.wk.dirtyBase(), found));
  if (item.primary) ops.push(...finishOps(state.run, item, lastRead));
  // The pages' slugs, and the section's index (the in-place update changed it too), for revalidation.
  if (changed.length > 0)
    ops.push(
      {
        op: "sadd",
        key: state.ctx.keys.changedPages(state.ctx.section),
        members: [...new Set(changed.map((c) => c.slug))],
      },
      indexChangedOp(state.ctx.keys, state.ctx.section),
    );
  await state.ctx.write(ops);
  if (item.primary) state.run.settledIds.add(item.page.id);
  enqueueFound(state.run, found);
  afterCommit(state.run, state.ctx.section, changed);
}

/** What the page's last commit also writes: its dirty members go, its read time stays (never moving back). */
function finishOps(run: TargetedRun, item: PageAction, lastRead: unknown): KvOp[] {
  const ops: KvOp[] = [
    ...removeDirtyOps(run.wk.dirtyBase(), item.page),
    { op: "del", key: run.wk.tries(item.page.id) },
  ];
  if (typeof lastRead !== "string" || lastRead < item.readStart)
    ops.push({ op: "set", key: run.wk.readAt(item.page.id), value: item.readStart, pxMs: READ_AT_TTL_MS });
  return ops;
}
