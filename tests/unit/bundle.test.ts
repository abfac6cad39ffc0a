/**
 * lib/sync/bundle.ts: slugs (the public URLs of synced pages), the flattened
 * properties of an index entry, and a bundle's file expiry.
 */
import { describe, expect, it } from "vitest";
import type { BlockTree, PageContent } from "../../lib/notion/block-tree";
import type { NotionPage, NotionProperty } from "../../lib/notion/types";
import { dateStart } from "../../lib/mirror/properties";
import { assignSlugs } from "../../lib/mirror/slug-rules";
import { slugify } from "../../lib/mirror/slug";
import { buildBundle, simplifyProperties } from "../../lib/sync/bundle";

const rt = (text: string) => [{ type: "text", text: { content: text, link: null }, plain_text: text, href: null }];

function row(id: string, title: string, slug?: string, extra: Record<string, NotionProperty> = {}): NotionPage {
  return {
    object: "page",
    id,
    created_time: "2025-01-01T00:00:00.000Z",
    last_edited_time: "2025-02-01T00:00:00.000Z",
    parent: { type: "data_source_id", data_source_id: "ds", database_id: "db" },
    properties: {
      Name: { id: "title", type: "title", title: title === "" ? [] : rt(title) },
      Slug: { id: "s", type: "rich_text", rich_text: slug === undefined ? [] : rt(slug) },
      ...extra,
    },
    url: `https://www.notion.so/${id.replace(/-/g, "")}`,
  };
}

// Ids as Notion sends them (dashed); the slug suffix is the first 8 hex digits.
const A = "aaaa1111-0000-4000-8000-000000000001";
const B = "bbbb2222-0000-4000-8000-000000000002";
const C = "cccc3333-0000-4000-8000-000000000003";
const D = "dddd4444-0000-4000-8000-000000000004";

describe("slugify", () => {
  it.each([
    ["Crème Brûlée à la carte", "creme-brulee-a-la-carte"],
    ["Ångström Ñandú façade naïve", "angstrom-nandu-facade-naive"],
    ["Hello, World! (2024) — what's new?", "hello-world-2024-what-s-new"],
    ["  --Leading & trailing--  ", "leading-trailing"],
    ["UPPER case_and_under", "upper-case-and-under"],
    ["a/b\\c.d:e", "a-b-c-d-e"],
    ["日本語", "日本語"], // every script is kept (tests/unit/slug.test.ts)
    ["", ""],
  ])("%j → %j", (input, expected) => {
    expect(slugify(input)).toBe(expected);
  });

  it("caps the slug at 80 characters", () => {
    expect(slugify("word ".repeat(60))).toHaveLength(79); // 16 × "word-" = 80, minus the cut trailing dash
    expect(slugify("x".repeat(200))).toBe("x".repeat(80));
  });

  it("never ends in a dash when the cap falls on a separator", () => {
    const slug = slugify(`${"x".repeat(79)} tail`);
    expect(slug.length).toBeLessThanOrEqual(80);
    expect(slug).not.toMatch(/-$/);
    expect(slug).toBe("x".repeat(79));
  });

  it("is idempotent, so a Slug property copied from a generated slug stays the same", () => {
    for (const input of ["Crème Brûlée à la carte", `${"x".repeat(79)} tail`, "word ".repeat(60), "A -- B"]) {
      const once = slugify(input);
      expect(slugify(once)).toBe(once);
    }
  });
});

