/**
 * Recorded Notion pages and blocks (tests/fixtures/real-notion/, their provenance in its README, or
 * $NOTION_CORPUS_DIR), served by the emulator (Workspace.installRecordedPage)
 * and synced for real: the route handler, in repeated invocations, into a
 * real redis-server. The bundles in KV must hold each page's `properties`
 * exactly as Notion sent them and each block exactly as recorded, plus our
 * `children` array where `has_children` (Notion-hosted file URLs aside: they
 * are signed anew at every read, like Notion's, so only their bucket path is
 * compared).
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readLarge } from "../../lib/kv/large-value";
import { readIndexPage } from "../../lib/mirror/section-index";
import type { PageBundle } from "../../lib/mirror/shapes";
import type { Section } from "../../lib/core/sections";
import type { BlockTree } from "../../lib/notion/block-tree";
import { setRelation } from "../../scripts/emulator/notion/property-items";
import { DEFAULT_EMULATED_VERSION as VERSION, forVersion } from "../../scripts/emulator/notion/versions";
import { type Stack, diffKvWithWorkspace, startStack, syncAll } from "../support/harness";

const CORPUS = process.env.NOTION_CORPUS_DIR ?? path.resolve(__dirname, "../fixtures/real-notion");
type Json = Record<string, unknown>;
const available = fs.existsSync(path.join(CORPUS, "page-properties-all-types-2025-09-03.json"));
const recording = (name: string): Json => JSON.parse(fs.readFileSync(path.join(CORPUS, name), "utf8")) as Json;
const results = (name: string): Json[] => recording(name).results as Json[];
const withoutRequestId = ({ request_id: _omit, ...rest }: Json): Json => rest;

/** Hosted file URLs are signed per read: keep the bucket path, drop the signature and the expiry. */
function unsigned<T>(value: T): T {
  return JSON.parse(JSON.stringify(value), (_key, v: unknown) => {
    if (v && typeof v === "object" && !Array.isArray(v) && "expiry_time" in v && "url" in v) {
      return { url: String((v as { url: string }).url).split("?")[0], signed: true };
    }
    return v;
  }) as T;
}

interface Installed {
  name: string;
  section: Section;
  page: Json;
  blocks: Json[];
  children: Record<string, Json[]>;
  /** What the bundle's properties must be: Notion's, with relations cut at 25 completed (below). */
  properties: Json;
}

