/**
 * In-memory Notion workspace: two databases (Pages, Posts) and any made by
 * createDatabase (databases.ts), with one data source each, their rows,
 * nested child pages and block trees. Reads return
 * fresh objects in the exact 2025-09-03 wire shapes; mutations model what a
 * human editing Notion does, including its quirks (minute-rounded
 * last_edited_time, unshared pages turning into 404s while their child_page
 * block stays listed).
 */
import {
  baseSchema,
  CATEGORY_OPTIONS,
  floorToMinute,
  isoMinute,
  pageUrl,
  paragraphPayload,
  richText,
  schemaEntry,
  sentence,
  slugify,
  STATUS_OPTIONS,
  TAGS,
  workspaceUsers,
  type Payload,
  type PropertySpec,
  type SelectOptionSpec,
} from "./content.js";
import {
  buildSchema,
  columnsOf,
  defaultStatus,
  specOptions,
  storedValue,
  type DatabaseInput,
  type RowInput,
} from "./databases.js";
import {
  type FilterDialect,
  LEGACY_DIALECT,
  compileFilter,
  compileSorts,
  decodeCursor,
  encodeCursor,
  type RowKey,
  type SortSpec,
} from "./query.js";
import { normalizeId, Prng } from "./prng.js";
import { relationProperties, relationSchema, withAddedRelations } from "./property-items.js";
import { attachmentsProperty, signHostedFiles, type FilesPropertyItem } from "./files.js";
import {
  NotionApiError,
  notFound,
  type BlockObject,
  type BlockType,
  type Cover,
  type DatabaseObject,
  type DataSourceObject,
  type DateValue,
  type FilesItem,
  type FullUser,
  type Icon,
  type JsonObject,
  type ListPage,
  type PageObject,
  type PropertyValue,
  type RichText,
} from "./types.js";

export type { BlockObject, DatabaseObject, DataSourceObject, PageObject } from "./types.js";

export type BlockTree = BlockObject & { children?: BlockTree[] };

export interface DatabaseRecord {
  id: string;
  dataSourceId: string;
  title: string;
  icon: Icon | null;
  createdTime: number;
  lastEditedTime: number;
  /**
   * The data source's properties in order (content.ts baseSchema and the
   * default workspace's additions); default: the base six. A property with a
   * `field` reads that column of the page record, the others `values[name]`.
   */
  schema?: PropertySpec[];
  /** Made by createDatabase: rows show the schema's properties only, every value but the title from `values`. */
  custom?: boolean;
}

export interface PageRecord {
  id: string;
  /** Set for database rows. */
  databaseId: string | null;
  /** Set for child pages (pages living inside another page through a child_page block). */
  parentPageId: string | null;
  title: string;
  /** Row properties; child pages only have a title. */
  slug: string | null;
  date: string | null;
  tags: string[];
  published: boolean;
  description: string;
  icon: Icon | null;
  cover: Cover | null;
  /** The `Attachments` files property (files.ts addHostedFiles); rows without it do not have the property. */
  attachments?: FilesPropertyItem[];
  /** Raw values of the schema's properties that are no column here, by property name (generate.ts; see renderValue). */
  values?: Record<string, unknown>;
  /** Who created the page: a person of the workspace or the integration's bot (default: the owner). */
  createdBy?: string;
  /** Who edited it last (default: its creator); edits through the mutations below are the owner's. */
  lastEditedBy?: string;
  /** The row's unique_id number in its database. */
  uniqueNumber?: number;
  /** A recorded Notion page (installRecordedPage): served as recorded, with our parent and trash state. */
  raw?: JsonObject;
  createdTime: number;
  lastEditedTime: number;
  trashed: boolean;
  /** False once the integration lost access (the page then answers 404). */
  shared: boolean;
  /** Top-level block ids in order. */
  childIds: string[];
}

export interface BlockRecord {
  id: string;
  /** The page whose content this block is part of. */
  pageId: string;
  /** Null for top-level blocks (their parent is the page). */
  parentBlockId: string | null;
  type: BlockType;
  /** The object under `block[type]`; image blocks hosted by Notion get their signed url added at read time. */
  payload: Payload;
  /** For `image` blocks with `type: "file"`: the file name inside Notion's bucket. */
  hostedFile?: string;
  childIds: string[];
  createdTime: number;
  lastEditedTime: number;
  /** Only child_page blocks of trashed child pages are trashed (Notion drops them from listings). */
  trashed: boolean;
  /** A recorded Notion block (installRecordedPage): served exactly as recorded. */
  raw?: JsonObject;
}

export interface WorkspaceInit {
  seed: number;
  /** Initial workspace clock (ms since epoch). */
  now: number;
  workspaceId: string;
  userId: string;
  pagesDatabase: DatabaseRecord;
  postsDatabase: DatabaseRecord;
  pages: PageRecord[];
  blocks: BlockRecord[];
  /** Rows one query serves at most (Notion's cap since 2026-04-20); default {@link DEFAULT_QUERY_RESULT_LIMIT}. */
  queryResultLimit?: number;
}

/** Notion's per-query result cap (changelog, April 20, 2026). */
export const DEFAULT_QUERY_RESULT_LIMIT = 10_000;

/** What Notion adds to the page of a query that reached the cap; complete answers carry no request_status (recordings of 2026-06/07). */
export interface IncompleteRequestStatus {
  type: "incomplete";
  incomplete_reason: "query_result_limit_reached";
}

export type QueryPage = ListPage<PageObject> & { request_status?: IncompleteRequestStatus };

export interface QueryOptions {
  /** Overrides the workspace's result limit for this call; `Infinity` serves every row (for checks like verify.ts). */
  limit?: number;
  /** How status filters read (the request's version): 2025-09-03's by default. */
  dialect?: FilterDialect;
}

export interface WorkspaceStats {
  pages: number;
  posts: number;
  childPages: number;
  /** Blocks a full sync stores: every block of every visible row and reachable child page (child_page blocks included). */
  blocks: number;
  /** blocks.children.list requests (page_size 100) a full recursive read of those pages takes. */
  blockListRequests: number;
}

const HOUR = 3_600_000;
const MAX_PAGE_SIZE = 100;
/** Distinct (sorts, filter, trash) result lists kept between queries; a paginated query or the SDK's window walk reuses one. */
const QUERY_CACHE_SIZE = 16;

type Row = { page: PageRecord; key: RowKey };
interface CachedQuery {
  keyOf: SortSpec;
  rows: Row[];
}

export class Workspace {
  readonly seed: number;
  readonly pagesDatabaseId: string;
  readonly postsDatabaseId: string;
  readonly pagesDataSourceId: string;
  readonly postsDataSourceId: string;

