/**
 * lib/notion/filter-match.ts: a Notion filter judged against one page's
 * properties, on a recorded real page and on hand-made values in Notion's
 * shapes: every supported condition, "now", nested and / or with
 * three-valued logic, empty values, dates without a time against datetimes,
 * and "unknown" wherever the page alone cannot tell.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { matchesFilter } from "../../lib/notion/filter-match";
import type { NotionPage, NotionProperty } from "../../lib/notion/types";

const recorded = JSON.parse(
  readFileSync(join(__dirname, "../fixtures/real-notion/page-properties-all-types-2025-09-03.json"), "utf8"),
) as NotionPage;

const NOW = new Date("2026-12-07T12:00:00.000Z");
const text = (s: string) => [{ type: "text", text: { content: s, link: null }, plain_text: s, href: null }];
const option = (name: string) => ({ id: `id-${name}`, name, color: "default" });

/** A blog row in Notion's shapes; `over` replaces values by property name. */
function row(over: Record<string, unknown> = {}): Record<string, NotionProperty> {
  const values: Record<string, [string, string, unknown]> = {
    Title: ["title", "title", text("Hello World")],
    Slug: ["%3AsLg", "rich_text", text("hello-world")],
    Published: ["pB%7Cx", "checkbox", true],
    Status: ["sT%3Au", "status", option("Published")],
    Category: ["c%40tG", "select", null],
    Tags: ["tG", "multi_select", [option("news"), option("howto")]],
    Rating: ["r", "number", 4],
    "Publish at": ["pA", "date", { start: "2026-12-07T10:00:00.000+00:00", end: null, time_zone: null }],
    Link: ["l", "url", null],
    Avatar: ["a", "files", []],
    Authors: ["au", "people", [{ object: "user", id: "2200a911-6a96-44bb-bd38-6bfb1e01b9f6" }]],
    Related: ["re", "relation", [{ id: "e4d75736-2ea5-4501-9d05-a3b477b8e76b" }]],
  };
  const out: Record<string, NotionProperty> = {};
  for (const [name, [id, type, value]] of Object.entries(values))
    out[name] = {
      id,
      type,
      [type]: name in over ? over[name] : value,
      ...(type === "relation" ? { has_more: false } : {}),
    };
  return out;
}

const is = (property: string, type: string, condition: Record<string, unknown>) => ({ property, [type]: condition });

describe("matchesFilter on a recorded Notion page", () => {
  const p = recorded.properties;
  it.each([
    [is("CheckboxTitle", "checkbox", { equals: false }), "match"],
    [is("CheckboxTitle", "checkbox", { does_not_equal: false }), "no-match"],
    [is("StatusTitle", "status", { equals: "Not started" }), "match"],
    [is("SelectTitle", "select", { equals: "Select 2" }), "match"],
    [is("SelectTitle", "select", { does_not_equal: "Select 2" }), "no-match"],
    [is("MultiSelectTitle", "multi_select", { contains: "Multi Select 2" }), "match"],
    [is("MultiSelectTitle", "multi_select", { contains: "Multi Select 1" }), "no-match"],
    [is("NumberTitle", "number", { greater_than: 1 }), "match"],
    [is("Title", "title", { equals: "DEF" }), "match"],
    [is("TextTitle", "rich_text", { starts_with: "abc\n@Hiroyuki" }), "match"],
    [is("TextTitle", "rich_text", { equals: "abc" }), "no-match"],
    [is("MailTitle", "email", { is_empty: true }), "match"],
    [is("File&MediaTitle", "files", { is_not_empty: true }), "match"],
    [is("RelationTitle", "relation", { contains: "e4d757362ea545019d05a3b477b8e76b" }), "match"],
    [is("CreatedTimeTitle", "created_time", { before: "2022-02-08" }), "match"],
    // A range from the 11th to the 12th: both ends agree, or the answer is unknown.
    [is("DateTitle", "date", { on_or_after: "2022-02-11" }), "match"],
    [is("DateTitle", "date", { on_or_before: "2022-02-11" }), "unknown"],
    [is("DateTitle", "date", { after: "2022-02-12" }), "no-match"],
    // By property id, as Notion allows.
    [is("Lbi%5D", "checkbox", { equals: false }), "match"],
    [is("FormulaTitle", "formula", { date: { is_not_empty: true } }), "unknown"],
    [is("ID", "unique_id", { equals: 2 }), "unknown"],
  ] as const)("%j → %s", (filter, expected) => {
    expect(matchesFilter(p, filter, NOW)).toBe(expected);
  });
});

