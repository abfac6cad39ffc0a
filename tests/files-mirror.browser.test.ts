/**
 * Files that outlive Notion (FILES_MIRROR, issue 25), in a real headless
 * Chromium against `next start`: the emulator's workspace (hosted images,
 * covers, icons, callout icons, files properties; the emulator serving the
 * files' bytes itself) synced with the files copied to a real store, then
 * Notion's clock moved past every signed URL's expiry and the emulator
 * stopped: the Notion API and its file URLs are gone. Every page of every
 * section is previewed, and every `img` must load (`naturalWidth > 0`) from
 * the store (or from the workspace's external example.com hosts, which the
 * test answers: the machine is offline). The content API, over the same
 * servers, hands out store URLs that answer. Nothing reaches /api/files/.
 *
 * S3 (tests/support/s3-server.ts) in block mode and in markdown mode, every
 * page; Vercel Blob (tests/support/blob-server.ts, through VERCEL_BLOB_API_URL)
 * in block mode, pages showing every kind of hosted image (its adapter's
 * contract is tested on its own, tests/files-store.test.ts).
 * One `next build` for all, shared with the other browser suites.
 */
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Section } from "../lib/core/sections";
import { createSession } from "../lib/dashboard/session";
import { isMirrored, isNotionHosted } from "../lib/files/locate";
import type { IndexEntry, PageBundle } from "../lib/mirror/shapes";
import { markdownFilesExpireAt } from "../lib/notion/markdown-fetcher";
import { PREVIEW_COOKIE, previewPath } from "../lib/preview/session";
import { getPageBundle, getSectionIndex } from "../lib/read";
import { type NextApp, buildIfNeeded, startNextApp } from "../scripts/lib/next-app";
import { startBlobServer } from "./support/blob-server";
import { launchChromium } from "./support/browser";
import { blobMirrorEnv, s3MirrorEnv } from "./support/files-mirror-env";
import { type Stack, TEST_SECRET, startStack, syncUntilDone } from "./support/harness";
import { startS3Server } from "./support/s3-server";

const SECTIONS: Section[] = ["pages", "posts", "children"];
/** A 1×1 PNG for the workspace's external example.com images (not Notion-hosted: never mirrored). */
const PIXEL = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg==",
  "base64",
);
/** Pages previewed at once (one browser, one tab each). */
const TABS = 4;
/** The kinds of hosted image each mode's preview draws: each must be seen loading from the store. */
const KINDS = { blocks: ["cover", "icon", "callout_icon", "image"], markdown: ["cover", "icon", "markdown"] };

/** A store the test runs: where its objects are read, how many it holds, the variables naming it. */
interface TestStore {
  publicBaseUrl: string;
  env: Record<string, string>;
  objects(): number;
  close(): Promise<void>;
}

async function s3Store(): Promise<TestStore> {
  const s3 = await startS3Server();
  return { publicBaseUrl: s3.publicBaseUrl, env: s3MirrorEnv(s3), objects: () => s3.objects.size, close: s3.close };
}

async function blobStore(): Promise<TestStore> {
  const blob = await startBlobServer();
  const saved = process.env.VERCEL_BLOB_API_URL;
  // @vercel/blob reads it from process.env: the in-process sync needs it there, next start gets it in its env.
  process.env.VERCEL_BLOB_API_URL = blob.apiUrl;
  return {
    publicBaseUrl: blob.publicBaseUrl,
    env: blobMirrorEnv(blob),
    objects: () => blob.objects.size,
    async close() {
      if (saved === undefined) delete process.env.VERCEL_BLOB_API_URL;
      else process.env.VERCEL_BLOB_API_URL = saved;
      await blob.close();
    },
  };
}

interface Mode {
  name: "blocks" | "markdown";
  env: Record<string, string>;
  app?: NextApp;
  context?: BrowserContext;
  /** Every page of every section, raw from KV (files: false). */
  pages: { section: Section; entry: IndexEntry; bundle: PageBundle }[];
}

