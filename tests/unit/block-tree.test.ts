/**
 * lib/notion/block-tree.ts against the Notion emulator over real HTTP: the
 * tree it reads is the workspace's own content tree, it stops at request
 * boundaries with a checkpoint that survives JSON, and resuming (after a stop
 * or a failure) gives the same tree as one uninterrupted read.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  type BlockFetchCheckpoint,
  type ContentResult,
  type PageContent,
  createBlockTreeFetcher,
} from "../../lib/notion/block-tree";
import { NotionSyncError } from "../../lib/notion/errors";
import { createPacer } from "../../lib/notion/pacer";
import { createNotionSource } from "../../lib/notion/source";
import { createDeadline } from "../../lib/core/deadline";
import { generateWorkspace } from "../../scripts/emulator/notion/generate";
import { type NotionEmulator, startNotionEmulator } from "../../scripts/emulator/notion/server";
import { DEFAULT_EMULATED_VERSION, forVersion } from "../../scripts/emulator/notion/versions";
import type { BlockTree, Workspace } from "../../scripts/emulator/notion/workspace";

let emulator: NotionEmulator;
let ws: Workspace;
let big: NotionEmulator;
let hugeId: string;

const rowsOf = (w: Workspace) => [...w.visibleRows(w.pagesDatabaseId), ...w.visibleRows(w.postsDatabaseId)];
/** The small workspace's rows minus its 1200-block pages (the huge-page cases use their own 350-block workspace). */
let ordinary: ReturnType<typeof rowsOf>;
const ordinaryRows = (w: Workspace) => (ordinary ??= rowsOf(w).filter((r) => w.contentTree(r.id).length < 100));

beforeAll(async () => {
  ws = generateWorkspace({ pages: 10, posts: 5 });
  emulator = await startNotionEmulator({ workspace: ws, ratePerSecond: Infinity });
  const bigWs = generateWorkspace({ pages: 3, posts: 1, hugePages: 1, hugePageBlocks: 350 });
  big = await startNotionEmulator({ workspace: bigWs, ratePerSecond: Infinity });
  hugeId = rowsOf(bigWs).find((r) => bigWs.contentTree(r.id).length === 350)!.id;
});

afterAll(async () => {
  await emulator?.close();
  await big?.close();
});

beforeEach(() => {
  for (const em of [emulator, big]) {
    em.clearFaults();
    em.resetRequestLog();
  }
});

function fetcher(em: NotionEmulator = emulator) {
  const notion = createNotionSource({
    token: em.token,
    baseUrl: em.url,
    ratePerMin: 1_000_000,
    deadline: createDeadline(20_000),
    pacer: createPacer(Infinity),
  });
  return createBlockTreeFetcher(notion);
}

/**
 * File URLs are signed per request: compare everything but the signed file objects, in the
 * shapes of the version the source sends (the workspace keeps 2025-09-03's).
 */
function unsigned<T>(raw: T): T {
  const value = forVersion(raw, DEFAULT_EMULATED_VERSION);
  const strip = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(strip);
    if (v && typeof v === "object") {
      if ("expiry_time" in v) return "<signed file>";
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, strip(x)]));
    }
    return v;
  };
  return strip(value) as T;
}

function countNodes(tree: BlockTree[]): number {
  return tree.reduce((n, node) => n + 1 + countNodes(node.children ?? []), 0);
}

function childPageNodes(tree: BlockTree[]): { id: string; title: string }[] {
  return tree.flatMap((node) => [
    ...(node.type === "child_page" ? [{ id: node.id, title: (node.child_page as { title: string }).title }] : []),
    ...childPageNodes(node.children ?? []),
  ]);
}

const listRequests = (em: NotionEmulator) => em.requests().filter((r) => r.route === "blocks.children.list");
const same = (a: string, b: string) => a.replace(/-/g, "") === b.replace(/-/g, "");

async function fullFetch(pageId: string, em: NotionEmulator = emulator): Promise<PageContent> {
  const result = await fetcher(em).fetch(pageId, { shouldStop: () => false });
  if (!result.done) throw new Error("an unstoppable fetch returned a checkpoint");
  return result.content;
}

