/**
 * Files that never expire for the site (lib/files, GET /api/files/<ref>):
 * against a real redis-server and the Notion emulator (whose hosted file URLs
 * expire an hour after each read, on its own clock), the route handler in
 * process. A bundle read three hours after its sync serves every file
 * (blocks, block icons, cover, icon, files properties, index entries) as a
 * 302 to an unexpired URL; one Notion request per object and URL lifetime
 * however many and however concurrent the reads (two instances included);
 * forged, tampered and unknown refs, and pages removed from the mirror, are
 * 404 without a Notion request; cache headers shorter than the URL's life;
 * files_expire_at the earliest expiry over every file; honest JSON errors.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { SECTIONS } from "./support/default-sections";
import {
  type FileRef,
  type FileResolver,
  blockFile,
  createFileResolver,
  decodeFileRef,
  encodeFileRef,
  fileRefKey,
  pageFile,
} from "../lib/files";
import { filesRoute, handleFile } from "../lib/http/files-route";
import type { PageBundle } from "../lib/mirror/shapes";
import { getPageBundle, getSectionIndex } from "../lib/read";
import { sharedKvStore } from "../lib/runtime";
import { HOSTED_FILES_ORIGIN, signedUrlExpiry } from "../scripts/emulator/notion/files";
import { type Stack, TEST_SECRET, invoke, startStack, syncAll } from "./support/harness";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const FILE_ROUTES = new Set(["blocks.retrieve", "pages.retrieve"]);

type Json = unknown;

/** Every string in `value` that is a file route URL. */
function routeUrls(value: Json, out: string[] = []): string[] {
  if (typeof value === "string" && value.startsWith("/api/files/")) out.push(value);
  else if (Array.isArray(value)) for (const v of value) routeUrls(v, out);
  else if (value && typeof value === "object") for (const v of Object.values(value)) routeUrls(v, out);
  return out;
}

/** Every expiry_time of a hosted file in `value`. */
function expiries(value: Json, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) expiries(v, out);
  else if (value && typeof value === "object") {
    const o = value as Record<string, unknown>;
    const file = o.file as { expiry_time?: unknown } | undefined;
    if (o.type === "file" && file && typeof file.expiry_time === "string") out.push(file.expiry_time);
    for (const v of Object.values(o)) expiries(v, out);
  }
  return out;
}

function findBlock(blocks: Json, id: string): Record<string, unknown> | undefined {
  for (const b of blocks as Record<string, unknown>[]) {
    if (b.id === id) return b;
    const found = b.children ? findBlock(b.children, id) : undefined;
    if (found) return found;
  }
  return undefined;
}

const pathOf = (url: string) => url.split("?")[0];

