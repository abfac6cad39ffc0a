/**
 * Minimal local types for the Notion API objects the emulator serves
 * (API version 2025-09-03). They describe the wire shapes, not the SDK's
 * giant unions, so the emulator stays readable.
 */

export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface Annotations {
  bold: boolean;
  italic: boolean;
  strikethrough: boolean;
  underline: boolean;
  code: boolean;
  color: string;
}

export interface RichText {
  type: "text";
  text: { content: string; link: { url: string } | null };
  annotations: Annotations;
  plain_text: string;
  href: string | null;
}

export interface UserRef {
  object: "user";
  id: string;
}

export type Icon =
  | { type: "emoji"; emoji: string }
  | { type: "external"; external: { url: string } };
export type Cover = { type: "external"; external: { url: string } };

export type PageParent =
  | { type: "data_source_id"; data_source_id: string; database_id: string }
  | { type: "page_id"; page_id: string };

export type BlockParent =
  | { type: "page_id"; page_id: string }
  | { type: "block_id"; block_id: string };

export type PropertyValue =
  | { id: string; type: "title"; title: RichText[] }
  | { id: string; type: "rich_text"; rich_text: RichText[] }
  | { id: string; type: "date"; date: { start: string; end: null; time_zone: null } | null }
  | { id: string; type: "multi_select"; multi_select: { id: string; name: string; color: string }[] }
  | { id: string; type: "checkbox"; checkbox: boolean };

export interface PageObject {
  object: "page";
  id: string;
  created_time: string;
  last_edited_time: string;
  created_by: UserRef;
  last_edited_by: UserRef;
  cover: Cover | null;
  icon: Icon | null;
  parent: PageParent;
  archived: boolean;
  in_trash: boolean;
  is_locked: boolean;
  properties: Record<string, PropertyValue>;
  url: string;
  public_url: string | null;
}

export interface DatabaseObject {
  object: "database";
  id: string;
  title: RichText[];
  description: RichText[];
  icon: Icon | null;
  cover: Cover | null;
  parent: { type: "workspace"; workspace: true };
  is_inline: boolean;
  in_trash: boolean;
  archived: boolean;
  is_locked: boolean;
  created_time: string;
  last_edited_time: string;
  created_by: UserRef;
  last_edited_by: UserRef;
  data_sources: { id: string; name: string }[];
  url: string;
  public_url: string | null;
}

export type BlockType =
  | "paragraph"
  | "heading_1"
  | "heading_2"
  | "heading_3"
  | "bulleted_list_item"
  | "numbered_list_item"
  | "to_do"
  | "toggle"
  | "quote"
  | "callout"
  | "code"
  | "divider"
  | "image"
  | "bookmark"
  | "table"
  | "table_row"
  | "column_list"
  | "column"
  | "child_page"
  | "synced_block";

/** A block as GET /v1/blocks/{id}/children returns it; the payload sits under the key named by `type`. */
export interface BlockObject {
  object: "block";
  id: string;
  parent: BlockParent;
  created_time: string;
  last_edited_time: string;
  created_by: UserRef;
  last_edited_by: UserRef;
  has_children: boolean;
  in_trash: boolean;
  archived: boolean;
  type: BlockType;
  [payload: string]: unknown;
}

export interface ListPage<T> {
  results: T[];
  has_more: boolean;
  next_cursor: string | null;
}

/** Error codes of the Notion API (see protocols.md), plus the gateway ones the emulator can inject. */
export type NotionErrorCode =
  | "invalid_json"
  | "invalid_request_url"
  | "invalid_request"
  | "validation_error"
  | "missing_version"
  | "unauthorized"
  | "restricted_resource"
  | "object_not_found"
  | "conflict_error"
  | "rate_limited"
  | "internal_server_error"
  | "bad_gateway"
  | "service_unavailable"
  | "gateway_timeout"
  | "service_overload";

/** Thrown by the workspace for requests Notion would refuse; the server turns it into the error body. */
export class NotionApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: NotionErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "NotionApiError";
  }
}

export function notFound(id: string, kind: "page" | "block" | "database" | "data_source"): NotionApiError {
  const label = kind === "data_source" ? "data source" : kind;
  return new NotionApiError(
    404,
    "object_not_found",
    `Could not find ${label} with ID: ${id}. Make sure the relevant pages and databases are shared with your integration.`,
  );
}