/** Reads a page `perCall` requests at a time, resuming from a JSON copy of the checkpoint each time. */
async function fetchInSteps(pageId: string, perCall: number, em: NotionEmulator = emulator) {
  const checkpoints: BlockFetchCheckpoint[] = [];
  let resume: BlockFetchCheckpoint | undefined;
  for (let call = 0; call < 10_000; call++) {
    let sent = 0;
    const result: ContentResult = await fetcher(em).fetch(pageId, {
      resume,
      shouldStop: () => sent >= perCall,
      onProgress: () => sent++,
    });
    if (result.done) return { content: result.content, checkpoints, calls: call + 1 };
    resume = JSON.parse(JSON.stringify(result.checkpoint)) as BlockFetchCheckpoint;
    checkpoints.push(resume);
  }
  throw new Error("never finished");
}

describe("createBlockTreeFetcher", () => {
  it("reads every row's content exactly as the workspace holds it", async () => {
    const rows = ordinaryRows(ws);
    expect(rows.length).toBeGreaterThan(5);
    for (const row of rows) {
      emulator.resetRequestLog();
      const content = await fullFetch(row.id);
      const expected = ws.contentTree(row.id);
      expect(unsigned(content.blocks)).toEqual(unsigned(expected));
      expect(content.blockCount).toBe(countNodes(expected));
      expect(content.requests).toBe(listRequests(emulator).length);
    }
  });

  it("lists child pages without reading their content", async () => {
    const parents = [...new Set(ws.reachableChildPages(1).map((c) => c.parentId))];
    expect(parents.length).toBeGreaterThan(0);
    for (const parentId of parents) {
      emulator.resetRequestLog();
      const content = await fullFetch(parentId);
      const expected = childPageNodes(ws.contentTree(parentId));
      expect(expected.length).toBeGreaterThan(0);
      expect(content.childPages).toEqual(expected);
      // The child_page blocks are in the tree, but with no children of their own.
      const inTree = childPageNodes(content.blocks as BlockTree[]);
      expect(inTree.map((c) => c.id)).toEqual(expected.map((c) => c.id));
      const childIds = new Set(expected.map((c) => c.id));
      const walk = (nodes: BlockTree[]): void =>
        nodes.forEach((n) => (childIds.has(n.id) ? expect(n.children).toBeUndefined() : walk(n.children ?? [])));
      walk(content.blocks as BlockTree[]);
      // And not one request went to a child page.
      const paths = listRequests(emulator).map((r) => r.path);
      for (const child of expected)
        expect(paths.some((p) => p.replace(/-/g, "").includes(child.id.replace(/-/g, "")))).toBe(false);
    }
  });

  it("stops before any request when told to at once", async () => {
    const pageId = rowsOf(ws)[0].id;
    const result = await fetcher().fetch(pageId, { shouldStop: () => true });
    expect(result.done).toBe(false);
    if (result.done) return;
    expect(result.checkpoint).toEqual({
      pageId,
      fetched: [],
      pending: [{ parentId: pageId, cursor: null }],
      requests: 0,
    });
    expect(emulator.requests()).toHaveLength(0);
  });

  it("resumes from JSON round-tripped checkpoints to the same tree, one request per call", async () => {
    // The row with the most list requests: nested containers at several levels.
    let pageId = "";
    let reference: PageContent | null = null;
    for (const row of ordinaryRows(ws)) {
      const content = await fullFetch(row.id);
      if (!reference || content.requests > reference.requests) [pageId, reference] = [row.id, content];
    }
    expect(reference!.requests).toBeGreaterThanOrEqual(3);
    emulator.resetRequestLog();

    const { content, checkpoints, calls } = await fetchInSteps(pageId, 1);
    // Each call sends one request; the call sending the last one finishes.
    expect(calls).toBe(reference!.requests);
    expect(checkpoints.map((c) => c.requests)).toEqual(
      Array.from({ length: reference!.requests - 1 }, (_, i) => i + 1),
    );
    for (const cp of checkpoints) expect(cp.pageId).toBe(pageId);
    expect(unsigned(content)).toEqual(unsigned(reference));
    expect(unsigned(content.blocks)).toEqual(unsigned(ws.contentTree(pageId)));
    // Nothing was read twice.
    expect(listRequests(emulator)).toHaveLength(reference!.requests);
  });

  it("resumes a huge page in the middle of its paginated top-level list", async () => {
    const reference = await fullFetch(hugeId, big);
    expect(reference.blocks).toHaveLength(350);
    big.resetRequestLog();

    const { content, checkpoints } = await fetchInSteps(hugeId, 2, big);
    // Some checkpoint was taken with the page's own list half read: a cursor was carried over.
    expect(checkpoints.some((cp) => cp.pending.some((p) => p.parentId === hugeId && p.cursor !== null))).toBe(true);
    expect(unsigned(content)).toEqual(unsigned(reference));
    expect(content.blockCount).toBe(countNodes(big.workspace.contentTree(hugeId)));
    expect(unsigned(content.blocks)).toEqual(unsigned(big.workspace.contentTree(hugeId)));
    expect(listRequests(big)).toHaveLength(reference.requests);
    // The top-level list took 4 pages of 100.
    expect(listRequests(big).filter((r) => same(r.path.split("/")[3], hugeId))).toHaveLength(4);
  });

  it.each([
    ["a permanent refusal", { status: 403 as const }, "permanent"],
    ["a long rate limit", { status: 429 as const, retryAfterSeconds: 30 }, "rate_limited"],
  ])("after %s mid-way, the last onProgress checkpoint resumes to the same tree", async (_label, rule, kind) => {
    const reference = await fullFetch(hugeId, big);
    big.resetRequestLog();

    // Like lib/sync/sync-phase.ts: keep the object given to onProgress and serialize it after the failure.
    let last: BlockFetchCheckpoint | null = null;
    const error = await fetcher(big)
      .fetch(hugeId, {
        shouldStop: () => false,
        onProgress: (cp) => {
          last = cp;
          if (cp.requests === 3) big.injectFault({ route: "blocks.children.list", ...rule });
        },
      })
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(NotionSyncError.is(error, kind as NotionSyncError["kind"])).toBe(true);
    expect(last).not.toBeNull();
    const checkpoint = JSON.parse(JSON.stringify(last)) as BlockFetchCheckpoint;
    expect(checkpoint.requests).toBe(3);

    const resumed = await fetcher(big).fetch(hugeId, { resume: checkpoint, shouldStop: () => false });
    expect(resumed.done).toBe(true);
    if (!resumed.done) return;
    expect(unsigned(resumed.content)).toEqual(unsigned(reference));
    // Only the failed request was sent twice.
    expect(listRequests(big)).toHaveLength(reference.requests + 1);
  });
});

