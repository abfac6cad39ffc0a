/**
 * Which slug a page gets: the text rule (./slug.ts) applied to its Slug
 * property or title, an id suffix for child pages and collisions, and the
 * slug a page keeps while its title still gives it. Apart from the text rule
 * so that rule can be swapped as a module (tests/slug.integration.test.ts).
 */
import type { Section } from "../core/sections";
import { type NotionPage, normalizeId, pageTitle, richTextProperty } from "../notion/types";
import type { IndexEntry } from "./shapes";
import { legacySlugify, slugify } from "./slug";

const shortId = (id: string) => normalizeId(id).slice(0, 8);

/** Database rows: the `Slug` property, else the title; children always carry an id suffix (titles repeat). */
export function baseSlug(page: NotionPage, section: Section, slugOf: (text: string) => string = slugify): string {
  const title = slugOf(pageTitle(page)) || "untitled";
  if (section === "children") return `${title}-${shortId(page.id)}`;
  return slugOf(richTextProperty(page, "Slug") ?? "") || title;
}

/** The base slug the page had under the ASCII-only rule (legacySlugify). */
export function legacyBaseSlug(page: NotionPage, section: Section): string {
  return baseSlug(page, section, legacySlugify);
}

/** The slug a page takes when another page holds its plain one. */
export function suffixedSlug(base: string, id: string): string {
  return `${base}-${shortId(id)}`;
}

/** A page keeps the slug it has while its title (or Slug property) still gives it, suffixed or not. */
export function keepsSlug(previous: string, base: string, id: string): boolean {
  return previous === base || previous === suffixedSlug(base, id) || previous.startsWith(`${suffixedSlug(base, id)}-`);
}

/** What a page's slug is made from: its title and its Slug property's text (compared to tell a rename). */
type SlugSource = Pick<IndexEntry, "slug" | "title" | "properties">;

function sameSlugText(page: NotionPage, previous: SlugSource): boolean {
  const slugText = (value: unknown) => (typeof value === "string" ? value.trim() : "");
  return (
    previous.title === pageTitle(page) && slugText(previous.properties?.Slug) === (richTextProperty(page, "Slug") ?? "")
  );
}

/**
 * A page keeps its previous slug while its title (or Slug property) gives it
 * under the current rule; or, until it is renamed, the slug the ASCII-only
 * rule gave it: a `Заголовок` synced as `untitled-1a2b3c4d` keeps that slug
 * (the rule changing moves no page), and takes a readable one once renamed.
 */
export function keepsPreviousSlug(page: NotionPage, section: Section, previous: SlugSource): boolean {
  if (keepsSlug(previous.slug, baseSlug(page, section), page.id)) return true;
  return sameSlugText(page, previous) && keepsSlug(previous.slug, legacyBaseSlug(page, section), page.id);
}

/** A child page's slug (no claims: the id suffix makes it unique): its previous one while it still fits, else its base slug. */
export function unclaimedSlug(page: NotionPage, section: Section, previous: SlugSource | null | undefined): string {
  const base = baseSlug(page, section);
  if (!previous || previous.slug === base) return base;
  return sameSlugText(page, previous) && previous.slug === legacyBaseSlug(page, section) ? previous.slug : base;
}

/**
 * Gives every page of a list a distinct slug. A page that already held its
 * slug keeps it (links stay stable); a newcomer with the same slug, or one in
 * `taken`, gets its id appended.
 */
export function assignSlugs(
  pages: NotionPage[],
  section: Section,
  previous: Map<string, string>,
  taken: Set<string> = new Set(),
): Map<string, string> {
  const slugs = new Map<string, string>();
  const used = new Set(taken);
  // A page keeps its previous slug when its base gives it; one the ASCII-only rule gave it
  // (suffixed or not) stays too, so the change of rule moves no page.
  const kept = (p: NotionPage) => {
    const held = previous.get(p.id);
    if (held === undefined) return null;
    const base = baseSlug(p, section);
    const legacy = legacyBaseSlug(p, section);
    return held === base || (legacy !== base && keepsSlug(held, legacy, p.id)) ? held : null;
  };
  const keepers = pages.filter((p) => kept(p) !== null && !taken.has(kept(p)!));
  for (const page of keepers) {
    const slug = kept(page)!;
    if (used.has(slug)) continue;
    used.add(slug);
    slugs.set(page.id, slug);
  }
  for (const page of pages) {
    if (slugs.has(page.id)) continue;
    const base = baseSlug(page, section);
    let slug = used.has(base) ? `${base}-${shortId(page.id)}` : base;
    // A Slug property may equal another page's suffixed slug: never hand out a slug twice.
    for (let n = 2; used.has(slug); n++) slug = `${base}-${shortId(page.id)}-${n}`;
    used.add(slug);
    slugs.set(page.id, slug);
  }
  return slugs;
}
