/**
 * Deterministic workspace generator: the same options always give the same
 * workspace, ids included (everything is drawn from one seeded Prng, in a
 * fixed order). Sizes are tuned so that a full recursive read of the default
 * workspace takes about two thousand blocks.children.list requests.
 */
import {
  baseSchema,
  CATEGORY_OPTIONS,
  codeText,
  databaseMention,
  dateMention,
  emojiIcon,
  EQUATIONS,
  equationText,
  floorToMinute,
  linkMention,
  linkPreviewMention,
  pageMention,
  pagesExtraSchema,
  pageTitle,
  paragraphPayload,
  paragraphText,
  postsExtraSchema,
  richText,
  sentence,
  slugify,
  STATUS_OPTIONS,
  TAGS,
  textPayload,
  userMention,
  workspaceUsers,
  type Payload,
  type PropertySpec,
} from "./content.js";
import { addHostedFiles, ATTACHMENTS_PROPERTY_ID } from "./files.js";
import { Prng } from "./prng.js";
import type { BlockType, Cover, FullUser, Icon, RichText } from "./types.js";
import { uniqueSlug, Workspace, type BlockRecord, type DatabaseRecord, type PageRecord } from "./workspace.js";

export interface GenerateOptions {
  seed?: number;
  pages?: number;
  posts?: number;
  /** How deep child pages nest below a database row (1 = only direct children). */
  childDepth?: number;
  /** Rows with `hugePageBlocks` top-level blocks, spread over both databases. */
  hugePages?: number;
  hugePageBlocks?: number;
  /** Rows generated already in the trash (queries skip them). */
  trashedRows?: number;
  /** Child pages not shared with the integration (their child_page block is listed, the page answers 404). */
  unsharedChildPages?: number;
  /** Workspace clock at the start; every generated timestamp lies before it. */
  now?: Date;
  /**
   * Simple rows for size tests: when set, every row gets exactly this many
   * one-sentence paragraph blocks (no nesting, no containers, no images) and
   * no child pages (`childPagesPerRow` is then 0); huge rows get
   * `hugePageBlocks` such paragraphs. Rows are then created in bursts, see
   * `maxRowsPerMinute`. Unset (the default): the rich content of the default
   * workspace, unchanged.
   */
  blocksPerRow?: number;
  /** Only 0 is supported, and only with `blocksPerRow` (which implies it): rows without child pages. */
  childPagesPerRow?: 0;
  /**
   * With `blocksPerRow`: rows are created in bursts (like an import or an
   * automation) that share one created_time minute, at most this many rows
   * each (default 100, well under Notion's 10,000-row query cap: the SDK's
   * created_time windows cannot split a minute holding more rows than the cap).
   */
  maxRowsPerMinute?: number;
  /** Passed to the Workspace: rows one data source query serves at most (default 10,000). */
  queryResultLimit?: number;
}

export const DEFAULT_NOW = new Date("2025-06-01T00:00:00.000Z");

const DAY = 86_400_000;
const MINUTE = 60_000;
const HISTORY_START = Date.parse("2024-01-01T00:00:00.000Z");
const MAX_NESTING = 3;

/** Top-level blocks: mostly text, some containers (each container costs one more list request). */
const LEAF_WEIGHTS = {
  paragraph: 34,
  heading_1: 2,
  heading_2: 4,
  heading_3: 4,
  bulleted_list_item: 12,
  numbered_list_item: 8,
  to_do: 6,
  quote: 3,
  callout: 3,
  code: 3,
  divider: 3,
  image: 3,
  bookmark: 2,
} as const;
const CONTAINER_WEIGHTS = { toggle: 2.5, table: 1, column_list: 0.7, synced_block: 0.3 } as const;
/** Text blocks that sometimes carry nested children (indented list items, paragraphs with children). */
const NESTABLE = new Set<BlockType>([
  "paragraph",
  "bulleted_list_item",
  "numbered_list_item",
  "to_do",
  "quote",
  "callout",
]);

type Options = Required<Omit<GenerateOptions, "now" | "blocksPerRow" | "childPagesPerRow" | "queryResultLimit">> & {
  now: number;
  blocksPerRow: number | undefined;
  queryResultLimit: number | undefined;
};

export const DEFAULT_MAX_ROWS_PER_MINUTE = 100;

