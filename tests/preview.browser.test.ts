/**
 * The preview (/preview/<section>/<slug>) in a real headless Chromium against
 * `next start`, on a real redis-server filled by a sync of the Notion
 * emulator's default workspace (in process, tests/support/harness.ts). The
 * page shown is picked by content at test time (the generator decides which
 * pages hold tables and images): the browser signs in through the dashboard's
 * form, and the DOM is checked against the bundle in KV: headings, tables
 * and their cells, images through /api/files/ that load, toggles, code,
 * lists, links to child pages. The only thing stood in for is Notion's S3
 * (and the example.com image hosts): the offline machine cannot reach them.
 * Each `/api/files/<ref>` the browser asks for is sent to the real app by the
 * test (Playwright cannot intercept a redirect's target), its 302 to the
 * S3 URL checked and recorded, and the browser answered with a generated PNG.
 */
import { copyFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SESSION_COOKIE } from "../lib/dashboard/session";
import type { IndexEntry, PageBundle } from "../lib/mirror/shapes";
import type { BlockTree } from "../lib/notion/block-tree";
import { PREVIEW_COOKIE, previewPath } from "../lib/preview/session";
import { getPageBundle, getSectionIndex } from "../lib/read";
import { encodePng } from "../scripts/emulator/notion/files";
import { type NextApp, buildIfNeeded, startNextApp } from "../scripts/lib/next-app";
import { launchChromium } from "./support/browser";
import { type Stack, TEST_SECRET, startStack, syncAll } from "./support/harness";

const ROOT = path.resolve(import.meta.dirname, "..");
const ARTIFACTS = path.join(ROOT, "tests", "artifacts");
const UNICODE_SLUG = "日本語のページ";
/** What the page shown must hold (picked among those that do, the one with the most other block types). */
const MUST_HAVE = ["hosted_image", "table", "toggle", "code", "heading"];

// ---------------------------------------------------------------- a PNG to stand in for Notion's S3

/** A width × height RGB gradient, seeded by a hue so each image looks different. */
function gradientPng(width: number, height: number, hue: number): Buffer {
  return encodePng(width, height, (x, y) => [
    (hue + (x * 255) / width) & 0xff,
    (80 + (y * 150) / height) & 0xff,
    (200 - hue / 2) & 0xff,
  ]);
}

// ---------------------------------------------------------------- bundles

function* walk(blocks: BlockTree[] = []): Generator<BlockTree> {
  for (const block of blocks) {
    yield block;
    if (block.children) yield* walk(block.children);
  }
}
const text = (items: unknown): string =>
  Array.isArray(items) ? items.map((t: { plain_text?: string }) => t.plain_text ?? "").join("") : "";
const body = (block: BlockTree) => block[block.type] as Record<string, any>;
const isHostedImage = (b: BlockTree) => b.type === "image" && body(b).type === "file";
const hasNestedList = (b: BlockTree) =>
  /list_item$/.test(b.type) && (b.children ?? []).some((c) => /list_item$/.test(c.type));

/** What a page holds that the preview must render, for picking pages by content. */
function features(bundle: PageBundle): Set<string> {
  const out = new Set<string>();
  for (const b of walk(bundle.blocks)) {
    out.add(b.type.startsWith("heading_") ? "heading" : b.type);
    if (isHostedImage(b)) out.add("hosted_image");
    if (hasNestedList(b)) out.add("nested_list");
  }
  return out;
}

let stack: Stack;
let app: NextApp;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let base = "";
/** The page shown: hosted images and a table, with as many other block types as the workspace offers. */
let chosen: PageBundle;
/** Requests the browser made to anything but the app (all answered or refused by the test). */
const outside: string[] = [];
/** What the app answered to each /api/files/ request the browser made (fetched by the test, not followed). */
const fileHops: { path: string; status: number; location: string | null }[] = [];
const S3_HOST = "prod-files-secure.s3.us-west-2.amazonaws.com";
const timings: Record<string, number> = {};
/** Every answer the main page got (status by URL). */
const answers: { url: string; status: number; error?: string }[] = [];

async function timed<T>(name: string, run: () => Promise<T>): Promise<T> {
  const started = Date.now();
  try {
    return await run();
  } finally {
    timings[name] = Date.now() - started;
  }
}

