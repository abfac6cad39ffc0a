/**
 * lib/mirror/slug.ts: slugs for every language (letters and digits of any
 * script kept, safe for keys and URLs, capped in bytes), and lib/sync/bundle.ts
 * keeping the slug a page was synced under by the ASCII-only rule.
 */
import { describe, expect, it } from "vitest";
import { SLUG_MAX_BYTES, SLUG_MAX_CHARS, isSafeSlug, legacySlugify, slugify } from "../../lib/mirror/slug";
import type { NotionPage } from "../../lib/notion/types";
import { assignSlugs, baseSlug, keepsPreviousSlug, unclaimedSlug } from "../../lib/mirror/slug-rules";

/** What no slug may hold: path separators, dots, colons, %-escapes, query and fragment marks, whitespace, controls. */
const UNSAFE = /[/\\.:%?#\s\p{Cc}\p{Cf}]/u;

function expectSafe(slug: string) {
  expect(slug).not.toMatch(UNSAFE);
  expect(slug).not.toContain("..");
  expect(slug).not.toMatch(/^-|-$|--/);
  expect(Buffer.byteLength(slug)).toBeLessThanOrEqual(SLUG_MAX_BYTES);
  expect([...slug].length).toBeLessThanOrEqual(SLUG_MAX_CHARS);
  // No lone surrogate: a cut never falls inside a code point.
  expect(slug).toBe(Buffer.from(slug, "utf8").toString("utf8"));
  if (slug !== "") expect(isSafeSlug(slug)).toBe(true);
}

describe("slugify: every script", () => {
  it.each([
    ["Chinese", "中文标题：你好世界", "中文标题-你好世界"],
    ["Japanese", "日本語のタイトル", "日本語のタイトル"],
    ["Japanese with voiced kana (decomposed input)", "か\u3099き\u3099", "がぎ"],
    ["Japanese fullwidth punctuation", "東京、大阪。京都！", "東京-大阪-京都"],
    ["Russian", "Заголовок статьи", "заголовок-статьи"],
    ["Russian й and ё stay", "Новый ёж", "новый-ёж"],
    ["Arabic", "مرحبا بالعالم", "مرحبا-بالعالم"],
    ["Hebrew", "שלום עולם", "שלום-עולם"],
    ["Hindi (vowel signs are marks)", "हिन्दी भाषा", "हिन्दी-भाषा"],
    ["Greek (final sigma)", "ΟΔΟΣ", "οδος".slice(0, 3) + "ς"],
    ["Korean", "한국어 제목", "한국어-제목"],
    ["Thai with a zero-width space between words", "ภาษา\u200Bไทย", "ภาษา-ไทย"],
    ["mixed scripts", "Hello 世界 Мир 2024", "hello-世界-мир-2024"],
  ])("%s: %j → %j", (_name, input, expected) => {
    expect(slugify(input)).toBe(expected);
    expectSafe(slugify(input));
  });

  it("keeps Latin slugs as they were: accents dropped, ASCII only where the old rule gave ASCII", () => {
    for (const input of [
      "Crème Brûlée à la carte",
      "Ångström Ñandú façade naïve",
      "Hello, World! (2024) — what's new?",
      "UPPER case_and_under",
      "Über Uns",
    ]) {
      expect(slugify(input)).toBe(legacySlugify(input));
    }
    // Latin letters without a decomposition are letters now (the old rule made them separators).
    expect(slugify("Straße Øresund")).toBe("straße-øresund");
  });

  it("composes combining marks, drops orphan ones", () => {
    expect(slugify("e\u0301cole")).toBe("ecole"); // Latin: the accent goes, as before
    expect(slugify("école")).toBe(slugify("e\u0301cole"));
    expect(slugify("\u0301abc")).toBe("abc"); // a mark with no letter before it
    expect(slugify("a \u0301 b")).toBe("a-b");
    expect(slugify("й")).toBe("й"); // Cyrillic short i is not и + breve
    expect(slugify("и\u0306")).toBe("й");
  });

  it("drops right-to-left overrides and other invisible controls (RTL text itself is kept)", () => {
    expect(slugify("\u202Eevil\u202C text")).toBe("evil-text");
    expect(slugify("\u2067مرحبا\u2069 world")).toBe("مرحبا-world");
    expect(slugify("a\u200Db\u00ADc\uFEFFd")).toBe("abcd");
    expect(slugify("שלום\u200F!")).toBe("שלום");
  });

  it("emoji are separators; a title of emoji only gives '' (so 'untitled')", () => {
    expect(slugify("😀 emoji only 😀")).toBe("emoji-only");
    expect(slugify("🎉🎉")).toBe("");
    expect(slugify("1️⃣ keycap")).toBe("1-keycap"); // variation selector and enclosing keycap dropped
    expect(slugify("👨‍👩‍👧 family")).toBe("family");
  });

  it("folds compatibility forms (NFKC)", () => {
    expect(slugify("Ｆｕｌｌｗｉｄｔｈ ① ﬁ")).toBe("fullwidth-1-fi");
    expect(slugify("ｶﾀｶﾅ")).toBe("カタカナ");
  });

  it.each([
    ["../../etc/passwd", "etc-passwd"],
    ["..", ""],
    ["a:b", "a-b"],
    ["a:b:c", "a-b-c"],
    ["a%2Fb?c#d", "a-2fb-c-d"],
    ["C:\\Windows\\..\\x", "c-windows-x"],
    ["tab\tnew\nline\u0000nul\u007f", "tab-new-line-nul"],
    ["／全角／スラッシュ", "全角-スラッシュ"],
    ["  --Leading & trailing--  ", "leading-trailing"],
    ["", ""],
  ])("is safe for keys and URLs: %j → %j", (input, expected) => {
    expect(slugify(input)).toBe(expected);
    expectSafe(slugify(input));
  });

  it("caps at 80 characters and 120 bytes, on a character boundary", () => {
    expect(slugify("x".repeat(300))).toBe("x".repeat(80)); // ASCII: the 80 characters it always had
    const cjk = slugify("中".repeat(300));
    expect(cjk).toBe("中".repeat(40)); // 3 bytes each
    const cyrillic = slugify("ж".repeat(300));
    expect(cyrillic).toBe("ж".repeat(60)); // 2 bytes each
    const mixed = slugify("ab" + "中".repeat(300)); // 2 + 3n ≤ 120 → 39 characters of CJK
    expect(mixed).toBe("ab" + "中".repeat(39));
    expect(Buffer.byteLength(slugify("𝒳".repeat(100)))).toBeLessThanOrEqual(SLUG_MAX_BYTES); // 4-byte letters
    for (const s of [cjk, cyrillic, mixed, slugify("𝒳".repeat(100))]) expectSafe(s);
  });

  it("never cuts a letter from its marks, nor leaves a trailing dash", () => {
    const devanagari = slugify("हि".repeat(100)); // ह + vowel sign ि: one grapheme, 6 bytes
    expect(Buffer.byteLength(devanagari)).toBeLessThanOrEqual(SLUG_MAX_BYTES);
    expect(devanagari.endsWith("ि")).toBe(true);
    const slug = slugify(`${"ж".repeat(60)} tail`); // 120 bytes, then the cut falls on the separator
    expect(slug).toBe("ж".repeat(60));
  });

  it("is idempotent (a Slug property copied from a generated slug stays the same) and safe for any input", () => {
    let seed = 12345;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const pool = [
      "a",
      "Z",
      "0",
      " ",
      "-",
      ".",
      "/",
      ":",
      "%",
      "?",
      "#",
      "\t",
      "\u0000",
      "é",
      "e\u0301",
      "\u0301",
      "ж",
      "中",
      "の",
      "ا",
      "\u202E",
      "\u200D",
      "😀",
      "\uFE0F",
      "ß",
      "İ",
      "ﬁ",
      "①",
      "हि",
      "\u200B",
    ];
    for (let i = 0; i < 2000; i++) {
      const input = Array.from(
        { length: Math.floor(random() * 150) },
        () => pool[Math.floor(random() * pool.length)],
      ).join("");
      const once = slugify(input);
      expectSafe(once);
      expect(slugify(once)).toBe(once);
    }
  });
});

// ----------------------------------------------------------------------------- existing slugs

const rt = (text: string) =>
  text === "" ? [] : [{ type: "text", text: { content: text, link: null }, plain_text: text, href: null }];
function page(id: string, title: string, slug?: string): NotionPage {
  return {
    object: "page",
    id,
    created_time: "2025-01-01T00:00:00.000Z",
    last_edited_time: "2025-02-01T00:00:00.000Z",
    parent: { type: "data_source_id", data_source_id: "ds" },
    properties: {
      Name: { id: "title", type: "title", title: rt(title) },
      Slug: { id: "s", type: "rich_text", rich_text: rt(slug ?? "") },
    },
  };
}
const A = "aaaa1111-0000-4000-8000-000000000001";
const B = "bbbb2222-0000-4000-8000-000000000002";

/** The previous index entry of a page: its slug, and the title and Slug text it was made from. */
const entry = (p: NotionPage, slug: string) => ({
  slug,
  title: (p.properties.Name.title as { plain_text: string }[]).map((t) => t.plain_text).join(""),
  properties: { Slug: "" },
});

describe("a page synced under the ASCII-only rule keeps its slug", () => {
  it("database rows: untitled / untitled-{id8} stay until the page is renamed", () => {
    const russian = page(A, "Заголовок");
    expect(baseSlug(russian, "pages")).toBe("заголовок");
    expect(keepsPreviousSlug(russian, "pages", entry(russian, "untitled"))).toBe(true);
    expect(keepsPreviousSlug(russian, "pages", entry(russian, "untitled-aaaa1111"))).toBe(true);
    expect(keepsPreviousSlug(russian, "pages", entry(russian, "untitled-aaaa1111-2"))).toBe(true);
    // Someone else's suffix is not ours.
    expect(keepsPreviousSlug(russian, "pages", entry(russian, "untitled-bbbb2222"))).toBe(false);
    // The new rule's slug is kept too.
    expect(keepsPreviousSlug(russian, "pages", entry(russian, "заголовок"))).toBe(true);
    // Renamed (the old rule gives "untitled" again, but the title is not the one the slug came from): a readable slug.
    expect(keepsPreviousSlug(page(A, "Другой"), "pages", entry(russian, "untitled-aaaa1111"))).toBe(false);
    expect(keepsPreviousSlug(page(A, "Hello"), "pages", entry(russian, "untitled-aaaa1111"))).toBe(false);
    // A Slug property set meanwhile counts as a rename too.
    expect(keepsPreviousSlug(page(A, "Заголовок", "О нас"), "pages", entry(russian, "untitled-aaaa1111"))).toBe(false);
  });

  it("assignSlugs keeps an old slug and gives a newcomer the readable one", () => {
    const slugs = assignSlugs(
      [page(A, "Заголовок"), page(B, "Заголовок")],
      "pages",
      new Map([[A, "untitled-aaaa1111"]]),
    );
    expect(slugs.get(A)).toBe("untitled-aaaa1111");
    expect(slugs.get(B)).toBe("заголовок");
  });

  it("child pages: the old title-{id8} stays until renamed, a new child gets the readable one", () => {
    const child = page(A, "Заголовок");
    expect(unclaimedSlug(child, "children", entry(child, "untitled-aaaa1111"))).toBe("untitled-aaaa1111");
    expect(unclaimedSlug(child, "children", null)).toBe("заголовок-aaaa1111");
    expect(unclaimedSlug(page(A, "Другой"), "children", entry(child, "untitled-aaaa1111"))).toBe("другой-aaaa1111");
    expect(unclaimedSlug(page(A, "Другой"), "children", entry(child, "заголовок-aaaa1111"))).toBe("другой-aaaa1111");
    expect(unclaimedSlug(page(A, "Notes"), "children", entry(page(A, "Notes"), "notes-aaaa1111"))).toBe(
      "notes-aaaa1111",
    );
  });
});
