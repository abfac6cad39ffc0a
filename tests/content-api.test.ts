/**
 * The content API (/api/content, lib/http/content-route.ts) through its real
 * handler, in process, on a real redis-server filled by a real sync of the
 * Notion emulator's workspace (tests/support/harness.ts): off by default,
 * public and token modes, paging, bundles with stable file URLs, ETag and
 * If-None-Match, Cache-Control, JSON errors (KV down included), a Unicode slug.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_LIMIT, MAX_LIMIT, handleContent, handleContentOptions } from "../lib/http/content-route";
import { handleFile } from "../lib/http/files-route";
import type { IndexEntry, PageBundle } from "../lib/mirror/shapes";
import { getPageBundle, setPageBundle } from "../lib/read";
import { type Stack, TEST_SECRET, startStack, syncAll } from "./support/harness";

const TOKEN = "content-token-0123456789abcdef";
const UNICODE_TITLE = "日本語のページ Ünïcödé";
const UNICODE_SLUG = "日本語のページ-unicode";

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: Record<string, any> | null;
}

let stack: Stack;

async function call(
  path: string,
  options: {
    env?: Record<string, string | undefined>;
    headers?: Record<string, string>;
    method?: string;
    segments?: string[];
  } = {},
): Promise<Answer> {
  const request = new Request(`http://localhost${path}`, { method: options.method ?? "GET", headers: options.headers });
  const response = await handleContent(request, { ...stack.env, ...options.env }, options.segments);
  const text = await response.text();
  let json: Record<string, any> | null = null;
  try {
    json = text === "" ? null : JSON.parse(text);
  } catch {
    json = null;
  }
  return { status: response.status, headers: response.headers, text, json };
}

const PUBLIC = { CONTENT_API: "public" };
const TOKEN_MODE = { CONTENT_API: "token", CONTENT_API_TOKEN: TOKEN };

type Tree = NonNullable<PageBundle["blocks"]>;

/** Every block of a tree, depth first. */
function* walk(blocks: Tree = []): Generator<Tree[number]> {
  for (const block of blocks) {
    yield block;
    if (block.children) yield* walk(block.children);
  }
}

function hostedImageUrls(bundle: PageBundle): string[] {
  return [...walk(bundle.blocks)]
    .filter((b) => b.type === "image" && (b.image as { type: string }).type === "file")
    .map((b) => (b.image as { file: { url: string } }).file.url);
}

