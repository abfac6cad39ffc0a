/**
 * Targeted runs: re-sync only the pages webhook events named (the dirty set,
 * lib/webhooks/dirty.ts), without a full list (README, "Near real time").
 *
 * Per dirty page, oldest event first:
 * 1. dropped without a request when its newest event is older than its last
 *    read: by a targeted run (`{p}:wh:read:{id}`), or by a completed full run
 *    of a section holding it (that run started after the event, so it listed
 *    the page as the event left it);
 * 2. one `pages.retrieve`: its state (trashed, 404: gone) and its parent,
 *    which gives its section: a row of the pages or posts database, or a
 *    child page of a mirrored page (depth + 1, to SYNC_CHILD_DEPTH);
 * 3. under that section's lease (the same one section runs take), fenced like
 *    every engine write: its content through the configured fetcher (block
 *    tree or markdown), then ONE atomic commit of its bundle, ledger entry,
 *    slug claim, the index chunk holding it and the manifest
 *    (updateEntryInPlace), the index's id set, its read time, and the removal
 *    of exactly the dirty members read (an event recorded meanwhile stays);
 *    a page that left a section (deleted, trashed, unshared, moved to another
 *    database or parent) is removed from it the same way;
 * 4. after each commit that changed pages, revalidation of their tags.
 *
 * With a full run of the page's section live (running, stalled, failed: not
 * finished), the page is left dirty and the section is marked deferred: that
 * run's finalize rebuilds the index from its own pieces and its ledger reads,
 * so an in-place update made meanwhile could be overwritten or an added page
 * dropped. When the run finishes, lib/http/sync-route.ts schedules a targeted
 * run for what was deferred, whose events the finished run may already cover
 * (then they are dropped without a request). Neither loses the edit: if the
 * full run listed the page after the edit, it fetched it; if before, the page
 * is still dirty.
 *
 * Errors follow the engine's classes: a 429 stops the run (the shared pause
 * is recorded, the rest stays dirty, the continuation is scheduled after
 * Retry-After); transient failures leave the page dirty (3 attempts, then the
 * next scheduled run takes it through the refetch set); a 400 on the page or
 * a value too large for KV leaves it to the next scheduled run; 401/403 stop
 * the run with the reason. Pacing is the integration's shared pacer.
 */
import pLimit from "p-limit";
import { BudgetExhaustedError } from "../core/deadline";
import { SECTIONS, type Section } from "../core/sections";
import { PLAIN, deleteLarge, writeLarge } from "../kv/large-value";
import * as shardedSet from "../kv/sharded-set";
import type { KvOp, KvStore } from "../kv/store";
import { type ChunkCache, type IndexManifest, readManifest, updateEntryInPlace } from "../mirror/section-index";
import type { IndexEntry } from "../mirror/shapes";
import type { FetchedContent } from "../notion/block-tree";
import { NotionSyncError } from "../notion/errors";
import { completeProperties } from "../notion/property-items";
import { type NotionPage, isTrashed, normalizeId } from "../notion/types";
import { type Runtime, engineDeps } from "../runtime";
import { type DirtyPage, addDirtyOps, canonicalId, readDirty, removeDirtyOps } from "../webhooks/dirty";
import { type WebhookKeys, webhookKeys } from "../webhooks/keys";
import type { ChangedPage, Revalidator } from "../webhooks/revalidate";
import { buildBundle, indexEntryFor, unclaimedSlug } from "./bundle";
import { type FailureDecision, counted, decideFailure } from "./failure-policy";
import { pageWriteOps } from "./page-write";
import { claimSlugs } from "./slug-claims";
import { type RunContext, createRunContext } from "./context";
import { type Cursor, isCompleted, isFinished, parseCursor, startCursor } from "./cursor";
import { LeaseLostError, acquireLeaseWaiting } from "./lease";
import { type LedgerEntry, modeField } from "./worklist";

