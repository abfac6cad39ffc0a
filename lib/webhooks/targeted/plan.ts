/**
 * One batch of dirty pages → what each section has to commit: pages whose
 * events a read already covers are dropped without a request, pages of a
 * section whose full run is live are deferred, the rest get one
 * `pages.retrieve` (state and parent), which places them: a row of a
 * database section's data source (kept only when it passes the section's
 * publish filter), a child page of a page whose section follows child pages,
 * or nothing mirrored.
 */
import pLimit from "p-limit";
import type { Section } from "../../core/sections";
import type { KvStore } from "../../kv/store";
import type { IndexEntry } from "../../mirror/shapes";
import { NotionSyncError } from "../../notion/errors";
import { usesStatusGroups } from "../../notion/filter";
import { matchesFilter } from "../../notion/filter-match";
import { type NotionPage, isTrashed } from "../../notion/types";
import { type Cursor, isCompleted, isFinished, parseCursor } from "../../sync/cursor";
import type { LedgerEntry } from "../../sync/ledger";
import { cachedStatusGroups } from "../../sync/list-properties";
import { recordStartRequest } from "../../sync/start-requests";
import type { DatabaseSectionSpec } from "../../workspace/types";
import { type DirtyPage, canonicalId } from "../dirty";
import { rowParentOf } from "../sections";
import { READ_AT_TTL_MS, READ_MARGIN_MS, type TargetedRun, defer, onPageError, settle, shouldStop } from "./state";

export type Placement = Pick<IndexEntry, "parentId" | "depth">;

/** What the targeted run does with one dirty page in one section: write it there, or remove it from there. */
export interface PageAction {
  kind: "upsert" | "remove";
  page: DirtyPage;
  notionPage: NotionPage | null;
  placement: Placement;
  /** Owns the dirty members' removal and the read time (the page's last action). */
  primary: boolean;
  readStart: string;
}

/** The cursor of each configured section (null: none stored). */
export type Cursors = Record<Section, Cursor | null>;

interface Retrieved {
  page: DirtyPage;
  known: Section[];
  tries: number;
  /** The page's last read (`{p}:wh:read:{id}`, epoch ms; 0: none) when the batch began. */
  lastRead: number;
  readStart: string;
  notionPage: NotionPage | null;
}

/** The items of each section for one batch (pages dropped or deferred have none). */
export async function planBatch(
  run: TargetedRun,
  todo: DirtyPage[],
  cursors: Cursors,
): Promise<Map<Section, PageAction[]>> {
  const { ready, live } = await uncovered(run, todo, cursors);
  const retrieved = await retrieveAll(run, [...ready, ...(await deferOrResume(run, live, cursors))]);
  const bySection = new Map<Section, PageAction[]>();
  const parentCache = new Map<string, Placement | null>();
  const waiting: (Retrieved & { section: Section })[] = [];
  const add = (items: { section: Section; item: PageAction }[]) => {
    for (const { section, item } of items) bySection.set(section, [...(bySection.get(section) ?? []), item]);
  };
  for (const r of retrieved) {
    const planned = await itemsFor(run, r, cursors, parentCache);
    if ("liveIn" in planned) waiting.push({ ...r, section: planned.liveIn });
    else add(planned.items);
  }
  for (const r of await deferOrResume(run, waiting, cursors)) {
    const planned = await itemsFor(run, r, cursors, parentCache);
    if ("items" in planned) add(planned.items);
  }
  return bySection;
}

/**
 * Pages whose section has a live full run: the section is marked deferred at once, then its
 * cursor read again. A run still live then finishes after the mark, so its last invocation
 * finds it (lib/webhooks/after-full-run.ts); a run finished meanwhile may not have, so those
 * pages are returned to be handled now.
 */