describe("matchesFilter, condition by condition", () => {
  const cases: [string, unknown, Record<string, unknown>, string][] = [
    ["checkbox equals", is("Published", "checkbox", { equals: true }), {}, "match"],
    ["checkbox unchecked", is("Published", "checkbox", { equals: true }), { Published: false }, "no-match"],
    ["checkbox does_not_equal", is("Published", "checkbox", { does_not_equal: true }), {}, "no-match"],
    ["status equals", is("Status", "status", { equals: "Published" }), {}, "match"],
    ["status other option", is("Status", "status", { equals: "Draft" }), {}, "no-match"],
    ["status does_not_equal", is("Status", "status", { does_not_equal: "Draft" }), {}, "match"],
    ["status group name", is("Status", "status", { equals: "Complete" }), {}, "unknown"],
    ["status group, negated", is("Status", "status", { does_not_equal: "In progress" }), {}, "unknown"],
    ["status empty equals", is("Status", "status", { equals: "Complete" }), { Status: null }, "no-match"],
    ["status is_empty", is("Status", "status", { is_empty: true }), { Status: null }, "match"],
    ["status is_not_empty", is("Status", "status", { is_not_empty: true }), {}, "match"],
    ["select empty equals", is("Category", "select", { equals: "Guide" }), {}, "no-match"],
    ["select empty does_not_equal", is("Category", "select", { does_not_equal: "Guide" }), {}, "match"],
    ["select is_empty", is("Category", "select", { is_empty: true }), {}, "match"],
    ["select set", is("Category", "select", { equals: "Guide" }), { Category: option("Guide") }, "match"],
    ["select list operand", is("Category", "select", { equals: ["Guide"] }), {}, "unknown"],
    ["multi_select contains", is("Tags", "multi_select", { contains: "news" }), {}, "match"],
    ["multi_select does_not_contain", is("Tags", "multi_select", { does_not_contain: "news" }), {}, "no-match"],
    ["multi_select empty", is("Tags", "multi_select", { is_empty: true }), { Tags: [] }, "match"],
    ["multi_select is_not_empty", is("Tags", "multi_select", { is_not_empty: true }), { Tags: [] }, "no-match"],
    ["number equals", is("Rating", "number", { equals: 4 }), {}, "match"],
    ["number does_not_equal", is("Rating", "number", { does_not_equal: 4 }), {}, "no-match"],
    ["number greater_than", is("Rating", "number", { greater_than: 4 }), {}, "no-match"],
    ["number less_than", is("Rating", "number", { less_than: 4.5 }), {}, "match"],
    ["number >=", is("Rating", "number", { greater_than_or_equal_to: 4 }), {}, "match"],
    ["number <=", is("Rating", "number", { less_than_or_equal_to: 3.99 }), {}, "no-match"],
    ["number empty compares false", is("Rating", "number", { greater_than: -1 }), { Rating: null }, "no-match"],
    ["number empty is_empty", is("Rating", "number", { is_empty: true }), { Rating: null }, "match"],
    ["number empty does_not_equal", is("Rating", "number", { does_not_equal: 4 }), { Rating: null }, "match"],
    ["number is_empty needs true", is("Rating", "number", { is_empty: false }), {}, "unknown"],
    ["title equals", is("Title", "title", { equals: "Hello World" }), {}, "match"],
    ["title contains", is("Title", "title", { contains: "lo Wo" }), {}, "match"],
    ["title case decides", is("Title", "title", { contains: "hello" }), {}, "unknown"],
    ["title no match either way", is("Title", "title", { contains: "bye" }), {}, "no-match"],
    ["rich_text starts_with", is("Slug", "rich_text", { starts_with: "hello-" }), {}, "match"],
    ["rich_text ends_with", is("Slug", "rich_text", { ends_with: "x" }), {}, "no-match"],
    ["rich_text is_empty", is("Slug", "rich_text", { is_empty: true }), { Slug: [] }, "match"],
    ["rich_text does_not_equal", is("Slug", "rich_text", { does_not_equal: "other" }), {}, "match"],
    ["url empty", is("Link", "url", { is_empty: true }), {}, "match"],
    ["files is_not_empty", is("Avatar", "files", { is_not_empty: true }), {}, "no-match"],
    ["people contains", is("Authors", "people", { contains: "2200a911-6a96-44bb-bd38-6bfb1e01b9f6" }), {}, "match"],
    ["relation does_not_contain", is("Related", "relation", { does_not_contain: "0000" }), {}, "match"],
    ["wrong type for the property", is("Published", "rich_text", { equals: "x" }), {}, "unknown"],
    ["missing property", is("Nope", "checkbox", { equals: true }), {}, "unknown"],
    ["unknown operator", is("Rating", "number", { between: [1, 2] }), {}, "unknown"],
    ["two operators", is("Rating", "number", { equals: 4, less_than: 5 }), {}, "unknown"],
    ["timestamp filter", { timestamp: "last_edited_time", last_edited_time: { past_week: {} } }, {}, "unknown"],
    ["not an object", "Published", {}, "unknown"],
  ];
  it.each(cases)("%s", (_name, filter, over, expected) => {
    expect(matchesFilter(row(over), filter, NOW)).toBe(expected);
  });

  it("knows a relation cut at 25 references only where the reference is among them", () => {
    const cut = row();
    cut.Related = { id: "re", type: "relation", relation: [{ id: "a" }], has_more: true };
    expect(matchesFilter(cut, is("Related", "relation", { contains: "a" }), NOW)).toBe("match");
    expect(matchesFilter(cut, is("Related", "relation", { contains: "b" }), NOW)).toBe("unknown");
    expect(matchesFilter(cut, is("Related", "relation", { does_not_contain: "b" }), NOW)).toBe("unknown");
  });
});