/** An event this much older than the page's last read is covered by that read (clock skew, Notion's own lag). */
export const READ_MARGIN_MS = 2000;
/** How long a page's read time is kept: Notion redelivers for about 24 h. */
const READ_AT_TTL_MS = 48 * 3600_000;
const TRIES_TTL_MS = 3600_000;
const MAX_TRIES = 3;
/** Dirty pages handled per read of the dirty set. */
const BATCH = 50;
/** Waiting for a section lease another invocation holds (it is released within its budget). */
const LEASE_WAIT_MS = 3000;
/** The ledger's `run.id` of pages a targeted run wrote (never a real run id). */
export const TARGETED_RUN_ID = "webhook";

export interface TargetedRunOptions {
  runtime: Runtime;
  /** When the invocation began: the budget is measured from it. */
  startedAt: number;
  budgetMs: number;
  revalidate: Revalidator;
  now?: () => Date;
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

type Placement = Pick<IndexEntry, "parentId" | "depth">;

interface Item {
  kind: "upsert" | "remove";
  page: DirtyPage;
  notionPage: NotionPage | null;
  placement: Placement;
  /** Owns the dirty members' removal and the read time (the page's last item). */
  primary: boolean;
  readStart: string;
}

export async function runTargeted(options: TargetedRunOptions): Promise<TargetedRunResult> {
  const { runtime, revalidate } = options;
  const now = options.now ?? (() => new Date());
  const deps = engineDeps(runtime, "children", options.startedAt, options.budgetMs);
  const { kv, keys, notion, deadline } = deps;
  const wk = webhookKeys(keys);
  const childDepth = runtime.settings.childDepth;
  const databases: Partial<Record<Section, string>> = { pages: runtime.notionSettings.pagesDatabaseId, posts: runtime.notionSettings.postsDatabaseId };
  const result: TargetedRunResult = {
    pages: 0, fetched: 0, removed: 0, dropped: 0, deferred: 0, deferredSections: [], givenUp: 0,
    notionRequests: 0, leftover: 0, rateLimitedUntil: null, error: null, changed: [], elapsedMs: 0,
  };
  const stopMarginMs = Math.min(1000, deadline.budgetMs * 0.1);
  const shouldStop = () => deadline.remaining() < stopMarginMs || result.rateLimitedUntil !== null || result.error !== null;
  const seen = new Set<string>();
  const deferredIds = new Set<string>();
  const deferredSections = new Set<Section>();
  const revalidations: Promise<void>[] = [];

  const noteRateLimit = (error: NotionSyncError) => {
    const until = Date.now() + (error.details.retryAfterMs ?? 1000);
    result.rateLimitedUntil = Math.max(result.rateLimitedUntil ?? 0, until);
  };
  const defer = (page: DirtyPage, section: Section) => {
    deferredIds.add(page.id);
    deferredSections.add(section);
  };
  /** Plain (unfenced) bookkeeping: dirty members handled without touching the mirror. */
  const settle = (page: DirtyPage, extra: KvOp[] = []) => kv.atomic([...removeDirtyOps(wk.dirtyBase(), page), ...extra]);
  const giveUp = async (page: DirtyPage, why: string) => {
    result.givenUp++;
    logTargeted("targeted.given_up", { pageId: page.id, reason: why });
    // The next scheduled run re-reads it whatever its timestamp (the engine's refetch set).
    await settle(page, [{ op: "sadd", key: keys.refetch(), members: [page.id] }, { op: "del", key: wk.tries(page.id) }]);
  };

  const pause = await kv.get<{ until?: number }>(keys.notionPause());
  if (pause && typeof pause.until === "number" && pause.until > Date.now()) result.rateLimitedUntil = pause.until;

  try {
    while (!shouldStop()) {
      const { pages, junk } = await readDirty(kv, wk.dirtyBase());
      if (junk.length > 0) await kv.atomic(junk.map((j): KvOp => ({ op: "srem", key: j.key, members: j.members })));
      const todo = pages.filter((p) => !seen.has(p.id)).slice(0, BATCH);
      if (todo.length === 0) break;
      for (const p of todo) seen.add(p.id);
      result.pages += todo.length;
      await handleBatch(todo);
    }
  } catch (error) {
    if (!(error instanceof LeaseLostError || error instanceof BudgetExhaustedError)) throw error;
  } finally {
    if (deferredSections.size > 0) await kv.atomic([{ op: "sadd", key: wk.deferred(), members: [...deferredSections] }]).catch(() => {});
    await Promise.all(revalidations);
  }
  if (result.rateLimitedUntil && result.rateLimitedUntil > Date.now()) {
    await kv.set(keys.notionPause(), { until: result.rateLimitedUntil, scope: "unknown" }, { pxMs: Math.ceil(result.rateLimitedUntil - Date.now()) }).catch(() => {});
  }
  const left = await readDirty(kv, wk.dirtyBase());
  result.leftover = left.pages.filter((p) => !deferredIds.has(p.id)).length;
  result.deferred = deferredIds.size;
  result.deferredSections = [...deferredSections];
  result.notionRequests = Object.values(notion.requests).reduce((a, b) => a + b, 0);
  result.elapsedMs = Date.now() - options.startedAt;
  return result;

  // ---------------------------------------------------------------- one batch

  async function handleBatch(todo: DirtyPage[]): Promise<void> {
    const cursors = await readCursors(kv, keys.cursor);
    const perPage = 5;
    const values = await kv.mget<unknown>(
      todo.flatMap((p) => [wk.readAt(p.id), keys.entry("pages", p.id), keys.entry("posts", p.id), keys.entry("children", p.id), wk.tries(p.id)]),
    );
    const toRetrieve: { page: DirtyPage; known: Section[]; tries: number }[] = [];
    for (const [i, page] of todo.entries()) {
      const [readAt, ...rest] = values.slice(i * perPage, i * perPage + perPage);
      const ledgers = rest.slice(0, 3) as (LedgerEntry | null)[];
      const tries = typeof rest[3] === "number" ? rest[3] : 0;
      const known = SECTIONS.filter((_, s) => ledgers[s]?.entry);
      const covered = Math.max(typeof readAt === "string" ? Date.parse(readAt) : 0, ...known.map((s) => coveredBy(cursors[s])));
      if (page.newest < covered - READ_MARGIN_MS) {
        result.dropped++;
        await settle(page);
        continue;
      }
      const live = known.find((s) => isLiveRun(cursors[s]));
      if (live) {
        defer(page, live);
        continue;
      }
      toRetrieve.push({ page, known, tries });
    }

    // One pages.retrieve each: state and parent.
    const limit = pLimit(runtime.settings.concurrency);
    const retrieved = await Promise.all(
      toRetrieve.map((t) =>
        limit(async () => {
          if (shouldStop()) return null;
          const readStart = now().toISOString();
          try {
            return { ...t, readStart, notionPage: await notion.retrievePage(t.page.id) };
          } catch (error) {
            if (NotionSyncError.is(error, "gone")) return { ...t, readStart, notionPage: null };
            await onNotionError(t.page, t.tries, error);
            return null;
          }
        }),
      ),
    );

    const bySection = new Map<Section, Item[]>();
    const parentCache = new Map<string, Placement | null>();
    for (const r of retrieved) {
      if (!r) continue;
      const target = r.notionPage && !isTrashed(r.notionPage) ? await placeOf(r.notionPage, r.page, r.known, parentCache) : null;
      if (target === "unknown") {
        // Inside a block of a page we cannot place without more requests: the children run finds it.
        result.dropped++;
        await settle(r.page);
        continue;
      }
      if (target && isLiveRun(cursors[target.section])) {
        defer(r.page, target.section);
        continue;
      }
      const items: { section: Section; item: Item }[] = [];
      for (const section of r.known) {
        if (section !== target?.section) items.push({ section, item: { kind: "remove", page: r.page, notionPage: r.notionPage, placement: {}, primary: false, readStart: r.readStart } });
      }
      if (target) items.push({ section: target.section, item: { kind: "upsert", page: r.page, notionPage: r.notionPage, placement: target.placement, primary: false, readStart: r.readStart } });
      if (items.length === 0) {
        // Not mirrored, and never was (another database, a page outside every mirrored parent).
        result.dropped++;
        await settle(r.page, [{ op: "set", key: wk.readAt(r.page.id), value: r.readStart, pxMs: READ_AT_TTL_MS }]);
        continue;
      }
      items[items.length - 1].item.primary = true;
      for (const { section, item } of items) bySection.set(section, [...(bySection.get(section) ?? []), item]);
    }
    for (const section of SECTIONS) {
      const items = bySection.get(section);
      if (items && !shouldStop()) await handleSection(section, items, cursors);
    }
  }

  async function onNotionError(page: DirtyPage, tries: number, error: unknown): Promise<void> {
    await applyDecision(page, tries + 1, decideFailure(error, { attempts: tries + 1, maxAttempts: MAX_TRIES, stopping: shouldStop() }));
  }

  async function applyDecision(page: DirtyPage, attempts: number, decision: FailureDecision): Promise<void> {
    if (decision.kind === "rate_limited") noteRateLimit(decision.error);
    else if (decision.kind === "retry") await kv.set(wk.tries(page.id), attempts, { pxMs: TRIES_TTL_MS });
    else if (decision.kind === "give_up") await giveUp(page, `${decision.code}: ${decision.message.slice(0, 200)}`);
    else if (decision.kind === "fatal") result.error = { code: `notion_${decision.error.details.code ?? decision.error.kind}`, message: decision.error.message };
  }

  /** The section and placement the page belongs in now; null when nothing mirrored holds it; "unknown" when it cannot tell cheaply. */
  async function placeOf(page: NotionPage, dirty: DirtyPage, known: Section[], cache: Map<string, Placement | null>): Promise<{ section: Section; placement: Placement } | null | "unknown"> {
    const parent = page.parent as { type: string; database_id?: string; page_id?: string; block_id?: string };
    if (parent.type === "data_source_id" || parent.type === "database_id") {
      const db = normalizeId(parent.database_id ?? "");
      for (const section of ["pages", "posts"] as const) {
        if (databases[section] && normalizeId(databases[section]!) === db) return { section, placement: {} };
      }
      return null;
    }
    let parentId: string | null = null;
    if (parent.type === "page_id" && parent.page_id) parentId = parent.page_id;
    else if (parent.type === "block_id") {
      if (dirty.parentHint) parentId = dirty.parentHint;
      else if (known.includes("children")) {
        const ledger = await kv.get<LedgerEntry>(keys.entry("children", dirty.id));
        if (ledger?.entry?.depth) return { section: "children", placement: { parentId: ledger.entry.parentId, depth: ledger.entry.depth } };
      } else return "unknown";
    }
    if (!parentId) return null;
    const placement = await placementUnder(parentId, cache);
    return placement ? { section: "children", placement } : null;
  }

  /** A child page of `parentId` sits at its depth + 1 when the parent is mirrored (and that is within SYNC_CHILD_DEPTH). */
  async function placementUnder(parentId: string, cache: Map<string, Placement | null>): Promise<Placement | null> {
    const id = canonicalId(parentId);
    if (cache.has(id)) return cache.get(id)!;
    const [inPages, inPosts, inChildren] = await kv.mget<LedgerEntry>(SECTIONS.map((s) => keys.entry(s, id)));
    let placement: Placement | null = null;
    if (inPages?.entry || inPosts?.entry) placement = { parentId: (inPages?.entry ?? inPosts!.entry!).id, depth: 1 };
    else if (inChildren?.entry?.depth && inChildren.entry.depth + 1 <= childDepth) placement = { parentId: inChildren.entry.id, depth: inChildren.entry.depth + 1 };
    if (placement && childDepth < 1) placement = null;
    cache.set(id, placement);
    return placement;
  }

  // ---------------------------------------------------------------- one section, under its lease

  async function handleSection(section: Section, items: Item[], cursors: Record<Section, Cursor | null>): Promise<void> {
    const lease = await acquireLeaseWaiting(kv, keys.lease(section), deadline.budgetMs, Math.min(LEASE_WAIT_MS, deadline.remaining() - stopMarginMs));
    if (!lease) {
      // A section invocation or another targeted run is working: the pages stay dirty and count as
      // left over, so a continuation comes back for them (deferred, if that holder is a full run).
      return;
    }
    try {
      const loaded = parseCursor(await kv.get(keys.cursor(section)));
      const cursor = loaded.kind === "ok" ? loaded.cursor : null;
      if (isLiveRun(cursor)) {
        for (const item of items) defer(item.page, section);
        return;
      }
      cursors[section] = cursor;
      const manifest = await readManifest(kv, keys, section);
      const ctx = createRunContext(
        { ...deps, settings: { ...deps.settings, databaseId: databases[section] } },
        section,
        cursor ?? startCursor(section, { force: false, previous: null, now: now() }),
        lease.token,
      );
      const state: SectionState = { ctx, manifest, cache: new Map() };
      for (const item of items) {
        if (shouldStop()) break;
        try {
          if (item.kind === "upsert") await upsert(state, item);
          else await remove(state, item);
        } catch (error) {
          if (error instanceof LeaseLostError) throw error;
          if (NotionSyncError.is(error, "gone")) {
            await remove(state, { ...item, kind: "remove" });
            continue;
          }
          const tries = (await kv.get<number>(wk.tries(item.page.id))) ?? 0;
          await onNotionError(item.page, typeof tries === "number" ? tries : 0, error);
        }
      }
    } finally {
      await lease.release().catch(() => {});
    }
  }

  interface SectionState {
    ctx: RunContext;
    manifest: IndexManifest | null;
    cache: ChunkCache;
  }

  async function upsert(state: SectionState, item: Item): Promise<void> {
    const { ctx } = state;
    const section = ctx.section;
    const id = item.page.id;
    if (!state.manifest) {
      // The section was never indexed: its first full run will take the page.
      if (item.primary) {
        result.dropped++;
        await settle(item.page);
      }
      return;
    }
    const [ledger, hint] = await kv.mget<unknown>([keys.entry(section, id), wk.chunkHint(section, id)]);
    const previousLedger = (ledger as LedgerEntry | null) ?? null;
    const previous = previousLedger?.entry ?? null;
    let page = item.notionPage!;
    const slug = section === "children" ? unclaimedSlug(page, section, previous) : (await claimSlugs(kv, keys, section, [{ row: page, previous }])).get(page.id)!;

    const properties = await completeProperties(notion, page, { shouldStop });
    if (!properties.done) return; // out of budget: stays dirty
    page = properties.page;
    const fetched = await ctx.content.fetch(page.id, { shouldStop });
    if (!fetched.done) {
      // Larger than what is left of this invocation: the next targeted run starts it again.
      const tries = (await kv.get<number>(wk.tries(id))) ?? 0;
      const attempts = (typeof tries === "number" ? tries : 0) + 1;
      await applyDecision(item.page, attempts, counted({ attempts, maxAttempts: MAX_TRIES }, "too_long", "larger than one invocation"));
      return;
    }
    const written = pageWriteOps(keys, {
      section,
      page,
      slug,
      content: fetched.content,
      placement: item.placement,
      ledger: previousLedger,
      runId: TARGETED_RUN_ID,
      mode: ctx.content.mode,
      now: now(),
      clearRefetch: true,
      claimSlug: true,
    });
    const { entry, childIds } = written;
    const ops: KvOp[] = [...written.ops];
    const changed: ChangedPage[] = written.slugs.map((slug) => ({ section, slug }));
    // Child pages that appeared or went: each is looked at by this run too (its parent is the hint).
    const before = new Set(previous?.childPages ?? []);
    const after = new Set(childIds);
    const moved = [...childIds.filter((c) => !before.has(c)), ...[...before].filter((c) => !after.has(c))];
    const followUps: { pageId: string; timestamp: string; parentHint?: string | null }[] = moved.map((c) => ({ pageId: c, timestamp: item.readStart, parentHint: id }));
    // A renamed child page changes its parent's child_page block, not the parent's timestamp.
    if (previous && previous.title !== entry.title && entry.parentId) followUps.push({ pageId: entry.parentId, timestamp: item.readStart });
    ops.push(...addDirtyOps(wk.dirtyBase(), followUps));

    const index = await updateEntryInPlace(kv, keys, state.manifest, { kind: "upsert", entry }, { cache: state.cache, hint: typeof hint === "string" ? hint : null, now: now() });
    ops.push(...index.ops);
    if (state.manifest.idsKey) ops.push(...shardedSet.saddOps(state.manifest.idsKey, [id]));
    if (index.chunkKey) ops.push({ op: "set", key: wk.chunkHint(section, id), value: index.chunkKey });
    if (item.primary) ops.push(...finishOps(wk, item));
    await ctx.write(ops);
    state.manifest = index.manifest;
    result.fetched++;
    afterCommit(changed);
  }

  async function remove(state: SectionState, item: Item): Promise<void> {
    const { ctx } = state;
    const section = ctx.section;
    const id = item.page.id;
    const ledger = await kv.get<LedgerEntry>(keys.entry(section, id));
    const ops: KvOp[] = [];
    const changed: ChangedPage[] = [];
    if (ledger) {
      ops.push({ op: "del", key: keys.entry(section, id) }, { op: "del", key: wk.chunkHint(section, id) });
      if (ledger.run?.outcome === "failed") ops.push({ op: "srem", key: keys.failedPages(section), members: [id] });
      if (ledger.entry) {
        ops.push(...deleteLarge(keys, keys.page(section, ledger.entry.slug), ledger.bundle));
        if (section !== "children") ops.push({ op: "del", key: keys.slugOwner(section, ledger.entry.slug) });
        changed.push({ section, slug: ledger.entry.slug });
        // Its child pages are no longer reachable through it: each is looked at again.
        ops.push(...addDirtyOps(wk.dirtyBase(), ledger.entry.childPages.map((c) => ({ pageId: c, timestamp: item.readStart, parentHint: id }))));
      }
    }
    if (state.manifest) {
      const hint = await kv.get<string>(wk.chunkHint(section, id));
      const index = await updateEntryInPlace(kv, keys, state.manifest, { kind: "remove", id }, { cache: state.cache, hint, now: now() });
      ops.push(...index.ops);
      if (state.manifest.idsKey) ops.push(...shardedSet.sremOps(state.manifest.idsKey, [id]));
      state.manifest = index.manifest;
    }
    ops.push({ op: "srem", key: keys.refetch(), members: [id] });
    if (item.primary) ops.push(...finishOps(wk, item));
    await ctx.write(ops);
    if (changed.length > 0) result.removed++;
    afterCommit(changed);
  }

  function afterCommit(changed: ChangedPage[]): void {
    if (changed.length === 0) return;
    result.changed.push(...changed);
    revalidations.push(revalidate(changed).catch(() => {}));
  }
}

/** What the page's last commit also writes: its dirty members go, its read time stays. */
function finishOps(wk: WebhookKeys, item: Item): KvOp[] {
  return [
    ...removeDirtyOps(wk.dirtyBase(), item.page),
    { op: "set", key: wk.readAt(item.page.id), value: item.readStart, pxMs: READ_AT_TTL_MS },
    { op: "del", key: wk.tries(item.page.id) },
  ];
}

/** A full run of the section that has not finished (running, stalled, failed): its finalize would rewrite the index. */
function isLiveRun(cursor: Cursor | null): boolean {
  return cursor !== null && !isFinished(cursor);
}

/** The start of the section's last completed full run: every event before it is covered by that run. */
function coveredBy(cursor: Cursor | null): number {
  if (!cursor) return 0;
  const start = isCompleted(cursor) ? cursor.startedAt : cursor.lastCompletedStart;
  return start ? Date.parse(start) : 0;
}

async function readCursors(kv: KvStore, cursorKey: (s: Section) => string): Promise<Record<Section, Cursor | null>> {
  const raw = await kv.mget(SECTIONS.map(cursorKey));
  const out = {} as Record<Section, Cursor | null>;
  SECTIONS.forEach((s, i) => {
    const loaded = parseCursor(raw[i]);
    out[s] = loaded.kind === "ok" ? loaded.cursor : null;
  });
  return out;
}

function logTargeted(event: string, fields: Record<string, unknown>): void {
  if (process.env.SYNC_LOG === "off") return;
  console.warn(JSON.stringify({ event, level: "warn", at: new Date().toISOString(), ...fields }));
}