describe("the content API", () => {
  let pageWithImages: IndexEntry;

  beforeAll(async () => {
    stack = await startStack({
      workspace: { pages: 24, posts: 8, hugePages: 0, childDepth: 1, trashedRows: 0, unsharedChildPages: 0 },
    });
    // Files are signed for an hour from the workspace clock: make it now, so the file route finds them fresh.
    stack.workspace.setNow(new Date());
    stack.workspace.addPage(stack.workspace.pagesDatabaseId, { title: UNICODE_TITLE, slug: UNICODE_SLUG });
    await syncAll(stack);
    // A page with Notion-hosted images, found by content (the generator decides which pages have them).
    const index = await call("/api/content/pages?limit=100", { env: PUBLIC });
    for (const entry of index.json!.entries as IndexEntry[]) {
      const answer = await call(`/api/content/pages/${encodeURIComponent(entry.slug)}`, { env: PUBLIC });
      if (hostedImageUrls(answer.json!.bundle).length > 0) {
        pageWithImages = entry;
        break;
      }
    }
    expect(pageWithImages, "no page with a hosted image in the workspace").toBeDefined();
  });
  afterAll(async () => stack?.close());

  it("is off by default: 404 content_api_off for every path and method, and for an explicit CONTENT_API=off", async () => {
    for (const env of [{}, { CONTENT_API: "off" }, { CONTENT_API: "" }]) {
      for (const path of [
        "/api/content",
        "/api/content/pages",
        `/api/content/pages/${encodeURIComponent(pageWithImages.slug)}`,
        "/api/content/nope/x",
      ]) {
        const answer = await call(path, { env: { CONTENT_API: undefined, ...env } });
        expect(answer.status, path).toBe(404);
        expect(answer.json).toMatchObject({ ok: false, error: { code: "content_api_off" } });
        expect(answer.headers.get("etag")).toBeNull();
      }
    }
    const post = await call("/api/content/pages", { method: "POST", env: { CONTENT_API: undefined } });
    expect(post.status).toBe(404);
    expect(
      (await handleContentOptions(new Request("http://localhost/api/content/pages", { method: "OPTIONS" }), stack.env))
        .status,
    ).toBe(404);
  });

  it("public mode pages the index: offset/limit, total, next/prev links, newest first, every entry once", async () => {
    const total = stack.workspace.visibleRows(stack.workspace.pagesDatabaseId).length;
    const first = await call("/api/content/pages", { env: PUBLIC });
    expect(first.status).toBe(200);
    expect(first.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(first.json).toMatchObject({
      ok: true,
      section: "pages",
      total,
      offset: 0,
      limit: DEFAULT_LIMIT,
      prev: null,
    });
    expect(first.json!.entries).toHaveLength(Math.min(DEFAULT_LIMIT, total));
    expect(first.json, "a run that changes nothing must not change the body").not.toHaveProperty("updatedAt");

    const seen: IndexEntry[] = [];
    let next: string | null = "/api/content/pages?offset=0&limit=7";
    let calls = 0;
    while (next) {
      const page = await call(next, { env: PUBLIC });
      expect(page.status).toBe(200);
      expect(page.json!.entries.length).toBeLessThanOrEqual(7);
      seen.push(...page.json!.entries);
      next = page.json!.next;
      calls++;
    }
    expect(calls).toBe(Math.ceil(total / 7));
    expect(seen.map((e) => e.id)).toEqual(
      (first.json!.entries as IndexEntry[]).map((e) => e.id).concat(seen.slice(DEFAULT_LIMIT).map((e) => e.id)),
    );
    expect(new Set(seen.map((e) => e.id)).size).toBe(total);
    const created = seen.map((e) => e.created_time);
    expect(created).toEqual([...created].sort().reverse());

    const middle = await call("/api/content/pages?offset=5&limit=3", { env: PUBLIC });
    expect(middle.json!.entries.map((e: IndexEntry) => e.id)).toEqual(seen.slice(5, 8).map((e) => e.id));
    expect(middle.json).toMatchObject({
      next: "/api/content/pages?offset=8&limit=3",
      prev: "/api/content/pages?offset=2&limit=3",
    });
    const past = await call(`/api/content/pages?offset=${total + 10}&limit=5`, { env: PUBLIC });
    expect(past.json).toMatchObject({ ok: true, total, entries: [], next: null });
    const max = await call(`/api/content/pages?limit=${MAX_LIMIT}`, { env: PUBLIC });
    expect(max.json!.entries).toHaveLength(Math.min(MAX_LIMIT, total));

    const children = await call("/api/content/children?limit=100", { env: PUBLIC });
    expect(children.status).toBe(200);
    expect(children.json!.total).toBeGreaterThan(0);
    expect(children.json!.entries[0]).toHaveProperty("parentId");

    const sections = await call("/api/content", { env: PUBLIC });
    expect(sections.json).toEqual({
      ok: true,
      sections: [
        { section: "pages", total, path: "/api/content/pages" },
        {
          section: "posts",
          total: stack.workspace.visibleRows(stack.workspace.postsDatabaseId).length,
          path: "/api/content/posts",
        },
        { section: "children", total: children.json!.total, path: "/api/content/children" },
      ],
    });
  });

  it("returns a bundle whose Notion-hosted files are absolute, stable /api/files/ URLs that the file route answers", async () => {
    const answer = await call(`/api/content/pages/${encodeURIComponent(pageWithImages.slug)}`, { env: PUBLIC });
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({
      ok: true,
      section: "pages",
      slug: pageWithImages.slug,
      bundle: { id: pageWithImages.id, slug: pageWithImages.slug, title: pageWithImages.title },
    });
    const bundle = answer.json!.bundle as PageBundle;
    expect(bundle.blocks?.length).toBeGreaterThan(0);
    expect(answer.text, "a signed Notion URL leaked").not.toContain("prod-files-secure");
    expect(answer.text).not.toContain("X-Amz-Signature");
    expect(answer.text).not.toContain(TEST_SECRET);
    const urls = hostedImageUrls(bundle);
    expect(urls.length).toBeGreaterThan(0);
    for (const url of urls) expect(url).toMatch(/^http:\/\/localhost\/api\/files\/[A-Za-z0-9_-]+$/);
    // The same page read again gives the same URLs (stable), and FILES_BASE_URL / SYNC_BASE_URL choose the origin.
    expect(
      hostedImageUrls(
        (await call(`/api/content/pages/${encodeURIComponent(pageWithImages.slug)}`, { env: PUBLIC })).json!.bundle,
      ),
    ).toEqual(urls);
    const based = await call(`/api/content/pages/${encodeURIComponent(pageWithImages.slug)}`, {
      env: { ...PUBLIC, SYNC_BASE_URL: "https://site.example.com/" },
    });
    for (const url of hostedImageUrls(based.json!.bundle))
      expect(url).toMatch(/^https:\/\/site\.example\.com\/api\/files\//);
    const proxied = await call(`/api/content/pages/${encodeURIComponent(pageWithImages.slug)}`, {
      env: PUBLIC,
      headers: { "x-forwarded-host": "www.example.org", "x-forwarded-proto": "https" },
    });
    for (const url of hostedImageUrls(proxied.json!.bundle))
      expect(url).toMatch(/^https:\/\/www\.example\.org\/api\/files\//);
    const forged = await call(`/api/content/pages/${encodeURIComponent(pageWithImages.slug)}`, {
      env: PUBLIC,
      headers: { "x-forwarded-host": "evil.example/<x>" },
    });
    for (const url of hostedImageUrls(forged.json!.bundle)) expect(url).toMatch(/^http:\/\/localhost\/api\/files\//);
    const cdn = await call(`/api/content/pages/${encodeURIComponent(pageWithImages.slug)}`, {
      env: { ...PUBLIC, FILES_BASE_URL: "https://files.example.com" },
    });
    for (const url of hostedImageUrls(cdn.json!.bundle))
      expect(url).toMatch(/^https:\/\/files\.example\.com\/api\/files\//);

    const ref = urls[0].split("/api/files/")[1];
    const file = await handleFile(new Request(`http://localhost/api/files/${ref}`), ref, stack.env);
    expect(file.status).toBe(302);
    expect(file.headers.get("location")).toMatch(
      /^https:\/\/prod-files-secure\.s3\.us-west-2\.amazonaws\.com\/.+\.png\?/,
    );
  });

  it("files copied to the files store (FILES_MIRROR) come back as their store URLs; the rest still through /api/files/", async () => {
    const read = { kv: stack.kv, prefix: stack.keys.prefix, files: false as const };
    const raw = (await getPageBundle("pages", pageWithImages.slug, read))!;
    const images = [...walk(raw.blocks)].filter(
      (b) => b.type === "image" && (b.image as { type: string }).type === "file",
    );
    expect(images.length).toBeGreaterThan(0);
    const store = (name: string) => `https://bucket.files.example.net/nks/pages/${"e".repeat(32)}/${name}`;
    // As the sync writes a mirrored page: the first hosted image and the cover in the store, any other image not.
    const first = images[0];
    const mirroredBlocks = structuredClone(raw.blocks)!;
    const target = [...walk(mirroredBlocks)].find((b) => b.id === first.id)!;
    const image = target.image as Record<string, unknown>;
    target.image = { ...image, file: { url: store("first.png"), mirrored: true } };
    const copy = {
      ...raw,
      slug: "mirrored-copy",
      blocks: mirroredBlocks,
      cover: { type: "file", file: { url: store("cover.png"), mirrored: true } },
    } as PageBundle;
    await setPageBundle("mirrored-copy", copy, read);
    const answer = await call("/api/content/pages/mirrored-copy", { env: PUBLIC });
    expect(answer.status).toBe(200);
    const bundle = answer.json!.bundle as PageBundle;
    const urls = hostedImageUrls(bundle);
    expect(urls[0]).toBe(store("first.png"));
    expect((bundle.cover as { file: { url: string; mirrored?: boolean } }).file).toEqual({
      url: store("cover.png"),
      mirrored: true,
    });
    expect(urls.slice(1)).toHaveLength(images.length - 1);
    for (const url of urls.slice(1)) expect(url).toMatch(/^http:\/\/localhost\/api\/files\/[A-Za-z0-9_-]+$/);
    expect(answer.text).not.toContain("X-Amz-Signature");
    if (images.length === 1) expect(bundle.files_expire_at).toBeNull();
  });

  it("sends a strong ETag; If-None-Match with it (or W/, or in a list, or *) → 304 without a body; another tag → 200", async () => {
    for (const path of [
      "/api/content/posts?offset=0&limit=5",
      `/api/content/pages/${encodeURIComponent(pageWithImages.slug)}`,
      "/api/content",
    ]) {
      const first = await call(path, { env: PUBLIC });
      const etag = first.headers.get("etag")!;
      expect(etag, path).toMatch(/^"[A-Za-z0-9_-]{32}"$/);
      expect((await call(path, { env: PUBLIC })).headers.get("etag"), "the same body, the same tag").toBe(etag);
      for (const inm of [etag, `W/${etag}`, `"other", ${etag}`, "*"]) {
        const again = await call(path, { env: PUBLIC, headers: { "if-none-match": inm } });
        expect(again.status, inm).toBe(304);
        expect(again.text).toBe("");
        expect(again.headers.get("etag")).toBe(etag);
        expect(again.headers.get("cache-control")).toMatch(/^public, /);
      }
      const other = await call(path, { env: PUBLIC, headers: { "if-none-match": '"not-this-one"' } });
      expect(other.status).toBe(200);
      expect(other.text).toBe(first.text);
    }
    const a = await call("/api/content/posts?offset=0&limit=5", { env: PUBLIC });
    const b = await call("/api/content/posts?offset=1&limit=5", { env: PUBLIC });
    expect(a.headers.get("etag")).not.toBe(b.headers.get("etag"));

    // An edit synced changes the page's tag (and the index's); an unchanged page keeps its own.
    const path = `/api/content/pages/${encodeURIComponent(pageWithImages.slug)}`;
    const before = (await call(path, { env: PUBLIC })).headers.get("etag")!;
    const listBefore = (await call("/api/content/pages?limit=100", { env: PUBLIC })).headers.get("etag")!;
    const untouched = (await call("/api/content/posts?limit=100", { env: PUBLIC })).headers.get("etag")!;
    stack.workspace.advanceClock(5 * 60_000);
    const firstBlock = stack.workspace.contentTree(pageWithImages.id).find((b) => b.type === "paragraph");
    expect(firstBlock).toBeDefined();
    stack.workspace.editBlockText(firstBlock!.id, "An edited paragraph");
    await syncAll(stack);
    const after = await call(path, { env: PUBLIC, headers: { "if-none-match": before } });
    expect(after.status).toBe(200);
    expect(after.text).toContain("An edited paragraph");
    expect(after.headers.get("etag")).not.toBe(before);
    expect(
      (await call("/api/content/pages?limit=100", { env: PUBLIC, headers: { "if-none-match": listBefore } })).status,
    ).toBe(200);
    expect(
      (await call("/api/content/posts?limit=100", { env: PUBLIC, headers: { "if-none-match": untouched } })).status,
    ).toBe(304);
  });

  it("public Cache-Control: public, max-age=0, s-maxage, stale-while-revalidate (defaults and configured), CORS open", async () => {
    const answer = await call("/api/content/pages", { env: PUBLIC });
    expect(answer.headers.get("cache-control")).toBe("public, max-age=0, s-maxage=60, stale-while-revalidate=300");
    expect(answer.headers.get("access-control-allow-origin")).toBe("*");
    expect(answer.headers.get("access-control-expose-headers")).toBe("ETag");
    const configured = await call("/api/content/pages", {
      env: { ...PUBLIC, CONTENT_CACHE_S_MAXAGE: "600", CONTENT_CACHE_SWR: "0" },
    });
    expect(configured.headers.get("cache-control")).toBe("public, max-age=0, s-maxage=600, stale-while-revalidate=0");
    for (const bad of [
      { CONTENT_CACHE_S_MAXAGE: "-1" },
      { CONTENT_CACHE_SWR: "soon" },
      { CONTENT_CACHE_S_MAXAGE: "1.5" },
    ]) {
      const refused = await call("/api/content/pages", { env: { ...PUBLIC, ...bad } });
      expect(refused.status).toBe(503);
      expect(refused.json).toMatchObject({ ok: false, error: { code: "config_error" }, variables: Object.keys(bad) });
    }
    const preflight = handleContentOptions(new Request("http://localhost/api/content/pages", { method: "OPTIONS" }), {
      ...stack.env,
      ...PUBLIC,
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-headers")).toBe("If-None-Match");
  });

  it("token mode: no token or a wrong one → 401, the right one → 200 with a private Cache-Control, Vary and no CORS", async () => {
    const path = `/api/content/pages/${encodeURIComponent(pageWithImages.slug)}`;
    const none = await call(path, { env: TOKEN_MODE });
    expect(none.status).toBe(401);
    expect(none.json).toMatchObject({ ok: false, error: { code: "unauthorized" } });
    expect(none.headers.get("www-authenticate")).toBe('Bearer realm="content"');
    for (const wrong of [
      `Bearer ${TOKEN}x`,
      `Bearer ${TOKEN.slice(0, -1)}`,
      `Bearer ${TEST_SECRET}`,
      "Basic abc",
      TOKEN,
    ]) {
      const refused = await call(path, { env: TOKEN_MODE, headers: { authorization: wrong } });
      expect(refused.status, wrong).toBe(401);
      expect(refused.text).not.toContain(TOKEN);
    }
    const ok = await call(path, { env: TOKEN_MODE, headers: { authorization: `Bearer ${TOKEN}` } });
    expect(ok.status).toBe(200);
    expect(ok.json!.bundle.id).toBe(pageWithImages.id);
    expect(ok.headers.get("cache-control")).toBe("private, no-cache");
    expect(ok.headers.get("vary")).toBe("Authorization");
    expect(ok.headers.get("access-control-allow-origin")).toBeNull();
    const revalidated = await call(path, {
      env: TOKEN_MODE,
      headers: { authorization: `Bearer ${TOKEN}`, "if-none-match": ok.headers.get("etag")! },
    });
    expect(revalidated.status).toBe(304);
    expect(revalidated.headers.get("cache-control")).toBe("private, no-cache");
    const list = await call("/api/content/posts?limit=2", {
      env: TOKEN_MODE,
      headers: { authorization: `bearer ${TOKEN}` },
    });
    expect(list.status).toBe(200);
    // An unknown section is only told to a caller with the token.
    expect((await call("/api/content/nope", { env: TOKEN_MODE })).status).toBe(401);

    for (const env of [{ CONTENT_API: "token" }, { CONTENT_API: "token", CONTENT_API_TOKEN: "short" }]) {
      const refused = await call(path, {
        env: { ...env, CONTENT_API_TOKEN: env.CONTENT_API_TOKEN },
        headers: { authorization: "Bearer short" },
      });
      expect(refused.status).toBe(503);
      expect(refused.json).toMatchObject({ error: { code: "config_error" }, variables: ["CONTENT_API_TOKEN"] });
    }
    const bogus = await call(path, { env: { CONTENT_API: "open" } });
    expect(bogus.status).toBe(503);
    expect(bogus.json).toMatchObject({ error: { code: "config_error" }, variables: ["CONTENT_API"] });
  });

  it("unknown sections, slugs and paths are JSON 404s; other methods 405", async () => {
    const cases: [string, string][] = [
      ["/api/content/nope", "unknown_section"],
      ["/api/content/nope/x", "unknown_section"],
      ["/api/content/pages/no-such-page", "unknown_slug"],
      ["/api/content/pages/..%2F..%2Fetc%2Fpasswd", "unknown_slug"],
      ["/api/content/pages/a:b", "unknown_slug"],
      [`/api/content/pages/${"x".repeat(300)}`, "unknown_slug"],
      ["/api/content/pages/%E0%A4%A", "not_found"],
      ["/api/content/pages/a/b", "not_found"],
    ];
    for (const [path, code] of cases) {
      const answer = await call(path, { env: PUBLIC });
      expect(answer.status, path).toBe(404);
      expect(answer.json, path).toMatchObject({ ok: false, error: { code } });
      expect(answer.headers.get("cache-control")).toBe("no-store");
    }
    for (const method of ["POST", "PUT", "DELETE"]) {
      const answer = await call("/api/content/pages", { env: PUBLIC, method });
      expect(answer.status).toBe(405);
      expect(answer.json).toMatchObject({ error: { code: "method_not_allowed" } });
    }
  });

  it("a bad query is a 400 bad_query", async () => {
    for (const query of [
      "offset=-1",
      "offset=1.5",
      "offset=abc",
      "offset=",
      "offset=99999999999",
      "limit=0",
      `limit=${MAX_LIMIT + 1}`,
      "limit=ten",
      "limit=5&limit=6",
    ]) {
      const answer = await call(`/api/content/pages?${query}`, { env: PUBLIC });
      expect(answer.status, query).toBe(400);
      expect(answer.json, query).toMatchObject({ ok: false, error: { code: "bad_query" } });
    }
  });

  it("a Unicode slug works percent-encoded in the URL (and decoded, as a router may hand it)", async () => {
    const encoded = `/api/content/pages/${encodeURIComponent(UNICODE_SLUG)}`;
    expect(encoded).toContain("%E6%97%A5");
    const answer = await call(encoded, { env: PUBLIC });
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({
      ok: true,
      slug: UNICODE_SLUG,
      bundle: { title: UNICODE_TITLE, slug: UNICODE_SLUG },
    });
    const decoded = await call(encoded, { env: PUBLIC, segments: ["pages", UNICODE_SLUG] });
    expect(decoded.text).toBe(answer.text);
    // NFD (as some clients send) is the same slug.
    const nfd = await call(`/api/content/pages/${encodeURIComponent(UNICODE_SLUG.normalize("NFD"))}`, { env: PUBLIC });
    expect(nfd.status).toBe(200);
    const listed = await call("/api/content/pages?limit=100", { env: PUBLIC });
    expect((listed.json!.entries as IndexEntry[]).some((e) => e.slug === UNICODE_SLUG)).toBe(true);
  });

  it("KV down: JSON 503 kv_unavailable naming no host, never a 500", async () => {
    const down = { ...PUBLIC, REDIS_URL: "redis://127.0.0.1:1", KV_PREFIX: "down" };
    for (const path of ["/api/content", "/api/content/pages", "/api/content/pages/anything"]) {
      const started = Date.now();
      const answer = await call(path, { env: down });
      expect(answer.status, path).toBe(503);
      expect(answer.json).toMatchObject({ ok: false, error: { code: "kv_unavailable" } });
      expect(answer.text).not.toContain("127.0.0.1");
      expect(Date.now() - started).toBeLessThan(9_000);
    }
  });
});
