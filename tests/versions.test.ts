/**
 * Every supported Notion-Version (NOTION_VERSION), over a real redis-server and
 * the Notion emulator over HTTP, the route handlers in process: a core sync
 * (full, no change, an edit), AI meeting notes blocks, markdown mode, a
 * webhook-driven targeted update, children, and the emulator's answers
 * against the recordings of that version where there are any. On 2026-12-01,
 * every property the index keeps is in KV (formulas, rollups and relations
 * read per changed page), and every request carries the version.
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readLarge } from "../lib/kv/large-value";
import { simplifyProperties } from "../lib/mirror/properties";
import { readIndexPage } from "../lib/mirror/section-index";
import type { PageBundle } from "../lib/mirror/shapes";
import { NOTION_VERSIONS, type NotionVersion } from "../lib/notion/versions";
import type { LedgerEntry } from "../lib/sync/ledger";
import { addDirtyOps } from "../lib/webhooks/dirty";
import { webhookKeys } from "../lib/webhooks/keys";
import { runDirtyInvocation } from "../lib/webhooks/run";
import { pageMarkdown, unsignedMarkdown } from "../scripts/emulator/notion/markdown";
import { setRelation, withCompleteRelations } from "../scripts/emulator/notion/property-items";
import { compareKvWithWorkspace } from "../scripts/emulator/notion/verify";
import { forVersion } from "../scripts/emulator/notion/versions";
import { createDeadline } from "../lib/core/deadline";
import { createPacer } from "../lib/notion/pacer";
import { createNotionSource } from "../lib/notion/source";
import { generateWorkspace } from "../scripts/emulator/notion/generate";
import { type NotionEmulator, startNotionEmulator } from "../scripts/emulator/notion/server";
import { type Stack, invoke, startStack, syncAll, syncUntilDone } from "./support/harness";

const CORPUS = path.resolve(__dirname, "fixtures/real-notion");
const recording = (name: string) => JSON.parse(fs.readFileSync(path.join(CORPUS, name), "utf8")) as object;
const keysOf = (value: object) => Object.keys(value).filter((k) => k !== "request_id");

/**
 * Recorded answers by version: the emulator's answer to the same request has the same keys in the same
 * order, but for `newer` keys Notion added after that recording (the 2026-03-11 one shows them).
 */
const RECORDED: Partial<Record<NotionVersion, { page: string; database: string; newer: string[] }>> = {
  "2025-09-03": {
    page: "page-child-of-page-2025-09-03.json",
    database: "database-retrieve-data-sources-2025-09-03.json",
    newer: ["description", "is_locked"],
  },
  "2026-03-11": { page: "page-cover-icon-2026-03-11.json", database: "database-retrieve-2026-03-11.json", newer: [] },
};

/** Signed file URLs without their signature: an incremental run keeps an unchanged row's entry as stored (the file route re-signs). */
function unsigned<T>(value: T): T {
  return JSON.parse(JSON.stringify(value), (_key, v) =>
    typeof v === "string" && v.includes("X-Amz-Signature=") ? v.split("?")[0] : v,
  ) as T;
}

function fetchNotion(stack: Stack, version: string, route: string): Promise<Record<string, unknown>> {
  return fetch(`${stack.emulator.url}/v1/${route}`, {
    headers: { Authorization: `Bearer ${stack.emulator.token}`, "Notion-Version": version },
  }).then((r) => r.json() as Promise<Record<string, unknown>>);
}

async function untilDone(stack: Stack, section: "pages" | "posts" | "children", env: Record<string, string> = {}) {
  for (let i = 0; i < 100; i++) {
    const { status, body } = await invoke(stack, section, { env });
    expect(status).toBe(200);
    if (body.done) return body;
  }
  throw new Error(`${section} did not finish`);
}

