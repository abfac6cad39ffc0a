/** The sections of the default test workspace: no config file, NOTION_PAGES_DB and NOTION_POSTS_DB both set. */
export const SECTIONS = ["pages", "posts", "children"] as const;