export function generateWorkspace(options: GenerateOptions = {}): Workspace {
  const opts: Options = {
    seed: options.seed ?? 1,
    pages: options.pages ?? 200,
    posts: options.posts ?? 150,
    childDepth: options.childDepth ?? 3,
    hugePages: options.hugePages ?? 3,
    hugePageBlocks: options.hugePageBlocks ?? 1200,
    trashedRows: options.trashedRows ?? 4,
    unsharedChildPages: options.unsharedChildPages ?? 2,
    now: (options.now ?? DEFAULT_NOW).getTime(),
    blocksPerRow: options.blocksPerRow,
    maxRowsPerMinute: options.maxRowsPerMinute ?? DEFAULT_MAX_ROWS_PER_MINUTE,
    queryResultLimit: options.queryResultLimit,
  };
  if (opts.blocksPerRow !== undefined && !(Number.isInteger(opts.blocksPerRow) && opts.blocksPerRow >= 0)) {
    throw new Error(`blocksPerRow must be a non-negative integer, got ${String(opts.blocksPerRow)}`);
  }
  if (options.childPagesPerRow !== undefined && (options.childPagesPerRow !== 0 || opts.blocksPerRow === undefined)) {
    throw new Error("childPagesPerRow: only 0 is supported, together with blocksPerRow");
  }
  if (!(Number.isInteger(opts.maxRowsPerMinute) && opts.maxRowsPerMinute >= 1)) {
    throw new Error(`maxRowsPerMinute must be a positive integer, got ${String(opts.maxRowsPerMinute)}`);
  }
  return new Generator(opts).run();
}

class Generator {
  private readonly rng: Prng;
  private readonly pages: PageRecord[] = [];
  private readonly blocks: BlockRecord[] = [];
  private imageCount = 0;
  private readonly hugeRowIds = new Set<string>();
  private readonly weightCache = new Map<string, Record<string, number>>();
  /** A few minutes in which many pages were "bulk edited", so timestamps collide like after an import. */
  private readonly bulkMinutes: number[];

  constructor(private readonly opts: Options) {
    this.rng = new Prng(opts.seed);
    this.bulkMinutes = [20, 9, 2].map((days) => floorToMinute(opts.now - days * DAY + 13 * 60_000));
  }

  run(): Workspace {
    const created = HISTORY_START - 30 * DAY;
    const database = (title: string, emoji: string): DatabaseRecord => ({
      id: this.rng.uuid(),
      dataSourceId: this.rng.uuid(),
      title,
      icon: { type: "emoji", emoji },
      createdTime: created,
      lastEditedTime: created + DAY,
    });
    const workspaceId = this.rng.uuid();
    const userId = this.rng.uuid();
    const pagesDatabase = database("Pages", "📄");
    const postsDatabase = database("Posts", "📰");

    const huge = this.hugeRowPicks();
    const simple = this.opts.blocksPerRow;
    let firstWithChildren = true;
    for (const [db, count, key] of [
      [pagesDatabase, this.opts.pages, "pages"],
      [postsDatabase, this.opts.posts, "posts"],
    ] as const) {
      const slugs = new Set<string>();
      const slugHints = new Map<string, number>();
      // Simple rows draw their creation times from a stream of their own, so the main stream stays as it was.
      const createdTimes = simple === undefined ? undefined : this.burstCreatedTimes(count, key);
      for (let i = 0; i < count; i++) {
        const row = this.row(db, slugs, slugHints, key === "pages" && i === 7, createdTimes?.[i]);
        const isHuge = huge.has(`${key}:${i}`);
        if (isHuge) this.hugeRowIds.add(row.id);
        if (simple !== undefined) {
          row.childIds = this.paragraphs(row, isHuge ? this.opts.hugePageBlocks : simple);
          continue;
        }
        const childIds = this.content(row, isHuge ? this.opts.hugePageBlocks : this.rng.int(5, 40), isHuge ? 0.2 : 1);
        // About one row in six holds child pages; the first such row gets a chain of the full depth.
        // Huge rows get none, so they have exactly `hugePageBlocks` top-level blocks.
        if (!isHuge && this.opts.childDepth > 0 && (firstWithChildren || this.rng.chance(1 / 6))) {
          const n = this.rng.int(1, 2);
          for (let c = 0; c < n; c++) this.insertChildPage(row, childIds, 1, firstWithChildren && c === 0);
          firstWithChildren = false;
        }
        row.childIds = childIds;
      }
    }

    this.applyAccessAndTrash();
    // Notion-hosted files (blocks, covers, icons, a files property), from a stream of their own (files.ts).
    if (simple === undefined) addHostedFiles(this.pages, this.blocks, workspaceId, this.opts.seed, this.hugeRowIds);
    // Every block and property type of the recorded Notion answers, from a stream of its own too (below).
    if (simple === undefined) {
      addConformanceContent({
        pages: this.pages,
        blocks: this.blocks,
        pagesDatabase,
        postsDatabase,
        userId,
        seed: this.opts.seed,
        skipPageIds: this.hugeRowIds,
      });
    }
    return new Workspace({
      seed: this.opts.seed,
      now: this.opts.now,
      workspaceId,
      userId,
      pagesDatabase,
      postsDatabase,
      pages: this.pages,
      blocks: this.blocks,
      queryResultLimit: this.opts.queryResultLimit,
    });
  }

