/**
 * Markdown content mode, piece by piece: reading Notion-flavoured markdown
 * (page tags, signed URL expiry), the emulator's GET /v1/pages/{id}/markdown
 * through the paced client (truncation, unknown blocks, a block's subtree,
 * 404s), the fetcher's fallback checkpoint, and SYNC_CONTENT validation.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ConfigError, readSyncSettings } from "../../lib/config";
import { createDeadline } from "../../lib/core/deadline";
import type { BlockFetchCheckpoint } from "../../lib/notion/block-tree";
import { NotionSyncError } from "../../lib/notion/errors";
import {
  createMarkdownFetcher,
  markdownFilesExpireAt,
  notionIdFromUrl,
  pageTags,
  signedUrlExpiresAt,
} from "../../lib/notion/markdown-fetcher";
import { createPacer } from "../../lib/notion/pacer";
import { createNotionSource } from "../../lib/notion/source";
import { generateWorkspace } from "../../scripts/emulator/notion/generate";
import { pageMarkdown, setMarkdownBlockLimit, unsignedMarkdown } from "../../scripts/emulator/notion/markdown";
import { type NotionEmulator, startNotionEmulator } from "../../scripts/emulator/notion/server";
import type { BlockTree, Workspace } from "../../scripts/emulator/notion/workspace";

const ID = "990e8fae-631c-47df-8ab7-e995c51329b2";

describe("reading the markdown", () => {
  it("finds child pages in page tags, in order, once, whatever the URL form; not mentions, databases or code", () => {
    const md = [
      `# Intro`,
      `<page url="https://www.notion.so/Q-A-what-s-next-${ID.replace(/-/g, "")}">Q&A: what's \\*next\\*?</page>`,
      `<details>`,
      `<summary>More</summary>`,
      `\t<page url="https://app.notion.com/p/11111111-2222-3333-4444-555555555555" color="blue">Nested</page>`,
      `</details>`,
      `A <mention-page url="https://www.notion.so/aaaaaaaa2222333344445555555555aa">linked</mention-page> page.`,
      `<database url="https://www.notion.so/bbbbbbbb2222333344445555555555bb" inline="true">Tasks</database>`,
      "\t```html",
      `\t<page url="https://www.notion.so/cccccccc2222333344445555555555cc">In code</page>`,
      "\t```",
      'Inline `<page url="https://www.notion.so/dddddddd2222333344445555555555dd">x</page>` code.',
      `<page url="https://www.notion.so/${ID.replace(/-/g, "")}">Again</page>`,
    ].join("\n");
    expect(pageTags(md)).toEqual([
      { id: ID, title: "Q&A: what's *next*?" },
      { id: "11111111-2222-3333-4444-555555555555", title: "Nested" },
    ]);
  });

  it("reads a Notion id from any page URL", () => {
    expect(notionIdFromUrl(`https://www.notion.so/${ID.replace(/-/g, "")}`)).toBe(ID);
    expect(notionIdFromUrl(`https://www.notion.so/Title-Words-${ID.replace(/-/g, "").toUpperCase()}?pvs=4#abc`)).toBe(
      ID,
    );
    expect(notionIdFromUrl(`https://app.notion.com/p/${ID}/`)).toBe(ID);
    expect(notionIdFromUrl("https://example.com/no-id-here")).toBeNull();
  });

  it("takes the earliest expiry of the signed URLs (X-Amz-Date + X-Amz-Expires, expirationTimestamp)", () => {
    const s3 = (date: string, expires: number) =>
      `https://prod-files-secure.s3.us-west-2.amazonaws.com/ws/f/a.png?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=${date}&X-Amz-Expires=${expires}&X-Amz-Signature=ab`;
    expect(signedUrlExpiresAt(s3("20250601T000000Z", 3600))).toBe(Date.parse("2025-06-01T01:00:00Z"));
    expect(signedUrlExpiresAt("https://images.example.com/x.jpg")).toBeNull();
    const md = [
      `![a](${s3("20250601T000000Z", 3600)})`,
      `<pdf src="${s3("20250601T001500Z", 600)}">b</pdf>`,
      `<callout icon="${s3("20250601T000000Z", 7200).replace(/&/g, "&amp;")}">c</callout>`,
      `<file src="https://file.notion.so/f/x?table=block&amp;expirationTimestamp=${Date.parse("2025-06-01T00:20:00Z")}">d</file>`,
      `![e](https://images.example.com/x.jpg)`,
    ].join("\n");
    expect(markdownFilesExpireAt(md)).toBe("2025-06-01T00:20:00.000Z"); // 00:15 + 600 s is later
    expect(markdownFilesExpireAt("no files")).toBeNull();
  });

  it("SYNC_CONTENT is blocks by default, markdown on request, and anything else a ConfigError naming it", () => {
    expect(readSyncSettings({}).content).toBe("blocks");
    expect(readSyncSettings({ SYNC_CONTENT: "" }).content).toBe("blocks");
    expect(readSyncSettings({ SYNC_CONTENT: "markdown" }).content).toBe("markdown");
    let error: unknown;
    try {
      readSyncSettings({ SYNC_CONTENT: "html" });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variables).toEqual(["SYNC_CONTENT"]);
  });
});

describe("GET /v1/pages/{id}/markdown (emulator) through the paced client", () => {
  let ws: Workspace;
  let emulator: NotionEmulator;
  const source = () =>
    createNotionSource({
      token: emulator.token,
      baseUrl: emulator.url,
      ratePerMin: 1_000_000,
      deadline: createDeadline(20_000),
      pacer: createPacer(Infinity),
    });
  const rows = () => [...ws.visibleRows(ws.pagesDatabaseId), ...ws.visibleRows(ws.postsDatabaseId)];
  const count = (tree: BlockTree[]): number => tree.reduce((n, b) => n + 1 + count(b.children ?? []), 0);

  beforeAll(async () => {
    ws = generateWorkspace({ pages: 6, posts: 3, hugePages: 1, hugePageBlocks: 250, unsharedChildPages: 1 });
    emulator = await startNotionEmulator({ workspace: ws, ratePerSecond: Infinity });
  });
  afterAll(async () => emulator?.close());
  beforeEach(() => {
    setMarkdownBlockLimit(ws, undefined);
    emulator.resetRequestLog();
  });

  it("answers the page's markdown in one request, as the SDK's retrieveMarkdown reads it", async () => {
    const row = rows().find((r) => !pageMarkdown(ws, r.id)!.truncated)!;
    const answer = await source().retrievePageMarkdown(row.id);
    expect(unsignedMarkdown(answer.markdown)).toBe(unsignedMarkdown(pageMarkdown(ws, row.id)!.markdown));
    expect(answer.truncated).toBe(false);
    expect(emulator.requests().map((r) => r.route)).toEqual(["pages.retrieveMarkdown"]);
  });

  it("past the block limit: truncated, the rest as <unknown> tags (≤ 100 ids), and an unknown id gives its subtree", async () => {
    const huge = rows().find((r) => ws.contentTree(r.id).length === 250)!;
    setMarkdownBlockLimit(ws, 100);
    const answer = await source().retrievePageMarkdown(huge.id);
    expect(answer.truncated).toBe(true);
    expect(answer.unknown_block_ids).toHaveLength(100);
    expect(answer.markdown).toContain(`<unknown url="https://www.notion.so/${huge.id.replace(/-/g, "")}#`);
    const first = answer.unknown_block_ids[0];
    const sub = await source().retrievePageMarkdown(first);
    expect(sub.truncated).toBe(false);
    expect(sub.markdown.split("\n").length).toBeGreaterThan(0);
    setMarkdownBlockLimit(ws, undefined);
    expect((await source().retrievePageMarkdown(huge.id)).truncated).toBe(count(ws.contentTree(huge.id)) > 20_000);
  });

  it("an unshared child page makes its parent truncated; an unknown or unshared page answers 404 (gone)", async () => {
    const parent = rows().find((r) => ws.contentTree(r.id).some((b) => b.type === "child_page" && !ws.page(b.id)))!;
    expect(parent).toBeDefined();
    const answer = await source().retrievePageMarkdown(parent.id);
    expect(answer.truncated).toBe(true);
    expect(answer.markdown).toContain('alt="child_page"');
    const unshared = ws.contentTree(parent.id).find((b) => b.type === "child_page" && !ws.page(b.id))!;
    const error = await source()
      .retrievePageMarkdown(unshared.id)
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(NotionSyncError.is(error, "gone")).toBe(true);
  });

  it("the fetcher falls back to the block tree on truncation, checkpointed without asking for the markdown again", async () => {
    const huge = rows().find((r) => ws.contentTree(r.id).length === 250)!;
    setMarkdownBlockLimit(ws, 100);
    const fetcher = createMarkdownFetcher(source());
    let resume: BlockFetchCheckpoint | undefined;
    let calls = 0;
    for (;;) {
      calls++;
      let sent = 0;
      const result = await fetcher.fetch(huge.id, { resume, shouldStop: () => sent >= 1, onProgress: () => sent++ });
      if (result.done) {
        expect(result.content).toMatchObject({ content: "blocks", fallback: "markdown_truncated" });
        if (result.content.content !== "blocks") throw new Error("not blocks");
        expect(result.content.blocks).toHaveLength(250);
        break;
      }
      resume = JSON.parse(JSON.stringify(result.checkpoint)) as BlockFetchCheckpoint;
    }
    expect(calls).toBeGreaterThan(2);
    const routes = emulator.requests().map((r) => r.route);
    expect(routes.filter((r) => r === "pages.retrieveMarkdown")).toHaveLength(1);
    expect(routes.filter((r) => r === "blocks.children.list").length).toBeGreaterThanOrEqual(3);
  });
});
