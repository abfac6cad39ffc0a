/**
 * The operator dashboard (/sync) in a real headless Chromium (playwright-core
 * + Debian's chromium) against `next start`, with the QStash test server
 * carrying the runs, the Notion emulator and a real redis-server
 * (tests/support/qstash-stack.ts). Nothing is mocked: the browser signs in,
 * clicks the buttons and reads the live-updated DOM.
 */
import { copyFileSync, mkdirSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signManualLink } from "../lib/auth/manual-link";
import {
  SESSION_COOKIE,
  SESSION_TTL_MS,
  createSession,
  csrfToken,
  checkCsrf,
  readSession,
} from "../lib/dashboard/session";
import { formatUploads } from "../lib/dashboard/format";
import { notionUrl } from "../lib/operator/status";
import { buildIfNeeded } from "../scripts/lib/next-app";
import { launchChromium, trafficRecorder, type TrafficRecorder } from "./support/browser";
import { E2E_SECRET, type QStashStack, startQStashStack } from "./support/qstash-stack";

const ROOT = path.resolve(import.meta.dirname, "..");
const ARTIFACTS = path.join(ROOT, "tests", "artifacts");
const SECTION_NAMES = ["pages", "posts", "children"] as const;
/** How long a run of the small workspace may take, QStash-carried (about 5 s here). */
const RUN_TIMEOUT_MS = 45_000;

let stack: QStashStack;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let traffic: TrafficRecorder;
let base = "";
const timings: Record<string, number> = {};

async function timed<T>(name: string, run: () => Promise<T>): Promise<T> {
  const started = Date.now();
  try {
    return await run();
  } finally {
    timings[name] = Date.now() - started;
  }
}

/** Clicks a submit button and waits for the page its form (and the redirect after it) leads to. */
async function submit(target: Page, selector: string, url: RegExp): Promise<void> {
  await Promise.all([target.waitForURL(url, { waitUntil: "load" }), target.click(selector)]);
}

async function flashText(): Promise<string> {
  return (await page.textContent("[data-testid=flash]"))?.trim() ?? "";
}

/** Every progress bar's state, read from the DOM as it stands. */
function bars(target: Page = page) {
  return target.evaluate(
    (sections) =>
      Object.fromEntries(
        sections.map((s) => {
          const el = document.querySelector(`[data-testid=progress-${s}]`);
          return [
            s,
            {
              now: el?.getAttribute("aria-valuenow") ?? null,
              status: el?.getAttribute("data-status") ?? null,
              runId: el?.getAttribute("data-run-id") ?? null,
              text: el?.getAttribute("aria-valuetext") ?? null,
            },
          ];
        }),
      ),
    [...SECTION_NAMES],
  );
}

/** Set before a wait, checked after: the page was updated in place, never reloaded. */
async function markPage(): Promise<void> {
  await page.evaluate(() => void ((window as unknown as { __noReload: string }).__noReload = "same document"));
}
async function expectSameDocument(): Promise<void> {
  expect(
    await page.evaluate(() => (window as unknown as { __noReload?: string }).__noReload),
    "the page was reloaded",
  ).toBe("same document");
}

async function csrfOfPage(): Promise<string> {
  return (await page.getAttribute("input[name=csrf]", "value"))!;
}

