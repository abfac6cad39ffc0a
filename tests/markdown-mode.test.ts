/**
 * SYNC_CONTENT=markdown through the route handler, against the emulator and
 * a real redis-server: a full sync stores, for every page, post and child
 * page, exactly the markdown the workspace gives, in one content request per
 * page; child pages are found from the markdown's page tags; a truncated page
 * falls back to the block tree (checkpointed across invocations) and says so;
 * switching modes re-fetches each page once, then a no-change run fetches
 * nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Section } from "../lib/core/sections";
import { readLarge } from "../lib/kv/large-value";
import { readIndexPage } from "../lib/mirror/section-index";
import type { PageBundle } from "../lib/mirror/shapes";
import { type ContentFetcher, type PageContent, createBlockTreeFetcher } from "../lib/notion/block-tree";
import { createMarkdownFetcher, markdownFilesExpireAt } from "../lib/notion/markdown-fetcher";
import { engineDeps, loadRuntime } from "../lib/runtime";
import { runInvocation } from "../lib/sync/engine";
import { pageMarkdown, setMarkdownBlockLimit, unsignedMarkdown } from "../scripts/emulator/notion/markdown";
import { DEFAULT_EMULATED_VERSION, forVersion } from "../scripts/emulator/notion/versions";
import { expectedOrder, stripVolatile } from "../scripts/emulator/notion/verify";
import type { BlockTree, Workspace } from "../scripts/emulator/notion/workspace";
import { readHistory } from "../lib/sync/run-history";
import { type Stack, diffKvWithWorkspace, startStack, syncAll } from "./support/harness";
import {
  listedChildIds,
  retrievedIds,
  scratchLeft,
  searchTotal,
  searchedChildIds,
  sorted,
} from "./support/search-sweep";

const same = (a: string, b: string) => a.replace(/-/g, "") === b.replace(/-/g, "");
const childPagesOf = (tree: BlockTree[]): string[] =>
  tree.flatMap((b) => [
    ...(b.type === "child_page" ? [b.id] : []),
    ...(b.type === "child_page" ? [] : childPagesOf(b.children ?? [])),
  ]);

/** Every id a full sync must hold: rows of both databases and child pages reachable to SYNC_CHILD_DEPTH. */
function expectedIds(ws: Workspace, depth = 5): Record<Section, string[]> {
  return {
    pages: expectedOrder(ws, ws.pagesDatabaseId),
    posts: expectedOrder(ws, ws.postsDatabaseId),
    children: ws.reachableChildPages(depth).map((c) => c.id),
  };
}

/**
 * KV against the workspace, markdown mode: each section's index holds what it
 * must (the databases in the sync's order), and each bundle holds the page's
 * markdown as the emulator renders it now (signatures aside), or, for a page
 * whose markdown is truncated, its block tree marked as the fallback.
 */
