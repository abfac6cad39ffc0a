/**
 * Slugs for every language, through the route handler on a real redis-server:
 * a page synced under the ASCII-only rule (a Russian title gave
 * `untitled-{id8}`) keeps its slug after the change, a new page gets the
 * readable one, and a rename moves the page to its new slug with no orphan.
 * The old rule is brought back for the first sync by swapping `slugify` for
 * `legacySlugify` (what the code did before this change).
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { isSafeSlug } from "../lib/mirror/slug";
import { readIndexPage } from "../lib/mirror/section-index";
import { type Stack, diffKvWithWorkspace, startStack, syncAll } from "./support/harness";

const rule = vi.hoisted(() => ({ legacy: true }));
vi.mock("../lib/mirror/slug", async (importOriginal) => {
  const real = await importOriginal<typeof import("../lib/mirror/slug")>();
  return { ...real, slugify: (text: string) => (rule.legacy ? real.legacySlugify(text) : real.slugify(text)) };
});

async function slugOf(stack: Stack, section: "pages" | "children", id: string): Promise<string | undefined> {
  const index = await readIndexPage(stack.kv, stack.keys, section);
  return index?.entries.find((e) => e.id === id)?.slug;
}

describe("slugs across the change of rule", () => {
  let stack: Stack;
  let russianRow: string;
  let russianChild: string;
  let japaneseChild: string;
  beforeAll(async () => {
    stack = await startStack({ workspace: { pages: 10, posts: 3, hugePages: 0 } });
  });
  afterAll(async () => stack?.close());

  it("a page synced under the ASCII-only rule got untitled-{id8}", async () => {
    const ws = stack.workspace;
    russianRow = ws.addPage(ws.pagesDatabaseId, { title: "Заголовок", slug: "" }).id; // no Slug: the title gives it
    const parent = ws.visibleRows(ws.pagesDatabaseId)[0].id;
    russianChild = ws.addChildPage(parent, "Дочерняя страница").id;
    japaneseChild = ws.addChildPage(parent, "日本語のページ").id;
    await syncAll(stack);
    const id8 = (id: string) => id.replace(/-/g, "").slice(0, 8);
    // "untitled" is the generated untitled row's: the Russian row gets the suffix.
    expect(await slugOf(stack, "pages", russianRow)).toBe(`untitled-${id8(russianRow)}`);
    expect(await slugOf(stack, "children", russianChild)).toBe(`untitled-${id8(russianChild)}`);
    expect(await slugOf(stack, "children", japaneseChild)).toBe(`untitled-${id8(japaneseChild)}`);
    expect(await diffKvWithWorkspace(stack)).toEqual([]);
  });

  it("keeps them under the Unicode rule, while new pages get readable slugs", async () => {
    rule.legacy = false;
    const ws = stack.workspace;
    ws.advanceClock(5 * 60_000);
    const newRow = ws.addPage(ws.pagesDatabaseId, { title: "Новая страница", slug: "Новая страница" }).id;
    const newChild = ws.addChildPage(ws.visibleRows(ws.pagesDatabaseId)[1].id, "Дочерняя страница").id;
    const before = new Set(await stack.kv.scanKeys(`${stack.keys.prefix}:page:`));
    await syncAll(stack);
    const id8 = (id: string) => id.replace(/-/g, "").slice(0, 8);
    expect(await slugOf(stack, "pages", russianRow)).toBe(`untitled-${id8(russianRow)}`);
    expect(await slugOf(stack, "children", russianChild)).toBe(`untitled-${id8(russianChild)}`);
    expect(await slugOf(stack, "children", japaneseChild)).toBe(`untitled-${id8(japaneseChild)}`);
    expect(await slugOf(stack, "pages", newRow)).toBe("новая-страница");
    expect(await slugOf(stack, "children", newChild)).toBe(`дочерняя-страница-${id8(newChild)}`);
    // Every bundle synced before is where it was.
    const after = new Set(await stack.kv.scanKeys(`${stack.keys.prefix}:page:`));
    for (const key of before) expect(after.has(key), key).toBe(true);
    expect(await diffKvWithWorkspace(stack)).toEqual([]);

    // A forced run re-reads every page and still moves none.
    await syncAll(stack, "force=1");
    expect(await slugOf(stack, "pages", russianRow)).toBe(`untitled-${id8(russianRow)}`);
    expect(await slugOf(stack, "children", russianChild)).toBe(`untitled-${id8(russianChild)}`);
    expect(new Set(await stack.kv.scanKeys(`${stack.keys.prefix}:page:`))).toEqual(after);
  });

  it("a renamed page takes the readable slug of its new title, leaving no orphan", async () => {
    const ws = stack.workspace;
    ws.advanceClock(5 * 60_000);
    ws.editPageTitle(russianRow, "Другой заголовок");
    ws.editPageTitle(russianChild, "Переименована");
    await syncAll(stack);
    await syncAll(stack); // the renamed child's parent is re-read on its section's next run
    const id8 = (id: string) => id.replace(/-/g, "").slice(0, 8);
    expect(await slugOf(stack, "pages", russianRow)).toBe("другой-заголовок");
    expect(await slugOf(stack, "children", russianChild)).toBe(`переименована-${id8(russianChild)}`);
    expect(await diffKvWithWorkspace(stack)).toEqual([]); // also fails on a bundle no index lists
    for (const key of await stack.kv.scanKeys(`${stack.keys.prefix}:page:`)) {
      const slug = key.split(":").slice(3).join(":");
      expect(isSafeSlug(slug), slug).toBe(true);
    }
  });
});