describe("a synced copy next to its original", () => {
  it("reads a nested block the two share once, and shows its children once under each", async () => {
    // Notion lists a synced copy's children as its original's: the same blocks, by id.
    const block = (id: string, type: string, hasChildren: boolean) =>
      ({ object: "block", id, type, has_children: hasChildren, [type]: {} }) as never;
    const lists: Record<string, unknown[]> = {
      page: [block("original", "synced_block", true), block("copy", "synced_block", true)],
      original: [block("toggle", "toggle", true)],
      copy: [block("toggle", "toggle", true)],
      toggle: [block("para", "paragraph", false)],
    };
    const asked: string[] = [];
    const notion = {
      listBlockChildren: async (id: string) => {
        asked.push(id);
        return { results: lists[id] ?? [], nextCursor: null };
      },
    } as unknown as Parameters<typeof createBlockTreeFetcher>[0];
    const result = await createBlockTreeFetcher(notion).fetch("page", { shouldStop: () => false });
    expect(asked).toEqual(["page", "original", "copy", "toggle"]);
    expect(result.done).toBe(true);
    const tree = (result as { content: PageContent }).content.blocks as unknown as {
      id: string;
      children?: { id: string; children?: { id: string }[] }[];
    }[];
    for (const synced of tree) {
      expect(synced.children!.map((c) => c.id)).toEqual(["toggle"]);
      expect(synced.children![0].children!.map((c) => c.id)).toEqual(["para"]);
    }
  });
});