async function compareMarkdownMirror(stack: Stack): Promise<string[]> {
  const ws = stack.workspace;
  const problems: string[] = [];
  const expected = expectedIds(ws);
  for (const section of ["pages", "posts", "children"] as const) {
    const index = await readIndexPage(stack.kv, stack.keys, section);
    const ids = (index?.entries ?? []).map((e) => e.id);
    if (
      section === "children"
        ? JSON.stringify([...ids].sort()) !== JSON.stringify([...expected.children].sort())
        : JSON.stringify(ids) !== JSON.stringify(expected[section])
    ) {
      problems.push(`${section}: index holds ${ids.length} ids, expected ${expected[section].length}`);
    }
    for (const entry of index?.entries ?? []) {
      const bundle = (await readLarge<PageBundle>(stack.kv, stack.keys, stack.keys.page(section, entry.slug)))?.value;
      if (!bundle) {
        problems.push(`${section}: no bundle for ${entry.slug}`);
        continue;
      }
      const want = pageMarkdown(ws, entry.id)!;
      const children = childPagesOf(ws.contentTree(entry.id));
      if (JSON.stringify(bundle.childPages.map((c) => c.id)) !== JSON.stringify(children))
        problems.push(`${section}: ${entry.slug} child pages differ`);
      if (JSON.stringify(entry.childPages) !== JSON.stringify(children))
        problems.push(`${section}: ${entry.slug} index child pages differ`);
      if (want.truncated) {
        if (bundle.content !== "blocks" || bundle.fallback !== "markdown_truncated")
          problems.push(`${section}: ${entry.slug} is truncated but not a block fallback`);
        else if (
          JSON.stringify(stripVolatile(bundle.blocks)) !==
          JSON.stringify(stripVolatile(forVersion(ws.contentTree(entry.id), DEFAULT_EMULATED_VERSION)))
        )
          problems.push(`${section}: ${entry.slug} fallback blocks differ`);
        continue;
      }
      if (bundle.content !== "markdown") {
        problems.push(`${section}: ${entry.slug} is not a markdown bundle`);
        continue;
      }
      if ("blocks" in bundle) problems.push(`${section}: ${entry.slug} carries blocks`);
      if (unsignedMarkdown(bundle.markdown) !== unsignedMarkdown(want.markdown))
        problems.push(`${section}: ${entry.slug} markdown differs`);
      if (
        bundle.truncated !== false ||
        JSON.stringify(bundle.unknown_block_ids) !== JSON.stringify(want.unknown_block_ids)
      )
        problems.push(`${section}: ${entry.slug} unknown blocks differ`);
      const inMarkdown = markdownFilesExpireAt(bundle.markdown);
      if (inMarkdown && (!bundle.files_expire_at || Date.parse(bundle.files_expire_at) > Date.parse(inMarkdown)))
        problems.push(`${section}: ${entry.slug} files_expire_at misses the markdown's URLs`);
    }
  }
  return problems;
}

function contentRequests(stack: Stack) {
  const log = stack.emulator.requests();
  const markdown = log.filter((r) => r.route === "pages.retrieveMarkdown");
  const perPage = new Map<string, number>();
  for (const r of markdown) {
    const id = /\/v1\/pages\/([^/]+)\/markdown/.exec(r.path)![1].replace(/-/g, "");
    perPage.set(id, (perPage.get(id) ?? 0) + 1);
  }
  return {
    markdown: markdown.length,
    perPage,
    blockLists: log.filter((r) => r.route === "blocks.children.list").length,
  };
}

const allIds = (ws: Workspace) => Object.values(expectedIds(ws)).flat();

/** blocks.children.list requests a full read of a page takes (100 a list, every container). */
function blockListRequests(ws: Workspace, pageId: string): number {
  const lists = (nodes: BlockTree[]): number =>
    Math.max(1, Math.ceil(nodes.length / 100)) +
    nodes.reduce((n, b) => n + (b.has_children && b.type !== "child_page" ? lists(b.children ?? []) : 0), 0);
  return lists(ws.contentTree(pageId));
}

