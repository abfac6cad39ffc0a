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

export interface TextRichText {
  type: "text";
  text: { content: string; link: { url: string } | null };
  annotations: Annotations;
  plain_text: string;
  href: string | null;
}

/** A date as Notion gives it in date properties, mentions, formulas and verifications. */
export interface DateValue {
  start: string;
  end: string | null;
  time_zone: null;
}

export type Mention =
  | { type: "user"; user: FullUser }
  | { type: "page"; page: { id: string } }
  | { type: "database"; database: { id: string } }
  | { type: "date"; date: DateValue }
  | { type: "link_mention"; link_mention: { href: string; title: string; description: string } }
  | { type: "link_preview"; link_preview: { url: string } };

export interface MentionRichText {
  type: "mention";
  mention: Mention;
  annotations: Annotations;
  plain_text: string;
  href: string | null;
}

export interface EquationRichText {
  type: "equation";
  equation: { expression: string };
  annotations: Annotations;
  plain_text: string;
  href: null;
}

/** A rich text item: plain text, a mention or an inline equation (every kind the recordings show). */
export type RichText = TextRichText | MentionRichText | EquationRichText;

/** The partial user of `created_by` / `last_edited_by` on pages, blocks and data sources. */
export interface UserRef {
  object: "user";
  id: string;
}

/** A whole user, as property values (people, created_by...) and user mentions carry it. */
export type FullUser =
  | { object: "user"; id: string; name: string; avatar_url: string | null; type: "person"; person: { email: string } }
  | { object: "user"; id: string; name: string; avatar_url: null; type: "bot"; bot: Record<string, never> };

/** A Notion-hosted file: `url` signed for an hour at every read (files.ts). */
export type HostedFileObject = { type: "file"; file: { url: string; expiry_time: string } };
export type Icon =
  { type: "emoji"; emoji: string } | { type: "external"; external: { url: string } } | HostedFileObject;
export type Cover = { type: "external"; external: { url: string } } | HostedFileObject;

export type PageParent =
  { type: "data_source_id"; data_source_id: string; database_id: string } | { type: "page_id"; page_id: string };

export type BlockParent = { type: "page_id"; page_id: string } | { type: "block_id"; block_id: string };

export interface SelectOption {
  id: string;
  name: string;
  color: string;
}

type Value<T extends string, V> = { id: string; type: T } & { [K in T]: V };
export type FilesItem = { name: string } & (HostedFileObject | { type: "external"; external: { url: string } });
export type FormulaValue =
  | { type: "string"; string: string | null }
  | { type: "number"; number: number | null }
  | { type: "boolean"; boolean: boolean }
  | { type: "date"; date: DateValue | null };
export type RollupValue =
  | { type: "number"; number: number | null; function: string }
  | { type: "date"; date: DateValue | null; function: string }
  | { type: "array"; array: Record<string, unknown>[]; function: string };
export interface VerificationValue {
  state: "verified" | "expired" | "unverified";
  verified_by: FullUser | null;
  date: DateValue | null;
}

/** A page property value (2025-09-03): every type the recorded pages show. */
export type PropertyValue =
  | Value<"title", RichText[]>
  | Value<"rich_text", RichText[]>
  | Value<"number", number | null>
  | Value<"select", SelectOption | null>
  | Value<"multi_select", SelectOption[]>
  | Value<"status", SelectOption | null>
  | Value<"date", DateValue | null>
  | Value<"people", FullUser[]>
  | Value<"files", FilesItem[]>
  | Value<"checkbox", boolean>
  | Value<"url", string | null>
  | Value<"email", string | null>
  | Value<"phone_number", string | null>
  | Value<"formula", FormulaValue>
  | (Value<"relation", { id: string }[]> & { has_more: boolean })
  | Value<"rollup", RollupValue>
  | Value<"created_time", string>
  | Value<"created_by", FullUser>
  | Value<"last_edited_time", string>
  | Value<"last_edited_by", FullUser>
  | Value<"unique_id", { prefix: string | null; number: number | null }>
  | Value<"verification", VerificationValue>
  | Value<"place", null>
  | Value<"button", Record<string, never>>;