describe("matchesFilter on dates", () => {
  const at = (start: string | null, extra: Partial<{ end: string; time_zone: string }> = {}) => ({
    "Publish at": start === null ? null : { start, end: null, time_zone: null, ...extra },
  });
  const when = (condition: Record<string, unknown>) => is("Publish at", "date", condition);
  const cases: [string, Record<string, unknown>, Record<string, unknown>, string][] = [
    // "now" is the moment given: 12:00Z; the post is at 10:00Z.
    ["past post, on_or_before now", when({ on_or_before: "now" }), {}, "match"],
    ["future post, on_or_before now", when({ on_or_before: "now" }), at("2026-12-07T12:00:01.000Z"), "no-match"],
    ["exactly now", when({ on_or_before: "now" }), at("2026-12-07T12:00:00.000Z"), "match"],
    ["before now is strict", when({ before: "now" }), at("2026-12-07T12:00:00.000Z"), "no-match"],
    ["after now", when({ after: "now" }), at("2026-12-08T09:00:00+02:00"), "match"],
    ["offset respected", when({ on_or_before: "now" }), at("2026-12-07T13:30:00.000+02:00"), "match"],
    ["no offset is UTC", when({ on_or_after: "2026-12-07T10:00:00" }), {}, "match"],
    ["empty never compares", when({ on_or_before: "now" }), at(null), "no-match"],
    ["empty is_empty", when({ is_empty: true }), at(null), "match"],
    ["is_not_empty", when({ is_not_empty: true }), {}, "match"],
    // A filter date without a time is its whole UTC day (documented for equals).
    ["datetime equals a day", when({ equals: "2026-12-07" }), {}, "match"],
    ["datetime on_or_before its day", when({ on_or_before: "2026-12-07" }), at("2026-12-07T23:59:00Z"), "match"],
    ["datetime after its day", when({ after: "2026-12-07" }), at("2026-12-07T23:59:00Z"), "no-match"],
    ["datetime before the day", when({ before: "2026-12-07" }), at("2026-12-06T23:59:00Z"), "match"],
    ["day against day", when({ on_or_before: "2026-12-07" }), at("2026-12-07"), "match"],
    ["day after day", when({ after: "2026-12-06" }), at("2026-12-07"), "match"],
    ["day equals another day", when({ equals: "2026-12-06" }), at("2026-12-07"), "no-match"],
    // A page's day against a datetime: certain only well away from that day, wherever it starts.
    ["day long past", when({ on_or_before: "now" }), at("2026-12-05"), "match"],
    ["day well ahead", when({ on_or_before: "now" }), at("2026-12-09"), "no-match"],
    ["day is today", when({ on_or_before: "now" }), at("2026-12-07"), "unknown"],
    ["day is tomorrow, 12 hours on", when({ on_or_before: "now" }), at("2026-12-08"), "unknown"],
    ["day equals a far datetime", when({ equals: "2026-11-01T00:00:00Z" }), at("2026-12-07"), "no-match"],
    [
      "range agreeing",
      when({ on_or_before: "now" }),
      at("2026-12-01T00:00:00Z", { end: "2026-12-02T00:00:00Z" }),
      "match",
    ],
    [
      "range straddling",
      when({ on_or_before: "now" }),
      at("2026-12-07T00:00:00Z", { end: "2026-12-08T00:00:00Z" }),
      "unknown",
    ],
    [
      "local time in a zone",
      when({ on_or_before: "now" }),
      at("2026-12-07T10:00:00.000", { time_zone: "Europe/Paris" }),
      "unknown",
    ],
    ["relative date", when({ on_or_before: "today" }), {}, "unknown"],
    ["relative period", when({ this_week: {} }), {}, "unknown"],
    ["not a date", when({ on_or_before: "soon" }), {}, "unknown"],
  ];
  it.each(cases)("%s", (_name, filter, over, expected) => {
    expect(matchesFilter(row(over), filter, NOW)).toBe(expected);
  });
});