async function deferOrResume<T extends { page: DirtyPage; section: Section }>(
  run: TargetedRun,
  pages: T[],
  cursors: Cursors,
): Promise<T[]> {
  if (pages.length === 0) return [];
  const { kv, keys } = run.deps;
  await kv.atomic([{ op: "sadd", key: run.wk.deferred(), members: [...new Set(pages.map((p) => p.section))] }]);
  Object.assign(cursors, await readCursors(kv, keys.cursor, run.deps.workspace.names));
  const resumed: T[] = [];
  for (const p of pages) {
    if (isLiveRun(cursors[p.section])) defer(run, p.page, p.section);
    else resumed.push(p);
  }
  return resumed;
}

type Unread = Omit<Retrieved, "readStart" | "notionPage">;

/** Drops the pages whose newest event a read covers; returns the rest, and apart those of a live full run. */
async function uncovered(
  run: TargetedRun,
  todo: DirtyPage[],
  cursors: Cursors,
): Promise<{ ready: Unread[]; live: (Unread & { section: Section })[] }> {
  const { kv, keys, workspace } = run.deps;
  const names = workspace.names;
  const perPage = names.length + 2;
  const values = await kv.mget<unknown>(
    todo.flatMap((p) => [run.wk.readAt(p.id), ...names.map((s) => keys.entry(s, p.id)), run.wk.tries(p.id)]),
  );
  const ready: Unread[] = [];
  const live: (Unread & { section: Section })[] = [];
  for (const [i, page] of todo.entries()) {
    const [readAt, ...rest] = values.slice(i * perPage, i * perPage + perPage);
    const ledgers = rest.slice(0, names.length) as (LedgerEntry | null)[];
    const tries = typeof rest[names.length] === "number" ? (rest[names.length] as number) : 0;
    const known = names.filter((_, s) => ledgers[s]?.entry);
    const lastRead = typeof readAt === "string" ? Date.parse(readAt) : 0;
    const isChildren = (s: Section) => s === workspace.children?.name;
    const covered = Math.max(
      lastRead,
      ...known.map((s) => coveredBy(isChildren(s), cursors[s], ledgers[names.indexOf(s)])),
    );
    if (page.newest < covered - READ_MARGIN_MS) {
      run.result.dropped++;
      await settle(run, page);
      continue;
    }
    const section = known.find((s) => isLiveRun(cursors[s]));
    if (section) live.push({ page, known, tries, lastRead, section });
    else ready.push({ page, known, tries, lastRead });
  }
  return { ready, live };
}

/** One pages.retrieve each: state and parent (null: gone). A failure leaves the page dirty. */
async function retrieveAll(run: TargetedRun, pages: Unread[]): Promise<Retrieved[]> {
  const limit = pLimit(run.deps.settings.concurrency);
  const retrieved = await Promise.all(
    pages.map((t) =>
      limit(async (): Promise<Retrieved | null> => {
        if (shouldStop(run)) return null;
        const readStart = run.deps.now().toISOString();
        try {
          return { ...t, readStart, notionPage: await run.deps.notion.retrievePage(t.page.id) };
        } catch (error) {
          if (NotionSyncError.is(error, "gone")) return { ...t, readStart, notionPage: null };
          await onPageError(run, t.page, t.tries, error);
          return null;
        }
      }),
    ),
  );
  return retrieved.filter((r): r is Retrieved => r !== null);
}

