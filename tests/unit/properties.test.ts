/**
 * lib/mirror/properties.ts over every property value recorded from the real
 * Notion API (tests/fixtures/real-notion/): each
 * type flattens to the value the README's "Flattened property values" table
 * documents. Values the corpus lacks (a place, a group, an external file…)
 * are built from @notionhq/client's response types and marked as such.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  dateStart,
  fileValues,
  flattenValue,
  keepCompletedValues,
  simplifyProperties,
} from "../../lib/mirror/properties";
import { completeProperties, incompleteProperties, type NotionPropertyItem } from "../../lib/notion/property-items";
import type { NotionPage, NotionProperty } from "../../lib/notion/types";

const FIXTURES = join(__dirname, "../fixtures/real-notion");
const load = <T>(name: string): T => JSON.parse(readFileSync(join(FIXTURES, name), "utf8")) as T;

const allTypes = load<NotionPage>("page-properties-all-types-2025-09-03.json");
const query23 = load<{ results: NotionPage[] }>("query-data-source-23-property-types-2025-09-03.json");
const wiki = load<NotionPage>("page-wiki-verification-2025-09-03.json");
const hasMore = load<NotionPage>("page-relation-has-more-2025-09-03.json");
const items26 = load<{ results: NotionPropertyItem[]; next_cursor: string | null; has_more: boolean }>(
  "page-property-item-relation-26-2025-09-03.json",
);
const schema = load<{ properties: Record<string, { type: string }> }>(
  "data-source-retrieve-all-property-types-2025-09-03.json",
);

const HKOB = { id: "2200a911-6a96-44bb-bd38-6bfb1e01b9f6", name: "Hiroyuki KOBAYASHI" };
const BOT = { id: "00000000-0000-4000-8000-0000000000f1", name: "Ultimate Notion Tests" };

describe("every recorded property value flattens to its documented value", () => {
  it("page-properties-all-types: 20 types of a data-source row", () => {
    const out = simplifyProperties(allTypes.properties);
    const fileUrl = (allTypes.properties["File&MediaTitle"].files as { file: { url: string } }[])[0].file.url;
    expect(out).toEqual({
      Title: "DEF", // title → plain text
      TextTitle:
        "abc\n@Hiroyuki KOBAYASHI \nnotion_ruby_mapping_test_data \n2022-02-21 \n2022-02-22T09:00:00.000+09:00 \n高専HP\nSample table ", // rich_text with user, page, date and database mentions → their plain text
      NumberTitle: 2,
      CheckboxTitle: false,
      UrlTitle: null,
      MailTitle: null,
      TelTitle: null,
      SelectTitle: "Select 2",
      StatusTitle: "Not started",
      MultiSelectTitle: ["Multi Select 2"],
      DateTitle: { start: "2022-02-11", end: "2022-02-12", time_zone: null },
      UserTitle: [], // people, empty
      "File&MediaTitle": [{ name: "nr.png", url: fileUrl }], // Notion-hosted: the signed URL, for now
      RelationTitle: ["e4d75736-2ea5-4501-9d05-a3b477b8e76b"],
      "Related to New database title(Added) (Relation)": [],
      "Related to New database title (Relation) 1": [],
      "Related to Database created by API (Relation)": [],
      "Related to New database title (Relation)": [],
      FormulaTitle: { start: "2025-08-31T10:55:00.000+00:00", end: null, time_zone: null }, // a date formula
      RollupTitle: [["Tag 2"]], // show_original over a multi_select: one flattened item per related page
      CreatedTimeTitle: "2022-02-07T21:29:00.000Z",
      LastEditedTimeTitle: "2022-03-17T12:43:00.000Z",
      CreatedByTitle: HKOB,
      LastEditedByTitle: HKOB,
      ID: "ST-2", // unique_id with a prefix
    });
  });

  it("query-data-source-23-property-types: place, button, bot users, a count rollup, unique_id without prefix", () => {
    const [item2, item1] = query23.results.map((r) => simplifyProperties(r.properties));
    expect(item1).toEqual({
      Title: "Item 1",
      Text: "Text 1",
      "AI summary": "",
      "AI custom": "",
      "AI key info": "",
      Number: 1,
      Checkbox: false,
      URL: null,
      Email: null,
      "Phone number": null,
      Select: null,
      Status: "Not started",
      "Multi-Select": [],
      Date: null,
      People: [],
      Files: [],
      Relation: [],
      "Relation two-way": [],
      Formula: null, // a string formula whose value is null
      Rollup: 0, // count
      ID: "2", // unique_id, no prefix
      "Created time": "2026-06-26T13:45:00.000Z",
      "Last edited time": "2026-06-26T13:45:00.000Z",
      "Created by": BOT,
      "Last edited by": BOT,
      Place: null, // place, empty
      Button: null, // button: always null
    });
    expect(item2).toMatchObject({ Title: "Item 2", Text: "Text 2", Number: 2, Checkbox: true, ID: "3" });
  });

  it("page-wiki-verification: verification, the owner (people), Japanese property names", () => {
    expect(simplifyProperties(wiki.properties)).toEqual({
      ページ: "Wiki page",
      タグ: [],
      最終更新日時: "2025-02-11T07:37:00.000Z",
      有効期限: {
        state: "expired",
        verified_by: HKOB,
        date: { start: "2025-02-10T15:00:00.000Z", end: "2025-02-17T15:00:00.000Z", time_zone: null },
      },
      オーナー: [HKOB],
    });
  });

  it("page-relation-has-more: the 25 ids a page object shows (the engine completes them: see below)", () => {
    const out = simplifyProperties(hasMore.properties);
    expect(out.Children).toHaveLength(25);
    expect(out.名前).toBe("A parent");
    expect(incompleteProperties(hasMore.properties)).toEqual([
      { name: "Children", id: "%60%5B%3E%7B", type: "relation" },
    ]);
    expect(incompleteProperties(allTypes.properties)).toEqual([]);
  });

  it("covers every type of the recorded schema with a value of its own (none falls to the unknown-type null)", () => {
    const types = new Set(Object.values(schema.properties).map((p) => p.type));
    const recorded = [allTypes, wiki, ...query23.results].flatMap((p) => Object.values(p.properties));
    for (const type of types) {
      const values = recorded.filter((p) => p.type === type);
      expect(values.length, type).toBeGreaterThan(0);
    }
    // Each recorded value flattens without throwing, to a value of the documented kind.
    for (const prop of recorded) {
      const value = flattenValue(prop);
      const kind = Array.isArray(value) ? "array" : value === null ? "null" : typeof value;
      const expected: Record<string, string[]> = {
        title: ["string"],
        rich_text: ["string"],
        number: ["number", "null"],
        checkbox: ["boolean"],
        url: ["string", "null"],
        email: ["string", "null"],
        phone_number: ["string", "null"],
        select: ["string", "null"],
        status: ["string", "null"],
        multi_select: ["array"],
        date: ["object", "null"],
        people: ["array"],
        files: ["array"],
        relation: ["array"],
        formula: ["string", "number", "boolean", "object", "null"],
        rollup: ["number", "object", "array", "null"],
        unique_id: ["string"],
        created_by: ["object"],
        last_edited_by: ["object"],
        created_time: ["string"],
        last_edited_time: ["string"],
        verification: ["object", "null"],
        place: ["object", "null"],
        button: ["null"],
      };
      expect(expected[prop.type], `${prop.type} is documented`).toBeDefined();
      expect(expected[prop.type], `${prop.type} → ${kind}`).toContain(kind);
    }
  });
});

describe("values the corpus lacks (shapes from @notionhq/client's response types)", () => {
  const p = (type: string, value: unknown): NotionProperty => ({ id: "x", type, [type]: value });

  it("people: users without a name (unshared, partial) and groups", () => {
    expect(
      flattenValue(
        p("people", [
          { object: "user", id: "u1" },
          { object: "user", id: "u2", name: null, type: "bot", bot: {} },
          { object: "group", id: "g1", name: "Team" },
        ]),
      ),
    ).toEqual([
      { id: "u1", name: null },
      { id: "u2", name: null },
      { id: "g1", name: "Team" },
    ]);
    expect(flattenValue(p("created_by", { object: "user", id: "u1" }))).toEqual({ id: "u1", name: null });
  });

  it("files: external and Notion-hosted, with the hosting known internally (fileValues)", () => {
    const prop = p("files", [
      {
        name: "a.pdf",
        type: "file",
        file: {
          url: "https://prod-files-secure.s3.us-west-2.amazonaws.com/x/a.pdf?sig",
          expiry_time: "2025-08-31T11:55:10.733Z",
        },
      },
      { name: "logo", type: "external", external: { url: "https://example.com/logo.png" } },
      { name: "broken", type: "file" },
    ]);
    expect(flattenValue(prop)).toEqual([
      { name: "a.pdf", url: "https://prod-files-secure.s3.us-west-2.amazonaws.com/x/a.pdf?sig" },
      { name: "logo", url: "https://example.com/logo.png" },
    ]);
    expect(fileValues(prop).map((f) => f.notionHosted)).toEqual([true, false]);
  });

  it("formula: string, number, boolean, date; rollup: number, date, array, incomplete", () => {
    expect(flattenValue(p("formula", { type: "string", string: "hi" }))).toBe("hi");
    expect(flattenValue(p("formula", { type: "number", number: 4.5 }))).toBe(4.5);
    expect(flattenValue(p("formula", { type: "boolean", boolean: true }))).toBe(true);
    expect(
      flattenValue(
        p("formula", { type: "date", date: { start: "2025-01-01", end: null, time_zone: "Europe/Zurich" } }),
      ),
    ).toEqual({ start: "2025-01-01", end: null, time_zone: "Europe/Zurich" });
    expect(flattenValue(p("rollup", { type: "number", number: 7, function: "sum" }))).toBe(7);
    expect(
      flattenValue(
        p("rollup", {
          type: "date",
          date: { start: "2025-02-02", end: null, time_zone: null },
          function: "latest_date",
        }),
      ),
    ).toEqual({ start: "2025-02-02", end: null, time_zone: null });
    expect(
      flattenValue(
        p("rollup", {
          type: "array",
          array: [
            { type: "number", number: 1 },
            { type: "title", title: [{ plain_text: "T" }] },
            { type: "relation", relation: [{ id: "r" }] },
          ],
          function: "show_original",
        }),
      ),
    ).toEqual([1, "T", ["r"]]);
    expect(flattenValue(p("rollup", { type: "incomplete", incomplete: {}, function: "count" }))).toBeNull();
  });

  it("place, verification unverified, unique_id edge cases, button and unknown types", () => {
    expect(
      flattenValue(
        p("place", {
          lat: 47.37,
          lon: 8.54,
          name: "Zürich HB",
          address: "Bahnhofplatz, 8001 Zürich",
          google_place_id: "g",
        }),
      ),
    ).toEqual({ lat: 47.37, lon: 8.54, name: "Zürich HB", address: "Bahnhofplatz, 8001 Zürich" });
    expect(flattenValue(p("place", { lat: 1, lon: 2 }))).toEqual({ lat: 1, lon: 2, name: null, address: null });
    expect(flattenValue(p("verification", { state: "unverified", verified_by: null, date: null }))).toEqual({
      state: "unverified",
      verified_by: null,
      date: null,
    });
    expect(flattenValue(p("unique_id", { prefix: null, number: null }))).toBeNull();
    expect(flattenValue(p("unique_id", { prefix: "", number: 9 }))).toBe("9");
    expect(flattenValue(p("button", {}))).toBeNull();
    expect(flattenValue(p("ai_block_2030", { whatever: true }))).toBeNull();
  });

  it("never throws, whatever the value holds", () => {
    const weird: Record<string, NotionProperty> = {
      A: { type: "date", date: "2025-01-01" },
      B: { type: "people", people: [null, 3, { id: 5 }] },
      C: { type: "rollup", rollup: { type: "array", array: [null, { type: "date", date: {} }] } },
      D: { type: "formula", formula: null },
      E: { type: "files", files: "nope" },
      F: null as unknown as NotionProperty,
      G: { type: 42 as unknown as string },
    };
    expect(simplifyProperties(weird)).toEqual({ A: null, B: [], C: [null, null], D: null, E: [], F: null, G: null });
  });

  it("dateStart gives the start of any flattened date (and of a string from an older entry)", () => {
    expect(dateStart({ start: "2025-03-04", end: "2025-03-05", time_zone: null })).toBe("2025-03-04");
    expect(dateStart("2025-03-04")).toBe("2025-03-04");
    expect(dateStart(null)).toBeNull();
    expect(dateStart(undefined)).toBeNull();
  });
});

describe("relations past 25 references, completed from the recorded property item list", () => {
  const source = (pages: { results: NotionPropertyItem[]; nextCursor: string | null }[]) => {
    const calls: (string | null)[] = [];
    return {
      calls,
      async listPropertyItems(_page: string, _property: string, cursor: string | null) {
        calls.push(cursor);
        return pages[cursor === null ? 0 : Number(cursor)];
      },
    };
  };

  it("gives the page object all 26 references, has_more false, and the index entry all 26 ids", async () => {
    const notion = source([{ results: items26.results, nextCursor: items26.has_more ? items26.next_cursor : null }]);
    const result = await completeProperties(notion, hasMore, { shouldStop: () => false });
    expect(result.done).toBe(true);
    if (!result.done) return;
    expect(notion.calls).toEqual([null]);
    const children = result.page.properties.Children;
    expect(children.relation).toEqual(items26.results.map((i) => i.relation));
    expect(children.has_more).toBe(false);
    expect(simplifyProperties(result.page.properties).Children).toHaveLength(26);
    expect(hasMore.properties.Children.has_more).toBe(true); // the input page is not changed
  });

  it("resumes from the property page reached", async () => {
    const ids = items26.results;
    const notion = source([
      { results: ids.slice(0, 10), nextCursor: "1" },
      { results: ids.slice(10, 20), nextCursor: "2" },
      { results: ids.slice(20), nextCursor: null },
    ]);
    let reads = 0;
    const first = await completeProperties(notion, hasMore, { shouldStop: () => reads++ >= 1 });
    expect(first.done).toBe(false);
    if (first.done) return;
    expect(first.checkpoint.pending[0].cursor).toBe("1");
    const stored = JSON.parse(JSON.stringify(first.checkpoint)); // as KV keeps it
    const second = await completeProperties(notion, hasMore, { resume: stored, shouldStop: () => false });
    expect(notion.calls).toEqual([null, "1", "2"]);
    expect(second.done && second.page.properties.Children.relation).toEqual(ids.map((i) => i.relation));
  });

  it("keeps the previous complete value of an unchanged row while the 25 shown still agree", () => {
    const full = items26.results.map((i) => (i.relation as { id: string }).id);
    const fresh = simplifyProperties(hasMore.properties);
    expect(keepCompletedValues(hasMore, fresh, { ...fresh, Children: full })?.Children).toEqual(full);
    expect(keepCompletedValues(hasMore, fresh, { ...fresh, Children: ["someone-else", ...full.slice(1)] })).toBeNull();
    expect(keepCompletedValues(hasMore, fresh, {})).toBeNull(); // an entry from before completion
    expect(keepCompletedValues(allTypes, simplifyProperties(allTypes.properties), {})).toEqual(
      simplifyProperties(allTypes.properties),
    );
  });
});