async function newContext(): Promise<BrowserContext> {
  const ctx = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  let hue = 0;
  await ctx.route(
    (url) => url.origin === base && url.pathname.startsWith("/api/files/"),
    async (route) => {
      const response = await route.fetch({ maxRedirects: 0 });
      const location = response.headers()["location"] ?? null;
      fileHops.push({ path: new URL(route.request().url()).pathname, status: response.status(), location });
      if (response.status() === 302 && location && new URL(location).host === S3_HOST) {
        await route.fulfill({ status: 200, contentType: "image/png", body: gradientPng(480, 200, (hue += 67) % 256) });
      } else {
        await route.fulfill({ response });
      }
    },
  );
  await ctx.route(
    (url) => url.origin !== base,
    async (route) => {
      const url = route.request().url();
      outside.push(url);
      const host = new URL(url).host;
      if (host === S3_HOST || host.endsWith(".example.com")) {
        await route.fulfill({ status: 200, contentType: "image/png", body: gradientPng(480, 200, (hue += 67) % 256) });
      } else {
        await route.abort();
      }
    },
  );
  return ctx;
}

describe("the preview in a real browser", () => {
  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    await timed("build", async () => buildIfNeeded());
    await timed("sync", async () => {
      stack = await startStack();
      // Notion's file URLs are signed for an hour from the workspace clock; the app compares with the real one.
      stack.workspace.setNow(new Date());
      stack.workspace.addPage(stack.workspace.pagesDatabaseId, { title: "日本語のページ", slug: UNICODE_SLUG });
      await syncAll(stack);
    });
    await timed("pick", async () => {
      const read = { kv: stack.kv, prefix: stack.keys.prefix, files: false as const };
      let best: { bundle: PageBundle; score: number } | null = null;
      for (const section of ["pages", "posts"] as const) {
        const index = await getSectionIndex(section, read);
        for (const entry of index?.entries ?? ([] as IndexEntry[])) {
          const bundle = (await getPageBundle(section, entry.slug, read))!;
          // Not the workspace's huge pages (1,200 blocks): a page a person would read, and a screenshot one can look at.
          if (bundle.content === "markdown" || (bundle.blockCount ?? 0) > 150) continue;
          const f = features(bundle);
          if (!MUST_HAVE.every((k) => f.has(k))) continue;
          const score = f.size; // distinct block types (and nested lists): the most the page can prove
          if (
            !best ||
            score > best.score ||
            (score === best.score && (bundle.blockCount ?? 0) < (best.bundle.blockCount ?? 0))
          )
            best = { bundle, score };
        }
      }
      expect(best, `no page of at most 150 blocks with ${MUST_HAVE.join(", ")} in the workspace`).not.toBeNull();
      chosen = best!.bundle;
    });
    await timed("app", async () => {
      app = await startNextApp({ ...stack.env, CONTENT_API: "public" });
      base = app.url;
      browser = await launchChromium();
      context = await newContext();
      page = await context.newPage();
      page.on("response", (r) => void answers.push({ url: r.url(), status: r.status() }));
      page.on("requestfailed", (r) => void answers.push({ url: r.url(), status: -1, error: r.failure()?.errorText }));
    });
  });

  afterAll(async () => {
    console.log(
      "[preview.browser] timings ms",
      JSON.stringify(timings),
      "page",
      chosen ? `${chosen.section}/${chosen.slug} (${[...features(chosen)].sort().join(", ")})` : "-",
    );
    await browser?.close();
    await app?.stop();
    await stack?.close();
  });

  it("1. a preview link without a session goes to the dashboard's sign-in, and back to the page after it", async () => {
    await timed("signin", async () => {
      const target = `${base}${previewPath(chosen.section, chosen.slug)}`;
      const first = await page.goto(target);
      expect(first?.status()).toBe(200);
      expect(new URL(page.url()).pathname).toBe("/sync/signin");
      expect(new URL(page.url()).searchParams.get("next")).toBe(previewPath(chosen.section, chosen.slug));
      await page.fill("input[name=secret]", TEST_SECRET);
      await Promise.all([page.waitForURL(target, { waitUntil: "load" }), page.click("button[type=submit]")]);
      expect(await page.textContent("h1")).toBe(chosen.title);
      const cookies = await context.cookies();
      expect(cookies.find((c) => c.name === SESSION_COOKIE)).toMatchObject({
        path: "/sync",
        httpOnly: true,
        sameSite: "Strict",
      });
      expect(cookies.find((c) => c.name === PREVIEW_COOKIE)).toMatchObject({
        path: "/preview",
        httpOnly: true,
        sameSite: "Lax",
      });
      expect(await page.content()).not.toContain(TEST_SECRET);
    });
  });

  it("2. renders the bundle: headings, tables with their cells, toggles as <details>, code, lists; nothing unknown", async () => {
    const blocks = [...walk(chosen.blocks)];
    const headings = blocks.filter((b) => /^heading_\d$/.test(b.type));
    for (const h of headings) {
      const tag = await page.$eval(`#h-${h.id.replace(/-/g, "")}`, (el) => ({ tag: el.tagName, text: el.textContent }));
      expect(tag.text).toBe(text(body(h).rich_text));
      expect(tag.tag).toBe(`H${Number(h.type.slice(-1)) + 1}`);
    }

    const tables = blocks.filter((b) => b.type === "table");
    expect(tables.length).toBeGreaterThan(0);
    const rendered = await page.$$eval("[data-block-type=table] table", (els) =>
      els.map((t) =>
        [...t.querySelectorAll("tr")].map((tr) =>
          [...tr.children].map((c) => ({ tag: c.tagName, text: c.textContent ?? "" })),
        ),
      ),
    );
    expect(rendered).toHaveLength(tables.length);
    tables.forEach((table, i) => {
      const rows = (table.children ?? []).filter((r) => r.type === "table_row");
      expect(rendered[i].map((row) => row.map((c) => c.text))).toEqual(
        rows.map((r) => (body(r).cells as unknown[]).map(text)),
      );
      if (body(table).has_column_header) expect(rendered[i][0].every((c) => c.tag === "TH")).toBe(true);
      if (body(table).has_row_header) expect(rendered[i].slice(1).every((row) => row[0].tag === "TH")).toBe(true);
    });

    const toggles = blocks.filter((b) => b.type === "toggle");
    const details = await page.$$eval("details[data-block-type=toggle]", (els) =>
      els.map((d) => ({
        summary: d.querySelector(":scope > summary")?.textContent ?? "",
        open: (d as HTMLDetailsElement).open,
      })),
    );
    expect(details.map((d) => d.summary)).toEqual(toggles.map((t) => text(body(t).rich_text)));
    expect(details.every((d) => !d.open)).toBe(true);
    if (toggles.length > 0) {
      await page.click("details[data-block-type=toggle] > summary");
      expect(await page.$eval("details[data-block-type=toggle]", (d) => (d as HTMLDetailsElement).open)).toBe(true);
    }

    const codes = blocks.filter((b) => b.type === "code");
    const codeTexts = await page.$$eval("figure[data-block-type=code] pre code", (els) =>
      els.map((c) => ({ text: c.textContent, language: c.getAttribute("data-language") })),
    );
    expect(codeTexts).toEqual(codes.map((c) => ({ text: text(body(c).rich_text), language: body(c).language })));

    const count = async (selector: string) => (await page.$$(selector)).length;
    expect(await count("[data-block-type=bulleted_list_item]")).toBe(
      blocks.filter((b) => b.type === "bulleted_list_item").length,
    );
    expect(await count("ol > [data-block-type=numbered_list_item]")).toBe(
      blocks.filter((b) => b.type === "numbered_list_item").length,
    );
    expect(await count("ul.todo-list > li[data-block-type=to_do]")).toBe(
      blocks.filter((b) => b.type === "to_do").length,
    );
    expect(await count("input[type=checkbox][checked]")).toBe(
      blocks.filter((b) => b.type === "to_do" && body(b).checked).length,
    );
    if (blocks.some(hasNestedList)) expect(await count("li > ul, li > ol")).toBeGreaterThan(0);
    expect(await count("blockquote[data-block-type=quote]")).toBe(blocks.filter((b) => b.type === "quote").length);
    expect(await count("aside[data-block-type=callout]")).toBe(blocks.filter((b) => b.type === "callout").length);
    expect(await count("hr[data-block-type=divider]")).toBe(blocks.filter((b) => b.type === "divider").length);
    expect(await count(".columns > .column")).toBe(blocks.filter((b) => b.type === "column").length);
    expect(await count("[data-block-type=bookmark] a")).toBe(blocks.filter((b) => b.type === "bookmark").length);

    // Types the renderer knows never fall back to the placeholder; one it does not know names itself.
    const unknown = await page.$$eval("[data-unknown=true]", (els) =>
      els.map((e) => e.getAttribute("data-block-type")),
    );
    for (const type of unknown)
      expect(await page.textContent(`[data-unknown=true][data-block-type="${type}"]`)).toContain(type!);
    const known = [
      "paragraph",
      "heading_1",
      "heading_2",
      "heading_3",
      "bulleted_list_item",
      "numbered_list_item",
      "to_do",
      "toggle",
      "code",
      "quote",
      "callout",
      "table",
      "column_list",
      "image",
      "video",
      "audio",
      "file",
      "pdf",
      "bookmark",
      "embed",
      "link_preview",
      "divider",
      "child_page",
      "child_database",
      "link_to_page",
      "synced_block",
      "equation",
      "table_of_contents",
      "breadcrumb",
    ];
    expect(unknown.filter((t) => known.includes(t!))).toEqual([]);
  });

  it("3. images go through /api/files/ (302 to a fresh Notion URL) and load", async () => {
    const hosted = [...walk(chosen.blocks)].filter(isHostedImage);
    const images = await page.$$eval("figure[data-block-type=image] img", (els) =>
      els.map((img) => img.getAttribute("src") ?? ""),
    );
    expect(images).toHaveLength([...walk(chosen.blocks)].filter((b) => b.type === "image").length);
    const proxied = images.filter((src) => src.startsWith("/api/files/"));
    expect(proxied).toHaveLength(hosted.length);
    for (const src of proxied) expect(src).toMatch(/^\/api\/files\/[A-Za-z0-9_-]+$/);
    expect(await page.content()).not.toContain("X-Amz-Signature");

    const redirect = await fetch(`${base}${proxied[0]}`, { redirect: "manual" });
    expect(redirect.status).toBe(302);
    expect(redirect.headers.get("location")).toMatch(
      new RegExp(
        `^https://prod-files-secure\\.s3\\.us-west-2\\.amazonaws\\.com/[^/]+/${hosted[0].id}/image-\\d+\\.png\\?`,
      ),
    );

    await page.waitForFunction(
      () =>
        [...document.querySelectorAll("figure[data-block-type=image] img")].every(
          (img) => (img as HTMLImageElement).complete,
        ),
      undefined,
      { timeout: 15_000 },
    );
    const loaded = await page.$$eval("figure[data-block-type=image] img", (els) =>
      els.map((img) => ({ src: img.getAttribute("src"), width: (img as HTMLImageElement).naturalWidth })),
    );
    for (const image of loaded)
      expect(
        image.width,
        `${image.src} ${JSON.stringify(answers.filter((a) => !a.url.startsWith(`${base}/_next`)))}`,
      ).toBeGreaterThan(0);
    // Every hosted image the browser loaded went through the app's file route: a 302 to that block's file on S3.
    hosted.forEach((block, i) => {
      const hop = fileHops.find((h) => h.path === proxied[i]);
      expect(hop, proxied[i]).toBeDefined();
      expect(hop!.status).toBe(302);
      expect(new URL(hop!.location!).host).toBe(S3_HOST);
      expect(new URL(hop!.location!).pathname).toContain(`/${block.id}/`);
    });

    await page.evaluate(() =>
      document.querySelectorAll("details").forEach((d) => ((d as HTMLDetailsElement).open = true)),
    );
    await page.screenshot({ path: path.join(ARTIFACTS, "preview.png"), fullPage: true });
    copyFileSync(path.join(ARTIFACTS, "preview.png"), path.join(ROOT, "docs", "preview.png"));
  });

  it("4. child pages link to their preview; a Unicode slug works; an unknown slug is a 404", async () => {
    const withChild = [...walk(chosen.blocks)].find((b) => b.type === "child_page");
    let parent = chosen;
    if (!withChild) {
      // The chosen page has no child page: take one that does.
      const index = await getSectionIndex("pages", { kv: stack.kv, prefix: stack.keys.prefix, files: false });
      for (const entry of index!.entries) {
        if (entry.childPages.length === 0) continue;
        parent = (await getPageBundle("pages", entry.slug, { kv: stack.kv, prefix: stack.keys.prefix, files: false }))!;
        break;
      }
      await page.goto(`${base}${previewPath(parent.section, parent.slug)}`);
    }
    const child = parent.childPages[0];
    const link = page.locator(`[data-block-type=child_page] a`, { hasText: child.title }).first();
    const href = (await link.getAttribute("href"))!;
    expect(href).toMatch(/^\/preview\/children\//);
    await Promise.all([page.waitForURL(`${base}${href}`, { waitUntil: "load" }), link.click()]);
    expect(await page.textContent("h1")).toBe(child.title);

    const unicode = await page.goto(`${base}${previewPath("pages", UNICODE_SLUG)}`);
    expect(unicode?.status()).toBe(200);
    expect(page.url()).toBe(`${base}/preview/pages/${encodeURIComponent(UNICODE_SLUG)}`);
    expect(await page.textContent("h1")).toBe("日本語のページ");

    const missing = await page.goto(`${base}/preview/pages/no-such-page`);
    expect(missing?.status()).toBe(404);
  });

  it("5. the content API over next start: a Unicode slug percent-encoded, ETag → 304, JSON 404s", async () => {
    const url = `${base}/api/content/pages/${encodeURIComponent(UNICODE_SLUG)}`;
    const first = await fetch(url);
    expect(first.status).toBe(200);
    const json = (await first.json()) as { bundle: PageBundle };
    expect(json.bundle.slug).toBe(UNICODE_SLUG);
    const etag = first.headers.get("etag")!;
    expect(first.headers.get("cache-control")).toBe("public, max-age=0, s-maxage=60, stale-while-revalidate=300");
    const again = await fetch(url, { headers: { "if-none-match": etag } });
    expect(again.status).toBe(304);
    const images = await fetch(`${base}/api/content/${chosen.section}/${encodeURIComponent(chosen.slug)}`);
    const text = await images.text();
    expect(text.match(/"(https?:\/\/[^"]*)\/api\/files\//)?.[1], "file URLs are absolute, on the app's origin").toBe(
      base,
    );
    expect(text).not.toContain("X-Amz-Signature");
    for (const [path, code] of [
      ["/api/content/nope", "unknown_section"],
      ["/api/content/pages/no-such-page", "unknown_slug"],
      ["/api/content/pages/a/b", "not_found"],
      ["/api/content/pages?limit=0", "bad_query"],
    ]) {
      const res = await fetch(`${base}${path}`);
      expect(res.headers.get("content-type"), path).toMatch(/^application\/json/);
      expect(((await res.json()) as { error: { code: string } }).error.code, path).toBe(code);
    }
    const post = await fetch(`${base}/api/content/pages`, { method: "POST" });
    expect(post.status).toBe(405);
  });

  it("6. a forged preview cookie, or none after signing out, is sent to sign in; the browser reached nothing outside", async () => {
    const other = await newContext();
    const visitor = await other.newPage();
    await other.addCookies([
      { name: PREVIEW_COOKIE, value: "forged.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", url: `${base}/preview` },
    ]);
    await visitor.goto(`${base}${previewPath(chosen.section, chosen.slug)}`);
    expect(new URL(visitor.url()).pathname).toBe("/sync/signin");
    expect(await visitor.content()).not.toContain(chosen.title);
    await other.close();

    // Sign out from the dashboard: both cookies go, and the preview asks for sign-in again.
    await page.goto(`${base}/sync`);
    await Promise.all([page.waitForURL(/\/sync\/signin\?out=1$/), page.click("button[data-action=signout]")]);
    expect((await context.cookies()).filter((c) => c.name === PREVIEW_COOKIE || c.name === SESSION_COOKIE)).toEqual([]);
    await page.goto(`${base}${previewPath(chosen.section, chosen.slug)}`);
    expect(new URL(page.url()).pathname).toBe("/sync/signin");

    const hosts = new Set(outside.map((u) => new URL(u).host));
    for (const host of hosts) expect(host.endsWith(".example.com"), host).toBe(true);
    expect(
      fileHops.every((h) => h.status === 302),
      JSON.stringify(fileHops),
    ).toBe(true);
  });
});