/** A removal from each section the page left, an upsert where it is now (the last one is primary); or the section whose live run it waits for. */
async function itemsFor(
  run: TargetedRun,
  r: Retrieved,
  cursors: Cursors,
  cache: Map<string, Placement | null>,
): Promise<{ items: { section: Section; item: PageAction }[] } | { liveIn: Section }> {
  let placed: Target | null | "unknown" = null;
  try {
    if (r.notionPage && !isTrashed(r.notionPage)) placed = await placeOf(run, r.notionPage, r.page, r.known, cache);
  } catch (error) {
    // Its section could not be told (the database's data source unread): the page stays dirty.
    await onPageError(run, r.page, r.tries, error);
    return { items: [] };
  }
  if (placed === "unknown") {
    // Inside a block of a page we cannot place without more requests: the children run finds it.
    run.result.dropped++;
    await settle(run, r.page);
    return { items: [] };
  }
  if (placed && isLiveRun(cursors[placed.section])) return { liveIn: placed.section };
  const { target, undecided } = await published(run, r.notionPage, placed, cursors);
  const base = { page: r.page, notionPage: r.notionPage, primary: false, readStart: r.readStart };
  const items: { section: Section; item: PageAction }[] = r.known
    .filter((s) => s !== target?.section && s !== undecided)
    .map((section) => ({ section, item: { ...base, kind: "remove", placement: {} } }));
  if (target) items.push({ section: target.section, item: { ...base, kind: "upsert", placement: target.placement } });
  if (items.length === 0) {
    // Not mirrored, and never was (another database, a page outside every mirrored parent), or left to its section's run.
    run.result.dropped++;
    const newer = Date.parse(r.readStart) > r.lastRead;
    await settle(
      run,
      r.page,
      newer ? [{ op: "set", key: run.wk.readAt(r.page.id), value: r.readStart, pxMs: READ_AT_TTL_MS }] : [],
    );
    return { items: [] };
  }
  items[items.length - 1].item.primary = true;
  return { items };
}

/** The section and placement the page belongs in now; null when nothing mirrored holds it; "unknown" when it cannot tell cheaply. */
async function placeOf(
  run: TargetedRun,
  page: NotionPage,
  dirty: DirtyPage,
  known: Section[],
  cache: Map<string, Placement | null>,
): Promise<Target | null | "unknown"> {
  const { kv, keys, workspace } = run.deps;
  const row = rowParentOf(page.parent);
  if (row) {
    const spec = await run.sections.sectionOfRow(row);
    return spec ? { section: spec.name, placement: {}, spec } : null;
  }
  // Child pages are mirrored only when some section follows them.
  const children = workspace.children?.name;
  if (!children) return null;
  const parent = page.parent as { type: string; page_id?: string; block_id?: string };
  let parentId: string | null = null;
  if (parent.type === "page_id" && parent.page_id) parentId = parent.page_id;
  else if (parent.type === "block_id") {
    if (dirty.parentHint) parentId = dirty.parentHint;
    else if (known.includes(children)) {
      const ledger = await kv.get<LedgerEntry>(keys.entry(children, dirty.id));
      if (ledger?.entry?.depth)
        return { section: children, placement: { parentId: ledger.entry.parentId, depth: ledger.entry.depth } };
    } else return "unknown";
  }
  if (!parentId) return null;
  const placement = await placementUnder(run, parentId, cache);
  return placement ? { section: children, placement } : null;
}

/** Where a page goes: its section and placement; `spec` for a row of a database section. */
interface Target {
  section: Section;
  placement: Placement;
  spec?: DatabaseSectionSpec;
}

/**
 * A row of a section with a publish filter is written only when it passes: a row that fails it
 * leaves the mirror like a deleted one; one the filter cannot be decided for from its properties
 * is left where it is, and the section's run (its listing applies the filter) is requested. The
 * row is marked for a re-read (the refetch set): a section with rows to re-read lists in full
 * (lib/sync/listing-mode.ts), so that run finds it gone if it left the filter.
 */
async function published(
  run: TargetedRun,
  notionPage: NotionPage | null,
  target: Target | null,
  cursors: Cursors,
): Promise<{ target: Target | null; undecided: Section | null }> {
  if (!notionPage || !target?.spec?.filter) return { target, undecided: null };
  const filter = target.spec.filter;
  const { kv, keys, notion } = run.deps;
  // A status group is not on the page: its options come from the cached schema (lib/sync/list-properties.ts).
  const statusGroups = usesStatusGroups(filter) ? await cachedStatusGroups(kv, keys, target.spec) : undefined;
  const decision = matchesFilter(notionPage.properties, filter, run.deps.now(), {
    version: notion.version,
    statusGroups,
  });
  if (decision === "match") return { target, undecided: null };
  if (decision === "unknown") {
    await run.deps.kv.atomic([{ op: "sadd", key: run.deps.keys.refetch(), members: [notionPage.id] }]);
    await requestSectionRun(run, target.section, cursors);
  }
  return { target: null, undecided: decision === "unknown" ? target.section : null };
}