interface Seen {
  url: string;
  section: Section;
  slug: string;
  status: number;
  title: string | null;
  images: { src: string; width: number; kind: string }[];
}

/** Every file object in a value (blocks at any depth, cover, icon, properties, rollups). */
function fileObjects(value: unknown, out: unknown[] = []): unknown[] {
  if (Array.isArray(value)) for (const item of value) fileObjects(item, out);
  else if (typeof value === "object" && value !== null) {
    if (isNotionHosted(value)) out.push(value);
    else for (const child of Object.values(value)) fileObjects(child, out);
  }
  return out;
}

/** The kinds of hosted image a block bundle holds (as KINDS names them), for picking pages by content. */
function imageKinds(bundle: PageBundle): Set<string> {
  const kinds = new Set<string>();
  if (isNotionHosted(bundle.cover)) kinds.add("cover");
  if (isNotionHosted(bundle.icon)) kinds.add("icon");
  const visit = (blocks: NonNullable<PageBundle["blocks"]>) => {
    for (const block of blocks) {
      const body = block[block.type] as { icon?: unknown } | undefined;
      if (block.type === "image" && isNotionHosted(body)) kinds.add("image");
      if (block.type === "callout" && isNotionHosted(body?.icon)) kinds.add("callout_icon");
      if (block.children) visit(block.children);
    }
  };
  visit(bundle.blocks ?? []);
  return kinds;
}

/** Pages that together show every kind of hosted image of KINDS.blocks: a few, where every page would repeat them. */
function sampleByKinds<T extends { bundle: PageBundle }>(pages: T[]): T[] {
  const picked: T[] = [];
  for (const kind of KINDS.blocks) {
    if (picked.some((p) => imageKinds(p.bundle).has(kind))) continue;
    const page = pages.find((p) => imageKinds(p.bundle).has(kind));
    if (page) picked.push(page);
  }
  return picked;
}

async function preview(page: Page, app: NextApp, section: Section, slug: string): Promise<Seen> {
  const url = `${app.url}${previewPath(section, slug)}`;
  const answer = await page.goto(url, { waitUntil: "load" });
  await page.waitForFunction(() => [...document.images].every((img) => img.complete), undefined, {
    timeout: 15_000,
  });
  const images = await page.$$eval("img", (els) =>
    els.map((img) => {
      const el = img as HTMLImageElement;
      const kind = el.classList.contains("preview-cover")
        ? "cover"
        : el.classList.contains("preview-icon")
          ? "icon"
          : el.classList.contains("callout-icon")
            ? "callout_icon"
            : el.closest("[data-markdown-image]")
              ? "markdown"
              : el.closest("figure[data-block-type=image]")
                ? "image"
                : "other";
      return { src: el.currentSrc || el.src, width: el.naturalWidth, kind };
    }),
  );
  return { url, section, slug, status: answer?.status() ?? 0, title: await page.textContent("h1"), images };
}

/**
 * `pages: "all"` previews every page of every section; "sample" only pages that together hold
 * every kind of hosted image (a second store, whose reading is the same code: kept lean).
 */
