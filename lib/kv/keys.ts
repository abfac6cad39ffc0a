/**
 * The one place every KV key is built. The layout is documented in docs/content.md
 * ("What lands in KV"); change both together.
 */
import type { Section } from "../core/sections";

export const DEFAULT_KV_PREFIX = "nks";

export interface KeyBuilder {
  readonly prefix: string;
  /**
   * A synced page, addressed by section and slug: what a site reads. Slugs
   * are unique within a section (the databases' Slug properties may repeat
   * across them: a page and a post can both be "about"). A bundle over the
   * value bound is a stub there, its text in partKey() pieces.
   */
  page(section: Section, slug: string): string;
  /** The section index manifest: total, and the chunk keys in order. */
  index(section: Section): string;
  /** One chunk of a section index, named by a hash of its content (unchanged chunks keep their key). */
  indexChunk(section: Section, hash: string): string;
  /** The page's current index entry and bundle facts, by page id: what runs compare against. */
  entry(section: Section, pageId: string): string;
  /** Which page id holds a slug in a section (claimed at listing, so two pages never share one). */
  slugOwner(section: Section, slug: string): string;
  /**
   * The set of page ids a finished run listed: the next run's deletions are this set minus its own.
   * This and the two sets below are sharded (lib/kv/sharded-set.ts: `{base}:0` … `{base}:15`).
   */
  listedIds(section: Section, runId: string): string;
  /** Where a section's current run stands (versioned JSON). */
  cursor(section: Section): string;
  /** Held while one invocation of the section runs (SET NX PX + token). */
  lease(section: Section): string;
  /** Piece `n` of the run's work list: one listed query page (≤ 100 rows), written once. */
  workPiece(section: Section, runId: string, n: number): string;
  /** Set of page ids the run has finished (fetched, skipped, gone or given up). */
  doneIds(section: Section, runId: string): string;
  /** Set of previously indexed page ids this run did not list: removed at finalize. */
  removals(section: Section, runId: string): string;
  /** Children: set of known child page ids the run's search found edited (lib/sync/child-check.ts). */
  editedIds(section: Section, runId: string): string;
  /**
   * Children: a child page's object as the run's search sweep returned it (forced and first runs,
   * lib/sync/child-check.ts), used instead of retrieving the page. Scratch, with a TTL as well;
   * foundIds (sharded) holds the ids, so the run can delete them.
   */
  foundPage(section: Section, runId: string, pageId: string): string;
  /** Children: the ids of the run's foundPage values (sharded, like listedIds). */
  foundIds(section: Section, runId: string): string;
  /** Blocks fetched so far for a page too large for one invocation. */
  partialPage(section: Section, pageId: string): string;
  /** Set of child page ids discovered by pages/posts, drained by children. */
  childQueue(): string;
  /**
   * Set of page ids whose content must be re-read at their section's next run
   * whatever their timestamp says: the parent of a renamed child page (Notion
   * does not bump the parent's last_edited_time), a page given up after
   * repeated failures. Also the seam for webhooks (page.content_updated).
   */
  refetch(): string;
  /**
   * Set of the section's slugs whose bundle a commit wrote or deleted, recorded in that commit's
   * batch (lib/sync/changed-pages.ts), plus INDEX_CHANGED when a run swapped in a new index:
   * whoever revalidates drains it (lib/webhooks/revalidate.ts drainChangedPages).
   */
  changedPages(section: Section): string;
  /**
   * Counts of the section's run written with page commits but not yet added to its cursor
   * (`{runId, counts}`): the next cursor commit adds them and deletes the key (lib/sync/context.ts).
   */
  pendingCounts(section: Section): string;
  /** The last run summaries of a section (newest first). */
  /** Operator actions on the section (reset, retry, lease release), newest first. */
  actions(section: Section): string;
  runs(section: Section): string;
  /** Data source id resolved for a database id (cached once). */
  dataSource(databaseId: string): string;
  /** A data source's schema (property ids and types) as the last refresh read it (lib/sync/list-properties.ts). */
  dataSourceSchema(dataSourceId: string): string;
  /** Held (SET NX PX) for SYNC_MIN_FORCE_INTERVAL_S after a forced run or a trigger starts. */
  startLimit(scope: string): string;
  /** A spent manual-link nonce (SET NX PX, expiring with the link): a link works once. */
  linkNonce(nonce: string): string;
  /**
   * Piece `i` of a value stored in parts under `baseKey` (lib/kv/large-value.ts).
   * `generation` changes with every write, so a reader never mixes the parts of
   * two versions. Not under `{p}:page:`: a scan of bundles sees bundles only.
   */
  /** Pages of the section given up on (their last run's error is in their ledger entry); left when one is fetched or removed. */
  failedPages(section: Section): string;
  /** The last completed run's start, kept by an operator's reset so the next run still overlaps the minute it read. */
  watermark(section: Section): string;
  /** Notion asked this integration to wait (429): every section honours it until it expires. */
  notionPause(): string;
  /** The last fan-out trigger: its id and the database runs it started or resumed (lib/orchestration/trigger.ts). */
  trigger(): string;
  /**
   * A fresh URL for one mirrored file (the file route, lib/files): `{url, expiresAt}`,
   * kept until 5 minutes before Notion's expiry_time. `slot` is lib/files/refs.ts fileRefSlot().
   */
  fileUrl(slot: string): string;
  /** Held (SET NX PX, a few seconds) by the instance refreshing that file, so instances don't stampede Notion. */
  fileLock(slot: string): string;
  part(baseKey: string, generation: string, i: number): string;
  /** A stored object of the section (FILES_MIRROR, lib/files/mirror/registry.ts): `{v, key, url, bytes, contentType, uploadedAt, orphanSince?}`. */
  fileObject(section: Section, identity: string): string;
  /** Set of the identities of the section's stored objects. */
  fileObjects(section: Section): string;
  /** Set of the identities whose record has orphanSince (no page referenced them at a finalize). */
  fileOrphans(section: Section): string;
  /** Scratch: identities the run's ledger entries reference (collected by finalize's index step). */
  liveFiles(section: Section, runId: string): string;
  /** Scratch: stored identities not live, which finalize's gc step goes through. */
  unreferencedFiles(section: Section, runId: string): string;
}