export type PropertyType = PropertyValue["type"];

/** One entry of a data source's schema (`properties` of GET /v1/data_sources/{id}). */
export type PropertySchema = { id: string; name: string; description: null; type: PropertyType } & {
  [config: string]: unknown;
};

/**
 * A page as GET /v1/pages/{id} and data source queries return it, with the
 * field set of Notion's most recent 2025-09-03 answers (recorded 2026: they
 * add `is_archived` and `is_locked`, and keep the legacy `archived` last).
 */
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
  in_trash: boolean;
  is_archived: boolean;
  is_locked: boolean;
  properties: Record<string, PropertyValue>;
  url: string;
  public_url: string | null;
  /** Legacy alias of in_trash (gone in 2026-03-11). */
  archived: boolean;
}

/**
 * GET /v1/databases/{id} (2025-09-03): a container of data sources, no
 * `properties`. Field set of the recorded answers (the 2026 one; the 2025 one
 * has no `description` and `is_locked`); no `created_by`, no `archived`.
 * Timestamps carry milliseconds and an offset, unlike pages and blocks.
 */
export interface DatabaseObject {
  object: "database";
  id: string;
  title: RichText[];
  description: RichText[];
  parent: { type: "page_id"; page_id: string };
  is_inline: boolean;
  in_trash: boolean;
  is_locked: boolean;
  created_time: string;
  last_edited_time: string;
  data_sources: { id: string; name: string }[];
  icon: Icon | null;
  cover: Cover | null;
  url: string;
  public_url: string | null;
}

/** GET /v1/data_sources/{id} (2025-09-03): the schema lives here. */
export interface DataSourceObject {
  object: "data_source";
  id: string;
  cover: Cover | null;
  icon: Icon | null;
  created_time: string;
  created_by: UserRef;
  last_edited_by: UserRef;
  last_edited_time: string;
  title: RichText[];
  description: RichText[];
  is_inline: boolean;
  properties: Record<string, PropertySchema>;
  parent: { type: "database_id"; database_id: string };
  database_parent: { type: "page_id"; page_id: string };
  url: string;
  public_url: string | null;
  archived: boolean;
  in_trash: boolean;
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
  | "synced_block"
  // Media blocks (files.ts adds them to the default workspace).
  | "file"
  | "pdf"
  | "audio"
  | "video"
  // The rest of the 2025-09-03 block types the recordings show (generate.ts addConformanceContent).
  | "equation"
  | "embed"
  | "link_preview"
  | "child_database"
  | "table_of_contents"
  | "breadcrumb"
  | "link_to_page"
  | "unsupported"
  // AI meeting notes: `transcription` in 2025-09-03 shapes, `meeting_notes` from 2026-03-11 (versions.ts).
  | "transcription";

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
    /** Notion's `additional_data` (404s name the integration since 2026). */
    readonly additionalData?: Record<string, string>,
  ) {
    super(message);
    this.name = "NotionApiError";
  }
}

/** The integration the emulator answers as: 404s name it, and its bot user creates some rows. */
export const EMULATOR_INTEGRATION = {
  id: "2f1c0d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
  name: "notion-kv-sync emulator",
} as const;

/**
 * Notion's 404 as recorded in 2026: the message names the integration and
 * `additional_data.integration_id` its id. Data sources are still called
 * "database" in the message, as Notion does.
 */
export function notFound(id: string, kind: "page" | "block" | "database" | "data_source"): NotionApiError {
  const label = kind === "data_source" ? "database" : kind;
  return new NotionApiError(
    404,
    "object_not_found",
    `Could not find ${label} with ID: ${id}. Make sure the relevant pages and databases are shared with your integration "${EMULATOR_INTEGRATION.name}".`,
    { integration_id: EMULATOR_INTEGRATION.id },
  );
}