  private readonly databases = new Map<string, DatabaseRecord>();
  private readonly pages = new Map<string, PageRecord>();
  private readonly blocks = new Map<string, BlockRecord>();
  private readonly workspaceId: string;
  private readonly user: { object: "user"; id: string };
  /** Every user by id: the people of the workspace and the integration's bot (content.ts workspaceUsers). */
  private readonly users = new Map<string, FullUser>();
  /** The page the two databases live in (not served: like a page not shared with the integration). */
  private readonly sitePageId: string;
  /** Ids and texts invented by mutations come from their own stream, so they stay deterministic too. */
  private readonly rng: Prng;
  private clockBase: number;
  /** Wall-clock anchor when the clock is running; null when frozen. */
  private clockAnchor: number | null = null;
  private resultLimit = DEFAULT_QUERY_RESULT_LIMIT;
  /**
   * Sorted (and filtered) rows per query shape, valid for one `revision`.
   * Every mutation that can change a row's sort key, visibility or trash
   * state must call `changed()`.
   */
  private readonly queryCache = new Map<string, CachedQuery>();
  private readonly sortCache = new Map<string, CachedQuery>();
  private revision = 0;
  private cachedRevision = 0;

  constructor(init: WorkspaceInit) {
    this.seed = init.seed;
    this.rng = new Prng(`${init.seed}:mutations`);
    this.clockBase = init.now;
    this.workspaceId = init.workspaceId;
    this.user = { object: "user", id: init.userId };
    const users = workspaceUsers(init.seed, init.userId);
    for (const user of [...users.people, users.bot]) this.users.set(user.id, user);
    this.sitePageId = new Prng(`${init.seed}:site`).uuid();
    this.pagesDatabaseId = init.pagesDatabase.id;
    this.postsDatabaseId = init.postsDatabase.id;
    this.pagesDataSourceId = init.pagesDatabase.dataSourceId;
    this.postsDataSourceId = init.postsDatabase.dataSourceId;
    for (const db of [init.pagesDatabase, init.postsDatabase]) this.databases.set(db.id, db);
    for (const page of init.pages) this.pages.set(page.id, page);
    for (const block of init.blocks) this.blocks.set(block.id, block);
    if (init.queryResultLimit !== undefined) this.queryResultLimit = init.queryResultLimit;
  }

  /** Rows one data source query serves at most, across its pages (`Infinity`: no cap). */
  get queryResultLimit(): number {
    return this.resultLimit;
  }

  set queryResultLimit(limit: number) {
    this.resultLimit = checkQueryResultLimit(limit);
  }

  // ---------------------------------------------------------------- clock

  now(): Date {
    return new Date(this.nowMs());
  }

  setNow(date: Date): void {
    this.clockBase = date.getTime();
    if (this.clockAnchor !== null) this.clockAnchor = Date.now();
  }

  advanceClock(ms: number): void {
    this.clockBase += ms;
  }

  /** A running clock advances with wall time (used by the CLI so edits minutes apart get different stamps); frozen by default for tests. */
  setClockRunning(running: boolean): void {
    this.clockBase = this.nowMs();
    this.clockAnchor = running ? Date.now() : null;
  }

  private nowMs(): number {
    return this.clockAnchor === null ? this.clockBase : this.clockBase + (Date.now() - this.clockAnchor);
  }

  // ---------------------------------------------------------------- reads

  database(id: string): DatabaseObject | undefined {
    const db = this.databases.get(normalizeId(id) ?? "");
    if (!db) return undefined;
    // Key order and field set of the recorded answers; database timestamps carry milliseconds and an offset.
    return {
      object: "database",
      id: db.id,
      title: [richText(db.title)],
      description: [],
      parent: { type: "page_id", page_id: this.sitePageId },
      is_inline: false,
      in_trash: false,
      is_locked: false,
      created_time: databaseTime(db.createdTime, `${db.id}:created`),
      last_edited_time: databaseTime(db.lastEditedTime, `${db.id}:edited`),
      data_sources: [{ id: db.dataSourceId, name: db.title }],
      icon: db.icon,
      cover: null,
      url: pageUrl("", db.id),
      public_url: null,
    };
  }

  /** GET /v1/data_sources/{id}: the schema of a database's data source; undefined for an unknown id (a database id included). */
  dataSource(id: string): DataSourceObject | undefined {
    const wanted = normalizeId(id) ?? id;
    const db = [...this.databases.values()].find((d) => d.dataSourceId === wanted);
    if (!db) return undefined;
    const properties: DataSourceObject["properties"] = {};
    for (const spec of this.schemaOf(db)) properties[spec.name] = schemaEntry(spec);
    // Relations setRelation gave its rows, and recorded rows' properties, are in its schema too,
    // as every property of a row is in Notion (filter_properties names them by these ids).
    for (const [name, entry] of Object.entries(relationSchema(this, db.id, db.dataSourceId)))
      properties[name] ??= entry as DataSourceObject["properties"][string];
    for (const page of this.pages.values())
      if (page.raw && page.databaseId === db.id)
        for (const [name, value] of Object.entries((page.raw.properties ?? {}) as Record<string, JsonObject>))
          properties[name] ??= recordedSchemaEntry(name, value) as DataSourceObject["properties"][string];
    return {
      object: "data_source",
      id: db.dataSourceId,
      cover: null,
      icon: db.icon,
      created_time: isoMinute(db.createdTime),
      created_by: this.user,
      last_edited_by: this.user,
      last_edited_time: isoMinute(db.lastEditedTime),
      title: [richText(db.title)],
      description: [],
      is_inline: false,
      properties,
      parent: { type: "database_id", database_id: db.id },
      database_parent: { type: "page_id", page_id: this.sitePageId },
      url: pageUrl("", db.id),
      public_url: null,
      archived: false,
      in_trash: false,
    };
  }

  /** Every database in creation order: the default two first, then those createDatabase made. */
  databaseIds(): string[] {
    return [...this.databases.keys()];
  }

  /** The people of the workspace and the integration's bot, as full user objects. */
  allUsers(): FullUser[] {
    return [...this.users.values()].map((u) => structuredClone(u));
  }

  /**
   * POST /v1/data_sources/{id}/query. Throws NotionApiError for an unknown
   * data source (including a database id) and for bodies Notion would reject.
   *
   * One query (one filter + sorts, paginated with start_cursor) serves at
   * most `limit` rows: rows at position >= limit in the filtered, sorted list
   * are never served. The page that reaches the limit has `has_more: false`,
   * `next_cursor: null` and `request_status: {type: "incomplete",
   * incomplete_reason: "query_result_limit_reached"}`; a cursor at or past
   * the limit gets an empty page of that kind. A query whose rows all fit
   * carries no request_status, like Notion's recorded answers.
   */
  queryDataSource(dataSourceId: string, body: Record<string, unknown> = {}, options: QueryOptions = {}): QueryPage {
    const id = normalizeId(dataSourceId) ?? dataSourceId;
    const db = [...this.databases.values()].find((d) => d.dataSourceId === id);
    if (!db) throw notFound(id, "data_source");
    const limit = options.limit === undefined ? this.resultLimit : checkQueryResultLimit(options.limit);

    const pageSize = validatePageSize(body.page_size);
    // `in_trash: true` (or the deprecated `archived: true`) lists the rows in the trash instead.
    for (const flag of ["in_trash", "archived"] as const) {
      if (body[flag] !== undefined && typeof body[flag] !== "boolean")
        throw validation(`body.${flag} should be a boolean.`);
    }
    const trashed = body.in_trash === true || body.archived === true;
    const { keyOf, rows } = this.queryRows(db.id, body.filter, body.sorts, trashed, options.dialect);

    let start = 0;
    if (body.start_cursor !== undefined && body.start_cursor !== null) {
      if (typeof body.start_cursor !== "string") throw validation("body.start_cursor should be a string.");
      const after = decodeCursor(body.start_cursor, keyOf.arity);
      // Keyset pagination: the cursor carries the sort key of the last row served,
      // so it survives edits, trashing and additions between calls.
      start = firstAfter(rows, after, keyOf.compare);
    }
    if (rows.length > limit && start + pageSize >= limit) {
      // This page reaches the cap: serve up to it and stop, whatever is left.
      const slice = start < limit ? rows.slice(start, limit) : [];
      return {
        results: slice.map((row) => this.renderPage(row.page)),
        has_more: false,
        next_cursor: null,
        request_status: { type: "incomplete", incomplete_reason: "query_result_limit_reached" },
      };
    }
    const slice = rows.slice(start, start + pageSize);
    const hasMore = start + pageSize < rows.length;
    return {
      results: slice.map((row) => this.renderPage(row.page)),
      has_more: hasMore,
      next_cursor: hasMore ? encodeCursor(slice[slice.length - 1].key) : null,
    };
  }

