/**
 * The one door to Notion. Every request goes through `call`, which paces it to
 * the integration's rate, bounds its timeout by the invocation's deadline,
 * retries transient failures while time allows, and turns every failure into
 * a classified NotionSyncError. Nothing here knows about KV or HTTP routes.
 */
import { createHash } from "node:crypto";
import { Client } from "@notionhq/client";
import type { SupportedFetch } from "@notionhq/client/build/src/fetch-types";
import { type Deadline, BudgetExhaustedError, sleepWithin } from "../core/deadline";
import { type NotionFilter, andCondition } from "./compound-filter";
import { usesStatusGroups } from "./filter";
import type { StatusGroups } from "./filter-match";
import { NotionSyncError, classifyNotionError } from "./errors";
import { type Pacer, sharedPacer } from "./pacer";
import type { NotionPropertyItem } from "./property-items";
import type { ListPage, NotionBlock, NotionPage } from "./types";
import { DEFAULT_NOTION_VERSION, type NotionVersion, STATUS_GROUP_BETA, versionAtLeast } from "./versions";

export type NotionRoute =
  | "databases.retrieve"
  | "dataSources.retrieve"
  | "dataSources.query"
  | "pages.retrieve"
  | "pages.properties.retrieve"
  | "blocks.children.list"
  | "blocks.retrieve"
  | "search"
  | "pages.retrieveMarkdown";

export interface NotionSourceOptions {
  token: string;
  baseUrl?: string;
  ratePerMin: number;
  deadline: Deadline;
  /** Longest a single request may take even with plenty of budget left. */
  maxRequestMs?: number;
  /** Kept free at the end of the budget for the final KV commit. */
  reserveMs?: number;
  pacer?: Pacer;
  fetch?: typeof fetch;
  /** The Notion-Version every request sends (NOTION_VERSION; default DEFAULT_NOTION_VERSION). */
  notionVersion?: NotionVersion;
}

/** A data source's schema as the sync needs it: each property's id and type (a status: its groups), by name. */
export type DataSourceSchema = Record<string, { id: string; type: string; groups?: StatusGroups }>;

export interface NotionSource {
  /** The first data source of a database (2025-09-03: rows live in data sources). */
  dataSourceIdOf(databaseId: string): Promise<string>;
  /** GET /v1/data_sources/{id}: its properties' ids and types. */
  retrieveDataSource(dataSourceId: string): Promise<DataSourceSchema>;
  /**
   * One page (≤ 100 rows) of a data source, oldest first, from `windowStart`
   * (created_time on_or_after) when given, only rows matching `filter` (a
   * section's publish filter, ANDed with the window: compound-filter.ts).
   * `incomplete` is Notion's request_status at its per-query result cap: the
   * list is NOT complete. `filterProperties`: the property ids rows carry
   * (Notion's `filter_properties`; absent: Notion's default, which is only the
   * title from 2026-12-01).
   */
  queryDataSource(
    dataSourceId: string,
    window: {
      windowStart: string | null;
      startCursor: string | null;
      filter?: NotionFilter;
      filterProperties?: string[];
      /** Only rows edited at or after this instant (last_edited_time on_or_after): an incremental listing. */
      editedSince?: string | null;
    },
  ): Promise<QueryPage>;
  /** The first row of a query of one's own (filter, sorts; `filterProperties` as above), or null: one request, page_size 1. */
  queryFirstRow(
    dataSourceId: string,
    query: { filter?: unknown; sorts?: unknown[]; filterProperties?: string[] },
  ): Promise<NotionPage | null>;
  retrievePage(pageId: string): Promise<NotionPage>;
  /**
   * One page (≤ 100) of a property's items: GET /v1/pages/{id}/properties/{property_id}.
   * What completes a relation or people property past the 25 references a page object holds.
   */
  listPropertyItems(
    pageId: string,
    propertyId: string,
    startCursor: string | null,
  ): Promise<ListPage<NotionPropertyItem>>;
  /** One level of children, ≤ 100 a call. */
  listBlockChildren(blockId: string, startCursor: string | null): Promise<ListPage<NotionBlock>>;
  /** One block (the file route re-signs a block's file with it). */
  retrieveBlock(blockId: string): Promise<NotionBlock>;
  /**
   * One page (≤ `pageSize`, at most 100) of POST /v1/search for pages, most recently edited first.
   * Not guaranteed complete, and its index lags (lib/sync/child-check.ts decides what to trust it with).
   */
  searchPages(startCursor: string | null, pageSize?: number): Promise<ListPage<NotionPage>>;
  /** A page's content as Notion-flavoured markdown, in one request: GET /v1/pages/{id}/markdown. */
  retrievePageMarkdown(pageId: string): Promise<PageMarkdown>;
  /** The Notion-Version it sends. */
  readonly version: NotionVersion;
  /** Requests sent by this source so far, per route. */
  readonly requests: Record<NotionRoute, number>;
  readonly deadline: Deadline;
}