describe("assignSlugs", () => {
  it("uses the Slug property over the title, slugified", () => {
    const slugs = assignSlugs([row(A, "Hello World", "My Custom Path"), row(B, "Other", "  ")], "pages", new Map());
    expect(slugs.get(A)).toBe("my-custom-path");
    expect(slugs.get(B)).toBe("other"); // blank Slug: title fallback
  });

  it("falls back to the title, then to 'untitled'", () => {
    const slugs = assignSlugs([row(A, "Über Uns"), row(B, "")], "pages", new Map());
    expect(slugs.get(A)).toBe("uber-uns");
    expect(slugs.get(B)).toBe("untitled");
  });

  it("appends the short id to every duplicate after the first", () => {
    const slugs = assignSlugs([row(A, "Same"), row(B, "Same"), row(C, "other", "same")], "pages", new Map());
    expect(slugs.get(A)).toBe("same");
    expect(slugs.get(B)).toBe("same-bbbb2222");
    expect(slugs.get(C)).toBe("same-cccc3333");
  });

  it("lets the page that already held a slug keep it; the newcomer gets the suffix", () => {
    // The newcomer comes first in the listing (newest first), the holder after it.
    const slugs = assignSlugs([row(A, "Launch"), row(B, "Launch")], "posts", new Map([[B, "launch"]]));
    expect(slugs.get(B)).toBe("launch");
    expect(slugs.get(A)).toBe("launch-aaaa1111");
  });

  it("frees a held slug once its holder was renamed", () => {
    const slugs = assignSlugs(
      [row(A, "Launch"), row(B, "Renamed")],
      "posts",
      new Map([
        [B, "launch"],
        [A, "launch-aaaa1111"],
      ]),
    );
    expect(slugs.get(B)).toBe("renamed");
    expect(slugs.get(A)).toBe("launch");
  });

  // The list phase no longer passes `taken` (page keys are namespaced by section since 939fe0d),
  // but assignSlugs still offers it: a slug in `taken` is never handed out, not even to its previous holder.
  it("suffixes a slug listed in `taken` (another section's slugs), even for its previous holder", () => {
    const taken = new Set(["about"]);
    const fresh = assignSlugs([row(A, "About")], "posts", new Map(), taken);
    expect(fresh.get(A)).toBe("about-aaaa1111");
    const held = assignSlugs([row(A, "About")], "posts", new Map([[A, "about"]]), taken);
    expect(held.get(A)).toBe("about-aaaa1111");
  });

  it("always suffixes child pages (their titles repeat across parents)", () => {
    const slugs = assignSlugs([row(A, "Notes"), row(B, "Notes")], "children", new Map());
    expect(slugs.get(A)).toBe("notes-aaaa1111");
    expect(slugs.get(B)).toBe("notes-bbbb2222");
  });

  it("never gives two pages the same slug, even when a Slug property equals a suffixed slug", () => {
    // D pinned the slug A would get as a newcomer; B holds the base slug.
    const pages = [row(A, "Hello"), row(B, "Hello"), row(D, "Whatever", "hello-aaaa1111")];
    const previous = new Map([
      [B, "hello"],
      [D, "hello-aaaa1111"],
    ]);
    const slugs = assignSlugs(pages, "pages", previous);
    expect(slugs.get(B)).toBe("hello");
    expect(slugs.get(D)).toBe("hello-aaaa1111");
    const all = [...slugs.values()];
    expect(new Set(all).size).toBe(pages.length);
    expect(slugs.get(A)).toMatch(/^hello-aaaa1111-/);
  });

  it("gives distinct slugs to a crowd of same-titled pages and is stable on the next run", () => {
    const ids = Array.from(
      { length: 12 },
      (_, i) => `${(0x10000000 + i * 0x01010101).toString(16)}-0000-4000-8000-${String(i).padStart(12, "0")}`,
    );
    const pages = ids.map((id) => row(id, "Weekly Notes"));
    const first = assignSlugs(pages, "posts", new Map());
    expect(new Set(first.values()).size).toBe(ids.length);
    const second = assignSlugs([...pages].reverse(), "posts", first);
    expect(second).toEqual(first);
  });
});

describe("simplifyProperties", () => {
  const props: Record<string, NotionProperty> = {
    Name: { id: "title", type: "title", title: [...rt("Hello "), ...rt("World")] },
    Body: { id: "b", type: "rich_text", rich_text: rt("Some text") },
    EmptyBody: { id: "e", type: "rich_text", rich_text: [] },
    Count: { id: "c", type: "number", number: 0 },
    NoCount: { id: "n", type: "number", number: null },
    Done: { id: "d", type: "checkbox", checkbox: false },
    Link: { id: "l", type: "url", url: "https://example.com" },
    NoLink: { id: "nl", type: "url", url: null },
    Mail: { id: "m", type: "email", email: "a@example.com" },
    Phone: { id: "p", type: "phone_number", phone_number: "+41 00 000" },
    Kind: { id: "k", type: "select", select: { id: "x", name: "Guide", color: "blue" } },
    NoKind: { id: "nk", type: "select", select: null },
    State: { id: "st", type: "status", status: { id: "y", name: "In progress", color: "yellow" } },
    Tags: {
      id: "t",
      type: "multi_select",
      multi_select: [
        { id: "1", name: "news", color: "red" },
        { id: "2", name: "tips", color: "green" },
      ],
    },
    NoTags: { id: "nt", type: "multi_select", multi_select: [] },
    When: { id: "w", type: "date", date: { start: "2025-03-04", end: "2025-03-05", time_zone: null } },
    NoWhen: { id: "nw", type: "date", date: null },
    Related: { id: "r", type: "relation", relation: [{ id: A }], has_more: false },
    Computed: { id: "f", type: "formula", formula: { type: "string", string: "x" } },
    Rolled: { id: "ro", type: "rollup", rollup: { type: "number", number: 3 } },
    People: { id: "pe", type: "people", people: [] },
  };

  it("flattens each supported type to a plain value", () => {
    const out = simplifyProperties(props);
    expect(out).toEqual({
      Name: "Hello World",
      Body: "Some text",
      EmptyBody: "",
      Count: 0,
      NoCount: null,
      Done: false,
      Link: "https://example.com",
      NoLink: null,
      Mail: "a@example.com",
      Phone: "+41 00 000",
      Kind: "Guide",
      NoKind: null,
      State: "In progress",
      Tags: ["news", "tips"],
      NoTags: [],
      When: { start: "2025-03-04", end: "2025-03-05", time_zone: null },
      NoWhen: null,
      Related: [A],
      Computed: "x",
      Rolled: 3,
      People: [],
    });
  });

  it("keeps the start of a date at hand (dateStart), for entries old and new", () => {
    const out = simplifyProperties(props);
    expect(dateStart(out.When)).toBe("2025-03-04");
    expect(dateStart(out.NoWhen)).toBeNull();
    expect(dateStart("2025-03-04")).toBe("2025-03-04"); // an entry flattened before dates were objects
  });

  it("copes with a missing properties object and a property missing its value", () => {
    expect(simplifyProperties(undefined as unknown as NotionPage["properties"])).toEqual({});
    expect(
      simplifyProperties({
        T: { type: "title" },
        U: { type: "url" },
        M: { type: "multi_select" },
        X: { type: "some_future_type" },
      }),
    ).toEqual({ T: "", U: null, M: [], X: null });
  });
});

