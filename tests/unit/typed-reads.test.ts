/**
 * The flattened types typegen promises (lib/read.ts FlatValueByType) are what
 * lib/mirror/properties.ts produces: every property of the recorded real
 * Notion pages and of the emulator's default workspace flattens to a value of
 * the type its Notion type maps to. Fails when one side changes alone.
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { flattenValue } from "../../lib/mirror/properties";
import type { NotionPage } from "../../lib/notion/types";
import type { FlatValueByType } from "../../lib/read";
import { generateWorkspace } from "../../scripts/emulator/notion/generate";

type Check = (v: unknown) => boolean;
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const str: Check = (v) => typeof v === "string";
const orNull =
  (c: Check): Check =>
  (v) =>
    v === null || c(v);
const list =
  (c: Check): Check =>
  (v) =>
    Array.isArray(v) && v.every(c);
const date: Check = (v) => isObj(v) && str(v.start) && orNull(str)(v.end) && orNull(str)(v.time_zone);
const user: Check = (v) => isObj(v) && str(v.id) && orNull(str)(v.name);
const simple: Check = () => true;

/** One runtime check per key of FlatValueByType; `satisfies` makes a key added there fail to compile here. */
const CHECKS = {
  title: str,
  rich_text: str,
  number: orNull((v) => typeof v === "number"),
  checkbox: (v) => typeof v === "boolean",
  url: orNull(str),
  email: orNull(str),
  phone_number: orNull(str),
  select: orNull(str),
  status: orNull(str),
  multi_select: list(str),
  date: orNull(date),
  people: list(user),
  files: list((v) => isObj(v) && str(v.name) && str(v.url)),
  relation: list(str),
  formula: orNull((v) => str(v) || typeof v === "number" || typeof v === "boolean" || date(v)),
  rollup: orNull((v) => typeof v === "number" || date(v) || Array.isArray(v)),
  unique_id: orNull(str),
  created_by: user,
  last_edited_by: user,
  created_time: str,
  last_edited_time: str,
  verification: orNull((v) => isObj(v) && str(v.state) && orNull(user)(v.verified_by) && orNull(date)(v.date)),
  place: orNull((v) => isObj(v) && typeof v.lat === "number" && typeof v.lon === "number"),
  button: (v) => v === null,
  unknown: simple,
} satisfies Record<keyof FlatValueByType, Check>;

const CORPUS = process.env.NOTION_CORPUS_DIR ?? path.resolve(__dirname, "../fixtures/real-notion");

function mismatches(pages: NotionPage[]): string[] {
  const out: string[] = [];
  for (const page of pages)
    for (const [name, prop] of Object.entries(page.properties ?? {})) {
      const check = CHECKS[prop.type as keyof typeof CHECKS] ?? CHECKS.unknown;
      const value = flattenValue(prop);
      if (!check(value)) out.push(`${name} (${prop.type}): ${JSON.stringify(value)}`);
    }
  return out;
}

describe("typed reads: the flattened type of each Notion property type", () => {
  it.skipIf(!fs.existsSync(CORPUS))("holds for every property of the recorded pages and query rows", () => {
    const pages: NotionPage[] = [];
    for (const file of fs.readdirSync(CORPUS).filter((f) => f.endsWith(".json"))) {
      const json = JSON.parse(fs.readFileSync(path.join(CORPUS, file), "utf8")) as Record<string, unknown>;
      if (json.object === "page") pages.push(json as unknown as NotionPage);
      if (json.object === "list" && Array.isArray(json.results))
        pages.push(...(json.results as NotionPage[]).filter((r) => r.object === "page"));
    }
    expect(pages.length).toBeGreaterThan(5);
    expect(mismatches(pages)).toEqual([]);
  });

  it("holds for every property of the emulator's default workspace", () => {
    const ws = generateWorkspace({ pages: 20, posts: 20, hugePages: 0 });
    const pages = ws
      .queryDataSource(ws.postsDataSourceId)
      .results.concat(ws.queryDataSource(ws.pagesDataSourceId).results) as unknown as NotionPage[];
    expect(pages.length).toBeGreaterThan(0);
    expect(mismatches(pages)).toEqual([]);
  });
});
