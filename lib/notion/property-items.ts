/**
 * Completes the properties a page object cuts short. Notion lists at most 25
 * references per relation or people property in a page object (and in a
 * query row), with `has_more: true`; every reference comes from
 * `GET /v1/pages/{page_id}/properties/{property_id}`, 100 property items a
 * request (so a property of N references costs ceil(N / 100) requests).
 *
 * Like the block-tree fetcher, it can stop at any request boundary and resume
 * later from a serializable checkpoint, so a page with thousands of
 * references spans invocations without pushing any of them past its budget.
 */
import { NotionSyncError } from "./errors";
import type { NotionSource } from "./source";
import type { NotionPage } from "./types";

/** One item of a property item list, as Notion sends it: `{object: "property_item", id, type, [type]: value}`. */
export interface NotionPropertyItem {
  object: "property_item";
  id: string;
  type: string;
  [key: string]: unknown;
}

/** References Notion puts in a page object per relation or people property. */
export const PAGE_OBJECT_REFERENCES = 25;

export type CompletableType = "relation" | "people";

/**
 * Properties whose page-object value is cut short: `has_more: true` on a
 * relation or people value. A people value without a `has_more` flag counts
 * as cut when it holds 25 or more (Notion documents the same limit for it).
 */
export function incompleteProperties(
  properties: NotionPage["properties"] | undefined,
): { name: string; id: string; type: CompletableType }[] {
  const out: { name: string; id: string; type: CompletableType }[] = [];
  for (const [name, prop] of Object.entries(properties ?? {})) {
    if (typeof prop !== "object" || prop === null || typeof prop.id !== "string") continue;
    if (prop.type !== "relation" && prop.type !== "people") continue;
    const list = prop[prop.type];
    const cut =
      prop.has_more === true ||
      (prop.type === "people" &&
        prop.has_more === undefined &&
        Array.isArray(list) &&
        list.length >= PAGE_OBJECT_REFERENCES);
    if (cut) out.push({ name, id: prop.id, type: prop.type });
  }
  return out;
}

/** Where a page's completion stands. Plain JSON: it is stored in KV between invocations (the page's `partial`). */
export interface PropertyCheckpoint {
  pageId: string;
  /** Properties still to read, in order; the first one continues from `cursor` (null: from its start). */
  pending: { name: string; propertyId: string; type: CompletableType; cursor: string | null }[];
  /** Values read so far, per property name: `{id}` for relations, user objects for people. */
  items: Record<string, unknown[]>;
  /** Properties Notion would not serve (404/400): they keep the page object's first 25. */
  unreadable?: string[];
  requests: number;
}

export type PropertyResult =
  { done: true; page: NotionPage; requests: number } | { done: false; checkpoint: PropertyCheckpoint };

function isUnreadable(error: unknown): boolean {
  return NotionSyncError.is(error, "gone") || (NotionSyncError.is(error, "permanent") && error.details.status === 400);
}

/**
 * The page with every cut property complete (`has_more: false`), reading from
 * `resume` when given. Returns a checkpoint instead when `shouldStop()` says
 * the budget is nearly spent. A page with nothing cut costs no request.
 * Errors (NotionSyncError, BudgetExhaustedError) propagate: the caller keeps
 * the last checkpoint it stored (`onProgress` reports each one).
 */
export async function completeProperties(
  notion: Pick<NotionSource, "listPropertyItems">,
  page: NotionPage,
  options: { resume?: PropertyCheckpoint; shouldStop: () => boolean; onProgress?: (c: PropertyCheckpoint) => void },
): Promise<PropertyResult> {
  const state: PropertyCheckpoint = options.resume
    ? structuredClone(options.resume)
    : {
        pageId: page.id,
        pending: incompleteProperties(page.properties).map(({ name, id, type }) => ({
          name,
          propertyId: id,
          type,
          cursor: null,
        })),
        items: {},
        requests: 0,
      };
  while (state.pending.length > 0) {
    if (options.shouldStop()) return { done: false, checkpoint: state };
    const next = state.pending[0];
    let list;
    try {
      list = await notion.listPropertyItems(page.id, next.propertyId, next.cursor);
    } catch (error) {
      // A property removed from the schema meanwhile (or one Notion will not serve) must not
      // cost the page: it keeps what the page object showed. A page that is gone is found
      // by the content fetch that follows.
      if (isUnreadable(error)) {
        state.pending.shift();
        delete state.items[next.name];
        state.unreadable = [...(state.unreadable ?? []), next.name];
        options.onProgress?.(state);
        continue;
      }
      throw error;
    }
    state.requests++;
    // Move on only after the request succeeded, so a failure leaves the checkpoint
    // pointing at the property page that must be read again.
    const values = list.results.flatMap((item) =>
      item.type === next.type && item[next.type] !== undefined ? [item[next.type]] : [],
    );
    state.items[next.name] = [...(state.items[next.name] ?? []), ...values];
    if (list.nextCursor) state.pending[0] = { ...next, cursor: list.nextCursor };
    else state.pending.shift();
    options.onProgress?.(state);
  }
  return { done: true, page: applyItems(page, state), requests: state.requests };
}

/** The page object with the properties read in full, each marked `has_more: false`. */
function applyItems(page: NotionPage, state: PropertyCheckpoint): NotionPage {
  const names = Object.keys(state.items).filter((name) => page.properties[name] && !state.unreadable?.includes(name));
  if (names.length === 0) return page;
  const properties = { ...page.properties };
  for (const name of names) {
    const prop = properties[name];
    properties[name] = { ...prop, [prop.type]: state.items[name], has_more: false };
  }
  return { ...page, properties };
}