  page(id: string): PageObject | undefined {
    const page = this.pages.get(normalizeId(id) ?? "");
    if (!page || !this.accessible(page)) return undefined;
    return this.renderPage(page);
  }

  /**
   * GET /v1/blocks/{id}/children for a page or a block. Undefined when the
   * id is unknown or not shared; throws NotionApiError for a bad cursor or
   * page size. Content of trashed pages stays readable, as in Notion.
   */
  blockChildren(blockId: string, startCursor?: string, pageSize?: number): ListPage<BlockObject> | undefined {
    const childIds = this.readableChildIds(blockId);
    if (!childIds) return undefined;
    const size = validatePageSize(pageSize);
    let start = 0;
    if (startCursor !== undefined && startCursor !== "") {
      // Like Notion, the cursor is the id of the first block of the next page.
      start = childIds.indexOf(normalizeId(startCursor) ?? "");
      if (start === -1) throw validation(`start_cursor provided is invalid: ${startCursor}`);
    }
    const slice = childIds.slice(start, start + size);
    const hasMore = start + size < childIds.length;
    const now = this.nowMs();
    return {
      results: slice.map((id) => this.renderBlock(this.blocks.get(id)!, now)),
      has_more: hasMore,
      next_cursor: hasMore ? childIds[start + size] : null,
    };
  }

  contentTree(pageId: string): BlockTree[] {
    const now = this.nowMs();
    const build = (containerId: string): BlockTree[] =>
      (this.readableChildIds(containerId) ?? []).map((id) => {
        const block = this.blocks.get(id)!;
        const node: BlockTree = this.renderBlock(block, now);
        // child_page blocks are pages of their own: never inline their content.
        if (node.has_children && block.type !== "child_page") node.children = build(id);
        return node;
      });
    return build(pageId);
  }

  visibleRows(databaseId: string): PageObject[] {
    const id = normalizeId(databaseId) ?? databaseId;
    return this.queryRows(id, undefined, undefined, false).rows.map((row) => this.renderPage(row.page));
  }

  /**
   * What POST /v1/search looks through (search.ts): every visible page, rows of both databases
   * and reachable child pages, once each, without rendering them: id, last_edited_time as served
   * (epoch ms of the minute) and title. Rendering every page for every search request made one
   * request of a 5,000-row workspace take 2 s of the emulator's only thread.
   */
  searchablePages(): { id: string; time: number; title: string }[] {
    const out = new Map<string, { id: string; time: number; title: string }>();
    const add = (page: PageRecord) => {
      if (out.has(page.id)) return false;
      if (page.raw) {
        const rendered = this.renderPage(page);
        const title = Object.values(rendered.properties).find((p) => p.type === "title") as
          { title?: { plain_text?: string }[] } | undefined;
        out.set(page.id, {
          id: page.id,
          time: Date.parse(rendered.last_edited_time),
          title: (title?.title ?? []).map((t) => t.plain_text ?? "").join(""),
        });
      } else out.set(page.id, { id: page.id, time: Date.parse(isoMinute(page.lastEditedTime)), title: page.title });
      return true;
    };
    const visit = (pageId: string): void => {
      for (const childId of this.childPageBlockIds(pageId)) {
        const child = this.pages.get(childId);
        if (child && this.visible(child) && add(child)) visit(child.id);
      }
    };
    const rows = this.databaseIds().flatMap((dbId) =>
      this.queryRows(dbId, undefined, undefined, false).rows.map((row) => row.page),
    );
    for (const row of rows) add(row);
    for (const row of rows) visit(row.id);
    return [...out.values()];
  }

  /** Child pages reachable from the visible rows of `databaseIds` (default: Pages and Posts), depth first. */
  reachableChildPages(
    maxDepth = Infinity,
    databaseIds: readonly string[] = [this.pagesDatabaseId, this.postsDatabaseId],
  ): { id: string; parentId: string; depth: number }[] {
    const found: { id: string; parentId: string; depth: number }[] = [];
    const visit = (pageId: string, depth: number): void => {
      if (depth > maxDepth) return;
      for (const childId of this.childPageBlockIds(pageId)) {
        const child = this.pages.get(childId);
        if (!child || !this.visible(child)) continue;
        found.push({ id: child.id, parentId: pageId, depth });
        visit(child.id, depth + 1);
      }
    };
    for (const dbId of databaseIds) {
      for (const row of this.visibleRows(dbId)) visit(row.id, 1);
    }
    return found;
  }

  stats(): WorkspaceStats {
    const pages = this.visibleRows(this.pagesDatabaseId);
    const posts = this.visibleRows(this.postsDatabaseId);
    const childPages = this.reachableChildPages();
    let blocks = 0;
    let blockListRequests = 0;
    const count = (containerId: string): void => {
      const ids = this.readableChildIds(containerId) ?? [];
      blockListRequests += Math.max(1, Math.ceil(ids.length / MAX_PAGE_SIZE));
      for (const id of ids) {
        blocks++;
        const block = this.blocks.get(id)!;
        if (block.type !== "child_page" && this.hasChildren(block)) count(id);
      }
    };
    for (const id of [...pages, ...posts].map((p) => p.id).concat(childPages.map((c) => c.id))) count(id);
    return { pages: pages.length, posts: posts.length, childPages: childPages.length, blocks, blockListRequests };
  }

  // ---------------------------------------------------------------- mutations

  editPageTitle(pageId: string, title: string): void {
    const page = this.requirePage(pageId);
    page.title = title;
    if (page.raw) {
      // A recorded page: its title property (whatever its name) takes the new title.
      for (const prop of Object.values(page.raw.properties as Record<string, JsonObject>)) {
        if (prop.type === "title") prop.title = title === "" ? [] : [richText(title) as unknown as JsonObject];
      }
    }
    this.touchPage(page);
    // The child_page block shows the new title, but the parent page's
    // last_edited_time does not move (protocols.md: edits in child pages may
    // not bump the parent).
    const block = this.blocks.get(page.id);
    if (block) block.lastEditedTime = floorToMinute(this.nowMs());
  }

