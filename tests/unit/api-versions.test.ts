/**
 * What the product does with each Notion-Version's differences, on values in
 * Notion's shapes: a person without a name (2026-12-01) flattens to
 * `{id, name: null}` and never to the text "null"; a `meeting_notes` block
 * (2026-03-11) is what the emulator turns `transcription` into and keeps its
 * payload; status group filters (2026-12-01) judged by filter-match.ts with
 * the cached schema's groups; NOTION_VERSION parsed like every setting; the
 * list plan (lib/sync/list-properties.ts) and the stored expensive values.
 */
import { describe, expect, it } from "vitest";
import { ConfigError, readSyncSettings } from "../../lib/config";
import { simplifyProperties } from "../../lib/mirror/properties";
import type { IndexEntry } from "../../lib/mirror/shapes";
import { usesStatusGroups } from "../../lib/notion/filter";
import { matchesFilter } from "../../lib/notion/filter-match";
import type { NotionProperty } from "../../lib/notion/types";
import { listPlan, withStoredValues } from "../../lib/sync/list-properties";
import type { DatabaseSectionSpec } from "../../lib/workspace/types";
import { forVersion, hasNullName } from "../../scripts/emulator/notion/versions";

const NOW = new Date("2026-12-07T12:00:00.000Z");
const person = (id: string, name: string | null) => ({ object: "user", id, name, avatar_url: null, type: "person" });

describe("a person without a name (2026-12-01)", () => {
  const props: Record<string, NotionProperty> = {
    Authors: { id: "au", type: "people", people: [person("a1", null), person("a2", "Ada")] },
    Owner: { id: "ow", type: "created_by", created_by: person("a1", null) },
    Checked: {
      id: "ve",
      type: "verification",
      verification: { state: "verified", verified_by: person("a1", null), date: null },
    },
  };

  it("flattens to {id, name: null}, never the text null", () => {
    const flat = simplifyProperties(props);
    expect(flat.Authors).toEqual([
      { id: "a1", name: null },
      { id: "a2", name: "Ada" },
    ]);
    expect(flat.Owner).toEqual({ id: "a1", name: null });
    expect(flat.Checked).toMatchObject({ state: "verified", verified_by: { id: "a1", name: null } });
    expect(JSON.stringify(flat)).not.toContain('"null"');
  });

  it("is what the emulator sends on 2026-12-01 for some people, and on no earlier version", () => {
    const ids = ["0a", "1b", "2c", "3d"].map((p) => `${p}000000-0000-4000-8000-000000000000`);
    const page = { object: "page", properties: { A: { type: "people", people: ids.map((id) => person(id, "N")) } } };
    const names = (v: string) =>
      (forVersion(page, v).properties.A.people as { name: string | null }[]).map((p) => p.name);
    expect(names("2026-12-01")).toEqual(ids.map((id) => (hasNullName(id) ? null : "N")));
    expect(names("2026-12-01")).toContain(null);
    expect(names("2026-03-11")).toEqual(["N", "N", "N", "N"]);
  });
});

describe("meeting notes (2026-03-11)", () => {
  const block = {
    object: "block",
    id: "b1",
    type: "transcription",
    transcription: { title: [], children: { notes_block_id: "n1" } },
    has_children: true,
    in_trash: false,
    archived: false,
  };

  it("a transcription block is meeting_notes from 2026-03-11, its payload and key order kept, without archived", () => {
    const later = forVersion(block, "2026-03-11") as Record<string, unknown>;
    expect(Object.keys(later)).toEqual(["object", "id", "type", "meeting_notes", "has_children", "in_trash"]);
    expect(later.meeting_notes).toEqual(block.transcription);
    expect(forVersion(block, "2025-09-03")).toBe(block);
  });
});

