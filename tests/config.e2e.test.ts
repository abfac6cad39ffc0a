/**
 * A workspace declared in notion-kv-sync.config.ts, end to end (issue 24): the app built with
 * NKS_CONFIG_FILE=tests/fixtures/e2e-sections.config.ts (the example: a filtered blog in
 * markdown, docs with children, an index-only authors section; plus `news`, scheduled by
 * "Publish at"), over `next start` with the QStash test server, the Notion emulator holding those
 * databases and a real redis-server. One build and one stack for the whole file. The posts-only
 * variant (no pages database, env only) is the EDGE part's suite.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildIfNeeded } from "../scripts/lib/next-app";
import type { PropertyInput } from "../scripts/emulator/notion/databases";
import type { NotionEmulator } from "../scripts/emulator/notion/server";
import { parseTypegenArgs, runTypegen } from "../scripts/typegen";
import { E2E_SECRET, type QStashStack, sectionDeliveries, startQStashStack, waitFor } from "./support/qstash-stack";

const CONFIG_FILE = "tests/fixtures/e2e-sections.config.ts";
const RUN_TIMEOUT_MS = 60_000;
/**
 * How far ahead the scheduled post is published (longer than the news run that must see it in the
 * future, which takes a few seconds), and how late after that it may appear.
 */
const SCHEDULE_AHEAD_MS = 30_000;
const APPEAR_WITHIN_MS = 60_000;

// The databases, made through the emulator's control API in process (what POST /__emulator/databases,
// /__emulator/rows, /__emulator/update-row and /__emulator/add-child call; scripts/emulator/notion/databases.ts).
type Values = Record<string, unknown>;
interface CreatedDatabase {
  databaseId: string;
  dataSourceId: string;
}

function createDatabase(
  notion: NotionEmulator,
  title: string,
  properties: Record<string, PropertyInput>,
): CreatedDatabase {
  const db = notion.workspace.createDatabase({ title, properties });
  return { databaseId: db.id, dataSourceId: db.data_sources[0].id };
}

/** A row with a paragraph of content and, when asked, a child page. */
function createRow(notion: NotionEmulator, db: CreatedDatabase, values: Values, childPage?: string): string {
  const page = notion.workspace.addRow(db.databaseId, { values, paragraphs: ["Some content."] });
  if (childPage) notion.workspace.addChildPage(page.id, childPage);
  return page.id;
}

const updateRow = (notion: NotionEmulator, pageId: string, values: Values) =>
  notion.workspace.updateRow(pageId, values);

const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000).toISOString();

const BLOG_SCHEMA: Record<string, PropertyInput> = {
  Name: "title",
  Slug: "rich_text",
  Published: "checkbox",
  "Publish at": "date",
  Tags: { type: "multi_select", options: ["notion", "kv"] },
};

interface Post {
  id: string;
  slug: string;
}