  editBlockText(blockId: string, text: string): void {
    const block = this.requireBlock(blockId);
    if (!Array.isArray(block.payload.rich_text)) throw new Error(`block ${block.id} (${block.type}) has no rich_text`);
    block.payload = { ...block.payload, rich_text: [richText(text)] };
    block.lastEditedTime = floorToMinute(this.nowMs());
    if (block.raw) {
      block.raw = {
        ...block.raw,
        last_edited_time: isoMinute(block.lastEditedTime),
        [block.type]: block.payload as JsonObject,
      };
    }
    this.touchPage(this.requirePage(block.pageId));
  }

  appendBlocks(parentBlockOrPageId: string, n: number): void {
    const id = normalizeId(parentBlockOrPageId) ?? parentBlockOrPageId;
    const page = this.pages.get(id);
    const parentBlock = page ? undefined : this.requireBlock(id);
    const owner = page ?? this.requirePage(parentBlock!.pageId);
    const ids = Array.from({ length: n }, () =>
      this.insertBlock(
        owner.id,
        parentBlock?.id ?? null,
        "paragraph",
        paragraphPayload([richText(sentence(this.rng))]),
      ),
    );
    (page ?? parentBlock!).childIds.push(...ids);
    this.touchPage(owner);
  }

  /**
   * Appends an AI meeting notes block (`transcription`; `meeting_notes` from 2026-03-11) to a page, with
   * one paragraph of notes as its child (what `children.notes_block_id` names). Returns the block's id.
   */
  appendMeetingNotes(pageId: string, title: string, notes: string): string {
    const page = this.requirePage(normalizeId(pageId) ?? pageId);
    const id = this.rng.uuid();
    const notesId = this.insertBlock(page.id, id, "paragraph", paragraphPayload([richText(notes)]));
    const payload = { title: [richText(title)], status: "notes_ready", children: { notes_block_id: notesId } };
    this.insertBlock(page.id, null, "transcription", payload as unknown as Payload, id);
    this.blocks.get(id)!.childIds.push(notesId);
    page.childIds.push(id);
    this.touchPage(page);
    return id;
  }

  addPage(databaseId: string, input: { title: string; slug?: string }): PageObject {
    const db = this.databases.get(normalizeId(databaseId) ?? "");
    if (!db) throw new Error(`unknown database ${databaseId}`);
    const now = floorToMinute(this.nowMs());
    const page = this.insertPage({
      databaseId: db.id,
      parentPageId: null,
      title: input.title,
      slug: this.uniqueSlug(db.id, input.slug ?? slugify(input.title)),
      date: new Date(now).toISOString().slice(0, 10),
      tags: [],
      published: false,
      description: sentence(this.rng),
      createdTime: now,
    });
    page.uniqueNumber = this.nextUniqueNumber(db.id);
    this.appendBlocks(page.id, 3);
    return this.renderPage(page);
  }

  addChildPage(parentPageId: string, title: string): PageObject {
    const parent = this.requirePage(parentPageId);
    const child = this.insertPage({
      databaseId: null,
      parentPageId: parent.id,
      title,
      slug: null,
      date: null,
      tags: [],
      published: false,
      description: "",
      createdTime: floorToMinute(this.nowMs()),
    });
    this.appendBlocks(child.id, 2);
    // In Notion the child_page block and the page share one id.
    parent.childIds.push(this.insertBlock(parent.id, null, "child_page", {}, child.id));
    this.touchPage(parent);
    return this.renderPage(child);
  }

  /**
   * A new database with one data source, beside the others (the default two
   * stay as they are): its title, schema and icon from `input` (databases.ts).
   * Ids come from a stream of their own, so later mutations draw the same ids
   * as without it.
   */
  createDatabase(input: DatabaseInput): DatabaseObject {
    if (typeof input?.title !== "string" || input.title === "") throw new Error("a database needs a title");
    const rng = new Prng(`${this.seed}:database:${this.databases.size}`);
    const now = floorToMinute(this.nowMs());
    const db: DatabaseRecord = {
      id: rng.uuid(),
      dataSourceId: rng.uuid(),
      title: input.title,
      icon: input.icon ? { type: "emoji", emoji: input.icon } : null,
      createdTime: now,
      lastEditedTime: now,
      custom: true,
    };
    db.schema = buildSchema(db, input.properties ?? {}, (id) => this.databases.get(normalizeId(id) ?? ""));
    this.databases.set(db.id, db);
    this.changed();
    return this.database(db.id)!;
  }

  /** A new row of any database (by database or data source id) with these property values (databases.ts) and a little content. */
  addRow(databaseId: string, input: RowInput = {}): PageObject {
    const id = normalizeId(databaseId) ?? "";
    const db = this.databases.get(id) ?? [...this.databases.values()].find((d) => d.dataSourceId === id);
    if (!db) throw new Error(`unknown database ${databaseId}`);
    const stored = this.storedValues(db, input.values ?? {});
    const now = floorToMinute(this.nowMs());
    const page = this.insertPage({
      databaseId: db.id,
      parentPageId: null,
      title: "",
      slug: null,
      date: null,
      tags: [],
      published: false,
      description: "",
      createdTime: now,
    });
    page.uniqueNumber = this.nextUniqueNumber(db.id);
    this.applyValues(page, stored);
    if (!db.custom && input.values?.Slug === undefined) page.slug = this.uniqueSlug(db.id, slugify(page.title));
    const texts = input.paragraphs ?? [sentence(this.rng), sentence(this.rng)];
    page.childIds = texts.map((text) =>
      this.insertBlock(page.id, null, "paragraph", paragraphPayload(text === "" ? [] : [richText(text)])),
    );
    this.changed();
    return this.renderPage(page);
  }

  /**
   * Sets property values of a row (any database; by property name, as
   * addRow takes them): last_edited_time moves to this minute, as for any
   * edit. Returns the page as read now.
   */
  updateRow(pageId: string, values: Record<string, unknown>): PageObject {
    const page = this.requirePage(pageId);
    const db = page.databaseId ? this.databases.get(page.databaseId) : undefined;
    if (!db || page.raw) throw new Error(`page ${pageId} is not a generated database row`);
    this.applyValues(page, this.storedValues(db, values));
    this.touchPage(page);
    return this.renderPage(page);
  }

  /** Row values by property name in their stored form, all checked before any is stored. */
  private storedValues(db: DatabaseRecord, values: Record<string, unknown>): (readonly [PropertySpec, unknown])[] {
    const schema = this.schemaOf(db);
    const ctx = { workspaceId: this.workspaceId, users: [...this.users.values()], uuid: () => this.rng.uuid() };
    return Object.entries(values).map(([name, input]) => {
      const spec = schema.find((s) => s.name === name);
      if (!spec) throw new Error(`database ${db.id} has no property ${name}`);
      return [spec, storedValue(spec, input, ctx)] as const;
    });
  }

