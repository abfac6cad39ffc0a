/**
 * Index flattening (lib/mirror/properties.ts, through indexEntryFor in
 * lib/sync/bundle.ts) against recorded property values: every property of
 * every recorded page flattens to a defined value (null is a value: an empty
 * select, a button), and so does every property of the emulator's default
 * workspace (all the types of the recordings, generated).
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { NotionPage } from "../../lib/notion/types";
import { indexEntryFor } from "../../lib/sync/bundle";
import { generateWorkspace } from "../../scripts/emulator/notion/generate";

const CORPUS = process.env.NOTION_CORPUS_DIR ?? path.resolve(__dirname, "../fixtures/real-notion");
type Json = Record<string, unknown>;
const read = (name: string): Json => JSON.parse(fs.readFileSync(path.join(CORPUS, name), "utf8")) as Json;
const available = fs.existsSync(path.join(CORPUS, "page-properties-all-types-2025-09-03.json"));

function undefinedValues(page: NotionPage): string[] {
  const entry = indexEntryFor(page, "slug", []);
  return Object.entries(page.properties)
    .filter(([name]) => entry.properties[name] === undefined)
    .map(([name, prop]) => `${name} (${prop.type})`);
}

describe.skipIf(!available)("index flattening of recorded property values", () => {
  it("page-properties-all-types: all 25 properties", () => {
    const page = read("page-properties-all-types-2025-09-03.json") as unknown as NotionPage;
    expect(Object.keys(page.properties)).toHaveLength(25);
    expect(undefinedValues(page)).toEqual([]);
  });

  it("query-data-source-23-property-types: both rows, place and button included", () => {
    const rows = read("query-data-source-23-property-types-2025-09-03.json").results as NotionPage[];
    expect(rows).toHaveLength(2);
    for (const row of rows) expect(undefinedValues(row), String(row.id)).toEqual([]);
  });

  it("every other recorded page (verification, relations cut at 25, child pages)", () => {
    for (const f of fs
      .readdirSync(CORPUS)
      .filter((f) => f.startsWith("page-") && !f.startsWith("page-property-item"))) {
      expect(undefinedValues(read(f) as unknown as NotionPage), f).toEqual([]);
    }
  });
});

describe("index flattening of the emulator's default workspace", () => {
  it("every property of every row", () => {
    const ws = generateWorkspace();
    const types = new Set<string>();
    for (const databaseId of [ws.pagesDatabaseId, ws.postsDatabaseId]) {
      for (const row of ws.visibleRows(databaseId)) {
        for (const prop of Object.values(row.properties)) types.add(prop.type);
        expect(undefinedValues(row as unknown as NotionPage), row.id).toEqual([]);
      }
    }
    expect(types.size).toBe(24);
  });
});