describe.each(NOTION_VERSIONS)("Notion-Version %s", (version) => {
  let stack: Stack;
  const diff = () => compareKvWithWorkspace(stack.kv, stack.keys, stack.workspace, 2, version);
  beforeAll(async () => {
    stack = await startStack({
      workspace: { pages: 10, posts: 8, hugePages: 0, childDepth: 2, unsharedChildPages: 0 },
      env: { NOTION_VERSION: version, SYNC_BUDGET_MS: "20000", SYNC_CHILD_DEPTH: "2", WEBHOOK_DEBOUNCE_S: "1" },
    });
  });
  afterAll(async () => stack?.close());

  it("a full run, a no-change run and an edit: KV equals the workspace as this version shows it", async () => {
    await syncAll(stack);
    expect(await diff()).toEqual([]);
    const requests = stack.emulator.requests();
    expect(requests.length).toBeGreaterThan(0);
    expect(requests.filter((r) => r.version !== version)).toEqual([]);

    stack.emulator.resetRequestLog();
    const quiet = await syncAll(stack);
    expect(quiet.pages.at(-1)!.counts.fetched + quiet.posts.at(-1)!.counts.fetched).toBe(0);
    // No expensive property read, no schema read: the lists and the children's search only.
    const routes = new Set(stack.emulator.requests().map((r) => r.route));
    expect([...routes].sort()).toEqual(["dataSources.query", "search"]);

    const row = stack.workspace.visibleRows(stack.workspace.postsDatabaseId)[0];
    stack.workspace.advanceClock(120_000);
    stack.workspace.editPageTitle(row.id, `Edited under ${version}`);
    const edited = await syncAll(stack);
    expect(edited.posts.at(-1)!.counts.fetched).toBe(1);
    expect(await diff()).toEqual([]);
  });

  it("keeps an AI meeting notes block with its notes, under the type this version names it", async () => {
    const row = stack.workspace.visibleRows(stack.workspace.pagesDatabaseId)[1];
    stack.workspace.advanceClock(120_000);
    const id = stack.workspace.appendMeetingNotes(row.id, "Weekly", "Decided to ship");
    await untilDone(stack, "pages");
    const ledger = await stack.kv.get<LedgerEntry>(stack.keys.entry("pages", row.id));
    const bundle = (await readLarge<PageBundle>(stack.kv, stack.keys, stack.keys.page("pages", ledger!.entry!.slug)))!
      .value;
    const block = (bundle as { blocks: { id: string; type: string; children?: { type: string }[] }[] }).blocks.find(
      (b) => b.id.replace(/-/g, "") === id.replace(/-/g, ""),
    )!;
    expect(block.type).toBe(version === "2025-09-03" ? "transcription" : "meeting_notes");
    expect(block.children?.map((c) => c.type)).toEqual(["paragraph"]);
    expect(await diff()).toEqual([]);
  });

  it("markdown mode stores Notion-flavored Markdown v2, whatever the version", async () => {
    const row = stack.workspace.visibleRows(stack.workspace.postsDatabaseId)[2];
    await untilDone(stack, "posts", { SYNC_CONTENT: "markdown" });
    const ledger = await stack.kv.get<LedgerEntry>(stack.keys.entry("posts", row.id));
    const bundle = (await readLarge<PageBundle>(stack.kv, stack.keys, stack.keys.page("posts", ledger!.entry!.slug)))!
      .value;
    expect(bundle.content).toBe("markdown");
    const want = pageMarkdown(stack.workspace, row.id, { markdownVersion: "v2" })!;
    expect(unsignedMarkdown((bundle as { markdown: string }).markdown)).toBe(unsignedMarkdown(want.markdown));
    const asked = stack.emulator.requests().filter((r) => r.route === "pages.retrieveMarkdown");
    expect(asked.length).toBeGreaterThan(0);
    expect(asked.every((r) => r.path.includes("markdown_version=v2"))).toBe(true);
    await untilDone(stack, "posts"); // back to blocks for the next tests
  });

  it("a webhook-driven targeted run updates one page", async () => {
    const row = stack.workspace.visibleRows(stack.workspace.postsDatabaseId)[3];
    stack.workspace.advanceClock(120_000);
    stack.workspace.editPageTitle(row.id, `Targeted under ${version}`);
    stack.emulator.resetRequestLog();
    const wk = webhookKeys(stack.keys);
    await stack.kv.atomic(addDirtyOps(wk.dirtyBase(), [{ pageId: row.id, timestamp: new Date().toISOString() }]));
    const { result } = await runDirtyInvocation({
      env: stack.env,
      startedAt: Date.now(),
      budgetMs: 10_000,
      caller: "test",
    });
    expect(result, JSON.stringify(result)).toMatchObject({ fetched: 1 });
    const ledger = await stack.kv.get<LedgerEntry>(stack.keys.entry("posts", row.id));
    expect(ledger?.entry?.title).toBe(`Targeted under ${version}`);
    expect(stack.emulator.requests().every((r) => r.version === version)).toBe(true);
  });

  it("children: every reachable child page is indexed", async () => {
    await syncAll(stack);
    const index = await readIndexPage(stack.kv, stack.keys, "children");
    expect(index!.entries.length).toBe(stack.workspace.reachableChildPages(2).length);
    expect(await diff()).toEqual([]);
  });

  it.runIf(RECORDED[version])(
    "answers retrieves with the keys, in the order, Notion recorded for this version",
    async () => {
      const files = RECORDED[version]!;
      const row = stack.workspace.visibleRows(stack.workspace.pagesDatabaseId)[0];
      const page = await fetchNotion(stack, version, `pages/${row.id}`);
      expect(keysOf(page).filter((k) => k !== "public_url")).toEqual(
        keysOf(recording(files.page)).filter((k) => k !== "public_url"),
      );
      const db = await fetchNotion(stack, version, `databases/${stack.workspace.pagesDatabaseId}`);
      expect(keysOf(db).filter((k) => !files.newer.includes(k))).toEqual(keysOf(recording(files.database)));
    },
  );

  it.runIf(version === "2026-12-01")(
    "every property the index keeps is in KV, formulas, rollups and relations read per changed page",
    async () => {
      const ws = stack.workspace;
      for (const [section, dbId] of [
        ["pages", ws.pagesDatabaseId],
        ["posts", ws.postsDatabaseId],
      ] as const) {
        const index = (await readIndexPage(stack.kv, stack.keys, section))!;
        const schema = ws.dataSource(ws.database(dbId)!.data_sources[0].id)!.properties;
        expect(index.entries.length).toBe(ws.visibleRows(dbId).length);
        for (const entry of index.entries) {
          const page = forVersion(withCompleteRelations(ws, entry.id, ws.page(entry.id)!.properties), version);
          expect(Object.keys(entry.properties).sort()).toEqual(Object.keys(schema).sort());
          expect(unsigned(entry.properties)).toEqual(unsigned(simplifyProperties(page)));
        }
      }
      // Lists asked for the cheap properties only, by id.
      const lists = stack.emulator.requests().filter((r) => r.route === "dataSources.query");
      expect(lists.length).toBeGreaterThan(0);
      expect(lists.every((r) => r.path.includes("filter_properties="))).toBe(true);
      // 2026-12-01's people without a name are indexed as {id, name: null}.
      const posts = (await readIndexPage(stack.kv, stack.keys, "posts"))!.entries;
      const people = posts.flatMap((e) => (e.properties.Authors ?? []) as { id: string; name: string | null }[]);
      expect(people.some((p) => p.name === null)).toBe(true);
    },
  );

  it.runIf(version === "2026-12-01")(
    "a property added after the schema was cached: an edited row has it, a no-change run keeps it, a forced run reads the schema",
    async () => {
      const ws = stack.workspace;
      const row = ws.visibleRows(ws.pagesDatabaseId)[4];
      ws.advanceClock(120_000);
      const added = setRelation(ws, row.id, { count: 3, name: "Added later" });
      const entryOf = async () => (await stack.kv.get<LedgerEntry>(stack.keys.entry("pages", row.id)))!.entry!;
      stack.emulator.resetRequestLog();
      await syncUntilDone(stack, "pages");
      expect((await entryOf()).properties["Added later"]).toEqual(added.ids);
      const routes = () => stack.emulator.requests().map((r) => r.route);
      expect(routes()).not.toContain("dataSources.retrieve");

      const before = await entryOf();
      stack.emulator.resetRequestLog();
      const quiet = await syncUntilDone(stack, "pages");
      expect(quiet.at(-1)!.counts.fetched).toBe(0);
      expect(await entryOf()).toEqual(before);
      expect(routes()).toEqual(["dataSources.query"]);

      stack.emulator.resetRequestLog();
      await syncUntilDone(stack, "pages", { query: "force=1" });
      expect(routes().filter((r) => r === "dataSources.retrieve")).toHaveLength(1);
      expect((await entryOf()).properties["Added later"]).toEqual(added.ids);
    },
  );
});

