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
