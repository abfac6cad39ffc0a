/** The three sections a workspace is synced in, one endpoint each. */
export const SECTIONS = ["pages", "posts", "children"] as const;
export type Section = (typeof SECTIONS)[number];

/** Sections read from a Notion database (the children section is not). */
export type DatabaseSection = Exclude<Section, "children">;

export function isSection(value: unknown): value is Section {
  return typeof value === "string" && (SECTIONS as readonly string[]).includes(value);
}