  /** `hugePages` rows, alternating between the two databases. */
  private hugeRowPicks(): Set<string> {
    const picks = new Set<string>();
    const counts = { pages: this.opts.pages, posts: this.opts.posts };
    const capacity = counts.pages + counts.posts;
    for (let k = 0; picks.size < Math.min(this.opts.hugePages, capacity); k++) {
      let key: "pages" | "posts" = k % 2 === 0 ? "pages" : "posts";
      if (counts[key] === 0) key = key === "pages" ? "posts" : "pages";
      picks.add(`${key}:${this.rng.int(0, counts[key] - 1)}`);
    }
    return picks;
  }

  /**
   * Creation minutes of `count` simple rows, ascending: bursts of 1 to
   * `maxRowsPerMinute` rows share a minute (a quarter of the bursts are
   * imports of at least a quarter of the maximum, the rest a few rows typed by
   * hand), one burst per disjoint slice of the history so no two bursts
   * share a minute.
   */
  private burstCreatedTimes(count: number, key: string): number[] {
    const rng = new Prng(`${this.opts.seed}:created:${key}`);
    const max = this.opts.maxRowsPerMinute;
    const bursts: number[] = [];
    for (let left = count; left > 0;) {
      const size = Math.min(left, rng.chance(0.25) ? rng.int(Math.ceil(max / 4), max) : rng.int(1, Math.min(max, 4)));
      bursts.push(size);
      left -= size;
    }
    const first = HISTORY_START / MINUTE;
    const minutes = Math.floor((this.opts.now - 7 * DAY - HISTORY_START) / MINUTE);
    if (bursts.length > minutes) {
      throw new Error(
        `${count} rows at most ${max} a minute do not fit in the generated history: raise maxRowsPerMinute`,
      );
    }
    const width = minutes / bursts.length;
    const out: number[] = [];
    bursts.forEach((size, k) => {
      const lo = Math.floor(k * width);
      const hi = Math.floor((k + 1) * width) - 1;
      const minute = (first + rng.int(lo, Math.max(lo, hi))) * MINUTE;
      for (let i = 0; i < size; i++) out.push(minute);
    });
    return out;
  }