describe("matchesFilter with and / or", () => {
  const published = is("Published", "checkbox", { equals: true });
  const draft = is("Status", "status", { equals: "Draft" });
  const unknown = is("Status", "status", { equals: "Complete" });
  const scheduled = is("Publish at", "date", { on_or_before: "now" });
  it.each([
    ["and, all match", { and: [published, scheduled] }, "match"],
    ["and, one fails", { and: [published, draft] }, "no-match"],
    ["and, one fails beside an unknown", { and: [unknown, draft] }, "no-match"],
    ["and, one unknown", { and: [published, unknown] }, "unknown"],
    ["or, one matches beside an unknown", { or: [unknown, published] }, "match"],
    ["or, none", { or: [draft, is("Rating", "number", { less_than: 0 })] }, "no-match"],
    ["or, unknown and false", { or: [draft, unknown] }, "unknown"],
    ["empty and", { and: [] }, "match"],
    ["empty or", { or: [] }, "no-match"],
    ["nested two levels", { and: [published, { or: [draft, scheduled] }] }, "match"],
    ["nested two levels, failing", { or: [{ and: [published, draft] }, { and: [scheduled, draft] }] }, "no-match"],
    ["three levels: not Notion's", { and: [{ or: [{ and: [published] }] }] }, "unknown"],
    ["and with a non-array", { and: published }, "unknown"],
    ["and beside another key", { and: [published], or: [draft] }, "unknown"],
  ] as const)("%s", (_name, filter, expected) => {
    expect(matchesFilter(row(), filter, NOW)).toBe(expected);
  });

  it("puts the publish filter of the issue's example together: published and due", () => {
    const filter = { and: [published, is("Publish at", "date", { on_or_before: "now" })] };
    expect(matchesFilter(row(), filter, NOW)).toBe("match");
    expect(matchesFilter(row({ Published: false }), filter, NOW)).toBe("no-match");
    const later = new Date("2026-12-07T09:59:59.999Z");
    expect(matchesFilter(row(), filter, later)).toBe("no-match");
  });
});
