/**
 * The Next.js cache tags of the mirror (README, "Revalidation"): a read of a
 * page is tagged `notion:<section>:<slug>` and `notion:<section>`, a read of
 * an index `notion:<section>`. After a commit that changed pages the app calls
 * revalidateTag on exactly those tags (lib/webhooks/revalidate.ts).
 */
import type { Section } from "../core/sections";

export const sectionTag = (section: Section): string => `notion:${section}`;

export const pageTag = (section: Section, slug: string): string => `notion:${section}:${slug}`;

/** The tags a cached read of one page carries. */
export const pageTags = (section: Section, slug: string): string[] => [pageTag(section, slug), sectionTag(section)];

/** The tags to revalidate for a set of changed pages: each page's, and each section's once. */
export function tagsFor(pages: { section: Section; slug: string }[]): string[] {
  const tags = new Set<string>();
  for (const { section, slug } of pages) tags.add(pageTag(section, slug));
  for (const { section } of pages) tags.add(sectionTag(section));
  return [...tags];
}