  /** `count` top-level one-sentence paragraphs (simple rows). */
  private paragraphs(page: PageRecord, count: number): string[] {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const record = this.blockRecord(
        this.rng.uuid(),
        page,
        null,
        "paragraph",
        paragraphPayload([richText(sentence(this.rng))]),
      );
      this.blocks.push(record);
      ids.push(record.id);
    }
    return ids;
  }

  private row(
    db: DatabaseRecord,
    slugs: Set<string>,
    slugHints: Map<string, number>,
    untitled: boolean,
    created?: number,
  ): PageRecord {
    const title = untitled ? "" : this.pageTitle();
    const createdTime = created ?? this.minuteBetween(HISTORY_START, this.opts.now - 7 * DAY);
    const bulk = this.rng.chance(0.12) ? this.rng.pick(this.bulkMinutes) : undefined;
    const lastEditedTime =
      bulk !== undefined && bulk >= createdTime ? bulk : this.minuteBetween(createdTime, this.opts.now - 60_000);
    const date = new Date(createdTime + this.rng.int(-20, 5) * DAY).toISOString().slice(0, 10);
    const tags = this.rng.shuffle(TAGS.map((tag) => tag.name)).slice(0, this.rng.int(0, 3));
    const page: PageRecord = {
      id: this.rng.uuid(),
      databaseId: db.id,
      parentPageId: null,
      title,
      slug: uniqueSlug(slugify(title), slugs, slugHints),
      date,
      tags,
      published: this.rng.chance(0.85),
      description: this.rng.chance(0.9) ? sentence(this.rng) : "",
      icon: this.icon(),
      cover: this.rng.chance(0.15) ? this.cover() : null,
      createdTime,
      lastEditedTime,
      trashed: false,
      shared: true,
      childIds: [],
    };
    this.pages.push(page);
    return page;
  }

  private insertChildPage(parent: PageRecord, parentChildIds: string[], depth: number, forceDeep: boolean): void {
    const createdTime = this.minuteBetween(parent.createdTime, parent.lastEditedTime);
    const child: PageRecord = {
      id: this.rng.uuid(),
      databaseId: null,
      parentPageId: parent.id,
      title: this.pageTitle(),
      slug: null,
      date: null,
      tags: [],
      published: false,
      description: "",
      icon: this.rng.chance(0.4) ? emojiIcon(this.rng) : null,
      cover: null,
      createdTime,
      lastEditedTime: this.minuteBetween(createdTime, this.opts.now - 60_000),
      trashed: false,
      shared: true,
      childIds: [],
    };
    this.pages.push(child);
    const childIds = this.content(child, this.rng.int(3, 20), 1);
    if (depth < this.opts.childDepth && (forceDeep || this.rng.chance(0.6))) {
      const n = this.rng.int(1, 2);
      for (let c = 0; c < n; c++) this.insertChildPage(child, childIds, depth + 1, forceDeep && c === 0);
    }
    child.childIds = childIds;

    // The child_page block shares the child's id and sits somewhere among the parent's top-level blocks.
    this.blocks.push(this.blockRecord(child.id, parent, null, "child_page", {}));
    parentChildIds.splice(this.rng.int(0, parentChildIds.length), 0, child.id);
  }

  /** Top-level content of a page; `containerScale` < 1 makes containers rarer (huge pages). */
  private content(page: PageRecord, count: number, containerScale: number): string[] {
    return Array.from({ length: count }, () => this.block(page, null, 1, containerScale));
  }

  /** Block type weights for a nesting depth, cached: they are looked up for every block. */
  private weightsFor(depth: number, containerScale: number): Record<string, number> {
    const key = `${depth}:${containerScale}`;
    let weights = this.weightCache.get(key);
    if (!weights) {
      weights = { ...LEAF_WEIGHTS };
      if (depth < MAX_NESTING) {
        for (const [type, weight] of Object.entries(CONTAINER_WEIGHTS)) {
          // Columns need two more levels (column, then content): top level only.
          if (type === "column_list" && depth > 1) continue;
          weights[type] = weight * containerScale * (depth === 1 ? 1 : 0.5);
        }
      }
      this.weightCache.set(key, weights);
    }
    return weights;
  }

  private block(page: PageRecord, parentBlockId: string | null, depth: number, containerScale: number): string {
    const type = this.rng.weighted(this.weightsFor(depth, containerScale)) as BlockType;
    const record = this.blockRecord(this.rng.uuid(), page, parentBlockId, type, this.payload(type));
    this.blocks.push(record);

    const child = (): string => this.block(page, record.id, depth + 1, containerScale);
    switch (type) {
      case "toggle":
      case "synced_block":
        record.childIds = Array.from({ length: this.rng.int(1, 4) }, child);
        break;
      case "table":
        record.childIds = Array.from({ length: this.rng.int(2, 6) }, () => this.tableRow(page, record));
        break;
      case "column_list":
        record.childIds = Array.from({ length: this.rng.int(2, 3) }, () => this.column(page, record));
        break;
      default:
        if (depth < MAX_NESTING && NESTABLE.has(type) && this.rng.chance(0.04 * containerScale)) {
          record.childIds = Array.from({ length: this.rng.int(1, 3) }, child);
        }
    }
    return record.id;
  }

  private tableRow(page: PageRecord, table: BlockRecord): string {
    const width = table.payload.table_width as number;
    const cells = Array.from({ length: width }, () => [richText(sentence(this.rng, 1, 3))]);
    const row = this.blockRecord(this.rng.uuid(), page, table.id, "table_row", { cells });
    this.blocks.push(row);
    return row.id;
  }

  private column(page: PageRecord, columnList: BlockRecord): string {
    const column = this.blockRecord(this.rng.uuid(), page, columnList.id, "column", {});
    this.blocks.push(column);
    // Column content sits at the deepest level: leaves only.
    column.childIds = Array.from({ length: this.rng.int(1, 3) }, () => this.block(page, column.id, MAX_NESTING, 0));
    return column.id;
  }

  private payload(type: BlockType): Payload {
    const rng = this.rng;
    switch (type) {
      case "heading_1":
      case "heading_2":
      case "heading_3":
        return textPayload([richText(this.pageTitle())], { is_toggleable: false });
      case "to_do":
        return textPayload(paragraphText(rng), { checked: rng.chance(0.4) });
      case "toggle":
        return textPayload([richText(sentence(rng, 2, 6))]);
      case "callout":
        return { rich_text: paragraphText(rng), icon: emojiIcon(rng), color: "gray_background" };
      case "code": {
        const code = codeText(rng);
        return { caption: [], rich_text: [richText(code.text)], language: code.language };
      }
      case "divider":
      case "column_list":
        return {};
      case "image":
        return rng.chance(0.7)
          ? { caption: rng.chance(0.3) ? [richText(sentence(rng, 2, 5))] : [], type: "file" }
          : { caption: [], type: "external", external: { url: `https://images.example.com/${rng.uuid()}.jpg` } };
      case "bookmark":
        return { caption: [], url: `https://example.com/articles/${slugify(sentence(rng, 2, 4))}` };
      case "table":
        return { table_width: rng.int(2, 4), has_column_header: true, has_row_header: rng.chance(0.3) };
      case "synced_block":
        return { synced_from: null };
      case "paragraph":
        return paragraphPayload(paragraphText(rng));
      default:
        return textPayload(paragraphText(rng));
    }
  }

  private blockRecord(
    id: string,
    page: PageRecord,
    parentBlockId: string | null,
    type: BlockType,
    payload: Payload,
  ): BlockRecord {
    const record: BlockRecord = {
      id,
      pageId: page.id,
      parentBlockId,
      type,
      payload,
      childIds: [],
      createdTime: page.createdTime,
      lastEditedTime: this.minuteBetween(page.createdTime, page.lastEditedTime),
      trashed: false,
    };
    if (type === "image" && payload.type === "file") record.hostedFile = `image-${++this.imageCount}.png`;
    return record;
  }

  /** Trash a few rows and unshare a few child pages, after generation so the rest of the stream is unaffected. */
  private applyAccessAndTrash(): void {
    // Huge rows stay visible: they are there to force block pagination.
    const rows = this.pages.filter((page) => page.databaseId !== null && !this.hugeRowIds.has(page.id));
    for (const row of this.rng.shuffle(rows).slice(0, this.opts.trashedRows)) row.trashed = true;
    // Only leaf child pages, so the unsharing doesn't cut off a whole subtree (or the deep chain).
    const parents = new Set(this.pages.map((page) => page.parentPageId));
    const children = this.pages.filter((page) => page.parentPageId !== null && !parents.has(page.id));
    for (const child of this.rng.shuffle(children).slice(0, this.opts.unsharedChildPages)) child.shared = false;
  }

  private pageTitle(): string {
    return pageTitle(this.rng);
  }

  private icon(): Icon | null {
    const roll = this.rng.next();
    if (roll < 0.5) return emojiIcon(this.rng);
    if (roll < 0.58)
      return { type: "external", external: { url: `https://icons.example.com/${this.rng.int(1, 40)}.svg` } };
    return null;
  }

  private cover(): Cover {
    return { type: "external", external: { url: `https://covers.example.com/${this.rng.int(1, 30)}.jpg` } };
  }

  private minuteBetween(from: number, to: number): number {
    return floorToMinute(from + this.rng.next() * Math.max(0, to - from));
  }
}

