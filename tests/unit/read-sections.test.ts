/** lib/read.ts over configured sections: any name reads; a `content: "none"` section has no bundles. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { createFileStore } from "../../lib/kv/file";
import type { PageBundle } from "../../lib/mirror/shapes";
import { getPageBundle, getSectionSize, setPageBundle } from "../../lib/read";

vi.mock("@notion-kv-sync/root/notion-kv-sync.config", () => ({
  default: {
    sections: {
      blog: { database: "a".repeat(32), content: "markdown" },
      authors: { database: "b".repeat(32), content: "none", properties: ["Name"] },
    },
  },
}));

const dir = mkdtempSync(path.join(tmpdir(), "nks-read-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const read = { kv: createFileStore({ dir }), prefix: "t", files: false as const };

const bundle = (section: string, slug: string): PageBundle => ({
  id: `${section}-${slug}`,
  slug,
  title: slug,
  section,
  parent: { type: "data_source_id" },
  properties: {},
  created_time: "2026-01-01T00:00:00.000Z",
  last_edited_time: "2026-01-01T00:00:00.000Z",
  url: null,
  icon: null,
  cover: null,
  childPages: [],
  files_expire_at: null,
  synced_at: "2026-01-01T00:00:00.000Z",
  content: "markdown",
  markdown: "# hi",
  truncated: false,
  unknown_block_ids: [],
});

describe("reading configured sections", () => {
  it("a configured section's bundle reads back; one with content none answers null even when a bundle is left in KV", async () => {
    await setPageBundle("hello", bundle("blog", "hello"), read);
    await setPageBundle("ada", bundle("authors", "ada"), read);
    expect((await getPageBundle("blog", "hello", read))?.id).toBe("blog-hello");
    expect(await getPageBundle("authors", "ada", read)).toBeNull();
    expect(await getPageBundle("blog", "missing", read)).toBeNull();
    expect(await getSectionSize("authors", read)).toBe(0);
  });
});