  /** Stores checked values: page-record columns for the default databases' own properties, `values` for the rest. */
  private applyValues(page: PageRecord, stored: (readonly [PropertySpec, unknown])[]): void {
    for (const [spec, value] of stored) {
      const text = () => (value as RichText[]).map((part) => part.plain_text).join("");
      switch (spec.field) {
        case undefined:
          page.values = { ...page.values, [spec.name]: value };
          break;
        case "title":
          page.title = text();
          break;
        case "slug":
          page.slug = text();
          break;
        case "description":
          page.description = text();
          break;
        case "date":
          page.date = (value as DateValue | null)?.start ?? null;
          break;
        case "tags":
          page.tags = value as string[];
          break;
        case "published":
          page.published = value as boolean;
          break;
        case "attachments":
          page.attachments = value as FilesPropertyItem[];
          break;
      }
    }
    this.changed();
  }

  trashPage(pageId: string): void {
    const page = this.requirePage(pageId);
    page.trashed = true;
    this.changed();
    this.touchPage(page);
    const block = this.blocks.get(page.id);
    if (block && page.parentPageId) {
      // The child_page block disappears from the parent: a content change of the parent.
      block.trashed = true;
      this.touchPage(this.requirePage(page.parentPageId));
    }
  }

  restorePage(pageId: string): void {
    const page = this.requirePage(pageId);
    page.trashed = false;
    this.changed();
    this.touchPage(page);
    const block = this.blocks.get(page.id);
    if (block && page.parentPageId) {
      block.trashed = false;
      this.touchPage(this.requirePage(page.parentPageId));
    }
  }

  /** A row dragged into the other database: its parent changes and its last_edited_time moves. */
  moveRow(pageId: string, toDatabaseId: string): void {
    const page = this.requirePage(pageId);
    const db = this.databases.get(normalizeId(toDatabaseId) ?? "");
    if (!db || !page.databaseId) throw new Error(`cannot move ${pageId} to ${toDatabaseId}`);
    page.databaseId = db.id;
    if (page.slug) page.slug = this.uniqueSlug(db.id, page.slug);
    this.changed();
    this.touchPage(page);
  }

  /** A child page moved into another page: its child_page block leaves the old parent for the new one. */
  moveChildPage(childId: string, toParentPageId: string): void {
    const child = this.requirePage(childId);
    const to = this.requirePage(toParentPageId);
    const block = this.blocks.get(child.id);
    if (!child.parentPageId || !block) throw new Error(`${childId} is not a child page`);
    const from = this.requirePage(child.parentPageId);
    from.childIds = from.childIds.filter((id) => id !== block.id);
    if (block.parentBlockId) {
      const holder = this.requireBlock(block.parentBlockId);
      holder.childIds = holder.childIds.filter((id) => id !== block.id);
      block.parentBlockId = null;
    }
    to.childIds.push(block.id);
    block.pageId = to.id;
    child.parentPageId = to.id;
    this.changed();
    this.touchPage(from);
    this.touchPage(to);
    this.touchPage(child);
  }

  /** The integration loses access: no timestamp moves, the child_page block stays in its parent. */
  unsharePage(pageId: string): void {
    this.requirePage(pageId).shared = false;
    this.changed();
  }

  sharePage(pageId: string): void {
    this.requirePage(pageId).shared = true;
    this.changed();
  }

  // ---------------------------------------------------------------- recorded Notion content

  /**
   * Installs a page recorded from the real Notion API, with its recorded
   * blocks as its content, so the emulator serves them (and a sync reads
   * them) as Notion sent them. The page becomes a row of `databaseId`
   * (default the Pages database), or, with `parentPageId`, a child page of
   * that page (a child_page block is appended to it). It is served as
   * recorded except its `parent` (ours), `last_edited_time` (moved by edits)
   * and trash state; hosted file URLs are signed anew at each read, like
   * Notion's. Blocks are served exactly as recorded (their `parent` names the
   * page they were recorded in). `children` gives recorded children lists by
   * block id; a block with `has_children` and no recorded children gets one
   * generated paragraph, so what it claims is true (child_page and
   * child_database blocks excepted: their content is their own page). A
   * synced block copy shows its original's children when the original is
   * installed too. Throws if an id is already taken.
   */
  installRecordedPage(input: {
    page: Record<string, unknown>;
    blocks?: Record<string, unknown>[];
    children?: Record<string, Record<string, unknown>[]>;
    databaseId?: string;
    parentPageId?: string;
  }): PageObject {
    const raw = structuredClone(input.page) as JsonObject;
    delete raw.request_id;
    const id = normalizeId(String(raw.id));
    if (!id || this.pages.has(id) || this.blocks.has(id))
      throw new Error(`recorded page id ${String(raw.id)} is invalid or taken`);
    const parentPage = input.parentPageId ? this.requirePage(input.parentPageId) : undefined;
    const db = parentPage ? undefined : this.databases.get(normalizeId(input.databaseId ?? this.pagesDatabaseId) ?? "");
    if (!parentPage && !db) throw new Error(`unknown database ${String(input.databaseId)}`);
    const properties = (raw.properties ?? {}) as Record<string, JsonObject>;
    const titleProp = Object.values(properties).find((p) => p.type === "title");
    const title = Array.isArray(titleProp?.title)
      ? (titleProp.title as JsonObject[]).map((t) => String(t.plain_text ?? "")).join("")
      : "";
    const slugProp = properties.Slug;
    const slugText =
      slugProp?.type === "rich_text" && Array.isArray(slugProp.rich_text)
        ? (slugProp.rich_text as JsonObject[]).map((t) => String(t.plain_text ?? "")).join("")
        : "";
    const page: PageRecord = {
      id,
      databaseId: db?.id ?? null,
      parentPageId: parentPage?.id ?? null,
      title,
      slug: db ? this.uniqueSlug(db.id, slugify(slugText || title)) : null,
      date: null,
      tags: [],
      published: false,
      description: "",
      icon: null,
      cover: null,
      createdTime: Date.parse(String(raw.created_time)),
      lastEditedTime: Date.parse(String(raw.last_edited_time)),
      trashed: false,
      shared: true,
      childIds: [],
      raw,
    };
    this.pages.set(id, page);
    const install = (recorded: Record<string, unknown>[], parentBlockId: string | null): string[] =>
      recorded.map((b) => {
        const block = structuredClone(b) as JsonObject;
        delete block.request_id;
        const blockId = normalizeId(String(block.id));
        if (!blockId || this.blocks.has(blockId) || this.pages.has(blockId))
          throw new Error(`recorded block id ${String(block.id)} is invalid or taken`);
        const type = String(block.type) as BlockType;
        const record: BlockRecord = {
          id: blockId,
          pageId: id,
          parentBlockId,
          type,
          payload: (block[type] ?? {}) as Payload,
          childIds: [],
          createdTime: Date.parse(String(block.created_time)),
          lastEditedTime: Date.parse(String(block.last_edited_time)),
          trashed: false,
          raw: block,
        };
        this.blocks.set(blockId, record);
        const kids = input.children?.[String(b.id)] ?? input.children?.[blockId];
        if (kids) record.childIds = install(kids, blockId);
        else if (block.has_children === true && type !== "child_page" && type !== "child_database") {
          record.childIds = [
            this.insertBlock(id, blockId, "paragraph", paragraphPayload([richText(sentence(this.rng))])),
          ];
        }
        return blockId;
      });
    page.childIds = install(input.blocks ?? [], null);
    if (parentPage) {
      parentPage.childIds.push(this.insertBlock(parentPage.id, null, "child_page", {}, id));
      this.touchPage(parentPage);
    }
    this.changed();
    return this.renderPage(page);
  }