export function createKeys(prefix: string = DEFAULT_KV_PREFIX): KeyBuilder {
  const k = (...parts: (string | number)[]) => [prefix, ...parts].join(":");
  return {
    prefix,
    page: (section, slug) => k("page", section, slug),
    index: (section) => k("index", section),
    indexChunk: (section, hash) => k("ichunk", section, hash),
    entry: (section, pageId) => k("entry", section, pageId),
    slugOwner: (section, slug) => k("slug", section, slug),
    listedIds: (section, runId) => k("ids", section, runId),
    cursor: (section) => k("cursor", section),
    lease: (section) => k("lease", section),
    workPiece: (section, runId, n) => k("work", section, runId, n),
    doneIds: (section, runId) => k("done", section, runId),
    removals: (section, runId) => k("removals", section, runId),
    editedIds: (section, runId) => k("edited", section, runId),
    foundPage: (section, runId, pageId) => k("found", section, runId, pageId),
    foundIds: (section, runId) => k("foundids", section, runId),
    partialPage: (section, pageId) => k("partial", section, pageId),
    childQueue: () => k("children", "queue"),
    refetch: () => k("refetch"),
    failedPages: (section) => k("failed", section),
    changedPages: (section) => k("changed", section),
    pendingCounts: (section) => k("pending", section),
    notionPause: () => k("notion-pause"),
    trigger: () => k("trigger"),
    watermark: (section) => k("watermark", section),
    fileUrl: (slot) => k("file", slot),
    fileLock: (slot) => k("filelock", slot),
    runs: (section) => k("runs", section),
    actions: (section) => k("actions", section),
    dataSource: (databaseId) => k("datasource", databaseId),
    dataSourceSchema: (dataSourceId) => k("dsschema", dataSourceId),
    startLimit: (scope) => k("startlimit", scope),
    linkNonce: (nonce) => k("linknonce", nonce),
    fileObject: (section, identity) => k("fobj", section, identity),
    fileObjects: (section) => k("fobjs", section),
    fileOrphans: (section) => k("forphans", section),
    liveFiles: (section, runId) => k("flive", section, runId),
    unreferencedFiles: (section, runId) => k("funref", section, runId),
    part: (baseKey, generation, i) =>
      k("part", baseKey.startsWith(`${prefix}:`) ? baseKey.slice(prefix.length + 1) : baseKey, generation, i),
  };
}
