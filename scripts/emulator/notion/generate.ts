/**
 * Deterministic workspace generator: the same options always give the same
 * workspace, ids included (everything is drawn from one seeded Prng, in a
 * fixed order). Sizes are tuned so that a full recursive read of the default
 * workspace takes about two thousand blocks.children.list requests.
 */
import { codeText, emojiIcon, floorToMinute, pageTitle, paragraphText, richText, sentence, slugify, TAGS, textPayload, type Payload } from "./content.js";
import { Prng } from "./prng.js";
import type { BlockType, Cover, Icon } from "./types.js";
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
const NESTABLE = new Set<BlockType>(["paragraph", "bulleted_list_item", "numbered_list_item", "to_do", "quote", "callout"]);

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
    for (const [db, count, key] of [[pagesDatabase, this.opts.pages, "pages"], [postsDatabase, this.opts.posts, "posts"]] as const) {
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
    for (let left = count; left > 0; ) {
      const size = Math.min(left, rng.chance(0.25) ? rng.int(Math.ceil(max / 4), max) : rng.int(1, Math.min(max, 4)));
      bursts.push(size);
      left -= size;
    }
    const first = HISTORY_START / MINUTE;
    const minutes = Math.floor((this.opts.now - 7 * DAY - HISTORY_START) / MINUTE);
    if (bursts.length > minutes) {
      throw new Error(`${count} rows at most ${max} a minute do not fit in the generated history: raise maxRowsPerMinute`);
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
      const record = this.blockRecord(this.rng.uuid(), page, null, "paragraph", textPayload([richText(sentence(this.rng))]));
      this.blocks.push(record);
      ids.push(record.id);
    }
    return ids;
  }

  private row(db: DatabaseRecord, slugs: Set<string>, slugHints: Map<string, number>, untitled: boolean, created?: number): PageRecord {
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
      default:
        return textPayload(paragraphText(rng));
    }
  }

  private blockRecord(id: string, page: PageRecord, parentBlockId: string | null, type: BlockType, payload: Payload): BlockRecord {
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
    if (roll < 0.58) return { type: "external", external: { url: `https://icons.example.com/${this.rng.int(1, 40)}.svg` } };
    return null;
  }

  private cover(): Cover {
    return { type: "external", external: { url: `https://covers.example.com/${this.rng.int(1, 30)}.jpg` } };
  }

  private minuteBetween(from: number, to: number): number {
    return floorToMinute(from + this.rng.next() * Math.max(0, to - from));
  }
}