function mirrorSuite(
  kind: "s3" | "blob",
  start: () => Promise<TestStore>,
  modeNames: Mode["name"][],
  pages: "all" | "sample",
) {
  const which = pages === "all" ? "every preview image" : "preview images of every kind";
  describe(`files mirrored to ${kind}, Notion gone: ${which} load from the store`, () => {
    let stack: Stack;
    let store: TestStore;
    let browser: Browser;
    const modes: Mode[] = modeNames.map((name): Mode => ({
      name,
      env: name === "markdown" ? { SYNC_CONTENT: "markdown" } : {},
      pages: [],
    }));
    /** Requests the browser made to anything but the app, the store and example.com (all refused). */
    const outside: string[] = [];
    /** Requests the browser made to the app's file route (a file left at Notion's URL would go there). */
    const routed: string[] = [];
    const timings: Record<string, number> = {};

    async function timed<T>(name: string, run: () => Promise<T>): Promise<T> {
      const started = Date.now();
      try {
        return await run();
      } finally {
        timings[name] = Date.now() - started;
      }
    }

    const modeEnv = (mode: Mode): Record<string, string> => ({
      ...stack.env,
      ...mode.env,
      KV_PREFIX: `${stack.env.KV_PREFIX}${mode.name === "markdown" ? "m" : "b"}`,
    });

    async function readPages(mode: Mode): Promise<void> {
      const read = { kv: stack.kv, prefix: modeEnv(mode).KV_PREFIX, files: false as const };
      for (const section of SECTIONS) {
        const index = await getSectionIndex(section, read);
        for (const entry of index?.entries ?? []) {
          const bundle = await getPageBundle(section, entry.slug, read);
          if (bundle) mode.pages.push({ section, entry, bundle });
        }
      }
    }

    async function newContext(app: NextApp): Promise<BrowserContext> {
      const context = await browser.newContext({ viewport: { width: 1000, height: 800 } });
      await context.addCookies([
        { name: PREVIEW_COOKIE, value: createSession(TEST_SECRET).token, url: `${app.url}/preview` },
      ]);
      const storeOrigin = new URL(store.publicBaseUrl).origin;
      await context.route(
        (url) => url.origin !== app.url && url.origin !== storeOrigin,
        async (route) => {
          const url = route.request().url();
          if (new URL(url).host.endsWith(".example.com")) {
            await route.fulfill({ status: 200, contentType: "image/png", body: PIXEL });
          } else {
            outside.push(url);
            await route.abort();
          }
        },
      );
      context.on("request", (request) => {
        if (request.url().startsWith(`${app.url}/api/files/`)) routed.push(request.url());
      });
      return context;
    }

    /** Every page of a mode previewed, TABS at a time. */
    async function previewAll(mode: Mode): Promise<Seen[]> {
      const queue = pages === "all" ? [...mode.pages] : sampleByKinds(mode.pages);
      const out: Seen[] = [];
      await Promise.all(
        Array.from({ length: TABS }, async () => {
          const page = await mode.context!.newPage();
          for (let next = queue.shift(); next; next = queue.shift())
            out.push(await preview(page, mode.app!, next.section, next.entry.slug));
          await page.close();
        }),
      );
      return out;
    }

    beforeAll(async () => {
      await timed("build", async () => buildIfNeeded());
      await timed("sync", async () => {
        store = await start();
        stack = await startStack({
          workspace: { pages: 8, posts: 4, hugePages: 0, childDepth: 1, trashedRows: 0, unsharedChildPages: 0 },
          emulator: { hostedFiles: "self" },
          env: store.env,
        });
        // Signed for an hour from the workspace clock, as Notion does: fresh while the sync copies them.
        stack.workspace.setNow(new Date());
        for (const mode of modes) {
          const env = modeEnv(mode);
          for (const section of SECTIONS) await syncUntilDone({ env }, section);
          await readPages(mode);
        }
      });
      // Notion gone: every signed URL expired, then the emulator (API and file URLs) stopped.
      stack.workspace.advanceClock(2 * 3_600_000);
      await stack.emulator.close();
      await timed("apps", async () => {
        browser = await launchChromium();
        await Promise.all(
          modes.map(async (mode) => {
            mode.app = await startNextApp({ ...modeEnv(mode), CONTENT_API: "public" });
            mode.context = await newContext(mode.app);
          }),
        );
      });
    });

    afterAll(async () => {
      console.log(
        `[files-mirror.browser ${kind}] timings ms`,
        JSON.stringify(timings),
        "pages",
        modes.map((m) => `${m.name} ${m.pages.length}`).join(", "),
        "objects",
        store?.objects(),
      );
      await browser?.close();
      await Promise.all(modes.map((m) => m.app?.stop()));
      await stack?.close();
      await store?.close();
    });

    it("the sync copied every hosted file: KV holds store URLs only, files_expire_at null, markdown without a signed URL", async () => {
      await expect(fetch(stack.emulator.url)).rejects.toThrow();
      for (const mode of modes) {
        expect(mode.pages.length, mode.name).toBeGreaterThan(10);
        for (const { section, bundle } of mode.pages) {
          const where = `${mode.name} ${section}/${bundle.slug}`;
          for (const file of fileObjects(bundle)) {
            expect(isMirrored(file), `${where}: ${JSON.stringify(file)}`).toBe(true);
            expect((file as { file: { url: string } }).file.url.startsWith(`${store.publicBaseUrl}/`), where).toBe(
              true,
            );
          }
          expect(bundle.files_expire_at, where).toBeNull();
          if (bundle.content === "markdown") expect(markdownFilesExpireAt(bundle.markdown), where).toBeNull();
        }
      }
      expect(store.objects()).toBeGreaterThan(0);
    });

    for (const name of modeNames) {
      const what =
        pages === "all"
          ? "every page's preview loads, and every image on it,"
          : "pages with every kind of hosted image load, and every image on them,";
      it(`${name} mode: ${what} from the store`, async () => {
        const mode = modes.find((m) => m.name === name)!;
        const seen = await timed(`preview ${name}`, () => previewAll(mode));
        expect(seen).toHaveLength(pages === "all" ? mode.pages.length : sampleByKinds(mode.pages).length);
        const kinds = new Map<string, number>();
        for (const page of seen) {
          const { bundle } = mode.pages.find((p) => p.section === page.section && p.entry.slug === page.slug)!;
          expect(page.status, page.url).toBe(200);
          expect(page.title, page.url).toBe(bundle.title || "Untitled");
          for (const image of page.images) {
            expect(image.width, `${page.url}: ${image.src}`).toBeGreaterThan(0);
            const external = new URL(image.src).host.endsWith(".example.com");
            expect(external || image.src.startsWith(`${store.publicBaseUrl}/`), `${page.url}: ${image.src}`).toBe(true);
            if (!external) kinds.set(image.kind, (kinds.get(image.kind) ?? 0) + 1);
          }
        }
        // The workspace shows every kind of hosted image the preview draws (else this would prove little).
        for (const k of KINDS[name])
          expect(kinds.get(k) ?? 0, `${name}: ${k} images from the store`).toBeGreaterThan(0);
      });
    }

    it("the content API hands out the store's URLs, which answer; files properties included", async () => {
      let filesValues = 0;
      for (const mode of modes) {
        for (const section of SECTIONS) {
          const list = await fetch(`${mode.app!.url}/api/content/${section}?limit=100`);
          expect(list.status).toBe(200);
          const text = await list.text();
          expect(text).not.toContain("/api/files/");
          expect(text).not.toContain("X-Amz-");
          for (const entry of (JSON.parse(text) as { entries: IndexEntry[] }).entries) {
            for (const value of Object.values(entry.properties)) {
              if (!Array.isArray(value)) continue;
              for (const item of value as { url?: unknown; mirrored?: unknown }[]) {
                if (typeof item !== "object" || item === null || typeof item.url !== "string" || !item.mirrored)
                  continue;
                expect(item.url.startsWith(`${store.publicBaseUrl}/`), item.url).toBe(true);
                const file = await fetch(item.url);
                expect(file.status, item.url).toBe(200);
                expect((await file.arrayBuffer()).byteLength).toBeGreaterThan(0);
                filesValues++;
              }
            }
          }
        }
        const { section, entry } = mode.pages.find((p) => fileObjects(p.bundle).length > 0)!;
        const one = await fetch(`${mode.app!.url}/api/content/${section}/${encodeURIComponent(entry.slug)}`);
        const body = await one.text();
        expect(body).toContain(store.publicBaseUrl);
        expect(body).not.toContain("/api/files/");
      }
      expect(filesValues, "files properties in the index entries").toBeGreaterThan(0);
    });

    it("the browser reached nothing but the app, the store and example.com, and never the file route", () => {
      expect(outside).toEqual([]);
      expect(routed).toEqual([]);
    });
  });
}

mirrorSuite("s3", s3Store, ["blocks", "markdown"], "all");
mirrorSuite("blob", blobStore, ["blocks"], "sample");