  // ---------------------------------------------------------------- internals

  /**
   * Shared rows of a database (not trashed, or only trashed ones) matching
   * `filter`, each with its sort key, sorted by `sorts`. Validates filter and
   * sorts (NotionApiError). Cached until the next mutation: the returned
   * arrays must not be modified.
   */
  private queryRows(
    databaseId: string,
    filter: unknown,
    sorts: unknown,
    inTrash: boolean,
    dialect: FilterDialect = LEGACY_DIALECT,
  ): CachedQuery {
    if (this.cachedRevision !== this.revision) {
      this.sortCache.clear();
      this.queryCache.clear();
      this.cachedRevision = this.revision;
    }
    const sortKey = `${databaseId}|${inTrash}|${JSON.stringify(sorts ?? null)}`;
    const queryKey = `${sortKey}|${JSON.stringify(filter ?? null)}|${dialect.groupByName}${dialect.groupOperators}`;
    const hit = this.queryCache.get(queryKey);
    if (hit) return hit;

    const db = this.databases.get(databaseId)!;
    const columns = columnsOf(this.schemaOf(db), !db.custom);
    const matches =
      filter === undefined || filter === null ? undefined : compileFilter(filter, columns, undefined, 0, dialect);
    let sorted = this.sortCache.get(sortKey);
    if (!sorted) {
      const keyOf = compileSorts(sorts, columns);
      const rows: Row[] = [];
      for (const page of this.pages.values()) {
        if (page.databaseId === databaseId && this.accessible(page) && this.trashed(page) === inTrash) {
          rows.push({ page, key: keyOf(page) });
        }
      }
      rows.sort((a, b) => keyOf.compare(a.key, b.key));
      sorted = { keyOf, rows };
      remember(this.sortCache, sortKey, sorted);
    }
    const result = matches ? { keyOf: sorted.keyOf, rows: sorted.rows.filter((row) => matches(row.page)) } : sorted;
    remember(this.queryCache, queryKey, result);
    return result;
  }

  /** Drops the cached query results: to be called by every mutation. */
  private changed(): void {
    this.revision++;
  }

  /** Non-trashed child ids of a readable page or block; undefined when Notion would answer 404. */
  private readableChildIds(id: string): string[] | undefined {
    const normalized = normalizeId(id) ?? "";
    // A child page and its child_page block share the id: listing it gives the page's content.
    const page = this.pages.get(normalized);
    let childIds: string[];
    if (page) {
      if (!this.accessible(page)) return undefined;
      childIds = page.childIds;
    } else {
      const block = this.blocks.get(normalized);
      if (!block || block.trashed || !this.accessible(this.pages.get(block.pageId)!)) return undefined;
      const holder = this.contentHolder(block);
      // A synced copy whose original is not readable answers 404, as in Notion.
      if (holder !== block && (holder.trashed || !this.accessible(this.pages.get(holder.pageId)!))) return undefined;
      childIds = holder.childIds;
    }
    return childIds.filter((childId) => !this.blocks.get(childId)!.trashed);
  }

  /**
   * Whose children a block shows: its own, or for a synced block copy
   * (`synced_from: {block_id}`) its original's, as Notion serves them (the
   * children keep the original as their parent).
   */
  private contentHolder(block: BlockRecord): BlockRecord {
    if (block.type !== "synced_block") return block;
    const payload = (block.raw ? block.raw.synced_block : block.payload) as
      { synced_from?: { block_id?: string } | null } | undefined;
    const originalId = payload?.synced_from?.block_id;
    const original = originalId ? this.blocks.get(normalizeId(originalId) ?? "") : undefined;
    return original ?? block;
  }

  private hasChildren(block: BlockRecord): boolean {
    const ids =
      block.type === "child_page" ? (this.pages.get(block.id)?.childIds ?? []) : this.contentHolder(block).childIds;
    return ids.some((id) => !this.blocks.get(id)!.trashed);
  }

  /** Ids of the child_page blocks anywhere in a page's content, in document order. */
  private childPageBlockIds(pageId: string): string[] {
    const out: string[] = [];
    const walk = (ids: string[], depth: number): void => {
      for (const id of ids) {
        const block = this.blocks.get(id)!;
        if (block.trashed) continue;
        if (block.type === "child_page") out.push(block.id);
        else if (depth < 64) walk(this.contentHolder(block).childIds, depth + 1);
      }
    };
    walk(this.pages.get(pageId)?.childIds ?? [], 0);
    return out;
  }

  /** Access is inherited: a child page of an unshared page is unshared too. */
  private accessible(page: PageRecord): boolean {
    if (!page.shared) return false;
    const parent = page.parentPageId ? this.pages.get(page.parentPageId) : undefined;
    return parent ? this.accessible(parent) : true;
  }

  /** Trash is inherited too: children of a trashed page are in the trash with it. */
  private trashed(page: PageRecord): boolean {
    if (page.trashed) return true;
    const parent = page.parentPageId ? this.pages.get(page.parentPageId) : undefined;
    return parent ? this.trashed(parent) : false;
  }

  private visible(page: PageRecord): boolean {
    return this.accessible(page) && !this.trashed(page);
  }

  private renderPage(page: PageRecord): PageObject {
    const db = page.databaseId ? this.databases.get(page.databaseId)! : undefined;
    const inTrash = this.trashed(page);
    const parent: PageObject["parent"] = db
      ? { type: "data_source_id", data_source_id: db.dataSourceId, database_id: db.id }
      : { type: "page_id", page_id: page.parentPageId! };
    if (page.raw) return signHostedFiles(this.renderRecordedPage(page, parent, inTrash), this.nowMs());
    const createdBy = page.createdBy ?? this.user.id;
    // Hosted files (cover, icon, files properties) are signed anew at every read, like Notion's.
    // Field set and key order of Notion's recent 2025-09-03 answers (in_trash, is_archived, is_locked, ..., archived).
    return signHostedFiles(
      {
        object: "page",
        id: page.id,
        created_time: isoMinute(page.createdTime),
        last_edited_time: isoMinute(page.lastEditedTime),
        created_by: { object: "user", id: createdBy },
        last_edited_by: { object: "user", id: page.lastEditedBy ?? createdBy },
        cover: page.cover,
        icon: page.icon,
        parent,
        in_trash: inTrash,
        is_archived: false,
        is_locked: false,
        // Relations given with setRelation (property-items.ts) come after the generated properties.
        properties: !db
          ? { title: { id: "title", type: "title", title: [richText(page.title)] } }
          : withAddedRelations(
              this,
              page.id,
              db.id,
              db.custom
                ? this.schemaProperties(page, db)
                : { ...rowProperties(page), ...this.schemaProperties(page, db) },
            ),
        url: pageUrl(page.title, page.id),
        public_url: null,
        archived: inTrash,
      } satisfies PageObject,
      this.nowMs(),
    );
  }

