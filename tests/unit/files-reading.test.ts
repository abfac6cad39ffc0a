/**
 * Reading files the sync copied to the files store (FILES_MIRROR): a
 * `mirrored` file object or flattened value comes back as it is (its store
 * URL), unmirrored hosted files still go through `/api/files/<ref>`, and
 * `files_expire_at` counts only what is left that expires (null when every
 * file is mirrored, markdown included). getPageBundle needs no ref key when
 * nothing is left to route.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { fileLinker, fileRefKey, filesExpireAt, rewriteBundleFiles, rewriteEntryFiles } from "../../lib/files";
import { isMirrored } from "../../lib/files/locate";
import { createFileStore } from "../../lib/kv/file";
import type { IndexEntry, PageBundle } from "../../lib/mirror/shapes";
import { formatBytes, formatUploads, uploadsOf } from "../../lib/dashboard/format";
import { markdownImages } from "../../lib/preview/load";
import { getPageBundle, setPageBundle } from "../../lib/read";

const KEY = fileRefKey({ CRON_SECRET: "unit-secret" });
const link = fileLinker({ key: KEY });
const PAGE = "1a2b3c4d-0000-4000-8000-00000000000a";
const BLOCK = "5e6f7a8b-0000-4000-8000-00000000000b";
const STORE = "https://files.example.net/nks/posts";
const NOTION = "https://prod-files-secure.s3.us-west-2.amazonaws.com/ws";

const signed = (name: string, at = "20250601T000000Z") =>
  `${NOTION}/${name}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=${at}&X-Amz-Expires=3600&X-Amz-Signature=abc`;
const hosted = (name: string, expiry: string) => ({ type: "file", file: { url: signed(name), expiry_time: expiry } });
const mirrored = (name: string) => ({
  type: "file",
  file: { url: `${STORE}/${"a".repeat(32)}/${name}`, mirrored: true },
});

function bundle(overrides: Partial<PageBundle> = {}): PageBundle {
  return {
    id: PAGE,
    slug: "p",
    title: "P",
    section: "posts",
    parent: { type: "page_id" },
    properties: {
      Files: { id: "fL%3Ds", type: "files", files: [{ name: "a.pdf", ...mirrored("a.pdf") }] },
    },
    created_time: "",
    last_edited_time: "",
    url: null,
    icon: mirrored("icon.png"),
    cover: mirrored("cover.png"),
    blocks: [
      { object: "block", id: BLOCK, type: "image", has_children: false, image: { caption: [], ...mirrored("i.png") } },
      {
        object: "block",
        id: BLOCK,
        type: "callout",
        has_children: false,
        callout: { rich_text: [], icon: mirrored("c.png") },
      },
    ],
    childPages: [],
    blockCount: 2,
    files_expire_at: null,
    synced_at: "",
    ...overrides,
  } as PageBundle;
}

describe("mirrored files at read time", () => {
  it("tells mirrored file objects and flattened values from the rest", () => {
    expect(isMirrored(mirrored("x"))).toBe(true);
    expect(isMirrored({ name: "x", url: `${STORE}/x`, notionHosted: true, mirrored: true })).toBe(true);
    expect(isMirrored(hosted("x", "2025-06-01T01:00:00.000Z"))).toBe(false);
    expect(isMirrored({ type: "file", file: { url: `${STORE}/x`, mirrored: "yes" } })).toBe(false);
    expect(isMirrored(null)).toBe(false);
  });

  it("a bundle whose every file is mirrored is returned as it is, files_expire_at null", () => {
    const input = bundle();
    expect(rewriteBundleFiles(input, link)).toBe(input);
  });

  it("a stored files_expire_at that still counts mirrored files is recomputed to null; the files stay shared", () => {
    const input = bundle({ files_expire_at: "2025-06-01T01:00:00.000Z" });
    const out = rewriteBundleFiles(input, link);
    expect(out.files_expire_at).toBeNull();
    expect(out.blocks).toBe(input.blocks);
    expect(out.cover).toBe(input.cover);
    expect(JSON.stringify(out)).not.toContain("/api/files/");
  });

  it("mixed: mirrored files keep their store URL, an unmirrored one goes through the route; only raw leftovers expire", () => {
    const base = bundle();
    const input = bundle({
      blocks: [
        ...base.blocks!,
        {
          object: "block",
          id: BLOCK,
          type: "file",
          has_children: false,
          file: { caption: [], name: "big.zip", ...hosted("big.zip", "2025-06-01T00:30:00.000Z") },
        },
      ],
      properties: {
        ...base.properties,
        // A rollup of files: no ref can name it, so it stays raw and counts.
        Rolled: {
          id: "r",
          type: "rollup",
          rollup: { type: "array", array: [{ type: "files", files: [hosted("r.png", "2025-06-01T00:50:00.000Z")] }] },
        },
        Mirrored: {
          id: "m",
          type: "rollup",
          rollup: { type: "array", array: [{ type: "files", files: [mirrored("m")] }] },
        },
      } as PageBundle["properties"],
      files_expire_at: "2025-06-01T00:30:00.000Z",
    });
    const before = JSON.stringify(input);
    const out = rewriteBundleFiles(input, link);
    expect(JSON.stringify(input)).toBe(before);
    expect(out.blocks![0]).toBe(input.blocks![0]);
    expect(out.blocks![1]).toBe(input.blocks![1]);
    expect((out.blocks![2] as unknown as { file: { file: { url: string } } }).file.file.url).toMatch(
      /^\/api\/files\/[A-Za-z0-9_-]+$/,
    );
    expect(out.cover).toBe(input.cover);
    expect(out.icon).toBe(input.icon);
    expect(out.properties.Files).toBe(input.properties.Files);
    expect(out.files_expire_at).toBe("2025-06-01T00:50:00.000Z");
  });

  it("filesExpireAt never counts a mirrored file, even one carrying an expiry", () => {
    const odd = { type: "file", file: { url: `${STORE}/x`, mirrored: true, expiry_time: "2025-06-01T00:01:00.000Z" } };
    expect(filesExpireAt({ cover: odd, icon: mirrored("i") })).toBeNull();
    expect(filesExpireAt({ cover: odd, icon: hosted("i", "2025-06-01T02:00:00.000Z") })).toBe(
      "2025-06-01T02:00:00.000Z",
    );
  });

  it("markdown: every URL mirrored → files_expire_at null; a signed URL left → its expiry", () => {
    const md = (text: string) =>
      bundle({
        content: "markdown",
        blocks: undefined,
        blockCount: undefined,
        markdown: text,
        truncated: false,
        unknown_block_ids: [],
        files_expire_at: "2025-06-01T01:00:00.000Z",
      } as Partial<PageBundle>);
    const allMirrored = md(
      `# Hi\n![a](${STORE}/${"b".repeat(32)}/a.png)\n<file src="${STORE}/${"c".repeat(32)}/f.zip">f</file>`,
    );
    expect(rewriteBundleFiles(allMirrored, link).files_expire_at).toBeNull();
    const oneLeft = md(
      `![a](${STORE}/${"b".repeat(32)}/a.png)\n<file src="${signed("big.zip", "20250601T003000Z")}">big</file>`,
    );
    expect(rewriteBundleFiles(oneLeft, link).files_expire_at).toBe("2025-06-01T01:30:00.000Z");
    // Already right: the very bundle.
    const right = md(`![a](${STORE}/${"b".repeat(32)}/a.png)`);
    const stored = { ...right, files_expire_at: null } as PageBundle;
    expect(rewriteBundleFiles(stored, link)).toBe(stored);
  });

  it("index entries: a mirrored flattened value keeps its store URL; an unmirrored hosted one is routed", () => {
    const entry: IndexEntry = {
      id: PAGE,
      slug: "p",
      title: "P",
      created_time: "",
      last_edited_time: "",
      childPages: [],
      properties: {
        Files: [
          { name: "a.png", url: `${STORE}/${"d".repeat(32)}/a.png`, notionHosted: true, mirrored: true },
          { name: "big.zip", url: signed("big.zip"), notionHosted: true },
        ],
      } as unknown as IndexEntry["properties"],
    };
    const out = rewriteEntryFiles(entry, "posts", link);
    const files = out.properties.Files as unknown as { url: string }[];
    expect(files[0]).toBe((entry.properties.Files as unknown as unknown[])[0]);
    expect(files[1].url).toMatch(/^\/api\/files\//);
    const all = {
      ...entry,
      properties: { Files: [(entry.properties.Files as unknown as unknown[])[0]] },
      cover: mirrored("cover.png"),
    } as unknown as IndexEntry;
    expect(rewriteEntryFiles(all, "posts", link)).toBe(all);
  });
});

describe("getPageBundle with mirrored files", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "nks-mirrored-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(() => vi.unstubAllEnvs());
  const kv = createFileStore({ dir });

  it("needs no file-ref key when every file is mirrored, and still routes (so needs one) when one is not", async () => {
    vi.stubEnv("CRON_SECRET", "");
    vi.stubEnv("FILES_REF_SECRET", "");
    await setPageBundle("all", bundle({ slug: "all" }), { kv, prefix: "t" });
    const read = await getPageBundle("posts", "all", { kv, prefix: "t" });
    expect(read?.cover).toEqual(mirrored("cover.png"));
    expect(JSON.stringify(read)).not.toContain("/api/files/");

    const mixed = bundle({ slug: "mixed", icon: hosted("icon.png", "2025-06-01T01:00:00.000Z") });
    await setPageBundle("mixed", mixed, { kv, prefix: "t" });
    await expect(getPageBundle("posts", "mixed", { kv, prefix: "t" })).rejects.toThrow(/FILES_REF_SECRET/);
    const routed = await getPageBundle("posts", "mixed", { kv, prefix: "t", files: { secret: "s" } });
    expect((routed?.icon as { file: { url: string } }).file.url).toMatch(/^\/api\/files\//);
    expect(routed?.cover).toEqual(mirrored("cover.png"));
    expect(routed?.files_expire_at).toBeNull();
  });
});

describe("the markdown preview's images", () => {
  it("finds ![alt](url) and uploaded callout icons in order, http(s) only, alt unescaped", () => {
    const md = [
      "# Title",
      `![A \\] caption](${STORE}/a/one.png)`,
      `<callout icon="${STORE}/b/icon.png?x=1&amp;y=2" color="gray_bg">`,
      "\tText",
      "</callout>",
      '<callout icon="💡">',
      "![](javascript:alert(1))",
      `- ![](${signed("two.png")})`,
    ].join("\n");
    expect(markdownImages(md)).toEqual([
      { src: `${STORE}/a/one.png`, alt: "A ] caption" },
      { src: `${STORE}/b/icon.png?x=1&y=2`, alt: "" },
      { src: signed("two.png"), alt: "" },
    ]);
    expect(markdownImages("no images, [a link](https://example.com)")).toEqual([]);
  });
});

describe("what a run uploaded, as the dashboard and kv:cursors show it", () => {
  it("formats bytes and the upload counts, older runs without them as nothing uploaded", () => {
    expect([0, 512, 1536, 52_428_800, 3 * 1024 ** 3].map(formatBytes)).toEqual([
      "0 B",
      "512 B",
      "1.5 KB",
      "50.0 MB",
      "3.0 GB",
    ]);
    expect(formatBytes(undefined)).toBe("—");
    expect(formatUploads({ filesUploaded: 1, bytesUploaded: 2048 })).toBe("1 file, 2.0 KB");
    expect(
      formatUploads({ filesUploaded: 1200, bytesUploaded: 5 * 1024 ** 2, filesTooLarge: 1, filesDeleted: 3 }),
    ).toBe("1,200 files, 5.0 MB; 1 too large, 3 deleted");
    expect(formatUploads({ fetched: 3 })).toBe("0 files, 0 B");
    expect(uploadsOf(null)).toEqual({ files: 0, bytes: 0, tooLarge: 0, deleted: 0 });
  });
});