// ------------------------------------------------------------ conformance to real Notion

interface ConformanceInput {
  pages: PageRecord[];
  blocks: BlockRecord[];
  pagesDatabase: DatabaseRecord;
  postsDatabase: DatabaseRecord;
  userId: string;
  seed: number;
  /** Pages left as generated (huge rows keep exactly their block count). */
  skipPageIds: ReadonlySet<string>;
}

/** The kinds of content added to pages so that every recorded block shape is served (tests/conformance). */
const EXTRA_KINDS = [
  "equation",
  "embed",
  "video",
  "audio",
  "pdf",
  "file",
  "link_preview",
  "child_database",
  "table_of_contents",
  "breadcrumb",
  "link_to_page",
  "synced",
  "unsupported",
  "toggle_heading",
  "callout_external_icon",
  "mentions",
] as const;
type ExtraKind = (typeof EXTRA_KINDS)[number];

const EMBEDS = [
  "https://www.youtube.com/embed/dQw4w9WgXcQ",
  "https://codepen.io/team/codepen/embed/PNaGbb",
  "https://www.figma.com/embed?embed_host=notion",
] as const;
const PREVIEWS = [
  "https://github.com/makenotion/notion-sdk-js/pull/457",
  "https://www.dropbox.com/s/8d6kjlpdlfqiec5/complex.pdf?dl=0",
  "https://linear.app/acme/issue/ENG-42",
] as const;
const UNSUPPORTED = ["button", "ai_block", "form", "tab"] as const;
const DATABASES_INLINE = ["Tasks", "Reading list", "Open questions", "Meeting notes"] as const;