  /** A recorded page as Notion sent it, except its parent (ours) and its trash state. */
  private renderRecordedPage(page: PageRecord, parent: PageObject["parent"], inTrash: boolean): PageObject {
    const out = structuredClone(page.raw!) as unknown as PageObject;
    out.parent = parent;
    // Relations given in full with setRelation (property-items.ts) replace the recorded first 25, in place.
    if (page.databaseId) out.properties = { ...out.properties, ...relationProperties(this, page.id) };
    out.last_edited_time = isoMinute(page.lastEditedTime);
    if ("in_trash" in out) out.in_trash = inTrash;
    if ("archived" in out) out.archived = inTrash;
    return out;
  }

  /** The schema of a database's data source: the base six, or what the generator gave it. */
  private schemaOf(db: DatabaseRecord): PropertySpec[] {
    return db.schema ?? baseSchemaSpecs();
  }

  /** The values of the schema's properties that are no page column (the columns are rowProperties'). */
  private schemaProperties(page: PageRecord, db: DatabaseRecord): Record<string, PropertyValue> {
    const out: Record<string, PropertyValue> = {};
    for (const spec of this.schemaOf(db)) {
      if (spec.field === "title" && db.custom) {
        out[spec.name] = { id: spec.id, type: "title", title: page.title === "" ? [] : [richText(page.title)] };
        continue;
      }
      if (spec.field) continue;
      out[spec.name] = {
        id: spec.id,
        type: spec.type,
        [spec.type]: this.renderValue(page, spec),
        ...(spec.type === "relation" ? { has_more: false } : {}),
      } as PropertyValue;
    }
    return out;
  }

  private fullUser(id: string): FullUser {
    return structuredClone(this.users.get(id) ?? this.users.get(this.user.id)!);
  }

  /**
   * A property value from the row's raw value (`values[name]`, drawn by the
   * generator) or computed now (timestamps, users, rollups, unique ids); rows
   * without a value (added or moved by mutations) get the type's empty value.
   */
  private renderValue(page: PageRecord, spec: PropertySpec): unknown {
    const raw = page.values?.[spec.name];
    const option = (options: readonly SelectOptionSpec[], name: unknown) => {
      const found = options.find((o) => o.name === name);
      return found ? { id: found.id, name: found.name, color: found.color } : null;
    };
    switch (spec.type) {
      case "rich_text":
      case "title":
        return structuredClone((raw as RichText[] | undefined) ?? []);
      case "number":
      case "url":
      case "email":
      case "phone_number":
        return raw ?? null;
      case "checkbox":
        return raw === true;
      case "select":
        return option(specOptions(spec) ?? CATEGORY_OPTIONS, raw);
      case "status":
        return option(specOptions(spec) ?? STATUS_OPTIONS, raw === undefined ? defaultStatus(spec) : raw);
      case "multi_select": {
        const list = specOptions(spec);
        return ((raw as string[] | undefined) ?? []).map(
          (name) => option(list ?? [], name) ?? { id: tagId(name), name, color: tagColor(name) },
        );
      }
      case "date":
        return structuredClone((raw as DateValue | null | undefined) ?? null);
      case "people":
        return ((raw as string[] | undefined) ?? []).map((id) => this.fullUser(id));
      case "files":
        return structuredClone((raw as FilesItem[] | undefined) ?? []);
      case "formula":
        return structuredClone(
          raw ?? (spec.name === "Next review" ? { type: "date", date: null } : { type: "string", string: null }),
        );
      case "relation":
        return ((raw as string[] | undefined) ?? []).map((id) => ({ id }));
      case "rollup": {
        const config = spec.config as {
          relation_property_name: string;
          rollup_property_name: string;
          function: string;
        };
        const related = ((page.values?.[config.relation_property_name] as string[] | undefined) ?? [])
          .map((id) => this.pages.get(id))
          .filter((p) => p !== undefined);
        if (config.function === "count") return { type: "number", number: related.length, function: "count" };
        // show_original of a multi_select: one {type, multi_select} per related page.
        return {
          type: "array",
          array: related.map((p) => ({
            type: "multi_select",
            multi_select: p.tags.map((name) => ({ id: tagId(name), name, color: tagColor(name) })),
          })),
          function: config.function,
        };
      }
      case "created_time":
        return isoMinute(page.createdTime);
      case "last_edited_time":
        return isoMinute(page.lastEditedTime);
      case "created_by":
        return this.fullUser(page.createdBy ?? this.user.id);
      case "last_edited_by":
        return this.fullUser(page.lastEditedBy ?? page.createdBy ?? this.user.id);
      case "unique_id":
        return { prefix: (spec.config as { prefix: string | null }).prefix, number: page.uniqueNumber ?? null };
      case "verification": {
        const v = raw as { state: "verified" | "expired"; by: string; start: string; end: string } | undefined;
        // A page nobody verified yet: Notion shows {state: "unverified", verified_by: null, date: null}.
        return v
          ? { state: v.state, verified_by: this.fullUser(v.by), date: { start: v.start, end: v.end, time_zone: null } }
          : { state: "unverified", verified_by: null, date: null };
      }
      case "place":
        return null;
      case "button":
        return {};
    }
  }

  private renderBlock(block: BlockRecord, now: number): BlockObject {
    if (block.raw) return signHostedFiles(structuredClone(block.raw) as unknown as BlockObject, now);
    let payload: Payload = block.payload;
    if (block.type === "child_page") payload = { title: this.pages.get(block.id)?.title ?? "" };
    if (block.hostedFile) payload = { ...payload, file: this.signedFile(block, now) };
    // Key order of the recorded answers: in_trash before type, archived after the payload.
    return signHostedFiles(
      {
        object: "block",
        id: block.id,
        parent: block.parentBlockId
          ? { type: "block_id", block_id: block.parentBlockId }
          : { type: "page_id", page_id: block.pageId },
        created_time: isoMinute(block.createdTime),
        last_edited_time: isoMinute(block.lastEditedTime),
        created_by: this.user,
        last_edited_by: this.user,
        has_children: this.hasChildren(block),
        in_trash: false,
        type: block.type,
        [block.type]: structuredClone(payload),
        archived: false,
      } satisfies BlockObject,
      now,
    );
  }

  /** GET /v1/blocks/{id} (files.ts): one block, signed; undefined where Notion answers 404. */
  block(id: string): BlockObject | undefined {
    const block = this.blocks.get(normalizeId(id) ?? "");
    const page = block ? this.pages.get(block.pageId) : undefined;
    if (!block || block.trashed || !page || !this.accessible(page)) return undefined;
    return this.renderBlock(block, this.nowMs());
  }