describe("GET /api/files/<ref>", () => {
  let stack: Stack;
  const key = () => fileRefKey(stack.env);
  const files = { secret: TEST_SECRET };
  const read = () => ({ kv: stack.kv, prefix: stack.keys.prefix, files });
  const raw = () => ({ kv: stack.kv, prefix: stack.keys.prefix, files: false as const });
  const now = () => stack.workspace.now().getTime();
  let instanceA: FileResolver;
  let instanceB: FileResolver;

  const get = (url: string, resolver: FileResolver = instanceA, env: Record<string, string> = stack.env) =>
    handleFile(new Request(`http://localhost${url}`), url.slice("/api/files/".length), env, { now, resolver });
  const notionRequests = () => stack.emulator.requests().filter((r) => FILE_ROUTES.has(r.route));
  /** One Notion object per request: a block, or a page (its cover, icon and files come in one answer). */
  const objectOf = (ref: FileRef) =>
    ref.kind === "block" || ref.kind === "block_icon" ? `block:${ref.blockId}` : `page:${ref.pageId}`;
  const objectOfRequest = (path: string) =>
    `${path.startsWith("/v1/blocks/") ? "block" : "page"}:${path.split("/")[3]}`;

  async function bundles(options: {
    kv: Stack["kv"];
    prefix: string;
    files: typeof files | false;
  }): Promise<Map<string, PageBundle>> {
    const out = new Map<string, PageBundle>();
    for (const section of SECTIONS) {
      const index = await getSectionIndex(section, { kv: stack.kv, prefix: stack.keys.prefix, files: false });
      for (const entry of index?.entries ?? []) out.set(entry.id, (await getPageBundle(section, entry.slug, options))!);
    }
    return out;
  }

  /** Every file route URL a site gets: bundles and index entries, with what each ref names. */
  async function siteUrls(): Promise<{ url: string; ref: FileRef; from: "bundle" | "entry" }[]> {
    const out: { url: string; ref: FileRef; from: "bundle" | "entry" }[] = [];
    for (const bundle of (await bundles(read())).values())
      for (const url of routeUrls(bundle)) out.push({ url, ref: decodeFileRef(url.slice(11), key())!, from: "bundle" });
    for (const section of SECTIONS) {
      const index = await getSectionIndex(section, read());
      for (const url of routeUrls(index?.entries))
        out.push({ url, ref: decodeFileRef(url.slice(11), key())!, from: "entry" });
    }
    return out;
  }

  beforeAll(async () => {
    // A small workspace (every kind of hosted file is there whatever the size: files.ts), each
    // invocation short and the emulator a little slow, so a run takes several invocations; the
    // emulated clock moves a minute between them, so rows (covers, icons, files properties) are
    // signed at listing, minutes before their blocks are.
    stack = await startStack({
      workspace: { seed: 3, pages: 30, posts: 20, hugePages: 0 },
      latencyMs: 5,
      env: { SYNC_BUDGET_MS: "500" },
    });
    for (const section of SECTIONS) {
      for (let calls = 0; ; calls++) {
        expect(calls).toBeLessThan(300);
        const { status, body } = await invoke(stack, section);
        expect(status, JSON.stringify(body)).toBe(200);
        stack.workspace.advanceClock(MINUTE);
        if (body.done) break;
      }
    }
    instanceA = createFileResolver();
    instanceB = createFileResolver();
  }, 180_000);
  afterAll(async () => stack?.close());

  it("files_expire_at is the earliest expiry over every file of the bundle (blocks at any depth, cover, icon, files properties)", async () => {
    const stored = await bundles(raw());
    let pageLevelFirst = 0;
    let nestedFiles = 0;
    for (const bundle of stored.values()) {
      const all = expiries({
        blocks: bundle.blocks,
        cover: bundle.cover,
        icon: bundle.icon,
        properties: bundle.properties,
      });
      const earliest = all.length === 0 ? null : all.reduce((a, b) => (Date.parse(a) <= Date.parse(b) ? a : b));
      expect(bundle.files_expire_at, bundle.slug).toBe(earliest);
      const fromBlocks = expiries(bundle.blocks);
      const fromPage = expiries({ cover: bundle.cover, icon: bundle.icon, properties: bundle.properties });
      // Listed (and signed) before their blocks were read: the old rule (blocks only) would be later.
      if (
        fromPage.length > 0 &&
        fromBlocks.length > 0 &&
        Math.min(...fromPage.map(Date.parse)) < Math.min(...fromBlocks.map(Date.parse))
      )
        pageLevelFirst++;
      nestedFiles += (bundle.blocks as { children?: unknown[] }[]).filter(
        (b) => b.children && expiries(b.children).length > 0,
      ).length;
    }
    expect(pageLevelFirst).toBeGreaterThan(0);
    expect(nestedFiles).toBeGreaterThan(0);
    // What a reader gets through the route never expires.
    for (const bundle of (await bundles(read())).values()) expect(bundle.files_expire_at).toBeNull();
  });

  it("three hours after the sync, every file of every bundle and entry answers 302 to an unexpired URL, one Notion request per object", async () => {
    stack.workspace.advanceClock(3 * HOUR);
    const stored = await bundles(raw());
    const site = await bundles(read());
    for (const [id, bundle] of site) {
      const text = JSON.stringify(bundle);
      expect(text, bundle.slug).not.toContain(HOSTED_FILES_ORIGIN); // no raw Notion URL left
      expect(routeUrls(bundle)).toHaveLength(expiries(stored.get(id)).length); // and every one rewritten
    }
    const urls = await siteUrls();
    const kinds = new Set(urls.map((u) => (u.from === "entry" ? "entry" : u.ref.kind)));
    expect([...kinds].sort()).toEqual(["block", "block_icon", "cover", "entry", "icon", "prop"]);
    // External files stay as they are.
    expect(JSON.stringify([...site.values()])).toContain("https://docs.example.com/");

    stack.emulator.resetRequestLog();
    for (const { url, ref, from } of urls) {
      const res = await get(url);
      expect(res.status, url).toBe(302);
      const location = res.headers.get("location")!;
      expect(location.startsWith(`${HOSTED_FILES_ORIGIN}/`)).toBe(true);
      const expiresAt = signedUrlExpiry(location)!;
      expect(expiresAt).toBeGreaterThanOrEqual(now() + 55 * MINUTE); // freshly signed on the emulator's clock
      // The very file the bundle holds (same object in the bucket), signed anew.
      const bundle = stored.get(ref.pageId)!;
      const held =
        ref.kind === "block" || ref.kind === "block_icon"
          ? blockFile(findBlock(bundle.blocks, ref.blockId)!, ref.kind)
          : from === "bundle"
            ? pageFile(bundle, ref)
            : undefined;
      if (held) expect(pathOf(location)).toBe(pathOf((held as { file: { url: string } }).file.url));
      // A CDN may keep the redirect, for less than the URL lives.
      const cacheControl = res.headers.get("cache-control")!;
      const sharedAge = Number(/^public, max-age=0, s-maxage=(\d+)$/.exec(cacheControl)?.[1]);
      expect(sharedAge).toBeGreaterThan(0);
      expect(sharedAge * 1000).toBeLessThan(expiresAt - now());
    }
    const objects = new Set(urls.map((u) => objectOf(u.ref)));
    const sent = notionRequests();
    expect(sent.map((r) => r.status).every((s) => s === 200)).toBe(true);
    expect(new Set(sent.map((r) => objectOfRequest(r.path))).size).toBe(sent.length); // never twice for one object
    expect(sent.length).toBe(objects.size);
  });

  it("asks Notion at most once per file and URL lifetime, however many and however concurrent the reads (two instances)", async () => {
    const urls = [...new Set((await siteUrls()).map((u) => u.url))];
    const one = urls[0];
    stack.emulator.resetRequestLog();
    // Warm: many reads, sequential and concurrent, on two instances sharing KV.
    for (let i = 0; i < 3; i++)
      for (const url of urls) expect((await get(url, i % 2 ? instanceB : instanceA)).status).toBe(302);
    const burst = await Promise.all(Array.from({ length: 40 }, (_, i) => get(one, i % 2 ? instanceB : instanceA)));
    expect(burst.every((r) => r.status === 302)).toBe(true);
    stack.workspace.advanceClock(50 * MINUTE);
    await Promise.all(urls.map((url) => get(url)));
    expect(notionRequests()).toHaveLength(0);

    // A hit's CDN life shrinks with the URL's: 50 minutes on, less than 5 minutes left before the refresh.
    const late = await get(one);
    expect(Number(/s-maxage=(\d+)/.exec(late.headers.get("cache-control")!)![1])).toBeLessThanOrEqual(5 * 60);

    // 56 minutes after the refresh (within 5 minutes of expiry_time): refreshed, once per object,
    // with every file read 10 times at once, half of them on another instance.
    stack.workspace.advanceClock(6 * MINUTE);
    const refs = (await siteUrls()).map((u) => u.ref);
    const answers = await Promise.all(
      urls.flatMap((url) => Array.from({ length: 10 }, (_, i) => get(url, i % 2 ? instanceB : instanceA))),
    );
    expect(answers.every((r) => r.status === 302)).toBe(true);
    const sent = notionRequests().map((r) => objectOfRequest(r.path));
    expect(new Set(sent).size).toBe(sent.length);
    expect(new Set(sent)).toEqual(new Set(refs.map(objectOf)));
    expect(instanceA.inFlight() + instanceB.inFlight()).toBe(0);

    // In-process single-flight: 20 concurrent reads of one stale file on one instance take the
    // refresh lock once (the KV lock alone would be tried 20 times) and ask Notion once.
    stack.workspace.advanceClock(56 * MINUTE);
    stack.emulator.resetRequestLog();
    const store = sharedKvStore(stack.env); // the route's store (one per backend per process)
    const set = vi.spyOn(store, "set");
    const same = await Promise.all(Array.from({ length: 20 }, () => get(one, instanceA)));
    const lockAttempts = set.mock.calls.filter(([k, , o]) => k.includes(":filelock:") && o?.nx).length;
    set.mockRestore();
    expect(same.every((r) => r.status === 302)).toBe(true);
    expect(lockAttempts).toBe(1);
    expect(notionRequests()).toHaveLength(1);

    // Three hours of reads every ten minutes: at most one request per object per 55 minutes.
    stack.emulator.resetRequestLog();
    for (let t = 0; t < 180; t += 10) {
      stack.workspace.advanceClock(10 * MINUTE);
      await Promise.all(urls.map((url, i) => get(url, i % 2 ? instanceB : instanceA)));
    }
    const perObject = new Map<string, number>();
    for (const r of notionRequests())
      perObject.set(objectOfRequest(r.path), (perObject.get(objectOfRequest(r.path)) ?? 0) + 1);
    expect(Math.max(...perObject.values())).toBeLessThanOrEqual(Math.ceil(180 / 55));
  });

  it("forged, tampered, truncated and unknown refs are 404 JSON, with no Notion request", async () => {
    const [{ url, ref }] = await siteUrls();
    const text = url.slice("/api/files/".length);
    const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === "A" ? "B" : "A") + s.slice(i + 1);
    const otherKey = fileRefKey({ CRON_SECRET: "another-secret-entirely" });
    const cases = [
      encodeFileRef(ref, otherKey), // signed with another key, for a real file
      flip(text, 5), // a byte of the payload changed
      flip(text, text.length - 3), // a byte of the MAC changed
      text.slice(0, -4), // truncated
      `${text}AAAA`, // extended
      encodeFileRef({ ...ref, pageId: "0badc0de-0000-4000-8000-000000000000" }, key()), // ours, for a page not in the mirror
      encodeFileRef({ kind: "cover", section: "posts", pageId: ref.pageId, tag: ref.tag }, key()), // ours, in the wrong section
      "not-a-ref",
      "..%2F..%2Fetc%2Fpasswd",
      "A".repeat(1000),
    ];
    stack.emulator.resetRequestLog();
    for (const bad of cases) {
      const res = await get(`/api/files/${bad}`);
      expect(res.status, bad).toBe(404);
      expect(res.headers.get("cache-control")).toBe("no-store");
      expect(await res.json()).toMatchObject({ ok: false, error: { code: "file_not_found" } });
    }
    expect(stack.emulator.requests()).toHaveLength(0);
  });

  it("a page removed from the mirror: its refs 404, cached or not, without asking Notion", async () => {
    const urls = await siteUrls();
    const ws = stack.workspace;
    const rows = ws.visibleRows(ws.pagesDatabaseId).map((r) => r.id);
    // The row of the pages section with the most files (a cover among them).
    const count = (id: string) => urls.filter((u) => u.ref.pageId === id).length;
    const withCover = urls
      .filter((u) => u.ref.section === "pages" && u.ref.kind === "cover" && rows.includes(u.ref.pageId))
      .map((u) => u.ref.pageId);
    const victim = withCover.sort((a, b) => count(b) - count(a))[0];
    const mine = urls.filter((u) => u.ref.pageId === victim);
    expect(mine.length).toBeGreaterThan(1);
    for (const { url } of mine) expect((await get(url)).status).toBe(302); // cached now
    ws.advanceClock(5 * MINUTE);
    ws.trashPage(victim);
    // The trashed row leaves at a full listing (an incremental one lists only edited rows still there).
    await syncAll({ ...stack, env: { ...stack.env, SYNC_FULL_LIST_HOURS: "0" } });
    expect((await getSectionIndex("pages", read()))!.entries.some((e) => e.id === victim)).toBe(false);
    stack.emulator.resetRequestLog();
    for (const { url } of mine) {
      const res = await get(url);
      expect(res.status).toBe(404);
      expect(await res.json()).toMatchObject({ ok: false, error: { code: "file_not_found" } });
    }
    expect(notionRequests()).toHaveLength(0);
  });

  it("a file Notion no longer has (404 on its block) is 404, remembered for a few minutes", async () => {
    stack.workspace.advanceClock(HOUR); // every cached URL stale
    const { url, ref } = (await siteUrls()).find((u) => u.ref.kind === "block")!;
    const blockId = (ref as { blockId: string }).blockId;
    stack.emulator.injectFault({ route: "blocks.retrieve", status: 404, matchId: blockId, times: 1 });
    stack.emulator.resetRequestLog();
    expect((await get(url)).status).toBe(404);
    expect((await get(url)).status).toBe(404);
    expect(notionRequests()).toHaveLength(1);
    stack.workspace.advanceClock(6 * MINUTE);
    expect((await get(url)).status).toBe(302); // asked again once the memory of it is gone
  });

  it("Notion or KV down, or no key: JSON 503 with the right code, never a 500, naming no secret (answers and logs)", async () => {
    stack.workspace.advanceClock(HOUR);
    const urls = (await siteUrls()).filter((u) => u.ref.kind === "block");
    const lines: string[] = [];
    const log = vi.spyOn(console, "log").mockImplementation((line: string) => void lines.push(String(line)));
    const warn = vi.spyOn(console, "warn").mockImplementation((line: string) => void lines.push(String(line)));
    const saved = process.env.SYNC_LOG;
    process.env.SYNC_LOG = "on";
    try {
      const bodies: string[] = [];
      const expectJson = async (res: Response, status: number, code: string) => {
        const text = await res.text();
        bodies.push(text);
        expect(res.status, text).toBe(status);
        expect(JSON.parse(text)).toMatchObject({ ok: false, error: { code } });
      };
      stack.emulator.injectFault({ route: "blocks.retrieve", status: 503, times: 10 });
      const down = await get(urls[0].url);
      await expectJson(down, 503, "notion_unavailable");
      expect(down.headers.get("retry-after")).toBeTruthy();
      stack.emulator.clearFaults();

      stack.emulator.injectFault({ route: "blocks.retrieve", status: 401, times: 1 });
      await expectJson(await get(urls[2].url), 502, "notion_unauthorized");

      await expectJson(
        await get(urls[3].url, instanceA, { ...stack.env, REDIS_URL: "redis://127.0.0.1:1" }),
        503,
        "kv_unavailable",
      );
      const { CRON_SECRET: _unused, ...noKey } = stack.env;
      await expectJson(await get(urls[3].url, instanceA, noKey), 503, "config_error");
      const { NOTION_API_KEY: _token, ...noToken } = stack.env;
      await expectJson(await get(urls[4].url, instanceA, noToken), 503, "config_error");
      // The Next.js route itself (process.env has none of the variables here).
      await expectJson(
        await filesRoute().GET(new Request(`http://localhost${urls[4].url}`), {
          params: Promise.resolve({ ref: urls[4].url.slice(11) }),
        }),
        503,
        "config_error",
      );

      // A 429 whose Retry-After is longer than a file request may wait: 503 saying when, and until
      // then no instance asks Notion for a file (the shared pause, as the sync honours it).
      stack.emulator.injectFault({ route: "blocks.retrieve", status: 429, retryAfterSeconds: 5, times: 1 });
      const limited = await get(urls[1].url);
      await expectJson(limited, 503, "notion_rate_limited");
      expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(4);
      stack.emulator.resetRequestLog();
      await expectJson(await get(urls[5].url, instanceB), 503, "notion_rate_limited");
      expect(notionRequests()).toHaveLength(0);
      await new Promise((resolve) => setTimeout(resolve, 5_200));

      // Back to normal.
      expect((await get(urls[0].url)).status).toBe(302);
      const everything = [...bodies, ...lines].join("\n");
      expect(lines.some((l) => l.includes("files.refresh"))).toBe(true);
      for (const secret of [
        TEST_SECRET,
        key().toString("hex"),
        key().toString("base64url"),
        stack.emulator.token,
        "X-Amz-Signature",
      ]) {
        expect(everything).not.toContain(secret);
      }
      // Hosts are for the log (as every route does), not for answers.
      expect(bodies.join("\n")).not.toContain("127.0.0.1:1");
    } finally {
      process.env.SYNC_LOG = saved;
      log.mockRestore();
      warn.mockRestore();
    }
  });

  it("links through FILES_BASE_URL or an explicit base, and returns raw URLs with files: false", async () => {
    const slug = [...(await bundles(raw())).values()].find(
      (b) => b.section === "pages" && JSON.stringify(b).includes(HOSTED_FILES_ORIGIN),
    )!.slug;
    const based = await getPageBundle("pages", slug, {
      ...read(),
      files: { secret: TEST_SECRET, base: "https://cdn.example.com/" },
    });
    expect(JSON.stringify(based)).toContain("https://cdn.example.com/api/files/");
    const rawBundle = await getPageBundle("pages", slug, raw());
    expect(JSON.stringify(rawBundle)).toContain(HOSTED_FILES_ORIGIN);
    expect(routeUrls(rawBundle)).toHaveLength(0);
  });
});