describe("markdown mode on the default workspace", () => {
  let stack: Stack;
  beforeAll(async () => {
    // The default budget: a request cut by an invocation's deadline is sent again by the next one
    // (as in block mode), which would blur the count of requests per page this suite is about.
    stack = await startStack({ env: { SYNC_CONTENT: "markdown", SYNC_BUDGET_MS: "20000" } });
  });
  afterAll(async () => stack?.close());

  it("a full sync stores every page's markdown, one content request per page, block reads only for the pages that fall back", async () => {
    const ws = stack.workspace;
    const ids = allIds(ws);
    // The default workspace has two child pages not shared with the integration: their parents'
    // markdown is truncated (Notion: content not shared) and those pages fall back to blocks.
    const truncated = ids.filter((id) => pageMarkdown(ws, id)!.truncated);
    expect(truncated.length).toBeGreaterThan(0);
    expect(truncated.every((id) => ws.contentTree(id).some((b) => b.type === "child_page" && !ws.page(b.id)))).toBe(
      true,
    );
    const searched = await searchedChildIds(stack);
    const runs = await syncAll(stack);
    // The first children run takes the child pages' objects from its search sweep: only those search does not return are retrieved.
    // A first run lists the rows' formulas, rollups and relations too: no row is retrieved (lib/sync/list-properties.ts).
    expect(sorted(retrievedIds(stack))).toEqual(sorted([...listedChildIds(ws)].filter((id) => !searched.has(id))));
    const { markdown, perPage, blockLists } = contentRequests(stack);
    expect(markdown).toBe(ids.length);
    expect([...perPage.values()].every((n) => n === 1)).toBe(true);
    expect(perPage.size).toBe(ids.length);
    // Block reads only for the fallback pages, exactly what reading their trees takes.
    expect(blockLists).toBe(truncated.reduce((n, id) => n + blockListRequests(ws, id), 0));
    expect(
      runs.pages.at(-1)!.counts.fetched + runs.posts.at(-1)!.counts.fetched + runs.children.at(-1)!.counts.fetched,
    ).toBe(ids.length);
    expect(await compareMarkdownMirror(stack)).toEqual([]);
    // The child pages were found only in the markdown's page tags (no block was read) and reach three levels down.
    expect(ws.reachableChildPages().length).toBeGreaterThan(100);
    expect(Math.max(...ws.reachableChildPages().map((c) => c.depth))).toBeGreaterThanOrEqual(3);
  });

  it("a no-change run fetches nothing", async () => {
    stack.emulator.resetRequestLog();
    const runs = await syncAll(stack);
    for (const answers of Object.values(runs)) expect(answers.at(-1)!.counts.fetched).toBe(0);
    expect(contentRequests(stack)).toMatchObject({ markdown: 0, blockLists: 0 });
  });

  it("a child page added to a page is found from the parent's page tag and synced", async () => {
    const ws = stack.workspace;
    ws.advanceClock(5 * 60_000);
    const parent = ws.visibleRows(ws.postsDatabaseId)[4];
    const child = ws.addChildPage(parent.id, "Found by its tag");
    stack.emulator.resetRequestLog();
    await syncAll(stack);
    const index = await readIndexPage(stack.kv, stack.keys, "children");
    const entry = index!.entries.find((e) => same(e.id, child.id));
    expect(entry).toBeDefined();
    const bundle = (await readLarge<PageBundle>(stack.kv, stack.keys, stack.keys.page("children", entry!.slug)))!.value;
    expect(bundle.content).toBe("markdown");
    const postEntry = (await readIndexPage(stack.kv, stack.keys, "posts"))!.entries.find((e) => same(e.id, parent.id))!;
    const post = (await readLarge<PageBundle>(stack.kv, stack.keys, stack.keys.page("posts", postEntry.slug)))!.value;
    expect(post.content === "markdown" && post.markdown).toContain(">Found by its tag</page>");
    expect(post.childPages.map((c) => c.id)).toContain(child.id);
    // The parent and the new child: one markdown request each.
    const { perPage, blockLists } = contentRequests(stack);
    expect(perPage.get(parent.id.replace(/-/g, ""))).toBe(1);
    expect(perPage.get(child.id.replace(/-/g, ""))).toBe(1);
    expect(blockLists).toBe(0);
    expect(await compareMarkdownMirror(stack)).toEqual([]);
  });

  // The children run's search sweep gives the child pages' objects (child-check.ts): no pages.retrieve
  // for those, one markdown request each: a page costs one request, plus ceil(pages/100) search requests.
  it("a forced run makes one markdown request per page, and retrieves only the child pages search does not return", async () => {
    const ws = stack.workspace;
    const ids = allIds(ws);
    const searched = await searchedChildIds(stack);
    const listed = listedChildIds(ws);
    // The default workspace's two unshared child pages: listed by their parents, not in search (they answer 404).
    const hidden = [...listed].filter((id) => !searched.has(id));
    expect(hidden.length).toBeGreaterThan(0);
    expect(hidden.every((id) => !ws.page(id))).toBe(true);
    const total = await searchTotal(stack);
    stack.emulator.resetRequestLog();
    const runs = await syncAll(stack, "force=1");
    const { markdown, perPage, blockLists } = contentRequests(stack);
    expect(markdown).toBe(ids.length);
    expect([...perPage.values()].every((n) => n === 1)).toBe(true);
    expect(sorted(retrievedIds(stack))).toEqual(sorted(hidden));
    const truncated = ids.filter((id) => pageMarkdown(ws, id)!.truncated);
    expect(blockLists).toBe(truncated.reduce((n, id) => n + blockListRequests(ws, id), 0));
    const search = stack.emulator.requests().filter((r) => r.route === "search").length;
    expect(search).toBe(Math.ceil(total / 100));
    const lists = stack.emulator.requests().filter((r) => r.route === "dataSources.query").length;
    // A forced run reads each data source's schema again, once (lib/sync/list-properties.ts).
    const schemas = stack.emulator.requests().filter((r) => r.route === "dataSources.retrieve").length;
    expect(schemas).toBe(2);
    // Content and retrieves per page, the listing (queries, search, schemas) aside: 1 plus the fallbacks' block
    // lists and the unshared child pages (a forced run lists the rows' expensive properties: no row retrieve).
    expect(stack.emulator.requests().length - search - lists - schemas).toBe(ids.length + blockLists + hidden.length);
    expect(runs.children.at(-1)!.counts.fetched).toBe(expectedIds(ws).children.length);
    const check = (await readHistory(stack.kv, stack.keys, "children"))[0].childCheck;
    expect(check).toMatchObject({
      mode: "full",
      reason: "forced",
      requests: search,
      sweep: { complete: true, stopped: null },
    });
    expect(check!.sweep!.found).toBe(searched.size);
    expect(await compareMarkdownMirror(stack)).toEqual([]);
    expect(await scratchLeft(stack)).toEqual([]);
  });
});