describe("the emulator's differences by version, and what the source sends for them", () => {
  let emulator: NotionEmulator;
  let dataSourceId = "";
  const ws = generateWorkspace({ pages: 3, posts: 2, hugePages: 0, childDepth: 0 });
  beforeAll(async () => {
    emulator = await startNotionEmulator({ workspace: ws, ratePerSecond: Infinity });
    const db = ws.createDatabase({
      title: "Tasks",
      properties: { Name: "title", Status: { type: "status", options: ["Draft", "Review", "Done"] }, Score: "number" },
    });
    dataSourceId = db.data_sources[0].id;
    for (const [name, status] of [
      ["a", "Draft"],
      ["b", "Review"],
      ["c", "Done"],
    ])
      ws.addRow(db.id, { values: { Name: name, Status: status, Score: 1 } });
  });
  afterAll(async () => emulator?.close());

  const post = (version: string, path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${emulator.url}/v1/${path}`, {
      method: "POST",
      headers: {
        Authorization: `Bearer ${emulator.token}`,
        "Notion-Version": version,
        "Content-Type": "application/json",
        ...headers,
      },
      body: JSON.stringify(body),
    }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, unknown> }));
  const names = (body: Record<string, unknown>) =>
    (body.results as { properties: Record<string, unknown> }[]).map((r) => Object.keys(r.properties).sort());
  const titles = (body: Record<string, unknown>) =>
    (body.results as { properties: { Name: { title: { plain_text: string }[] } } }[])
      .map((r) => r.properties.Name.title[0].plain_text)
      .sort();

  it("lists every property before 2026-12-01, the title only on it, and what filter_properties names on each", async () => {
    const query = `data_sources/${dataSourceId}/query`;
    expect(names((await post("2025-09-03", query, {})).body)[0]).toEqual(["Name", "Score", "Status"]);
    expect(names((await post("2026-12-01", query, {})).body)[0]).toEqual(["Name"]);
    const status = ws.dataSource(dataSourceId)!.properties.Status as { id: string };
    const asked = `${query}?filter_properties=title&filter_properties=${encodeURIComponent(decodeURIComponent(status.id))}`;
    for (const v of NOTION_VERSIONS) expect(names((await post(v, asked, {})).body)[0]).toEqual(["Name", "Status"]);
    const search = await post("2026-12-01", "search", { filter: { property: "object", value: "page" } });
    const rows = (search.body.results as { properties: Record<string, { type: string }> }[]).filter(
      (r) => Object.keys(r.properties).length > 0,
    );
    expect(rows.every((r) => Object.values(r.properties).every((p) => p.type === "title"))).toBe(true);
  });

  it("refuses archived in a request body from 2026-03-11, and markdown v1 on 2026-12-01", async () => {
    const query = `data_sources/${dataSourceId}/query`;
    expect((await post("2025-09-03", query, { archived: false })).status).toBe(200);
    expect((await post("2026-03-11", query, { archived: false })).body).toMatchObject({
      status: 400,
      code: "validation_error",
    });
    const row = ws.visibleRows(ws.pagesDatabaseId)[0];
    const markdown = (version: string, asked: string) =>
      fetch(`${emulator.url}/v1/pages/${row.id}/markdown${asked}`, {
        headers: { Authorization: `Bearer ${emulator.token}`, "Notion-Version": version },
      }).then((r) => r.status);
    expect(await markdown("2026-12-01", "?markdown_version=v1")).toBe(400);
    expect(await markdown("2026-03-11", "?markdown_version=v1")).toBe(200);
    expect(await markdown("2026-12-01", "")).toBe(200);
  });

  it("status groups: equals a group's name before 2026-12-01, group operators on it or with the beta header", async () => {
    const query = `data_sources/${dataSourceId}/query`;
    const byName = { filter: { property: "Status", status: { equals: "Complete" } } };
    const byGroup = { filter: { property: "Status", status: { group: { does_not_equal: "Complete" } } } };
    expect(titles((await post("2025-09-03", query, byName)).body)).toEqual(["c"]);
    expect(titles((await post("2026-12-01", query, byName)).body)).toEqual([]);
    expect((await post("2026-03-11", query, byGroup)).status).toBe(400);
    const beta = { "Notion-Beta": "status-group-filters-2026-10-06" };
    expect(titles((await post("2026-03-11", query, byGroup, beta)).body)).toEqual(["a", "b"]);
    expect(titles((await post("2026-12-01", query, byGroup)).body)).toEqual(["a", "b"]);
  });

  it.each(NOTION_VERSIONS)(
    "the source on %s: a group filter gets its beta header where needed, rows carry what is asked",
    async (version) => {
      emulator.resetRequestLog();
      const source = createNotionSource({
        token: emulator.token,
        baseUrl: emulator.url,
        ratePerMin: 1_000_000,
        deadline: createDeadline(10_000),
        pacer: createPacer(Infinity),
        notionVersion: version,
      });
      const schema = await source.retrieveDataSource(dataSourceId);
      expect(schema.Status.groups?.find((g) => g.name === "Complete")?.options).toEqual(["Done"]);
      const filter = { property: "Status", status: { group: { equals: "Complete" } } };
      const page = await source.queryDataSource(dataSourceId, {
        windowStart: null,
        startCursor: null,
        filter,
        filterProperties: [schema.Name.id, schema.Status.id],
      });
      expect(page.results.map((r) => Object.keys(r.properties).sort())).toEqual([["Name", "Status"]]);
      const log = emulator.requests();
      expect(log.map((r) => r.version)).toEqual([version, version]);
      expect(log[1].beta).toBe(version === "2026-12-01" ? null : "status-group-filters-2026-10-06");
    },
  );
});