  /** Notion-hosted files come as S3 urls signed for one hour from the request (the workspace clock). */
  private signedFile(block: BlockRecord, now: number): { url: string; expiry_time: string } {
    const amzDate = new Date(now)
      .toISOString()
      .replace(/[-:]/g, "")
      .replace(/\.\d{3}/, "");
    const signature = new Prng(`${block.id}:${now}`).uuid().replace(/-/g, "").repeat(2);
    const url =
      `https://prod-files-secure.s3.us-west-2.amazonaws.com/${this.workspaceId}/${block.id}/${block.hostedFile}` +
      `?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Content-Sha256=UNSIGNED-PAYLOAD` +
      `&X-Amz-Credential=ASIAEMULATOR%2F${amzDate.slice(0, 8)}%2Fus-west-2%2Fs3%2Faws4_request` +
      `&X-Amz-Date=${amzDate}&X-Amz-Expires=3600&X-Amz-Signature=${signature}&X-Amz-SignedHeaders=host&x-id=GetObject`;
    return { url, expiry_time: new Date(now + HOUR).toISOString() };
  }

  private touchPage(page: PageRecord): void {
    page.lastEditedTime = floorToMinute(this.nowMs());
    if (page.createdBy !== undefined || page.lastEditedBy !== undefined) page.lastEditedBy = this.user.id;
    this.changed();
  }

  private requirePage(id: string): PageRecord {
    const page = this.pages.get(normalizeId(id) ?? "");
    if (!page) throw new Error(`unknown page ${id}`);
    return page;
  }

  private requireBlock(id: string): BlockRecord {
    const block = this.blocks.get(normalizeId(id) ?? "");
    if (!block) throw new Error(`unknown block ${id}`);
    return block;
  }

  private insertPage(
    fields: Omit<PageRecord, "id" | "lastEditedTime" | "trashed" | "shared" | "childIds" | "icon" | "cover">,
  ): PageRecord {
    const page: PageRecord = {
      ...fields,
      id: this.rng.uuid(),
      icon: null,
      cover: null,
      lastEditedTime: fields.createdTime,
      trashed: false,
      shared: true,
      childIds: [],
    };
    this.pages.set(page.id, page);
    this.changed();
    return page;
  }

  private insertBlock(
    pageId: string,
    parentBlockId: string | null,
    type: BlockType,
    payload: Payload,
    id?: string,
  ): string {
    const now = floorToMinute(this.nowMs());
    const block: BlockRecord = {
      id: id ?? this.rng.uuid(),
      pageId,
      parentBlockId,
      type,
      payload,
      childIds: [],
      createdTime: now,
      lastEditedTime: now,
      trashed: false,
    };
    this.blocks.set(block.id, block);
    return block.id;
  }

  private nextUniqueNumber(databaseId: string): number {
    let max = 0;
    for (const page of this.pages.values())
      if (page.databaseId === databaseId && page.uniqueNumber) max = Math.max(max, page.uniqueNumber);
    return max + 1;
  }

  private uniqueSlug(databaseId: string, base: string): string {
    const taken = new Set<string>();
    for (const page of this.pages.values()) if (page.databaseId === databaseId && page.slug) taken.add(page.slug);
    return uniqueSlug(base, taken);
  }
}

/**
 * `base`, or `base-2`, `base-3`... whichever is free (and records it as taken).
 * `hints` (the last suffix handed out per base, for one `taken` set that only
 * grows) resumes the search where it stopped: same answer, without rescanning
 * thousands of suffixes of a common title.
 */
/** A recorded row's property as a schema entry: its id, name and type (the type's configuration left empty). */
function recordedSchemaEntry(name: string, value: JsonObject): Record<string, unknown> {
  const type = String(value.type);
  return { id: value.id, name, description: null, type, [type]: {} };
}

export function uniqueSlug(base: string, taken: Set<string>, hints?: Map<string, number>): string {
  let n = hints?.get(base) ?? 1;
  let slug = n === 1 ? base : `${base}-${n}`;
  while (taken.has(slug)) slug = `${base}-${++n}`;
  taken.add(slug);
  hints?.set(base, n);
  return slug;
}

function rowProperties(page: PageRecord): Record<string, PropertyValue> {
  // Property ids look like Notion's short url-encoded ids; only `title` is fixed by the API.
  return {
    Name: { id: "title", type: "title", title: page.title === "" ? [] : [richText(page.title)] },
    Slug: { id: "%3AsLg", type: "rich_text", rich_text: [richText(page.slug ?? "")] },
    Date: { id: "D%3Bt%3F", type: "date", date: page.date ? { start: page.date, end: null, time_zone: null } : null },
    Tags: {
      id: "tG%5E%5E",
      type: "multi_select",
      multi_select: page.tags.map((name) => ({ id: tagId(name), name, color: tagColor(name) })),
    },
    Published: { id: "pB%7Cx", type: "checkbox", checkbox: page.published },
    ...(page.attachments ? { Attachments: attachmentsProperty(page.attachments) } : {}),
    Description: {
      id: "dE%3Dc",
      type: "rich_text",
      rich_text: page.description === "" ? [] : [richText(page.description)],
    },
  };
}

/** The schema of a data source the generator gave none (simple rows): the base six. */
function baseSchemaSpecs(): PropertySpec[] {
  return baseSchema();
}

/** Database timestamps carry milliseconds and an offset (`2022-02-07T21:29:38.416+00:00`), unlike pages' and blocks'. */
function databaseTime(ms: number, salt: string): string {
  const withMs = floorToMinute(ms) + new Prng(salt).int(0, 59_999);
  return new Date(withMs).toISOString().replace("Z", "+00:00");
}

function tagColor(name: string): string {
  return TAGS.find((tag) => tag.name === name)?.color ?? "default";
}

function tagId(name: string): string {
  return new Prng(`tag:${name}`).uuid();
}

/** Index of the first row whose key sorts after `after` (rows are sorted by `compare`). */
function firstAfter(rows: Row[], after: RowKey, compare: SortSpec["compare"]): number {
  let lo = 0;
  let hi = rows.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compare(rows[mid].key, after) > 0) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** Inserts into a small cache, evicting the oldest entry past QUERY_CACHE_SIZE. */
function remember(cache: Map<string, CachedQuery>, key: string, value: CachedQuery): void {
  cache.set(key, value);
  if (cache.size > QUERY_CACHE_SIZE) cache.delete(cache.keys().next().value!);
}

/** A query result limit: a positive integer, or Infinity for none. */
export function checkQueryResultLimit(limit: number): number {
  if (limit !== Infinity && !(Number.isInteger(limit) && limit >= 1)) {
    throw new Error(`queryResultLimit must be a positive integer or Infinity, got ${String(limit)}`);
  }
  return limit;
}

function validation(message: string): NotionApiError {
  return new NotionApiError(400, "validation_error", message);
}

function validatePageSize(value: unknown): number {
  if (value === undefined || value === null) return MAX_PAGE_SIZE;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > MAX_PAGE_SIZE) {
    throw validation(
      `page_size should be an integer between 1 and ${MAX_PAGE_SIZE}, instead was \`${String(value)}\`.`,
    );
  }
  return value;
}