describe.skipIf(!available)("recorded Notion pages and blocks through a real sync", () => {
  let stack: Stack;
  const installed: Installed[] = [];

  beforeAll(async () => {
    stack = await startStack({
      workspace: { seed: 41, pages: 4, posts: 3, hugePages: 0, childDepth: 1, trashedRows: 0, unsharedChildPages: 0 },
    });
    const ws = stack.workspace;
    const install = (
      name: string,
      section: Section,
      page: Json,
      blocks: Json[],
      children: Record<string, Json[]> = {},
      target: { databaseId?: string; parentPageId?: string } = {},
    ) => {
      ws.installRecordedPage({ page, blocks, children, ...target });
      installed.push({ name, section, page, blocks, children, properties: page.properties as Json });
    };
    const mixed = results("blocks-children-mixed-2025-09-03.json");
    const table = mixed.find((b) => b.type === "table")!;
    const columns = mixed.find((b) => b.type === "column_list")!;
    // 25 properties of 21 types, with 36 blocks of 24 types (a table with its rows, columns, synced blocks...).
    install("page-properties-all-types", "pages", recording("page-properties-all-types-2025-09-03.json"), mixed, {
      [String(table.id)]: results("blocks-children-table-rows-2025-09-03.json"),
      [String(columns.id)]: results("blocks-children-columns-2025-09-03.json"),
    });
    // The two rows of 23 property types (place and button included), as posts, with the other recorded block lists.
    const [item2, item1] = results("query-data-source-23-property-types-2025-09-03.json");
    install(
      "23 property types, Item 1",
      "posts",
      item1,
      [
        ...results("blocks-children-bookmark-child-database-embed-2025-09-03.json"),
        ...results("blocks-append-toggle-to-do-2025-09-03.json"),
      ],
      {},
      { databaseId: ws.postsDatabaseId },
    );
    install(
      "23 property types, Item 2",
      "posts",
      item2,
      [
        ...results("blocks-append-file-image-video-2025-09-03.json"),
        ...results("blocks-append-audio-pdf-video-2025-09-03.json"),
        withoutRequestId(recording("block-link-preview-2025-09-03.json")),
      ],
      {},
      { databaseId: ws.postsDatabaseId },
    );
    // A wiki page (verification) with the paginated paragraphs and the synced block original the mixed page's copy points to.
    const paragraphs = ["1", "2", "3-last"].flatMap((n) => results(`blocks-children-paginated-${n}-2025-09-03.json`));
    const wiki = recording("page-wiki-verification-2025-09-03.json");
    install("page-wiki-verification", "pages", wiki, [
      ...paragraphs,
      withoutRequestId(recording("block-synced-block-reference-2025-09-03.json")),
    ]);
    // A relation cut at 25 with has_more, and an empty page.
    const many = recording("page-relation-has-more-2025-09-03.json");
    install("page-relation-has-more", "pages", many, results("blocks-children-empty-2025-09-03.json"));
    // Its relation in full, as GET /v1/pages/{id}/properties/{id} recorded it (26 items): the sync completes
    // relations that a page object cuts at 25, so the bundle holds all 26 with has_more false.
    const items = recording("page-property-item-relation-26-2025-09-03.json");
    const propertyId = String((items.property_item as Json).id);
    const ids = (items.results as { relation: { id: string } }[]).map((r) => r.relation.id);
    const [name, cut] = Object.entries(many.properties as Record<string, Json>).find(([, p]) => p.id === propertyId)!;
    expect((cut.relation as unknown[]).length).toBe(25);
    expect(cut.has_more).toBe(true);
    setRelation(ws, String(many.id), { name, propertyId, ids, touch: false });
    installed.at(-1)!.properties = {
      ...(many.properties as Json),
      [name]: { ...cut, relation: ids.map((id) => ({ id })), has_more: false },
    };
    // Two child pages: one recorded in 2026 under 2025-09-03, one under 2026-03-11 (cover and icon, no `archived`).
    install(
      "page-child-of-page",
      "children",
      recording("page-child-of-page-2025-09-03.json"),
      [],
      {},
      { parentPageId: String(wiki.id) },
    );
    install(
      "page-cover-icon (2026-03-11)",
      "children",
      recording("page-cover-icon-2026-03-11.json"),
      [],
      {},
      { parentPageId: String(many.id) },
    );

    await syncAll(stack);
  }, 120_000);
  afterAll(() => stack?.close());

  async function bundleOf(section: Section, pageId: string): Promise<PageBundle> {
    const index = await readIndexPage(stack.kv, stack.keys, section, { limit: 1000 });
    const entry = index?.entries.find((e) => e.id === pageId);
    if (!entry) throw new Error(`${pageId} is not in the ${section} index`);
    const bundle = await readLarge<PageBundle>(stack.kv, stack.keys, stack.keys.page(section, entry.slug));
    if (!bundle) throw new Error(`no bundle for ${section}/${entry.slug}`);
    return bundle.value;
  }

  it("stores every page's properties as Notion sent them", async () => {
    for (const item of installed) {
      const bundle = await bundleOf(item.section, String(item.page.id));
      // As the sync's version sends them (the recordings are 2025-09-03's: versions.ts turns them).
      expect(unsigned(bundle.properties), item.name).toEqual(unsigned(forVersion(item.properties, VERSION)));
      // The emulator serves the page as recorded (relations cut at 25 included), signed URLs aside.
      expect(unsigned(stack.workspace.page(String(item.page.id))!.properties), item.name).toEqual(
        unsigned(item.page.properties),
      );
    }
    const all = installed.find((i) => i.name === "page-properties-all-types")!;
    expect(Object.keys(all.page.properties as Json)).toHaveLength(25);
  });

  it("stores every block as recorded, with children where has_children", async () => {
    const originalId = String(recording("block-synced-block-reference-2025-09-03.json").id);
    let compared = 0;
    const check = (nodes: BlockTree[], recorded: Json[], children: Record<string, Json[]>, where: string): void => {
      expect(
        nodes.map((n) => n.id),
        where,
      ).toEqual(recorded.map((b) => b.id));
      nodes.forEach((node, i) => {
        const { children: ours, ...block } = node;
        const want = withoutRequestId(recorded[i]);
        expect(unsigned(block), `${where} #${i} ${String(want.type)}`).toEqual(unsigned(forVersion(want, VERSION)));
        compared++;
        const ownPage = want.type === "child_page" || want.type === "child_database";
        if (!want.has_children || ownPage) {
          expect(ours, `${where} #${i}: no children array`).toBeUndefined();
          return;
        }
        expect(Array.isArray(ours), `${where} #${i}: children`).toBe(true);
        const kids = children[String(want.id)];
        if (kids) return check(ours!, kids, children, `${where} > ${String(want.type)}`);
        // No recorded children: the emulator's (one paragraph), or for a synced copy its original's.
        expect(ours!.length, `${where} #${i}`).toBeGreaterThan(0);
        const from = (want.synced_block as { synced_from?: { block_id: string } | null } | undefined)?.synced_from
          ?.block_id;
        for (const child of ours!)
          expect(child.parent).toEqual({ type: "block_id", block_id: from === originalId ? originalId : want.id });
      });
    };
    for (const item of installed) {
      const bundle = await bundleOf(item.section, String(item.page.id));
      const blocks = bundle.blocks ?? [];
      // A page given a child page (installRecordedPage parentPageId) ends with its child_page block: ours.
      const ownChild = installed.find(
        (i) => i.section === "children" && blocks.at(-1)?.id === i.page.id && blocks.length === item.blocks.length + 1,
      );
      if (ownChild) expect(blocks.at(-1)!.type).toBe("child_page");
      check(ownChild ? blocks.slice(0, -1) : blocks, item.blocks, item.children, item.name);
    }
    const recordedCount = installed.reduce(
      (n, i) => n + i.blocks.length + Object.values(i.children).reduce((m, list) => m + list.length, 0),
      0,
    );
    expect(compared).toBe(recordedCount);
    expect(recordedCount).toBeGreaterThanOrEqual(60);
  });

  it("keeps KV equal to the workspace (verify.ts), recorded pages included", async () => {
    expect(await diffKvWithWorkspace(stack)).toEqual([]);
  });
});
