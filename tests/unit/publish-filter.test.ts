import { describe, expect, it } from "vitest";
import { nextScheduledQuery, scheduledProperties, substituteNow } from "../../lib/notion/filter";

const now = new Date("2026-12-07T10:00:00.000Z");
const filter = {
  and: [
    { property: "Published", checkbox: { equals: true } },
    {
      or: [
        { property: "Publish at", date: { on_or_before: "now" } },
        { property: "Pinned", checkbox: { equals: true } },
      ],
    },
  ],
};

describe("publish filters", () => {
  it("substitutes now in date conditions only, at any depth", () => {
    const out = substituteNow(
      { ...filter, and: [...filter.and, { property: "Title", rich_text: { equals: "now" } }] },
      now,
    );
    expect(JSON.stringify(out)).toContain('"on_or_before":"2026-12-07T10:00:00.000Z"');
    expect(JSON.stringify(out)).toContain('"rich_text":{"equals":"now"}');
    expect(filter.and[1]).toEqual({
      or: [
        { property: "Publish at", date: { on_or_before: "now" } },
        { property: "Pinned", checkbox: { equals: true } },
      ],
    });
  });

  it("finds the publish-date properties, and the query for the earliest one to come", () => {
    expect(scheduledProperties(filter)).toEqual(["Publish at"]);
    expect(scheduledProperties({ property: "Publish at", date: { on_or_after: "now" } })).toEqual([]);
    const q = nextScheduledQuery(filter, "Publish at", now);
    expect(q.sorts).toEqual([{ property: "Publish at", direction: "ascending" }]);
    expect(q.page_size).toBe(1);
    expect(JSON.stringify(q.filter)).toContain('{"property":"Publish at","date":{"after":"2026-12-07T10:00:00.000Z"}}');
    expect(JSON.stringify(q.filter)).toContain('"Published"');
  });
});