describe("a truncated page falls back to the block tree", () => {
  let stack: Stack;
  let huge: string[];
  beforeAll(async () => {
    // Slow block lists: a 1,500-block page (15 lists and more, 250 ms each) cannot be read in one 3 s invocation.
    stack = await startStack({
      workspace: { pages: 8, posts: 4, hugePages: 2, hugePageBlocks: 1500 },
      latencyMs: { "blocks.children.list": 250 },
      env: { SYNC_CONTENT: "markdown", SYNC_BUDGET_MS: "3000" },
    });
    setMarkdownBlockLimit(stack.workspace, 1000);
    const ws = stack.workspace;
    huge = [...ws.visibleRows(ws.pagesDatabaseId), ...ws.visibleRows(ws.postsDatabaseId)]
      .filter((r) => ws.contentTree(r.id).length === 1500)
      .map((r) => r.id);
  });
  afterAll(async () => stack?.close());

  it("stores the blocks marked as a fallback, read across invocations with one markdown request, the rest as markdown", async () => {
    expect(huge).toHaveLength(2);
    const runs = await syncAll(stack);
    const { perPage } = contentRequests(stack);
    for (const id of huge) expect(perPage.get(id.replace(/-/g, ""))).toBe(1);
    // The huge rows took several invocations of their sections (block lists checkpointed in between).
    expect(runs.pages.length + runs.posts.length).toBeGreaterThan(3);
    const ws = stack.workspace;
    expect(
      allIds(ws)
        .filter((id) => pageMarkdown(ws, id)!.truncated)
        .sort(),
    ).toEqual([...huge].sort());
    expect(await compareMarkdownMirror(stack)).toEqual([]);
  });

  it("a fallback page is not fetched again while it is unchanged (the ledger says markdown mode)", async () => {
    stack.emulator.resetRequestLog();
    const runs = await syncAll(stack);
    for (const answers of Object.values(runs)) expect(answers.at(-1)!.counts.fetched).toBe(0);
    expect(contentRequests(stack)).toMatchObject({ markdown: 0, blockLists: 0 });
  });
});

