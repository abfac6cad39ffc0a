/**
 * lib/files, the pure parts: refs (round trip, forgery, tampering), the
 * earliest expiry of a bundle, and read-time rewriting of bundles and index
 * entries (pure, external URLs kept, every hosted URL replaced).
 */
import { describe, expect, it } from "vitest";
import {
  type FileRef,
  decodeFileRef,
  encodeFileRef,
  fileLinker,
  fileRefKey,
  fileTag,
  filesExpireAt,
  rewriteBundleFiles,
  rewriteEntryFiles,
} from "../../lib/files";
import type { IndexEntry, PageBundle } from "../../lib/mirror/shapes";

const KEY = fileRefKey({ CRON_SECRET: "unit-secret" });
const PAGE = "1a2b3c4d-0000-4000-8000-00000000000a";
const BLOCK = "5e6f7a8b-0000-4000-8000-00000000000b";
const hosted = (name: string, expiry: string) => ({
  type: "file",
  file: {
    url: `https://prod-files-secure.s3.us-west-2.amazonaws.com/ws/${name}?X-Amz-Signature=abc`,
    expiry_time: expiry,
  },
});
const external = (url: string) => ({ type: "external", external: { url } });

describe("file refs", () => {
  const refs: FileRef[] = [
    { kind: "block", section: "posts", pageId: PAGE, blockId: BLOCK, tag: "0123456789ab" },
    { kind: "block_icon", section: "children", pageId: PAGE, blockId: BLOCK, tag: "0123456789ab" },
    { kind: "cover", section: "pages", pageId: PAGE, tag: "0123456789ab" },
    { kind: "icon", section: "pages", pageId: PAGE, tag: "0123456789ab" },
    { kind: "prop", by: "id", key: "fL%3Ds", index: 3, section: "pages", pageId: PAGE, tag: "0123456789ab" },
    {
      kind: "prop",
      by: "name",
      key: "Pièces jointes 📎",
      index: 0,
      section: "posts",
      pageId: PAGE,
      tag: "0123456789ab",
    },
  ];

  it.each(refs)("round-trips a $kind ref, URL-safe and short", (ref) => {
    const text = encodeFileRef(ref, KEY);
    expect(text).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(text.length).toBeLessThanOrEqual(120);
    expect(decodeFileRef(text, KEY)).toEqual(ref);
  });

  it("refuses another key, any changed character, truncation and junk", () => {
    const text = encodeFileRef(refs[0], KEY);
    expect(decodeFileRef(text, fileRefKey({ CRON_SECRET: "other" }))).toBeNull();
    for (let i = 0; i < text.length; i++) {
      const changed = text.slice(0, i) + (text[i] === "A" ? "B" : "A") + text.slice(i + 1);
      expect(decodeFileRef(changed, KEY), `character ${i}`).toBeNull();
    }
    expect(decodeFileRef(text.slice(0, -1), KEY)).toBeNull();
    expect(decodeFileRef(`${text}A`, KEY)).toBeNull();
    for (const junk of ["", "x", "a.b", "A".repeat(500), "../../etc/passwd"])
      expect(decodeFileRef(junk, KEY)).toBeNull();
  });

  it("keys on FILES_REF_SECRET first, CRON_SECRET else, and needs one", () => {
    expect(fileRefKey({ FILES_REF_SECRET: "a", CRON_SECRET: "b" })).toEqual(fileRefKey({ FILES_REF_SECRET: "a" }));
    expect(fileRefKey({ CRON_SECRET: "b" })).toEqual(fileRefKey({ FILES_REF_SECRET: "b" }));
    expect(fileRefKey({ CRON_SECRET: "a-long-cron-secret" })).toHaveLength(32); // derived, never the secret itself
    expect(fileRefKey({ CRON_SECRET: "a-long-cron-secret" }).toString("utf8")).not.toContain("a-long-cron-secret");
    expect(() => fileRefKey({})).toThrow(/FILES_REF_SECRET/);
  });

  it("tags a file by its object, not its signature", () => {
    expect(fileTag("https://s3/ws/f/a.png?X-Amz-Signature=1")).toBe(fileTag("https://s3/ws/f/a.png?X-Amz-Signature=2"));
    expect(fileTag("https://s3/ws/f/a.png?X-Amz-Signature=1")).not.toBe(
      fileTag("https://s3/ws/g/a.png?X-Amz-Signature=1"),
    );
  });
});

describe("filesExpireAt", () => {
  it("takes the earliest instant over blocks (nested, icons), cover, icon and files properties", () => {
    const blocks = [
      { id: BLOCK, type: "image", image: hosted("a", "2025-06-01T03:00:00.000Z") },
      {
        id: BLOCK,
        type: "toggle",
        toggle: {},
        children: [{ id: BLOCK, type: "pdf", pdf: hosted("b", "2025-06-01T02:00:00Z") }],
      },
      { id: BLOCK, type: "callout", callout: { icon: hosted("c", "2025-06-01T01:59:59.500Z") } },
    ];
    expect(filesExpireAt({ blocks })).toBe("2025-06-01T01:59:59.500Z"); // compared as instants, not strings
    expect(filesExpireAt({ blocks, cover: hosted("d", "2025-06-01T01:00:00.000Z") })).toBe("2025-06-01T01:00:00.000Z");
    expect(filesExpireAt({ blocks, icon: hosted("e", "2025-06-01T00:30:00.000Z") })).toBe("2025-06-01T00:30:00.000Z");
    const properties = {
      Files: { id: "f", type: "files", files: [{ name: "x", ...hosted("f", "2025-06-01T00:10:00.000Z") }] },
    };
    expect(filesExpireAt({ blocks, properties })).toBe("2025-06-01T00:10:00.000Z");
    expect(
      filesExpireAt({ blocks: [{ type: "image", image: external("https://x") }], cover: external("https://y") }),
    ).toBeNull();
  });
});

