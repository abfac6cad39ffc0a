/**
 * The parts of Notion's objects the sync relies on. Everything else is kept
 * as Notion sent it (a site may render any block type) but not interpreted.
 */
export interface NotionRichText {
  plain_text: string;
  [key: string]: unknown;
}

export type NotionProperty = { id?: string; type: string; [key: string]: unknown };

export interface NotionPage {
  object: "page";
  id: string;
  created_time: string;
  last_edited_time: string;
  in_trash?: boolean;
  archived?: boolean;
  parent: { type: string; [key: string]: unknown };
  properties: Record<string, NotionProperty>;
  url?: string;
  icon?: unknown;
  cover?: unknown;
}

export interface NotionBlock {
  object: "block";
  id: string;
  type: string;
  has_children: boolean;
  in_trash?: boolean;
  [key: string]: unknown;
}

export interface ListPage<T> {
  results: T[];
  nextCursor: string | null;
}

/** Blocks that are pages or databases of their own: never descended into as content. */
export const OWN_OBJECT_BLOCK_TYPES = new Set(["child_page", "child_database"]);

export function isTrashed(page: Pick<NotionPage, "in_trash" | "archived">): boolean {
  return page.in_trash === true || page.archived === true;
}

/** The page's title: the one property of type "title" (its name differs per database). */
export function pageTitle(page: NotionPage): string {
  for (const prop of Object.values(page.properties ?? {})) {
    if (prop.type === "title" && Array.isArray(prop.title)) {
      return (prop.title as NotionRichText[]).map((t) => t.plain_text).join("");
    }
  }
  return "";
}

/** Plain text of a rich_text property by name, or undefined. */
export function richTextProperty(page: NotionPage, name: string): string | undefined {
  const prop = page.properties?.[name];
  if (prop?.type !== "rich_text" || !Array.isArray(prop.rich_text)) return undefined;
  const text = (prop.rich_text as NotionRichText[])
    .map((t) => t.plain_text)
    .join("")
    .trim();
  return text || undefined;
}

/** Notion ids arrive with or without dashes; compare them in one form. */
export function normalizeId(id: string): string {
  return id.replace(/-/g, "").toLowerCase();
}