/** A start request (lib/sync/start-requests.ts): honoured by the reviver once the section's lease is free. */
async function requestSectionRun(run: TargetedRun, section: Section, cursors: Cursors): Promise<void> {
  if (run.result.sectionRuns.includes(section)) return;
  const { kv, keys } = run.deps;
  await recordStartRequest(kv, keys, section, { force: false, seen: cursors[section] ?? null, now: run.deps.now() });
  run.result.sectionRuns.push(section);
}

/**
 * A child page of `parentId` sits at depth 1 under a row of a section that follows child pages,
 * at its depth + 1 under a mirrored child page (within the children section's depth).
 */
async function placementUnder(
  run: TargetedRun,
  parentId: string,
  cache: Map<string, Placement | null>,
): Promise<Placement | null> {
  const { kv, keys } = run.deps;
  const children = run.deps.workspace.children!;
  const childDepth = children.childDepth;
  const id = canonicalId(parentId);
  if (cache.has(id)) return cache.get(id)!;
  const ledgers = await kv.mget<LedgerEntry>([...children.parents, children.name].map((s) => keys.entry(s, id)));
  const inRow = ledgers.slice(0, children.parents.length).find((l) => l?.entry)?.entry;
  const inChildren = ledgers[children.parents.length];
  let placement: Placement | null = null;
  if (inRow) placement = { parentId: inRow.id, depth: 1 };
  else if (inChildren?.entry?.depth && inChildren.entry.depth + 1 <= childDepth)
    placement = { parentId: inChildren.entry.id, depth: inChildren.entry.depth + 1 };
  if (placement && childDepth < 1) placement = null;
  cache.set(id, placement);
  return placement;
}

/** A full run of the section that has not finished (running, stalled, failed): its finalize would rewrite the index. */
export function isLiveRun(cursor: Cursor | null | undefined): boolean {
  return cursor != null && !isFinished(cursor);
}

/**
 * Since when the section's last completed full run has read the page (0: it may not have).
 * A database run listing in full lists every row, so it read them all after it started; one
 * listing incrementally lists only the rows edited since its watermark (never a trashed, unshared
 * or unpublished one): it covers a page only when it fetched it, the last full listing the rest.
 * A children run in search mode reads only what search returned (search lags, and never returns
 * trashed pages): it covers a page only when it fetched it (its ledger says so), a full check all.
 */
function coveredBy(isChildren: boolean, cursor: Cursor | null | undefined, ledger: LedgerEntry | null): number {
  if (!cursor) return 0;
  const start = isCompleted(cursor) ? cursor.startedAt : cursor.lastCompletedStart;
  if (!start) return 0;
  const fetchedByIt = isCompleted(cursor) && ledger?.run?.id === cursor.runId && ledger.run.outcome === "fetched";
  if (!isChildren) {
    // A completed cursor without a listing is older than incremental listing: it listed in full.
    if (fetchedByIt || (isCompleted(cursor) && cursor.listing?.mode !== "incremental")) return Date.parse(start);
    return cursor.lastFullList ? Date.parse(cursor.lastFullList) : 0;
  }
  const fullCheck = isCompleted(cursor) ? cursor.childCheck?.mode === "full" : cursor.lastFullCheck === start;
  return fullCheck || fetchedByIt ? Date.parse(start) : 0;
}

export async function readCursors(
  kv: KvStore,
  cursorKey: (s: Section) => string,
  sections: readonly Section[],
): Promise<Cursors> {
  const raw = await kv.mget(sections.map(cursorKey));
  const out: Cursors = {};
  sections.forEach((s, i) => {
    const loaded = parseCursor(raw[i]);
    out[s] = loaded.kind === "ok" ? loaded.cursor : null;
  });
  return out;
}