/** What GET /v1/pages/{id}/markdown answers (without `object` and `id`). */
export interface PageMarkdown {
  markdown: string;
  /** Part of the content was left out (past about 20,000 blocks, or not shared): `unknown_block_ids` name it. */
  truncated: boolean;
  /** At most 100. */
  unknown_block_ids: string[];
}

/** A stable, non-secret name for the integration (pacer and flow-control keys). */
export function integrationKey(token: string): string {
  return createHash("sha256").update(token).digest("hex").slice(0, 16);
}

/**
 * Rows by creation, oldest first: created_time never changes, so pagination is
 * stable while pages are edited mid-run, a query capped at Notion's 10,000
 * results can continue in a window from the last created_time seen (as the
 * SDK's iterateAllDataSourceRows does), and new pages land at the end.
 */
export const LIST_SORTS = [{ timestamp: "created_time", direction: "ascending" }] as const;

export interface QueryPage extends ListPage<NotionPage> {
  /** Notion stopped at its per-query result cap (request_status incomplete): more rows exist past the last one. */
  incomplete: boolean;
}

interface RawQueryAnswer {
  results: NotionPage[];
  has_more: boolean;
  next_cursor: string | null;
  request_status?: { type?: string };
}

export function createNotionSource(options: NotionSourceOptions): NotionSource {
  const { deadline } = options;
  const maxRequestMs = options.maxRequestMs ?? 10_000;
  const reserveMs = options.reserveMs ?? 250;
  const pacer = options.pacer ?? sharedPacer(integrationKey(options.token), options.ratePerMin);
  const baseFetch = options.fetch ?? fetch;
  const notionVersion = options.notionVersion ?? DEFAULT_NOTION_VERSION;

  // The SDK's own timeout does not abort the socket; ours does, and it never
  // outlives the invocation's budget.
  const boundedFetch: SupportedFetch = (url, init) => {
    const timeout = Math.max(1, Math.min(maxRequestMs, deadline.remaining() - reserveMs));
    return baseFetch(url, { ...init, signal: AbortSignal.timeout(timeout) } as RequestInit);
  };
  const client = new Client({
    auth: options.token,
    baseUrl: options.baseUrl,
    fetch: boundedFetch,
    retry: false, // retries are decided here, per error class and within the deadline
    timeoutMs: maxRequestMs,
    notionVersion,
    logLevel: undefined,
    logger: () => {},
  });

  const requests: Record<NotionRoute, number> = {
    "databases.retrieve": 0,
    "dataSources.retrieve": 0,
    "dataSources.query": 0,
    "pages.retrieve": 0,
    "pages.properties.retrieve": 0,
    "blocks.children.list": 0,
    "blocks.retrieve": 0,
    search: 0,
    "pages.retrieveMarkdown": 0,
  };

  async function call<T>(route: NotionRoute, send: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      await pacer.acquire(deadline, reserveMs);
      const sentAt = Date.now();
      requests[route]++;
      try {
        return await send();
      } catch (raw) {
        const error = classifyNotionError(raw);
        if (error.kind === "rate_limited") {
          const waitMs = error.details.retryAfterMs ?? 1000;
          // Everyone waits out Retry-After, and the pacer halves its rate (AIMD, pacer.ts).
          pacer.rateLimited(waitMs, sentAt);
          // Wait only when it fits; otherwise the engine checkpoints and the
          // successor is scheduled after Retry-After (no invocation sleeps minutes).
          if (attempt < 3 && waitMs + reserveMs < deadline.remaining() / 2) {
            await sleepWithin(waitMs, deadline);
            continue;
          }
          throw error;
        }
        if (error.kind === "transient" && attempt < 3) {
          const backoff = 200 * 2 ** (attempt - 1);
          if (backoff + reserveMs < deadline.remaining()) {
            await sleepWithin(backoff, deadline);
            continue;
          }
        }
        if (error.kind === "transient" && deadline.remaining() <= reserveMs) {
          throw new BudgetExhaustedError("Notion request cut off by the deadline");
        }
        throw error;
      }
    }
  }

  /**
   * POST /v1/data_sources/{id}/query. A filter naming a status group sends the
   * beta header that versions before 2026-12-01 need for it.
   */
  function postQuery(dataSourceId: string, body: Record<string, unknown>, filterProperties?: string[]) {
    const beta = !versionAtLeast(notionVersion, "2026-12-01") && usesStatusGroups(body.filter);
    return call("dataSources.query", () =>
      client.request<RawQueryAnswer>({
        path: `data_sources/${pathSegment(dataSourceId)}/query`,
        method: "post",
        body,
        // Ids as the schema gives them (URL-encoded): the SDK decodes each once and appends it as `filter_properties=`.
        ...(filterProperties ? { query: { filter_properties: filterProperties } } : {}),
        ...(beta ? { headers: { "Notion-Beta": STATUS_GROUP_BETA } } : {}),
      }),
    );
  }

  return {
    requests,
    deadline,
    version: notionVersion,
    async dataSourceIdOf(databaseId) {
      const db = (await call("databases.retrieve", () => client.databases.retrieve({ database_id: databaseId }))) as {
        data_sources?: { id: string }[];
      };
      const first = db.data_sources?.[0]?.id;
      if (!first) throw new NotionSyncError("permanent", "the database has no data source shared with the integration");
      return first;
    },
    async retrieveDataSource(dataSourceId) {
      const res = (await call("dataSources.retrieve", () =>
        client.dataSources.retrieve({ data_source_id: dataSourceId }),
      )) as { properties?: Record<string, { id?: unknown; type?: unknown; status?: unknown }> };
      const schema: DataSourceSchema = {};
      for (const [name, p] of Object.entries(res.properties ?? {})) {
        if (typeof p.id !== "string" || typeof p.type !== "string") continue;
        const groups = p.type === "status" ? statusGroups(p.status) : undefined;
        schema[name] = { id: p.id, type: p.type, ...(groups ? { groups } : {}) };
      }
      return schema;
    },
    async queryDataSource(
      dataSourceId,
      { windowStart, startCursor, filter: sectionFilter, filterProperties, editedSince },
    ) {
      const window = windowStart ? { timestamp: "created_time", created_time: { on_or_after: windowStart } } : null;
      const edited = editedSince
        ? { timestamp: "last_edited_time", last_edited_time: { on_or_after: editedSince } }
        : null;
      const filter = andCondition(
        [window, edited].filter((c) => c !== null),
        sectionFilter,
      );
      const res = await postQuery(
        dataSourceId,
        {
          page_size: 100,
          sorts: [...LIST_SORTS],
          ...(filter ? { filter } : {}),
          ...(startCursor ? { start_cursor: startCursor } : {}),
        },
        filterProperties,
      );
      const results = res.results.filter((r) => r.object === "page");
      return {
        results,
        nextCursor: res.has_more ? res.next_cursor : null,
        incomplete: res.request_status?.type === "incomplete",
      };
    },
    async queryFirstRow(dataSourceId, { filter, sorts, filterProperties }) {
      const res = await postQuery(
        dataSourceId,
        {
          page_size: 1,
          ...(filter ? { filter } : {}),
          ...(sorts ? { sorts } : {}),
        },
        filterProperties,
      );
      return res.results.find((r) => r.object === "page") ?? null;
    },
    async retrievePage(pageId) {
      return (await call("pages.retrieve", () => client.pages.retrieve({ page_id: pageId }))) as unknown as NotionPage;
    },
    async listPropertyItems(pageId, propertyId, startCursor) {
      const res = await call("pages.properties.retrieve", () =>
        client.pages.properties.retrieve({
          page_id: pageId,
          property_id: pathSegment(propertyId),
          page_size: 100,
          ...(startCursor ? { start_cursor: startCursor } : {}),
        }),
      );
      // Relation and people properties answer a list; other types a single property_item.
      if (res.object === "list")
        return {
          results: res.results as unknown as NotionPropertyItem[],
          nextCursor: res.has_more ? res.next_cursor : null,
        };
      return { results: [res as unknown as NotionPropertyItem], nextCursor: null };
    },
    async listBlockChildren(blockId, startCursor) {
      const res = await call("blocks.children.list", () =>
        client.blocks.children.list({
          block_id: blockId,
          page_size: 100,
          ...(startCursor ? { start_cursor: startCursor } : {}),
        }),
      );
      return { results: res.results as unknown as NotionBlock[], nextCursor: res.has_more ? res.next_cursor : null };
    },
    async searchPages(startCursor, pageSize = 100) {
      const res = await call("search", () =>
        client.search({
          filter: { property: "object", value: "page" },
          sort: { timestamp: "last_edited_time", direction: "descending" },
          page_size: pageSize,
          ...(startCursor ? { start_cursor: startCursor } : {}),
        }),
      );
      // Partial page objects (no timestamps) and data sources say nothing about edits.
      const results = (res.results as unknown as NotionPage[]).filter(
        (r) => r.object === "page" && typeof r.last_edited_time === "string",
      );
      return { results, nextCursor: res.has_more ? res.next_cursor : null };
    },
    async retrieveBlock(blockId) {
      return (await call("blocks.retrieve", () =>
        client.blocks.retrieve({ block_id: blockId }),
      )) as unknown as NotionBlock;
    },
    async retrievePageMarkdown(pageId) {
      // v2 on every version: the format 2026-12-01 makes the default, so bundles do not change with NOTION_VERSION.
      const res = await call("pages.retrieveMarkdown", () =>
        client.request<{ markdown: string; truncated?: boolean; unknown_block_ids?: string[] }>({
          path: `pages/${pathSegment(pageId)}/markdown`,
          method: "get",
          query: { markdown_version: "v2" },
        }),
      );
      return {
        markdown: res.markdown,
        truncated: res.truncated === true,
        unknown_block_ids: res.unknown_block_ids ?? [],
      };
    },
  };
}

/** A status property's groups with their options' names, from its schema (`options`, `groups[].option_ids`). */
function statusGroups(config: unknown): StatusGroups | undefined {
  const c = config as {
    options?: { id?: unknown; name?: unknown }[];
    groups?: { name?: unknown; option_ids?: unknown }[];
  };
  if (!Array.isArray(c?.options) || !Array.isArray(c?.groups)) return undefined;
  const names = new Map(c.options.map((o) => [o.id, o.name]));
  return c.groups.flatMap((g) =>
    typeof g.name === "string" && Array.isArray(g.option_ids)
      ? [
          {
            name: g.name,
            options: g.option_ids.map((id) => names.get(id)).filter((n): n is string => typeof n === "string"),
          },
        ]
      : [],
  );
}

/**
 * Property ids arrive URL-encoded (`%60%5B%3E%7B`) and the SDK puts them in the
 * path as they are: encode exactly once, whichever form we were given.
 */
function pathSegment(id: string): string {
  try {
    return encodeURIComponent(decodeURIComponent(id));
  } catch {
    return encodeURIComponent(id);
  }
}
