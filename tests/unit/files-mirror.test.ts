/**
 * The pure side of FILES_MIRROR (lib/files/mirror): identities that survive
 * re-signing, object keys, finding hosted files anywhere in a page and its
 * content, and the page, blocks and markdown pointing at the store.
 */
import { describe, expect, it } from "vitest";
import {
  fileIdentity,
  fileName,
  hostedFiles,
  markdownFiles,
  mirrorContent,
  mirrorMarkdown,
  mirrorPage,
  mirrorValue,
  objectKey,
  pageHostedFiles,
  unmapped,
} from "../../lib/files/mirror";
import type { MarkdownPageContent, PageContent } from "../../lib/notion/block-tree";
import { simplifyProperties } from "../../lib/mirror/properties";

const BUCKET = "https://prod-files-secure.s3.us-west-2.amazonaws.com/ws";
const signed = (path: string, date = "20260101T000000Z") =>
  `${BUCKET}/${path}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=${date}&X-Amz-Expires=3600&X-Amz-Signature=abc`;
const hosted = (path: string, extra: Record<string, unknown> = {}) => ({
  type: "file",
  file: { url: signed(path), expiry_time: "2026-01-01T01:00:00.000Z" },
  ...extra,
});

describe("identity and object key", () => {
  it("names the object, not the signature: re-signed is the same file, replaced is another", () => {
    expect(fileIdentity(signed("a/photo.png"))).toBe(fileIdentity(signed("a/photo.png", "20260102T000000Z")));
    expect(fileIdentity(signed("a/photo.png"))).not.toBe(fileIdentity(signed("b/photo.png")));
    expect(fileIdentity(signed("a/photo.png"))).toMatch(/^[0-9a-f]{32}$/);
    // Markdown attributes escape & as &amp;: the same identity.
    expect(fileIdentity(signed("a/photo.png").replace(/&/g, "&amp;"))).toBe(fileIdentity(signed("a/photo.png")));
  });

  it("keys objects by prefix, section, identity and a safe file name", () => {
    const url = signed("a/Q3%20report%20(final).pdf");
    expect(objectKey("nks", "posts", "0123", url)).toBe("nks/posts/0123/Q3_report_final_.pdf");
    expect(fileName(`${BUCKET}/a/`)).toBe("file");
    expect(fileName(`${BUCKET}/a/..`)).toBe("file");
    expect(fileName(`${BUCKET}/a/${"x".repeat(300)}.png`)).toHaveLength(100);
    expect(fileName(`${BUCKET}/a/%E0%A4%A.png`)).toMatch(/^[A-Za-z0-9._-]+$/);
  });
});

describe("finding hosted files and pointing them at the store", () => {
  const callout = {
    id: "c",
    type: "callout",
    callout: { rich_text: [], icon: hosted("c/icon.svg") },
    children: [{ id: "i", type: "image", image: hosted("i/deep.png", { caption: [{ plain_text: "cap" }] }) }],
  };
  const page = {
    id: "p",
    cover: hosted("p/cover.jpg"),
    icon: { type: "emoji", emoji: "🙂" },
    properties: {
      Files: {
        id: "f",
        type: "files",
        files: [
          { name: "a.pdf", ...hosted("p/a.pdf") },
          { name: "link", type: "external", external: { url: "https://example.com/x.pdf" } },
        ],
      },
    },
  };

  it("finds every hosted file at any depth once, external ones never", () => {
    const content: PageContent = { blocks: [callout, callout] as never, childPages: [], blockCount: 2, requests: 1 };
    const refs = pageHostedFiles(page, content);
    expect(refs.map((r) => new URL(r.url).pathname.split("/").at(-1))).toEqual([
      "cover.jpg",
      "a.pdf",
      "icon.svg",
      "deep.png",
    ]);
    expect(hostedFiles({ type: "external", external: { url: signed("x") } })).toEqual([]);
  });

  it("mirrors mapped files (no expiry, name and caption kept), leaves the rest, copies on write", () => {
    const map = {
      [fileIdentity(signed("p/cover.jpg"))]: "https://cdn.test/cover.jpg",
      [fileIdentity(signed("p/a.pdf"))]: "https://cdn.test/a.pdf",
      [fileIdentity(signed("i/deep.png"))]: "https://cdn.test/deep.png",
      // Kept at Notion's URL (over FILES_MAX_BYTES).
      [fileIdentity(signed("c/icon.svg"))]: "",
    };
    const mirrored = mirrorPage(page, map);
    expect(mirrored.cover).toEqual({ type: "file", file: { url: "https://cdn.test/cover.jpg", mirrored: true } });
    expect(mirrored.properties.Files.files[0]).toEqual({
      name: "a.pdf",
      type: "file",
      file: { url: "https://cdn.test/a.pdf", mirrored: true },
    });
    expect(mirrored.properties.Files.files[1]).toBe(page.properties.Files.files[1]);
    expect(mirrored.icon).toBe(page.icon);
    expect(page.cover.file.url).toBe(signed("p/cover.jpg"));
    const blocks = mirrorValue([callout], map);
    expect(blocks[0].callout.icon).toBe(callout.callout.icon);
    expect(blocks[0].children[0].image).toEqual({
      type: "file",
      file: { url: "https://cdn.test/deep.png", mirrored: true },
      caption: [{ plain_text: "cap" }],
    });
    // Mirrored files are not found again; an unmapped one is.
    expect(hostedFiles(mirrored).map((r) => r.url)).toEqual([]);
    expect(unmapped(pageHostedFiles(page), {}).length).toBe(2);
    expect(unmapped(pageHostedFiles(page), map)).toEqual([]);
    // Index entries flatten a mirrored file with its flags; the others as before.
    expect(simplifyProperties(mirrored.properties as never).Files).toEqual([
      { name: "a.pdf", url: "https://cdn.test/a.pdf", notionHosted: true, mirrored: true },
      { name: "link", url: "https://example.com/x.pdf" },
    ]);
  });

  it("rewrites the markdown's hosted URLs (entities included) and recomputes its expiry", () => {
    const image = signed("m/pic.png");
    const video = signed("m/clip.mp4");
    const markdown = `![a](${image})\n<video src="${video.replace(/&/g, "&amp;")}">c</video>\n[x](https://example.com/doc)`;
    expect(markdownFiles(markdown).map((r) => r.url)).toEqual([image, video]);
    const map = {
      [fileIdentity(image)]: "https://cdn.test/pic.png",
      [fileIdentity(video)]: "https://cdn.test/clip.mp4",
    };
    expect(mirrorMarkdown(markdown, map)).toBe(
      `![a](https://cdn.test/pic.png)\n<video src="https://cdn.test/clip.mp4">c</video>\n[x](https://example.com/doc)`,
    );
    const content: MarkdownPageContent = {
      content: "markdown",
      markdown,
      truncated: false,
      unknown_block_ids: [],
      childPages: [],
      blockCount: 0,
      requests: 1,
      filesExpireAt: "2026-01-01T01:00:00.000Z",
    };
    expect(mirrorContent(content, map).filesExpireAt).toBeNull();
    expect(mirrorContent(content, { [fileIdentity(image)]: "https://cdn.test/pic.png" }).filesExpireAt).toBe(
      "2026-01-01T01:00:00.000Z",
    );
  });
});