describe("a configured workspace: blog, docs, authors and scheduled news (issue 24)", () => {
  let stack: QStashStack;
  const ids: Record<string, CreatedDatabase> = {};
  const blog: { published: Post[]; drafts: Post[] } = { published: [], drafts: [] };
  const news: { live: Post[]; draft: Post[] } = { live: [], draft: [] };
  let scheduled: Post & { at: number; runDone: number; hiddenAtFirst: boolean };

  async function cursorDone(section: string, since: number) {
    return waitFor(
      `${section} to finish a run started after ${new Date(since).toISOString()}`,
      async () => {
        const c = await stack.cursor(section);
        if (c?.status === "failed") throw new Error(`${section} failed: ${JSON.stringify(c.error)}`);
        return c && c.status === "done" && Date.parse(c.startedAt) >= since - 1000 ? c : null;
      },
      RUN_TIMEOUT_MS,
      150,
    );
  }

  async function indexSlugs(section: string): Promise<string[]> {
    const res = await stack.get(`/api/content/${section}?limit=100`);
    expect(res.status, JSON.stringify(res.json)).toBe(200);
    return (res.json.entries as Array<{ slug: string }>).map((e) => e.slug).sort();
  }

  async function callSection(section: string): Promise<void> {
    const res = await stack.get(`/api/sync/${section}?secret=${E2E_SECRET}`);
    expect([200, 202], JSON.stringify(res.json)).toContain(res.status);
  }

  beforeAll(async () => {
    buildIfNeeded(() => {}, { NKS_CONFIG_FILE: CONFIG_FILE });
    stack = await startQStashStack({
      workspace: { pages: 2, posts: 2, hugePages: 0, childDepth: 1 },
      // Real waits: the scheduled post's delay is honoured as QStash would, not scaled down.
      qstash: { delayScale: 1 },
      // Every run lists in full: an unpublished post leaves at the next run (tests/sync.incremental.test.ts: when it does otherwise).
      env: { NKS_CONFIG_FILE: CONFIG_FILE, CONTENT_API: "public", SYNC_CHILD_DEPTH: "2", SYNC_FULL_LIST_HOURS: "0" },
      prepare: async (notion) => {
        ids.blog = createDatabase(notion, "Blog", BLOG_SCHEMA);
        ids.news = createDatabase(notion, "News", BLOG_SCHEMA);
        ids.docs = createDatabase(notion, "Docs", { Name: "title", Order: "number", Status: "status" });
        ids.authors = createDatabase(notion, "Authors", {
          Name: "title",
          Bio: "rich_text",
          Avatar: "files",
          Email: "email",
        });
        for (const [slug, live] of [
          ["first", true],
          ["second", true],
          ["third", true],
          ["draft-one", false],
          ["draft-two", false],
        ] as const) {
          const id = createRow(notion, ids.blog, { Name: `Post ${slug}`, Slug: slug, Published: live });
          (live ? blog.published : blog.drafts).push({ id, slug });
        }
        for (const [slug, live] of [
          ["out-now", true],
          ["not-yet-approved", false],
        ] as const) {
          const id = createRow(notion, ids.news, {
            Name: `News ${slug}`,
            Slug: slug,
            Published: live,
            "Publish at": minutesAgo(10),
          });
          (live ? news.live : news.draft).push({ id, slug });
        }
        createRow(notion, ids.docs, { Name: "Guide", Order: 1 }, "Guide details");
        createRow(notion, ids.docs, { Name: "Reference", Order: 2 }, "Reference details");
        for (const name of ["Ada", "Grace"])
          createRow(notion, ids.authors, {
            Name: name,
            Bio: `${name} writes.`,
            Avatar: [`${name.toLowerCase()}.png`],
            Email: `${name.toLowerCase()}@example.com`,
          });
        return {
          NOTION_BLOG_DB: ids.blog.databaseId,
          NOTION_NEWS_DB: ids.news.databaseId,
          NOTION_DOCS_DB: ids.docs.databaseId,
          NOTION_AUTHORS_DB: ids.authors.databaseId,
        };
      },
    });

    const since = Date.now();
    const trigger = await stack.get(`/api/sync/trigger?secret=${E2E_SECRET}`);
    expect(trigger.status, JSON.stringify(trigger.json)).toBe(200);
    for (const section of ["blog", "docs", "authors", "news", "children"]) await cursorDone(section, since);
    await stack.qstash.idle(RUN_TIMEOUT_MS);

    // The scheduled post: published, "Publish at" half a minute ahead; one run of news sees it in the future.
    const at = Math.ceil((Date.now() + SCHEDULE_AHEAD_MS) / 1000) * 1000;
    const id = createRow(stack.notion, ids.news, {
      Name: "News scheduled",
      Slug: "scheduled",
      Published: true,
      "Publish at": new Date(at).toISOString(),
    });
    const runSince = Date.now();
    await callSection("news");
    await cursorDone("news", runSince);
    scheduled = {
      id,
      slug: "scheduled",
      at,
      runDone: Date.now(),
      hiddenAtFirst: !(await indexSlugs("news")).includes("scheduled"),
    };
  }, 300_000);

  afterAll(async () => stack?.close());

  it("each section's index holds only the rows its filter publishes; authors keeps only its listed properties", async () => {
    expect(await indexSlugs("blog")).toEqual(blog.published.map((p) => p.slug).sort());
    expect(await indexSlugs("news")).toEqual(["out-now"]);
    expect(await indexSlugs("docs")).toHaveLength(2);
    expect((await indexSlugs("children")).length).toBe(2);
    const authors = await stack.get(`/api/content/authors?limit=100`);
    const entries = authors.json.entries as Array<{ properties: Record<string, unknown> }>;
    expect(entries).toHaveLength(2);
    for (const entry of entries) expect(Object.keys(entry.properties).sort()).toEqual(["Avatar", "Bio", "Name"]);
  });

  it("drafts are in neither KV nor the content API; an index-only section serves no bundle", async () => {
    const snapshot = await stack.snapshot();
    const everything = Object.entries(snapshot)
      .map(([k, v]) => `${k} ${v}`)
      .join("\n");
    for (const draft of [...blog.drafts, ...news.draft]) {
      expect(everything.includes(draft.id) || everything.includes(draft.id.replace(/-/g, "")), draft.slug).toBe(false);
      expect(everything.includes(`"${draft.slug}"`), draft.slug).toBe(false);
    }
    for (const draft of blog.drafts) expect((await stack.get(`/api/content/blog/${draft.slug}`)).status).toBe(404);
    expect((await stack.get(`/api/content/news/not-yet-approved`)).status).toBe(404);
    for (const post of blog.published) {
      const res = await stack.get(`/api/content/blog/${post.slug}`);
      expect(res.status).toBe(200);
      expect((res.json.bundle as { content: string }).content).toBe("markdown");
    }
    const authorSlug = ((await stack.get(`/api/content/authors`)).json.entries as Array<{ slug: string }>)[0].slug;
    expect((await stack.get(`/api/content/authors/${authorSlug}`)).status).toBe(404);
  });

  it("unpublishing a post removes it at the next run, republishing brings it back", async () => {
    const victim = blog.published[0];
    updateRow(stack.notion, victim.id, { Published: false });
    let since = Date.now();
    await callSection("blog");
    await cursorDone("blog", since);
    expect(await indexSlugs("blog")).not.toContain(victim.slug);
    expect((await stack.get(`/api/content/blog/${victim.slug}`)).status).toBe(404);
    const keys = Object.keys(await stack.snapshot());
    expect(keys.filter((k) => k.endsWith(`:page:blog:${victim.slug}`))).toEqual([]);

    updateRow(stack.notion, victim.id, { Published: true });
    since = Date.now();
    await callSection("blog");
    await cursorDone("blog", since);
    expect(await indexSlugs("blog")).toContain(victim.slug);
    expect((await stack.get(`/api/content/blog/${victim.slug}`)).status).toBe(200);
  });

  it("typegen over the configured data sources writes what tests/types compiles against", async () => {
    // The config file reads its databases from process.env when typegen imports it.
    for (const name of ["NOTION_BLOG_DB", "NOTION_DOCS_DB", "NOTION_AUTHORS_DB", "NOTION_NEWS_DB"])
      process.env[name] = stack.env[name];
    const outcome = await runTypegen(
      parseTypegenArgs(["--out", "tests/types/notion-kv-sync-env.d.ts", "--check"]),
      stack.env,
    );
    expect(outcome.lines.join("\n"), outcome.text).toContain("is up to date");
    expect(outcome.code).toBe(0);
  });

  it(
    "a post scheduled half a minute ahead appears within a minute of its time, carried only by the run the sync scheduled",
    async () => {
      expect(scheduled.hiddenAtFirst, "the run before its time must not publish it").toBe(true);
      const appearedAt = await waitFor(
        "the scheduled post in the news index",
        async () => ((await indexSlugs("news")).includes("scheduled") ? Date.now() : null),
        scheduled.at + APPEAR_WITHIN_MS - Date.now(),
        500,
      );
      expect(appearedAt - scheduled.at).toBeLessThanOrEqual(APPEAR_WITHIN_MS);
      expect((await stack.get(`/api/content/news/scheduled`)).status).toBe(200);

      // The test calls no sync route after the run that saw the post in the future (its reads go to the
      // content API). What reached news since, through the tap, is QStash alone (no self-chain link),
      // delivering a message that run published with a delay reaching the post's time.
      const after = stack.tap.records().filter((r) => r.startedAt > scheduled.runDone);
      const news = after.filter((r) => r.path === "/api/sync/news");
      expect(news.filter((r) => r.headers["upstash-signature"] === undefined)).toEqual([]);
      const delivered = new Set(sectionDeliveries(after, "news").map((r) => r.headers["upstash-message-id"]));
      const scheduledMessages = stack.qstash
        .messages()
        .filter((m) => delivered.has(m.messageId) && m.createdAt <= scheduled.runDone && m.requestedDelayMs > 0);
      expect(scheduledMessages.length, JSON.stringify(stack.qstash.messages().slice(-5))).toBeGreaterThan(0);
      for (const m of scheduledMessages)
        expect(m.createdAt + m.requestedDelayMs).toBeLessThanOrEqual(scheduled.at + APPEAR_WITHIN_MS);
      const ran = sectionDeliveries(after, "news").filter(
        (r) => scheduledMessages.some((m) => m.messageId === r.headers["upstash-message-id"]) && r.status === 200,
      );
      expect(
        ran.some((r) => r.json?.stale !== true),
        "a scheduled delivery ran",
      ).toBe(true);
    },
    SCHEDULE_AHEAD_MS + APPEAR_WITHIN_MS + 30_000,
  );
});