describe("buildBundle", () => {
  let n = 0;
  const block = (type: string, body: Record<string, unknown> = {}, children?: BlockTree[]): BlockTree => ({
    object: "block",
    id: `b${++n}`,
    type,
    has_children: children !== undefined,
    [type]: body,
    ...(children ? { children } : {}),
  });
  const hosted = (type: string, expiry: string) =>
    block(type, { caption: [], type: "file", file: { url: `https://files/${n}`, expiry_time: expiry } });
  const external = (type: string) =>
    block(type, { caption: [], type: "external", external: { url: "https://example.com/x.png" } });
  const content = (blocks: BlockTree[]): PageContent => ({
    blocks,
    childPages: [],
    blockCount: blocks.length,
    requests: 1,
  });
  const NOW = new Date("2025-06-01T00:00:00.000Z");

  it("takes the earliest expiry among file blocks at any depth", () => {
    const blocks = [
      block("paragraph", { rich_text: rt("intro") }),
      hosted("image", "2025-06-01T03:00:00.000Z"),
      block("toggle", { rich_text: [] }, [
        block("column_list", {}, [
          block("column", {}, [hosted("file", "2025-06-01T00:45:00.000Z"), external("image")]),
        ]),
      ]),
      hosted("pdf", "2025-06-01T01:00:00.000Z"),
      external("video"),
    ];
    const bundle = buildBundle(row(A, "Page"), "pages", "page", content(blocks), NOW);
    expect(bundle.files_expire_at).toBe("2025-06-01T00:45:00.000Z");
  });

  it("is null when every file is external or there are none", () => {
    expect(
      buildBundle(row(A, "P"), "pages", "p", content([external("image"), block("paragraph", { rich_text: [] })]), NOW)
        .files_expire_at,
    ).toBeNull();
    expect(buildBundle(row(A, "P"), "pages", "p", content([]), NOW).files_expire_at).toBeNull();
  });

  it("counts the page's cover, icon and files properties too (lib/files/expiry.ts)", () => {
    const file = (expiry: string) => ({ type: "file", file: { url: "https://c", expiry_time: expiry } });
    const blocks = [block("child_page", { title: "Sub" }), hosted("image", "2025-06-01T02:00:00.000Z")];
    const files = (expiry: string): NotionProperty => ({
      id: "f",
      type: "files",
      files: [{ name: "a.pdf", ...file(expiry) }],
    });
    expect(
      buildBundle({ ...row(A, "P"), cover: file("2025-06-01T00:01:00.000Z") }, "pages", "p", content(blocks), NOW)
        .files_expire_at,
    ).toBe("2025-06-01T00:01:00.000Z");
    expect(
      buildBundle({ ...row(A, "P"), icon: file("2025-06-01T00:02:00.000Z") }, "pages", "p", content(blocks), NOW)
        .files_expire_at,
    ).toBe("2025-06-01T00:02:00.000Z");
    expect(
      buildBundle(
        row(A, "P", undefined, { Files: files("2025-06-01T00:03:00.000Z") }),
        "pages",
        "p",
        content(blocks),
        NOW,
      ).files_expire_at,
    ).toBe("2025-06-01T00:03:00.000Z");
  });

  it("carries the page's facts and the content as given", () => {
    const blocks = [block("paragraph", { rich_text: rt("x") })];
    const c: PageContent = { blocks, childPages: [{ id: B, title: "Child" }], blockCount: 7, requests: 3 };
    const page = row(A, "Title Here", "slug-here");
    const bundle = buildBundle(page, "posts", "slug-here", c, NOW);
    expect(bundle).toMatchObject({
      id: A,
      slug: "slug-here",
      title: "Title Here",
      section: "posts",
      parent: page.parent,
      created_time: page.created_time,
      last_edited_time: page.last_edited_time,
      url: page.url,
      icon: null,
      cover: null,
      blocks,
      childPages: [{ id: B, title: "Child" }],
      blockCount: 7,
      synced_at: NOW.toISOString(),
    });
    expect(buildBundle({ ...page, url: undefined }, "posts", "s", c, NOW).url).toBeNull();
  });
});