describe("a fallback checkpointed between two requests", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      workspace: { pages: 4, posts: 2, hugePages: 1, hugePageBlocks: 450 },
      env: { SYNC_CONTENT: "markdown", SYNC_BUDGET_MS: "20000" },
    });
    setMarkdownBlockLimit(stack.workspace, 100);
  });
  afterAll(async () => stack?.close());

  // The block tree returns a checkpoint (instead of throwing) when it stops between two requests:
  // that page is not finished, and its piece must not be passed (it was, before cursor.partials was checked).
  it("is resumed by the next invocation, never taken for finished", async () => {
    const stopping = (inner: ContentFetcher<PageContent>): ContentFetcher<PageContent> => ({
      mode: "blocks",
      fetch(pageId, options) {
        let sent = 0;
        return inner.fetch(pageId, {
          ...options,
          shouldStop: () => options.shouldStop() || sent >= 2,
          onProgress: (c) => (sent++, options.onProgress?.(c)),
        });
      },
    });
    let invocations = 0;
    for (const section of ["pages", "posts", "children"] as const) {
      for (let call = 0; ; call++) {
        expect(call).toBeLessThan(100);
        const deps = engineDeps(loadRuntime(section, stack.env), section, Date.now());
        const content = createMarkdownFetcher(deps.notion, stopping(createBlockTreeFetcher(deps.notion)));
        const outcome = await runInvocation({ ...deps, content }, { section, force: false });
        invocations++;
        if (outcome.kind === "ran" && outcome.cursor.status === "done") break;
      }
    }
    const ws = stack.workspace;
    const huge = [...ws.visibleRows(ws.pagesDatabaseId), ...ws.visibleRows(ws.postsDatabaseId)].find(
      (r) => ws.contentTree(r.id).length === 450,
    )!;
    expect(pageMarkdown(ws, huge.id)!.truncated).toBe(true);
    expect(invocations).toBeGreaterThan(5); // 5+ block lists, 2 an invocation
    expect(contentRequests(stack).perPage.get(huge.id.replace(/-/g, ""))).toBe(1);
    expect(await compareMarkdownMirror(stack)).toEqual([]);
    expect(await stack.kv.scanKeys(`${stack.keys.prefix}:partial:`)).toEqual([]);
  });
});

describe("switching SYNC_CONTENT", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ workspace: { pages: 24, posts: 12 }, env: { SYNC_BUDGET_MS: "20000" } });
  });
  afterAll(async () => stack?.close());

  it("blocks → markdown re-fetches each page once, then a no-change run fetches nothing; and back", async () => {
    const ws = stack.workspace;
    const ids = allIds(ws);
    await syncAll(stack);
    expect(await diffKvWithWorkspace(stack)).toEqual([]);

    stack.env.SYNC_CONTENT = "markdown";
    stack.emulator.resetRequestLog();
    const switched = await syncAll(stack);
    const first = contentRequests(stack);
    expect(first.markdown).toBe(ids.length);
    expect(first.perPage.size).toBe(ids.length);
    const truncated = ids.filter((id) => pageMarkdown(ws, id)!.truncated);
    expect(first.blockLists).toBe(truncated.reduce((n, id) => n + blockListRequests(ws, id), 0));
    expect(
      switched.pages.at(-1)!.counts.fetched +
        switched.posts.at(-1)!.counts.fetched +
        switched.children.at(-1)!.counts.fetched,
    ).toBe(ids.length);
    expect(await compareMarkdownMirror(stack)).toEqual([]);

    stack.emulator.resetRequestLog();
    const again = await syncAll(stack);
    for (const answers of Object.values(again)) expect(answers.at(-1)!.counts.fetched).toBe(0);
    expect(contentRequests(stack)).toMatchObject({ markdown: 0, blockLists: 0 });

    stack.env.SYNC_CONTENT = "blocks";
    stack.emulator.resetRequestLog();
    const back = await syncAll(stack);
    expect(
      back.pages.at(-1)!.counts.fetched + back.posts.at(-1)!.counts.fetched + back.children.at(-1)!.counts.fetched,
    ).toBe(ids.length);
    expect(contentRequests(stack).markdown).toBe(0);
    expect(await diffKvWithWorkspace(stack)).toEqual([]);
  });
});
