/**
 * needsFetch (lib/sync/list-phase.ts): which listed rows an incremental run
 * fetches again. Notion floors last_edited_time to the minute, so an edit made
 * in the same minute as the previous sync looks unchanged; the `since` window
 * catches those.
 */
import { describe, expect, it } from "vitest";
import type { NotionPage } from "../../lib/notion/types";
import type { IndexEntry } from "../../lib/sync/bundle";
import { nextSince } from "../../lib/sync/cursor";
import { needsFetch } from "../../lib/sync/list-phase";

const ID = "aaaa1111-0000-4000-8000-000000000001";

function page(lastEdited: string): NotionPage {
  return {
    object: "page",
    id: ID,
    created_time: "2025-01-01T00:00:00.000Z",
    last_edited_time: lastEdited,
    parent: { type: "data_source_id", data_source_id: "ds", database_id: "db" },
    properties: { Name: { id: "title", type: "title", title: [{ plain_text: "Hello" }] } },
  };
}

function entry(lastEdited: string, slug = "hello"): IndexEntry {
  return {
    id: ID,
    slug,
    title: "Hello",
    created_time: "2025-01-01T00:00:00.000Z",
    last_edited_time: lastEdited,
    properties: {},
    childPages: [],
  };
}

const EDITED = "2025-06-01T12:00:00.000Z";
const incremental = (since: string | null) => ({ force: false, since });

describe("needsFetch", () => {
  it("fetches everything when forced, even an unchanged page outside the window", () => {
    expect(needsFetch(page(EDITED), entry(EDITED), "hello", { force: true, since: "2025-07-01T00:00:00.000Z" })).toBe(
      true,
    );
    expect(needsFetch(page(EDITED), entry(EDITED), "hello", { force: true, since: null })).toBe(true);
  });

  it("fetches a page the previous index does not know", () => {
    expect(needsFetch(page(EDITED), undefined, "hello", incremental(null))).toBe(true);
  });

  it("fetches a page whose slug changed although its timestamp did not", () => {
    expect(needsFetch(page(EDITED), entry(EDITED, "hello"), "hello-aaaa1111", incremental(null))).toBe(true);
  });

  it("fetches a page whose timestamp moved, in either direction", () => {
    expect(needsFetch(page("2025-06-01T12:05:00.000Z"), entry(EDITED), "hello", incremental(null))).toBe(true);
    // A restored older version also differs from what was stored.
    expect(needsFetch(page("2025-05-01T08:00:00.000Z"), entry(EDITED), "hello", incremental(null))).toBe(true);
  });

  it("skips an unchanged page when there is no window (first run after a forced one)", () => {
    expect(needsFetch(page(EDITED), entry(EDITED), "hello", incremental(null))).toBe(false);
  });

  it("fetches an unchanged-looking page stamped inside the rounding window", () => {
    // The previous run started at 12:00:40; an edit at 12:00:50 is also stamped 12:00.
    const since = nextSince("2025-06-01T12:00:40.000Z");
    expect(needsFetch(page(EDITED), entry(EDITED), "hello", incremental(since))).toBe(true);
    // The minute before the run's minute is covered too.
    const earlier = "2025-06-01T11:59:00.000Z";
    expect(needsFetch(page(earlier), entry(earlier), "hello", incremental(since))).toBe(true);
  });

  it("treats the window's first instant as inside it", () => {
    expect(needsFetch(page(EDITED), entry(EDITED), "hello", incremental(EDITED))).toBe(true);
  });

  it("skips an unchanged page stamped before the window", () => {
    const since = nextSince("2025-06-01T12:00:40.000Z"); // 11:59
    const before = "2025-06-01T11:58:00.000Z";
    expect(needsFetch(page(before), entry(before), "hello", incremental(since))).toBe(false);
    const long = "2024-02-03T04:05:00.000Z";
    expect(needsFetch(page(long), entry(long), "hello", incremental(since))).toBe(false);
  });

  it("compares a timestamp without milliseconds against the window correctly", () => {
    const since = "2025-06-01T11:59:00.000Z";
    expect(needsFetch(page("2025-06-01T11:59:00Z"), entry("2025-06-01T11:59:00Z"), "hello", incremental(since))).toBe(
      true,
    );
    expect(needsFetch(page("2025-06-01T11:58:00Z"), entry("2025-06-01T11:58:00Z"), "hello", incremental(since))).toBe(
      false,
    );
  });
});
