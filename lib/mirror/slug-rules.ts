/**
 * Which slug a page gets: the text rule (./slug.ts) applied to its Slug
 * property or title, an id suffix for child pages and collisions, and the
 * slug a page keeps while its title still gives it. Apart from the text rule
 * so that rule can be swapped as a module (tests/slug.integration.test.ts).
 */
import { CHILDREN_SECTION, type Section } from "../core/sections";
import { type NotionPage, normalizeId, richTextProperty } from "../notion/types";
import { entryTitle, propertyText } from "./entry-shape";
import type { IndexEntry } from "./shapes";
import { legacySlugify, slugify } from "./slug";

const shortId = (id: string) => normalizeId(id).slice(0, 8);

/**
 * Whose slug: a section's spec (its kind, the property holding the slug, the one holding the
 * title), or a section name of a deployment without a config file (children is the child pages').
 */
export type SlugRule =
  Section | { kind: "database" | "children"; slugProperty?: string | undefined; titleProperty?: string | undefined };

interface Rule {
  children: boolean;
  slugProperty?: string;
  titleProperty?: string;
}

function ruleOf(rule: SlugRule): Rule {
  if (typeof rule === "string") return { children: rule === CHILDREN_SECTION };
  return { children: rule.kind === "children", slugProperty: rule.slugProperty, titleProperty: rule.titleProperty };
}

/** The slug property's text: the section's property (any type with text), else the `Slug` rich text property. */
function slugText(page: NotionPage, rule: Rule): string {
  return (rule.slugProperty ? propertyText(page, rule.slugProperty) : richTextProperty(page, "Slug")) ?? "";
}

/** Database rows: the slug property, else the title; children always carry an id suffix (titles repeat). */
export function baseSlug(page: NotionPage, rule: SlugRule, slugOf: (text: string) => string = slugify): string {
  const r = ruleOf(rule);
  const title = slugOf(entryTitle(page, r.titleProperty)) || "untitled";
  if (r.children) return `${title}-${shortId(page.id)}`;
  return slugOf(slugText(page, r)) || title;
}

/** The base slug the page had under the ASCII-only rule (legacySlugify). */
export function legacyBaseSlug(page: NotionPage, rule: SlugRule): string {
  return baseSlug(page, rule, legacySlugify);
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

function sameSlugText(page: NotionPage, rule: SlugRule, previous: SlugSource): boolean {
  const r = ruleOf(rule);
  const stored = (value: unknown) => (typeof value === "string" ? value.trim() : "");
  return (
    previous.title === entryTitle(page, r.titleProperty) &&
    stored(previous.properties?.[r.slugProperty ?? "Slug"]) === slugText(page, r)
  );
}

/**
 * A page keeps its previous slug while its title (or Slug property) gives it
 * under the current rule; or, until it is renamed, the slug the ASCII-only
 * rule gave it: a `Заголовок` synced as `untitled-1a2b3c4d` keeps that slug
 * (the rule changing moves no page), and takes a readable one once renamed.
 */
export function keepsPreviousSlug(page: NotionPage, rule: SlugRule, previous: SlugSource): boolean {
  if (keepsSlug(previous.slug, baseSlug(page, rule), page.id)) return true;
  return sameSlugText(page, rule, previous) && keepsSlug(previous.slug, legacyBaseSlug(page, rule), page.id);
}

/** A child page's slug (no claims: the id suffix makes it unique): its previous one while it still fits, else its base slug. */
export function unclaimedSlug(page: NotionPage, rule: SlugRule, previous: SlugSource | null | undefined): string {
  const base = baseSlug(page, rule);
  if (!previous || previous.slug === base) return base;
  return sameSlugText(page, rule, previous) && previous.slug === legacyBaseSlug(page, rule) ? previous.slug : base;
}

/**
 * Gives every page of a list a distinct slug. A page that already held its
 * slug keeps it (links stay stable); a newcomer with the same slug, or one in
 * `taken`, gets its id appended.
 */
export function assignSlugs(
  pages: NotionPage[],
  rule: SlugRule,
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
    const base = baseSlug(p, rule);
    const legacy = legacyBaseSlug(p, rule);
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
    const base = baseSlug(page, rule);
    let slug = used.has(base) ? `${base}-${shortId(page.id)}` : base;
    // A Slug property may equal another page's suffixed slug: never hand out a slug twice.
    for (let n = 2; used.has(slug); n++) slug = `${base}-${shortId(page.id)}-${n}`;
    used.add(slug);
    slugs.set(page.id, slug);
  }
  return slugs;
}
