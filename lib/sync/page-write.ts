/**
 * A fetched page's write, the same for a full run's sync phase and a targeted
 * run: its bundle (writeLarge, in place when the slug is kept; none in an
 * index-only section, content "none"), the old slug's bundle and claim on a
 * rename, its ledger entry, the child queue (sections that follow child pages),
 * and the refetch and failed sets. The caller adds its own marks and commits the ops
 * in one atomic, lease-fenced batch.
 */
import type { Section } from "../core/sections";
import type { KeyBuilder } from "../kv/keys";
import { PLAIN, type StoredShape, deleteLarge, writeLarge } from "../kv/large-value";
import type { KvOp } from "../kv/store";
import type { IndexEntry } from "../mirror/shapes";
import type { ContentMode, FetchedContent } from "../notion/block-tree";
import type { NotionPage } from "../notion/types";
import type { SectionSpec } from "../workspace/types";
import { mirrorContent, mirrorPage, reviveOps } from "../files/mirror";
import { buildBundle, entryOptions, indexEntryFor } from "./bundle";
import { type LedgerEntry, modeField } from "./ledger";
import type { PageFiles } from "./page-files";

export interface PageWrite {
  section: Section;
  /** The page object, its properties complete. */
  page: NotionPage;
  slug: string;
  content: FetchedContent;
  placement: Pick<IndexEntry, "parentId" | "depth">;
  /** The page's ledger entry before this write. */
  ledger: LedgerEntry | null;
  /** The ledger's `run.id`. */
  runId: string;
  mode?: ContentMode;
  now: Date;
  /** The page is in the refetch set: this write takes it out. */
  clearRefetch: boolean;
  /** Writes the slug's claim when it is new to the page (the list phase claims database rows' slugs at listing). */
  claimSlug: boolean;
  /** When the read of the page began, kept with the entry (LedgerEntry.readAt). */
  readAt?: string;
  /** The section's spec (title, properties, content, child pages). */
  spec: SectionSpec;
  /** FILES_MIRROR on: the page's files copied to the store (page-files.ts); the bundle and entry point at them. */
  files?: PageFiles;
}

/** What a page write needs to know of its section. */
function sectionFacts(w: PageWrite): { children: boolean; followsChildren: boolean; bundle: boolean } {
  const children = w.spec.kind === "children";
  const followsChildren = w.spec.kind === "database" && w.spec.followsChildren && w.spec.childDepth > 0;
  return { children, followsChildren, bundle: (w.mode ?? w.spec.content) !== "none" };
}

export interface PageWriteResult {
  ops: KvOp[];
  entry: IndexEntry;
  childIds: string[];
  /** Slugs whose bundle this write replaced or deleted (for revalidation). */
  slugs: string[];
}

/** Mirrored: the page and its content point at the store before anything is built from them. */
function withMirror(w: PageWrite): PageWrite {
  return w.files ? { ...w, page: mirrorPage(w.page, w.files.map), content: mirrorContent(w.content, w.files.map) } : w;
}

export function pageWriteOps(keys: KeyBuilder, write: PageWrite): PageWriteResult {
  const w = withMirror(write);
  const { section, ledger, slug } = w;
  const previous = ledger?.entry ?? null;
  const id = w.page.id;
  const childIds = w.content.childPages.map((c) => c.id);
  const facts = sectionFacts(w);
  const options = entryOptions(w.spec);
  const entry = indexEntryFor(w.page, slug, childIds, w.placement, options);
  const ops: KvOp[] = [];
  const sameKey = previous?.slug === slug;
  const written = facts.bundle
    ? writeLarge(
        keys,
        keys.page(section, slug),
        buildBundle(w.page, section, slug, w.content, w.now, options),
        sameKey ? ledger!.bundle : PLAIN,
      )
    : {
        ops: sameKey && ledger?.content !== "none" ? deleteLarge(keys, keys.page(section, slug), ledger!.bundle) : [],
        shape: PLAIN as StoredShape,
      };
  ops.push(...written.ops);
  const slugs = [slug];
  if (previous && !sameKey) {
    // Renamed: the old slug's bundle goes, and so does its claim.
    ops.push(...deleteLarge(keys, keys.page(section, previous.slug), ledger!.bundle));
    if (!facts.children) ops.push({ op: "del", key: keys.slugOwner(section, previous.slug) });
    slugs.push(previous.slug);
  }
  if (w.claimSlug && !facts.children && !sameKey)
    ops.push({ op: "set", key: keys.slugOwner(section, slug), value: id });
  ops.push({
    op: "set",
    key: keys.entry(section, id),
    value: {
      entry,
      bundle: written.shape,
      run: { id: w.runId, outcome: "fetched" },
      ...modeField(w.mode),
      ...(w.readAt ? { readAt: w.readAt } : {}),
      ...(w.files ? { files: w.files.map } : {}),
    } satisfies LedgerEntry,
  });
  if (w.files) ops.push(...reviveOps(keys, section, w.files.records));
  if (facts.followsChildren && childIds.length > 0) ops.push({ op: "sadd", key: keys.childQueue(), members: childIds });
  if (w.clearRefetch) ops.push({ op: "srem", key: keys.refetch(), members: [id] });
  if (ledger?.run?.outcome === "failed") ops.push({ op: "srem", key: keys.failedPages(section), members: [id] });
  // A renamed child page changes its parent's content without bumping the parent's
  // last_edited_time: mark the parent so its section re-reads it next run.
  if (entry.parentId && previous && previous.title !== entry.title)
    ops.push({ op: "sadd", key: keys.refetch(), members: [entry.parentId] });
  return { ops, entry, childIds, slugs };
}