describe("the dashboard in a real browser", () => {
  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    await timed("build", async () => buildIfNeeded());
    await timed("stack", async () => {
      stack = await startQStashStack({
        workspace: { pages: 10, posts: 6, hugePages: 0, childDepth: 1, trashedRows: 0, unsharedChildPages: 0 },
      });
      browser = await launchChromium();
    });
    base = stack.app.url;
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    traffic = trafficRecorder();
    context.on("page", (p) => traffic.record(p));
    page = await context.newPage();
  });

  afterAll(async () => {
    console.log("[dashboard.browser] timings ms", JSON.stringify(timings));
    await browser?.close();
    await stack?.close();
  });

  it("1. signs in with the secret: a wrong one gets the form again with 401, the right one a strict, HTTP-only session cookie", async () => {
    await timed("signin", async () => {
      const first = await page.goto(`${base}/sync`);
      expect(page.url()).toBe(`${base}/sync/signin`);
      expect(first?.status()).toBe(200);
      expect(await page.locator("input[name=secret]").getAttribute("type")).toBe("password");

      const wrong = "not-the-secret-but-long-enough";
      await page.fill("input[name=secret]", wrong);
      const [refused] = await Promise.all([
        page.waitForResponse((r) => r.url() === `${base}/sync/signin` && r.request().method() === "POST"),
        page.click("button[type=submit]"),
      ]);
      expect(refused.status()).toBe(401);
      await page.waitForLoadState("load");
      expect(await page.textContent("[role=alert]")).toContain("Wrong secret");
      expect(await page.content(), "the wrong secret is echoed back").not.toContain(wrong);
      expect(await page.inputValue("input[name=secret]")).toBe("");
      expect((await context.cookies()).find((c) => c.name === SESSION_COOKIE)).toBeUndefined();

      await page.fill("input[name=secret]", E2E_SECRET);
      const [accepted] = await Promise.all([
        page.waitForResponse((r) => r.url() === `${base}/sync/signin` && r.request().method() === "POST"),
        page.waitForURL(`${base}/sync`, { waitUntil: "load" }),
        page.click("button[type=submit]"),
      ]);
      expect(accepted.status()).toBe(303);
      const setCookie = (await accepted.headerValue("set-cookie")) ?? "";
      expect(setCookie).toMatch(new RegExp(`^${SESSION_COOKIE}=`));
      expect(setCookie).toMatch(/; HttpOnly(;|$)/);
      expect(setCookie).toMatch(/; SameSite=Strict(;|$)/);
      expect(setCookie).toMatch(/; Path=\/sync(;|$)/);
      expect(setCookie, "Secure over plain http would drop the cookie").not.toMatch(/Secure/);
      expect(setCookie).not.toContain(E2E_SECRET);

      const cookie = (await context.cookies()).find((c) => c.name === SESSION_COOKIE)!;
      expect(cookie).toMatchObject({ httpOnly: true, sameSite: "Strict", path: "/sync", secure: false });
      const expiresInMs = cookie.expires * 1000 - Date.now();
      expect(expiresInMs).toBeGreaterThan(SESSION_TTL_MS - 60_000);
      expect(expiresInMs).toBeLessThanOrEqual(SESSION_TTL_MS + 1000);
      await page.waitForSelector("[data-testid=live][data-state=live]");
      expect(await page.textContent("h1")).toBe("notion-kv-sync");
    });
  });

  it("1b. over https (a proxy saying so) the cookie is also Secure; the polling endpoint wants a session", async () => {
    const url = new URL(base);
    const res = await fetch(`${base}/sync/signin`, {
      method: "POST",
      redirect: "manual",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        origin: `https://${url.host}`,
        "x-forwarded-proto": "https",
      },
      body: new URLSearchParams({ secret: E2E_SECRET }),
    });
    expect(res.status).toBe(303);
    expect(res.headers.get("set-cookie")).toMatch(/; HttpOnly; SameSite=Strict; Secure$/);
    const anonymous = await fetch(`${base}/sync/status`);
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { error: { code: string } }).error.code).toBe("unauthorized");
  });

  it("2. starts a full run and watches the bars of pages, posts and children reach 100 % in place", async () => {
    await timed("full run", async () => {
      await submit(page, "button[data-action=run]", /\/sync\?r=/);
      expect(await flashText()).toMatch(/^Full run started through QStash \(run \S+\): pages started, posts started/);
      await markPage();
      const before = await bars();
      // Children starts once both databases are done: right after the click it has no run yet.
      expect(before.children.status).not.toBe("done");
      await page.waitForFunction(
        (sections) =>
          sections.every((s) => {
            const el = document.querySelector(`[data-testid=progress-${s}]`);
            return el?.getAttribute("aria-valuenow") === "100" && el.getAttribute("data-status") === "done";
          }),
        [...SECTION_NAMES],
        { timeout: RUN_TIMEOUT_MS, polling: 100 },
      );
      await expectSameDocument();
      const after = await bars();
      for (const s of SECTION_NAMES) {
        expect(after[s].text, s).toMatch(/^(\d+) of \1 pages, 100 %$/);
        expect(await page.textContent(`[data-testid=percent-${s}]`)).toBe("100 %");
        expect(await page.textContent(`[data-testid=badge-${s}]`)).toBe("done");
      }
      await stack.qstash.idle(15_000);
      expect(await stack.diffKv()).toEqual([]);
      for (const s of SECTION_NAMES) expect((await stack.cursor(s))?.status).toBe("done");
      // What the run uploaded to a files store (none here: FILES_MIRROR is off), in the facts and the history.
      await page.waitForSelector(`[data-testid=runs-pages] tbody tr:first-child [data-uploads]`);
      for (const s of SECTION_NAMES) {
        const counts = (await stack.cursor(s))!.counts;
        expect(await page.textContent(`[data-testid=uploads-${s}]`)).toBe(formatUploads(counts));
        expect(await page.textContent(`[data-testid=runs-${s}] tbody tr:first-child [data-uploads]`)).toBe(
          formatUploads(counts),
        );
      }
    });
  });

  it("3. a poison page in a forced run (through its confirmation) is listed as failed with its Notion link, and the run is partial", async () => {
    await timed("poison", async () => {
      const poison = stack.workspace.visibleRows(stack.workspace.pagesDatabaseId)[0].id;
      stack.notion.injectFault({ route: "blocks.children.list", status: 500, matchId: poison, probability: 1 });
      const previousRun = (await stack.cursor("pages"))!.runId;

      await submit(page, "button[data-action=force]", /\/sync\/confirm\?action=force$/);
      expect(await page.textContent("[data-testid=confirm] h1")).toBe("Force a full run?");
      await submit(page, "button[data-action=confirm]", /\/sync\?r=/);
      expect(await flashText()).toMatch(/^Forced run started through QStash/);
      await markPage();

      const link = `[data-testid=failed-pages] tr[data-page-id="${poison}"] a`;
      await page.waitForSelector(link, { timeout: RUN_TIMEOUT_MS });
      expect(await page.getAttribute(link, "href")).toBe(notionUrl(poison));
      expect(await page.getAttribute(link, "target")).toBe("_blank");
      expect(await page.textContent(`[data-testid=failed-pages] tr[data-page-id="${poison}"] td.wrap`)).toMatch(/\S/);
      await page.waitForFunction(
        () => document.querySelector("[data-testid=badge-pages]")?.textContent === "partial",
        undefined,
        { timeout: RUN_TIMEOUT_MS },
      );
      const pagesBar = (await bars()).pages;
      expect(pagesBar.runId).not.toBe(previousRun);
      expect(pagesBar.status).toBe("partial");
      expect(await page.getAttribute(`[data-testid=runs-pages] tbody tr:first-child`, "data-status")).toBe("partial");
      await expectSameDocument();
      const cursor = (await stack.cursor("pages"))!;
      expect(cursor.status).toBe("partial");
      expect(cursor.counts.failed).toBe(1);
      expect(await stack.kv.smembers(stack.keys.failedPages("pages"))).toEqual([poison]);
      await stack.qstash.idle(15_000);
    });
  });

  it("4. retries the failed page (fault removed): it shows as queued for the next run", async () => {
    const poison = stack.workspace.visibleRows(stack.workspace.pagesDatabaseId)[0].id;
    stack.notion.clearFaults();
    // The engine queues a given-up page for the next run by itself; take it out so the button is what puts it back.
    expect(await stack.kv.smismember(stack.keys.refetch(), [poison])).toEqual([true]);
    await stack.kv.atomic([{ op: "srem", key: stack.keys.refetch(), members: [poison] }]);
    await page.waitForFunction(
      (id) =>
        document.querySelector(`[data-testid=failed-pages] tr[data-page-id="${id}"] [data-testid=queued]`)
          ?.textContent === "—",
      poison,
    );

    await submit(page, "[data-section=pages] button[data-action=retry]", /\/sync\?r=/);
    expect(await flashText()).toBe("pages: 1 given-up page queued for the next run.");
    expect(await page.textContent(`[data-testid=failed-pages] tr[data-page-id="${poison}"] [data-testid=queued]`)).toBe(
      "queued",
    );
    expect(await stack.kv.smismember(stack.keys.refetch(), [poison])).toEqual([true]);
    const actionRow = "[data-testid=actions-pages] tbody tr:first-child";
    expect(await page.getAttribute(actionRow, "data-action-name")).toBe("retry-failed");
    expect(await page.textContent(`${actionRow} td:nth-child(3)`)).toBe("dashboard");
  });

  it("4b. works without JavaScript: the server-rendered page has the bars, reloads itself, and its forms act", async () => {
    const plain = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1280, height: 900 } });
    try {
      await plain.addCookies((await context.cookies()).filter((c) => c.name === SESSION_COOKIE));
      const p = await plain.newPage();
      traffic.record(p);
      await p.goto(`${base}/sync`);
      expect(await p.getAttribute("[data-testid=progress-posts]", "aria-valuenow")).toBe("100");
      expect(await p.getAttribute("[data-testid=live]", "data-state")).toBe("paused");
      expect(await p.locator("a[href='/sync']", { hasText: "Refresh" }).count()).toBeGreaterThan(0);
      expect(await p.content()).toMatch(/<noscript><meta http-equiv="refresh" content="10; url=\/sync"/);
      await submit(p, "[data-section=pages] button[data-action=retry]", /\/sync\?r=/);
      expect(await p.textContent("[data-testid=flash]")).toBe("pages: 1 given-up page queued for the next run.");
      // Reloading (or the Refresh link) drops the flash message.
      await p.goto(`${base}/sync`);
      expect(await p.locator("[data-testid=flash]").count()).toBe(0);
    } finally {
      await plain.close();
    }
  });

  it("5. screenshots: desktop, and a 375 px phone where sections stack and only tables scroll sideways", async () => {
    await page.goto(`${base}/sync`);
    await page.waitForSelector("[data-testid=live][data-state=live]");
    const desktop = path.join(ARTIFACTS, "dashboard-desktop.png");
    await page.screenshot({ path: desktop, fullPage: true });
    copyFileSync(desktop, path.join(ROOT, "docs", "dashboard.png"));
    const cards = await page.$$eval(".grid > .card", (els) =>
      els.map((e) => e.getBoundingClientRect().toJSON() as DOMRect),
    );
    expect(cards.length).toBe(3);
    expect(new Set(cards.map((c) => Math.round(c.y))).size, "desktop: the three sections side by side").toBe(1);

    const phone = await context.newPage();
    await phone.setViewportSize({ width: 375, height: 812 });
    await phone.goto(`${base}/sync`);
    await phone.waitForSelector("[data-testid=live][data-state=live]");
    const layout = await phone.evaluate(() => ({
      pageWidth: document.documentElement.scrollWidth,
      cards: [...document.querySelectorAll(".grid > .card")].map((e) => e.getBoundingClientRect().toJSON() as DOMRect),
      tables: [...document.querySelectorAll(".scroll")].map((e) => ({
        client: e.clientWidth,
        scroll: e.scrollWidth,
        overflow: getComputedStyle(e).overflowX,
      })),
    }));
    expect(layout.pageWidth, "the page itself does not scroll sideways").toBeLessThanOrEqual(375);
    for (let i = 1; i < layout.cards.length; i++) {
      expect(layout.cards[i].x).toBe(layout.cards[0].x);
      expect(layout.cards[i].y).toBeGreaterThan(layout.cards[i - 1].y + layout.cards[i - 1].height - 1);
    }
    for (const c of layout.cards) expect(c.right).toBeLessThanOrEqual(375);
    expect(
      layout.tables.some((t) => t.scroll > t.client),
      "the run history is wider than a phone",
    ).toBe(true);
    for (const t of layout.tables) expect(t.overflow).toBe("auto");
    await phone.screenshot({ path: path.join(ARTIFACTS, "dashboard-phone.png"), fullPage: true });
    await phone.close();
  });

  it("6. resets a cursor only through its confirmation page; cancelling changes nothing", async () => {
    const pagesCursor = await stack.cursor("pages");
    await submit(
      page,
      "[data-section=pages] button[data-action=reset]",
      /\/sync\/confirm\?action=reset&section=pages$/,
    );
    await submit(page, "[data-action=cancel]", /\/sync$/);
    expect(await stack.cursor("pages")).toEqual(pagesCursor);

    const postsRun = (await stack.cursor("posts"))!.runId;
    await submit(
      page,
      "[data-section=posts] button[data-action=reset]",
      /\/sync\/confirm\?action=reset&section=posts$/,
    );
    expect(await page.textContent("[data-testid=confirm] p")).toContain("Clears the posts cursor");
    await submit(page, "button[data-action=confirm]", /\/sync\?r=/);
    expect(await flashText()).toContain(`posts reset: cleared the cursor of run ${postsRun}`);
    expect(await stack.cursor("posts")).toBeNull();
    expect(await page.textContent("[data-testid=badge-posts]")).toBe("no run");
    expect((await bars()).posts.status).toBe("none");
    const actionRow = "[data-testid=actions-posts] tbody tr:first-child";
    expect(await page.getAttribute(actionRow, "data-action-name")).toBe("reset");
    expect(await page.textContent(`${actionRow} td:nth-child(3)`)).toBe("dashboard");
    // The published index stays.
    expect(await page.textContent("[data-section=posts] dl")).toContain("Indexed6");
  });

  it("7. CSRF: no token, a wrong token, a foreign Origin or cross-site fetch metadata are refused with 403 and change nothing", async () => {
    await stack.qstash.idle(15_000);
    const before = await stack.snapshot();
    const csrf = await csrfOfPage();
    const other = csrfToken(E2E_SECRET, createSession(E2E_SECRET).session);
    const form = (fields: Record<string, string>) => ({ action: "reset", section: "pages", confirmed: "1", ...fields });
    const attempts: Array<[string, Record<string, string>, Record<string, string>]> = [
      ["no token", form({}), { origin: base }],
      ["empty token", form({ csrf: "" }), { origin: base }],
      ["another session's token", form({ csrf: other }), { origin: base }],
      ["right token, foreign Origin", form({ csrf }), { origin: "https://evil.example" }],
      ["right token, Origin null", form({ csrf }), { origin: "null" }],
      ["right token, cross-site fetch", form({ csrf }), { "sec-fetch-site": "cross-site" }],
      ["right token, no Origin nor Sec-Fetch-Site", form({ csrf }), {}],
    ];
    for (const [name, fields, headers] of attempts) {
      // The context's own request client: it sends the session cookie, like a forged form would.
      const res = await context.request.post(`${base}/sync/action`, { form: fields, headers, maxRedirects: 0 });
      expect(res.status(), name).toBe(403);
      const body = (await res.json()) as { ok: boolean; error: { code: string } };
      expect(body.ok, name).toBe(false);
      expect(["csrf", "cross_origin"], name).toContain(body.error.code);
    }
    // Signing out needs the token too.
    expect(
      (
        await context.request.post(`${base}/sync/signout`, { form: {}, headers: { origin: base }, maxRedirects: 0 })
      ).status(),
    ).toBe(403);

    // A real page on another origin of the same site (another port: SameSite lets the cookie go)
    // that knows even the right token: refused by the Origin check.
    const attacker: Server = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/html" });
      res.end(
        `<!DOCTYPE html><form id="f" method="post" action="${base}/sync/action"><input name="csrf" value="${csrf}"><input name="action" value="reset"><input name="section" value="pages"><input name="confirmed" value="1"></form><script>document.getElementById("f").submit()</script>`,
      );
    });
    await new Promise<void>((resolve) => attacker.listen(0, "127.0.0.1", () => resolve()));
    try {
      const evil = await context.newPage();
      const [answer] = await Promise.all([
        evil.waitForResponse((r) => r.url() === `${base}/sync/action`),
        evil.goto(`http://127.0.0.1:${(attacker.address() as AddressInfo).port}/`),
      ]);
      expect(answer.status()).toBe(403);
      await evil.waitForLoadState("load");
      expect(await evil.textContent("body")).toContain("Nothing was changed");
      await evil.close();
    } finally {
      await new Promise<void>((resolve) => attacker.close(() => resolve()));
    }
    expect(await stack.snapshot()).toEqual(before);
    expect(await stack.cursor("pages")).not.toBeNull();

    // And the same form from the dashboard itself goes through (the token and Origin were all that was missing).
    const ok = await context.request.post(`${base}/sync/action`, {
      form: form({ csrf, action: "retry" }),
      headers: { origin: base },
      maxRedirects: 0,
    });
    expect(ok.status()).toBe(303);
    expect(ok.headers().location).toMatch(/^\/sync\?r=/);
  });

  it("8. no secret reached the browser: not in any page, script or answer it loaded, nor in any URL", async () => {
    await traffic.settle();
    const secrets: Record<string, string> = {
      CRON_SECRET: E2E_SECRET,
      NOTION_API_KEY: stack.env.NOTION_API_KEY,
      QSTASH_TOKEN: stack.env.QSTASH_TOKEN,
      QSTASH_CURRENT_SIGNING_KEY: stack.env.QSTASH_CURRENT_SIGNING_KEY,
      QSTASH_NEXT_SIGNING_KEY: stack.env.QSTASH_NEXT_SIGNING_KEY,
    };
    const urls = traffic.urls();
    const bodies = traffic.bodies();
    const documents = bodies.filter((b) => b.type === "document" && new URL(b.url).origin === base);
    expect(urls.length).toBeGreaterThan(20);
    expect(new Set(documents.map((d) => new URL(d.url).pathname))).toEqual(
      new Set(["/sync", "/sync/signin", "/sync/confirm", "/sync/action"]),
    );
    expect(bodies.filter((b) => b.url === `${base}/sync/status`).length, "live updates polled").toBeGreaterThan(5);
    const current = await page.content();
    for (const [name, value] of Object.entries(secrets)) {
      expect(value.length, name).toBeGreaterThan(8);
      for (const url of urls) expect(decodeURIComponent(url).includes(value), `${name} in ${url}`).toBe(false);
      for (const b of bodies) expect(b.text.includes(value), `${name} in ${b.type} ${b.url}`).toBe(false);
      expect(current.includes(value), `${name} in the current page`).toBe(false);
    }
  });

  it("9. signs out: the cookie is gone and the dashboard asks for the secret again", async () => {
    await submit(page, "button[data-action=signout]", /\/sync\/signin\?out=1$/);
    expect(await page.textContent("[role=status]")).toBe("Signed out.");
    expect((await context.cookies()).find((c) => c.name === SESSION_COOKIE)).toBeUndefined();
    await page.goto(`${base}/sync`);
    expect(page.url()).toBe(`${base}/sync/signin`);
    const status = await context.request.get(`${base}/sync/status`);
    expect(status.status()).toBe(401);
  });
});