describe("rewriting", () => {
  const link = fileLinker({ key: KEY });
  const bundle = (): PageBundle => ({
    id: PAGE,
    slug: "p",
    title: "P",
    section: "posts",
    parent: { type: "page_id" },
    properties: {
      Files: {
        id: "fL%3Ds",
        type: "files",
        files: [
          { name: "a.pdf", ...hosted("a.pdf", "2025-06-01T01:00:00.000Z") },
          { name: "link", ...external("https://docs.example.com/x") },
        ],
      },
      Name: { id: "title", type: "title", title: [] },
    },
    created_time: "",
    last_edited_time: "",
    url: null,
    icon: { type: "emoji", emoji: "📝" },
    cover: hosted("cover", "2025-06-01T01:00:00.000Z"),
    blocks: [
      {
        object: "block",
        id: BLOCK,
        type: "paragraph",
        has_children: true,
        paragraph: { rich_text: [] },
        children: [
          {
            object: "block",
            id: BLOCK,
            type: "file",
            has_children: false,
            file: { caption: [], name: "f.zip", ...hosted("f.zip", "2025-06-01T01:00:00.000Z") },
          },
        ],
      },
      {
        object: "block",
        id: BLOCK,
        type: "image",
        has_children: false,
        image: { caption: [], ...external("https://images.example.com/x.jpg") },
      },
    ],
    childPages: [],
    blockCount: 3,
    files_expire_at: "2025-06-01T01:00:00.000Z",
    synced_at: "",
  });

  it("replaces every hosted URL with /api/files/<ref>, keeps the rest, and modifies nothing", () => {
    const input = bundle();
    const before = JSON.stringify(input);
    const out = rewriteBundleFiles(input, link);
    expect(JSON.stringify(input)).toBe(before);
    const text = JSON.stringify(out);
    expect(text).not.toContain("prod-files-secure");
    expect(text).toContain("https://docs.example.com/x");
    expect(text).toContain("https://images.example.com/x.jpg");
    expect(out.files_expire_at).toBeNull();
    expect(out.icon).toBe(input.icon);
    const nested = (
      out.blocks![0].children![0] as unknown as {
        file: { name: string; type: string; file: { url: string; expiry_time?: string } };
      }
    ).file;
    expect(nested.name).toBe("f.zip");
    expect(nested.type).toBe("file");
    expect(nested.file.expiry_time).toBeUndefined();
    expect(decodeFileRef(nested.file.url.slice("/api/files/".length), KEY)).toMatchObject({
      kind: "block",
      blockId: BLOCK,
      pageId: PAGE,
      section: "posts",
    });
    const cover = (out.cover as { file: { url: string } }).file.url;
    expect(decodeFileRef(cover.slice("/api/files/".length), KEY)).toMatchObject({ kind: "cover" });
    const prop = (out.properties.Files as unknown as { files: { file?: { url: string } }[] }).files[0].file!.url;
    expect(decodeFileRef(prop.slice("/api/files/".length), KEY)).toMatchObject({
      kind: "prop",
      by: "id",
      key: "fL%3Ds",
      index: 0,
    });
    // Unchanged parts are shared, not copied.
    expect(out.blocks![1]).toBe(input.blocks![1]);
    expect(out.properties.Name).toBe(input.properties.Name);
  });

  it("returns the very bundle when nothing is hosted, and honours a base", () => {
    const plain = { ...bundle(), cover: null, properties: {}, blocks: [] } as PageBundle;
    expect(rewriteBundleFiles(plain, link)).toBe(plain);
    const based = rewriteBundleFiles(bundle(), fileLinker({ key: KEY, base: "https://cdn.example.com/" }));
    expect(JSON.stringify(based)).toContain('"https://cdn.example.com/api/files/');
  });

  it("rewrites the flattened files of an index entry (hosted told from the URL or the flag), by property name and position", () => {
    const entry: IndexEntry = {
      id: PAGE,
      slug: "p",
      title: "P",
      created_time: "",
      last_edited_time: "",
      childPages: [],
      properties: {
        Files: [
          {
            name: "a.pdf",
            url: "https://prod-files-secure.s3.us-west-2.amazonaws.com/ws/a.pdf?X-Amz-Credential=x&X-Amz-Signature=y",
          },
          { name: "link", url: "https://docs.example.com/x" },
        ],
        Tags: ["a", "b"],
      },
    };
    const out = rewriteEntryFiles(entry, "posts", link);
    const files = out.properties.Files as { name: string; url: string }[];
    expect(files[1]).toBe((entry.properties.Files as unknown[])[1]);
    expect(decodeFileRef(files[0].url.slice("/api/files/".length), KEY)).toMatchObject({
      kind: "prop",
      by: "name",
      key: "Files",
      index: 0,
      section: "posts",
    });
    expect(out.properties.Tags).toBe(entry.properties.Tags);
    const flagged = {
      ...entry,
      properties: { Files: [{ name: "x", url: "https://elsewhere.example.com/x", notionHosted: true }] },
    } as unknown as IndexEntry;
    expect(JSON.stringify(rewriteEntryFiles(flagged, "posts", link))).toContain("/api/files/");
    const none = { ...entry, properties: { Tags: ["a"] } };
    expect(rewriteEntryFiles(none, "posts", link)).toBe(none);
  });
});