/**
 * What the default workspace adds on top of its generated content, from a
 * random stream of its own (`{seed}:conformance`) so that everything else
 * (ids, texts, page counts, the hosted files of files.ts) stays exactly as
 * generated: the data sources' full schemas (content.ts postsExtraSchema,
 * pagesExtraSchema) with a value for every row, some rows created by the
 * integration's bot, and on about one page in three one to three blocks of
 * the types the generator does not make (equation, embed, external media,
 * link_preview, child_database, table_of_contents, breadcrumb, link_to_page,
 * synced block original and copy, unsupported, toggleable headings with
 * children, a callout with an external icon, a paragraph with every kind of
 * mention and an inline equation). The first row of each database gets one
 * of each, so every kind is there whatever the sizes.
 */
function addConformanceContent(input: ConformanceInput): void {
  const rng = new Prng(`${input.seed}:conformance`);
  const { pagesDatabase, postsDatabase } = input;
  const refs = {
    pagesDatabaseId: pagesDatabase.id,
    pagesDataSourceId: pagesDatabase.dataSourceId,
    postsDatabaseId: postsDatabase.id,
    postsDataSourceId: postsDatabase.dataSourceId,
  };
  const attachments: PropertySpec = {
    name: "Attachments",
    id: ATTACHMENTS_PROPERTY_ID,
    type: "files",
    config: {},
    field: "attachments",
  };
  pagesDatabase.schema = [...baseSchema(), attachments, ...pagesExtraSchema(refs)];
  postsDatabase.schema = [...baseSchema(), attachments, ...postsExtraSchema(refs)];

  const users = workspaceUsers(input.seed, input.userId);
  const rows = input.pages.filter((p) => p.databaseId !== null);
  const pageRows = rows.filter((p) => p.databaseId === pagesDatabase.id);
  const postRows = rows.filter((p) => p.databaseId === postsDatabase.id);

  // Row values.
  const numbers = new Map<string, number>();
  const backRefs = new Map<string, string[]>();
  for (const row of rows) {
    const n = (numbers.get(row.databaseId!) ?? 0) + 1;
    numbers.set(row.databaseId!, n);
    row.uniqueNumber = n;
    if (rng.chance(0.15)) row.createdBy = users.bot.id;
  }
  postRows.forEach((row, i) => {
    const first = i === 0;
    const related =
      pageRows.length === 0
        ? []
        : rng
            .shuffle(pageRows)
            .slice(0, first ? Math.min(2, pageRows.length) : rng.int(0, 3))
            .map((p) => p.id);
    for (const id of related) backRefs.set(id, [...(backRefs.get(id) ?? []), row.id]);
    const day = row.date ?? new Date(row.createdTime).toISOString().slice(0, 10);
    row.values = {
      Status: rng.pick(STATUS_OPTIONS).name,
      Category: first || rng.chance(0.8) ? rng.pick(CATEGORY_OPTIONS).name : null,
      Rating:
        first || rng.chance(0.75) ? (rng.chance(0.5) ? rng.int(1, 5) : Math.round(rng.next() * 5000) / 1000) : null,
      Authors: rng.shuffle(users.people.map((u) => u.id)).slice(0, first ? 2 : rng.int(0, 2)),
      Website: first || rng.chance(0.6) ? `https://example.com/${slugify(row.title)}` : null,
      Contact: first || rng.chance(0.6) ? `${slugify(row.title).slice(0, 12)}@example.com` : null,
      Phone: first || rng.chance(0.5) ? `+1 555 ${String(rng.int(1000, 9999))}` : null,
      "Reading time": { type: "string", string: first || rng.chance(0.8) ? `${rng.int(1, 15)} min` : null },
      "Next review": {
        type: "date",
        date: {
          start: `${new Date(Date.parse(day) + 90 * 86_400_000).toISOString().slice(0, 10)}T09:00:00.000+00:00`,
          end: null,
          time_zone: null,
        },
      },
      Pages: related,
      "See also": rng
        .shuffle(postRows.filter((p) => p !== row))
        .slice(0, first ? 1 : rng.int(0, 2))
        .map((p) => p.id),
      Notes:
        first || rng.chance(0.5) ? notesText(rng, first, users.people, pageRows.concat(postRows), postsDatabase) : [],
    };
  });
  pageRows.forEach((row, i) => {
    const verifier = rng.pick(users.people);
    const start = floorToMinute(row.lastEditedTime);
    const expired = i === 0 ? false : rng.chance(0.3);
    row.values = {
      Posts: backRefs.get(row.id) ?? [],
      Verification: {
        state: expired ? "expired" : "verified",
        by: verifier.id,
        start: new Date(start).toISOString(),
        end: new Date(start + (expired ? 7 : 90) * 86_400_000).toISOString(),
      },
      Owner: [verifier.id],
    };
  });

  // Blocks.
  const showcases = new Set([
    pageRows.find((p) => !p.trashed && !input.skipPageIds.has(p.id))?.id,
    postRows.find((p) => !p.trashed && !input.skipPageIds.has(p.id))?.id,
  ]);
  const linkTargets = rows.map((p) => p.id);
  const make = (
    page: PageRecord,
    parentBlockId: string | null,
    type: BlockType,
    payload: Payload,
    hostedFile?: string,
  ): BlockRecord => {
    const record: BlockRecord = {
      id: rng.uuid(),
      pageId: page.id,
      parentBlockId,
      type,
      payload,
      childIds: [],
      createdTime: page.createdTime,
      lastEditedTime: floorToMinute(
        page.createdTime + rng.next() * Math.max(0, page.lastEditedTime - page.createdTime),
      ),
      trashed: false,
    };
    if (hostedFile) record.hostedFile = hostedFile;
    input.blocks.push(record);
    return record;
  };
  const leaves = (page: PageRecord, parent: BlockRecord, count: number): void => {
    parent.childIds = Array.from({ length: count }, () => {
      const kind = rng.pick(["paragraph", "bulleted_list_item", "to_do"] as const);
      const text = [richText(sentence(rng))];
      const payload =
        kind === "paragraph"
          ? paragraphPayload(text)
          : kind === "to_do"
            ? textPayload(text, { checked: rng.chance(0.5) })
            : textPayload(text);
      return make(page, parent.id, kind, payload).id;
    });
  };
  const caption = (): RichText[] => (rng.chance(0.4) ? [richText(sentence(rng, 2, 5))] : []);
  const external = (type: "video" | "audio" | "pdf" | "file"): Payload => {
    const ext = { video: "mp4", audio: "mp3", pdf: "pdf", file: "zip" }[type];
    const url = `https://media.example.com/${rng.uuid()}.${ext}`;
    return {
      caption: caption(),
      type: "external",
      external: { url },
      ...(type === "file" ? { name: `download.${ext}` } : {}),
    };
  };
  /** The top-level blocks of one kind (a synced block comes as its original and, later, a copy). */
  const build = (page: PageRecord, kind: ExtraKind): BlockRecord[] => {
    switch (kind) {
      case "equation":
        return [make(page, null, "equation", { expression: rng.pick(EQUATIONS) })];
      case "embed":
        return [make(page, null, "embed", { caption: caption(), url: rng.pick(EMBEDS) })];
      case "video":
      case "audio":
      case "pdf":
      case "file":
        return [make(page, null, kind, external(kind))];
      case "link_preview":
        return [make(page, null, "link_preview", { url: rng.pick(PREVIEWS) })];
      case "child_database":
        return [make(page, null, "child_database", { title: rng.pick(DATABASES_INLINE) })];
      case "table_of_contents":
        return [make(page, null, "table_of_contents", { color: "default" })];
      case "breadcrumb":
        return [make(page, null, "breadcrumb", {})];
      case "link_to_page":
        return [
          make(page, null, "link_to_page", {
            type: "page_id",
            page_id: rng.pick(
              linkTargets.filter((id) => id !== page.id).concat(linkTargets.length > 1 ? [] : linkTargets),
            ),
          }),
        ];
      case "unsupported":
        return [make(page, null, "unsupported", { block_type: rng.pick(UNSUPPORTED) })];
      case "toggle_heading": {
        const level = rng.pick(["heading_1", "heading_2", "heading_3"] as const);
        const heading = make(page, null, level, textPayload([richText(pageTitle(rng))], { is_toggleable: true }));
        leaves(page, heading, rng.int(1, 2));
        return [heading];
      }
      case "callout_external_icon":
        return [
          make(page, null, "callout", {
            rich_text: paragraphText(rng),
            icon: { type: "external", external: { url: `https://icons.example.com/${rng.int(1, 40)}.svg` } },
            color: "blue_background",
          }),
        ];
      case "mentions":
        return [
          make(
            page,
            null,
            "paragraph",
            paragraphPayload(notesText(rng, true, users.people, pageRows.concat(postRows), postsDatabase)),
          ),
        ];
      case "synced": {
        // The original holds leaves only: its copy shows the same children (and Notion's ids twice in one page).
        const original = make(page, null, "synced_block", { synced_from: null });
        leaves(page, original, rng.int(1, 3));
        const copy = make(page, null, "synced_block", { synced_from: { type: "block_id", block_id: original.id } });
        return [original, copy];
      }
    }
  };
  const insert = (page: PageRecord, kind: ExtraKind): void => {
    const [first, ...rest] = build(page, kind);
    const at = rng.int(0, page.childIds.length);
    page.childIds.splice(at, 0, first.id);
    // A synced copy goes somewhere after its original.
    for (const more of rest) page.childIds.splice(rng.int(at + 1, page.childIds.length), 0, more.id);
  };
  for (const page of input.pages) {
    if (input.skipPageIds.has(page.id)) continue;
    if (showcases.has(page.id)) {
      for (const kind of EXTRA_KINDS) insert(page, kind);
      continue;
    }
    if (!rng.chance(1 / 3)) continue;
    const count = rng.int(1, 3);
    for (let i = 0; i < count; i++) insert(page, rng.pick(EXTRA_KINDS));
  }
}