describe("status group filters in filter-match.ts", () => {
  const row = (name: string | null): Record<string, NotionProperty> => ({
    Status: {
      id: "sT%3Au",
      type: "status",
      status: name === null ? null : { id: `o-${name}`, name, color: "default" },
    },
  });
  const groups = {
    "sT:u": [
      { name: "To-do", options: ["Draft"] },
      { name: "In progress", options: ["Review"] },
      { name: "Complete", options: ["Published", "Archived"] },
    ],
  };
  const group = (operator: string, name: string) => ({ property: "Status", status: { group: { [operator]: name } } });

  it.each([
    ["Published", group("equals", "Complete"), "match"],
    ["Draft", group("equals", "Complete"), "no-match"],
    ["Draft", group("does_not_equal", "Complete"), "match"],
    ["Archived", group("does_not_equal", "Complete"), "no-match"],
    [null, group("equals", "To-do"), "no-match"],
    [null, group("does_not_equal", "To-do"), "match"],
    ["Published", group("equals", "No such group"), "unknown"],
    ["Published", group("contains", "Complete"), "unknown"],
  ] as const)("%s, %j → %s", (value, filter, expected) => {
    expect(matchesFilter(row(value), filter, NOW, { version: "2026-12-01", statusGroups: groups })).toBe(expected);
  });

  it("a group the page cannot show without the schema's groups is unknown", () => {
    expect(matchesFilter(row("Published"), group("equals", "Complete"), NOW, { version: "2026-12-01" })).toBe(
      "unknown",
    );
  });

  it("`equals` a group's name: unknown before 2026-12-01 (it may match the group), no match from 2026-12-01", () => {
    const byName = { property: "Status", status: { equals: "Complete" } };
    expect(matchesFilter(row("Published"), byName, NOW, { version: "2026-03-11" })).toBe("unknown");
    expect(matchesFilter(row("Published"), byName, NOW)).toBe("unknown");
    expect(matchesFilter(row("Published"), byName, NOW, { version: "2026-12-01" })).toBe("no-match");
  });

  it("group conditions nest in and/or like any other", () => {
    const filter = {
      and: [group("equals", "Complete"), { property: "Status", status: { does_not_equal: "Archived" } }],
    };
    const options = { version: "2026-12-01", statusGroups: groups };
    expect(matchesFilter(row("Published"), filter, NOW, options)).toBe("match");
    expect(matchesFilter(row("Archived"), filter, NOW, options)).toBe("no-match");
    expect(usesStatusGroups(filter)).toBe(true);
    expect(usesStatusGroups({ property: "Status", status: { equals: "Complete" } })).toBe(false);
  });
});

describe("NOTION_VERSION", () => {
  it("defaults to 2026-12-01 and takes each supported version", () => {
    expect(readSyncSettings({}).notionVersion).toBe("2026-12-01");
    for (const v of ["2025-09-03", "2026-03-11", "2026-12-01"] as const)
      expect(readSyncSettings({ NOTION_VERSION: v }).notionVersion).toBe(v);
  });

  it("anything else is a config error naming the variable, never its value", () => {
    for (const bad of ["2022-06-28", "2026-13-01", "latest"]) {
      let error: unknown;
      try {
        readSyncSettings({ NOTION_VERSION: bad });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).variables).toEqual(["NOTION_VERSION"]);
      expect((error as ConfigError).message).not.toContain(bad);
    }
  });
});

describe("the list plan", () => {
  const schema = {
    Name: { id: "title", type: "title" },
    Slug: { id: "s%3Al", type: "rich_text" },
    Published: { id: "pb", type: "checkbox" },
    Score: { id: "f%5B", type: "formula" },
    Total: { id: "ro", type: "rollup" },
    Related: { id: "re", type: "relation" },
    Key: { id: "k", type: "formula" },
  };
  const spec = (over: Partial<DatabaseSectionSpec> = {}): DatabaseSectionSpec => ({
    kind: "database",
    name: "blog",
    source: { dataSourceId: "ds" },
    sourceOrigin: "test",
    filter: { property: "Published", checkbox: { equals: true } },
    slugProperty: "Key",
    titleProperty: undefined,
    content: "blocks",
    followsChildren: false,
    childDepth: 0,
    properties: undefined,
    sort: { timestamp: "created_time", direction: "descending" },
    ...over,
  });

  it("lists every cheap property and what the options need (a formula slug too); reads the other expensive ones per page", () => {
    const plan = listPlan(spec(), schema);
    expect(plan.expensive).toEqual(["Score", "Total", "Related"]);
    expect(plan.listed).toEqual(["Name", "Slug", "Published", "Key"]);
    expect(plan.ids).toEqual(["title", "s%3Al", "pb", "k"]);
  });

  it("a section's properties: those, the title and what the options need; nothing expensive when none is kept", () => {
    const plan = listPlan(spec({ properties: ["Slug"] }), schema);
    expect(plan.expensive).toEqual([]);
    expect(plan.listed.sort()).toEqual(["Key", "Name", "Published", "Slug"]);
    expect(listPlan(spec({ properties: ["Total", "Missing"] }), schema).expensive).toEqual(["Total"]);
  });

  it("an unchanged row keeps its stored expensive values, in the stored order (so its entry compares equal)", () => {
    const previous = {
      id: "p",
      properties: { Name: "Old", Score: 3, Total: [1], Slug: "x" },
    } as unknown as IndexEntry;
    const fresh = { id: "p", properties: { Name: "New", Slug: "x" } } as unknown as IndexEntry;
    const known = ["Name", "Score", "Total", "Related", "Slug"];
    const kept = withStoredValues(fresh, previous, { expensive: ["Score", "Total", "Related"], known });
    expect(JSON.stringify(kept.properties)).toBe(JSON.stringify({ Name: "New", Score: 3, Total: [1], Slug: "x" }));
    // A cheap property listed and absent was deleted; one the schema does not know yet is kept.
    expect(withStoredValues(fresh, previous, { expensive: [], known })).toBe(fresh);
    const newer = withStoredValues(fresh, previous, { expensive: [], known: ["Name", "Slug"] });
    expect(Object.keys(newer.properties)).toEqual(["Name", "Score", "Total", "Slug"]);
  });
});
