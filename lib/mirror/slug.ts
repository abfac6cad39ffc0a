/**
 * Slugs: the last part of a page's KV key (`{p}:page:{section}:{slug}`) and of
 * the URL a site serves it under. The rule (README, "Slugs"):
 *
 * - NFKC (fullwidth, ligatures, circled digits: `Ａ` → `a`, `ﬁ` → `fi`, `①` → `1`), lowercased;
 * - Latin letters lose their accents, as they always did (`Crème` → `creme`);
 *   every other script is kept as written (`Заголовок` → `заголовок`,
 *   `日本語` → `日本語`, `مرحبا` → `مرحبا`), combining marks included where they
 *   belong to a letter (Devanagari vowel signs, Arabic harakat);
 * - anything that is not a letter, a digit or such a mark is a separator, and a
 *   run of separators is one `-`, never at either end;
 * - invisible format characters (bidi controls such as U+202E, zero-width
 *   joiners, soft hyphens), variation selectors and enclosing marks are
 *   dropped (a zero-width space separates words, like a space);
 * - at most 80 characters and 120 bytes of UTF-8, cut between two characters
 *   (whole grapheme clusters: never half a letter).
 *
 * So a slug only ever holds letters, digits, marks and `-`: never `/`, `.`,
 * `:`, `%`, `?`, `#`, whitespace or control characters; safe in a KV key and,
 * percent-encoded by the browser as any non-ASCII path, in a URL.
 *
 * The rule before this one (ASCII letters and digits only) is kept as
 * `legacySlugify`: a page synced under it keeps its slug while its title
 * still gives it that way (keepsPreviousSlug), so no
 * existing URL changes because the rule did.
 */

import type { Section } from "../core/sections";
import { type NotionPage, normalizeId, pageTitle, richTextProperty } from "../notion/types";
import type { IndexEntry } from "./shapes";

/** Longest slug in characters (code points), as before the Unicode rule. */
export const SLUG_MAX_CHARS = 80;
/** Longest slug in bytes of UTF-8 (a CJK character is 3 bytes, Cyrillic 2). */
export const SLUG_MAX_BYTES = 120;

const LATIN_WITH_MARKS = /(\p{Script=Latin})[\u0300-\u036f]+/gu;
/** A zero-width space separates words (Thai, Khmer, some CJK text) although it is a format character. */
const ZERO_WIDTH_SPACE = /\u200B/g;
/** Dropped without a trace: format characters (bidi controls, ZWJ/ZWNJ, soft hyphen, BOM, tags), variation selectors, enclosing marks. */
const INVISIBLE = /[\p{Cf}\p{Me}\uFE00-\uFE0F\u{E0100}-\u{E01EF}]/gu;
const SEPARATORS = /[^\p{L}\p{N}\p{M}]+/gu;
/** A mark with no letter or digit before it (after a separator, or first). */
const ORPHAN_MARKS = /(^|-)\p{M}+/gu;

const graphemes = new Intl.Segmenter(undefined, { granularity: "grapheme" });

export function slugify(text: string): string {
  const cleaned = text
    .replace(ZERO_WIDTH_SPACE, " ")
    .replace(INVISIBLE, "") // first: an invisible character must not keep a mark from its letter
    .normalize("NFKC")
    .toLowerCase()
    .normalize("NFD")
    .replace(LATIN_WITH_MARKS, "$1")
    .normalize("NFC")
    .replace(SEPARATORS, "-");
  let slug = cleaned;
  // Orphan marks may sit in a row of several separators: repeat until none is left.
  for (let previous = ""; previous !== slug;) {
    previous = slug;
    slug = slug.replace(ORPHAN_MARKS, "$1").replace(/-{2,}/g, "-");
  }
  return capSlug(slug.replace(/^-+/, "")).replace(/-+$/, ""); // after the cap: a cut on a separator must not leave a trailing dash
}

/** The longest prefix of whole grapheme clusters within SLUG_MAX_CHARS code points and SLUG_MAX_BYTES bytes. */
function capSlug(slug: string): string {
  if (slug.length <= SLUG_MAX_CHARS && Buffer.byteLength(slug) <= SLUG_MAX_BYTES) return slug;
  let out = "";
  let chars = 0;
  let bytes = 0;
  for (const { segment } of graphemes.segment(slug)) {
    const segChars = [...segment].length;
    const segBytes = Buffer.byteLength(segment);
    if (chars + segChars > SLUG_MAX_CHARS || bytes + segBytes > SLUG_MAX_BYTES) break;
    out += segment;
    chars += segChars;
    bytes += segBytes;
  }
  return out;
}

/**
 * The rule slugs were made by before the Unicode one: ASCII letters and digits
 * only (other scripts gave "", so "untitled"), 80 characters. Frozen: it only
 * tells whether a stored slug is what a page's title gave under that rule.
 */
export function legacySlugify(text: string): string {
  return text
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+/, "")
    .slice(0, 80)
    .replace(/-+$/, "");
}

/** True when `slug` could only have come from slugify: what keys and URLs may hold. */
export function isSafeSlug(slug: string): boolean {
  return (
    slug.length > 0 &&
    // Suffixes (-{id8}, -{n}) come on top of the cap.
    [...slug].length <= SLUG_MAX_CHARS + 16 &&
    Buffer.byteLength(slug) <= SLUG_MAX_BYTES + 16 &&
    /^[\p{L}\p{N}][\p{L}\p{N}\p{M}-]*$/u.test(slug) &&
    !/--/.test(slug) &&
    !/-$/.test(slug)
  );
}

/**
 * A slug (or any path segment) as a router hands it: Next.js may pass it
 * still percent-encoded (slugs never hold `%`), decoded once, NFC as slugs
 * are made; null when it is not valid percent-encoding.
 */
export function slugFromPath(raw: string): string | null {
  let text = raw;
  if (text.includes("%")) {
    try {
      text = decodeURIComponent(text);
    } catch {
      return null;
    }
  }
  return text.normalize("NFC");
}

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