describe("dashboard session tokens", () => {
  it("expire after 8 h, stop working when CRON_SECRET changes, and are neither manual links nor CSRF tokens of another session", () => {
    const now = Date.now();
    const { token, session } = createSession("secret-one-0123456789", now);
    expect(readSession("secret-one-0123456789", token, now + 1000)).toEqual(session);
    expect(readSession("secret-one-0123456789", token, now + SESSION_TTL_MS + 1)).toBeNull();
    expect(
      readSession("secret-two-0123456789", token, now + 1000),
      "a changed CRON_SECRET ends every session",
    ).toBeNull();
    expect(readSession("secret-one-0123456789", `${token.slice(0, -2)}AA`, now)).toBeNull();
    expect(readSession(null, token, now)).toBeNull();
    // A signed manual link (keyed with CRON_SECRET itself) is not a session, and the session's key is not CRON_SECRET.
    const link = signManualLink("trigger", { force: false, secret: "secret-one-0123456789", now });
    expect(readSession("secret-one-0123456789", link.token, now)).toBeNull();
    expect(token).not.toContain("secret-one");
    const csrf = csrfToken("secret-one-0123456789", session);
    expect(checkCsrf("secret-one-0123456789", session, csrf)).toBe(true);
    expect(checkCsrf("secret-one-0123456789", createSession("secret-one-0123456789", now).session, csrf)).toBe(false);
    expect(checkCsrf("secret-two-0123456789", session, csrf)).toBe(false);
    expect(checkCsrf("secret-one-0123456789", session, null)).toBe(false);
  });
});