/** Rich text with every kind of mention the recordings show (user, page, database, date, link, link preview) and an inline equation. */
function notesText(
  rng: Prng,
  all: boolean,
  people: FullUser[],
  rows: PageRecord[],
  database: DatabaseRecord,
): RichText[] {
  const parts: RichText[] = [richText(`${sentence(rng, 2, 5).slice(0, -1)} `)];
  const every = ["user", "page", "database", "date", "link", "preview", "equation"];
  const kinds = all ? every : rng.shuffle(every).slice(0, rng.int(1, 2));
  for (const kind of kinds) {
    const row = rows.length > 0 ? rng.pick(rows) : undefined;
    switch (kind) {
      case "user":
        parts.push(userMention(rng.pick(people)));
        break;
      case "page":
        if (row) parts.push(pageMention(row.id, row.title));
        break;
      case "database":
        parts.push(databaseMention(database.id, database.title));
        break;
      case "date":
        parts.push(
          dateMention({
            start: new Date(HISTORY_START + rng.int(0, 500) * DAY).toISOString().slice(0, 10),
            end: null,
            time_zone: null,
          }),
        );
        break;
      case "link":
        parts.push(
          linkMention(
            rng.pick(PREVIEWS),
            "Example Domain",
            "This domain is for use in illustrative examples in documents.",
          ),
        );
        break;
      case "preview":
        parts.push(linkPreviewMention(rng.pick(PREVIEWS)));
        break;
      case "equation":
        parts.push(equationText(rng.pick(EQUATIONS)));
        break;
    }
    parts.push(richText(" "));
  }
  return parts;
}
