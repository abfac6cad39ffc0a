/**
 * lib/sync/cursor.ts: loading (validation never crashes), starting a run
 * (the `since` overlap window), run ids and the minute rounding of nextSince.
 */
import { describe, expect, it } from "vitest";
import { CURSOR_VERSION, type Cursor, newRunId, nextSince, parseCursor, startCursor } from "../../lib/sync/cursor";

const NOW = new Date("2025-06-01T12:34:56.789Z");

/** A cursor as it comes back from KV: JSON, not the object the code built. */
function stored(cursor: Cursor): unknown {
  return JSON.parse(JSON.stringify(cursor));
}

function validCursor(overrides: Partial<Cursor> = {}): Cursor {
  return { ...startCursor("pages", { force: false, previous: null, now: NOW, runId: "run-1" }), ...overrides };
}

describe("parseCursor", () => {
  it("reports no cursor for null and undefined", () => {
    expect(parseCursor(null)).toEqual({ kind: "none" });
    expect(parseCursor(undefined)).toEqual({ kind: "none" });
  });

  it("accepts a stored cursor and gives back the same fields", () => {
    const cursor = validCursor({
      phase: "sync",
      seq: 4,
      syncPiece: 17,
      partials: ["c"],
      since: "2025-06-01T12:00:00.000Z",
      list: {
        windowStart: "2025-05-01T10:00:00.000Z",
        startCursor: "abc",
        lastCreated: "2025-05-02T10:00:00.000Z",
        pieces: 40,
        windows: 2,
        source: null,
      },
      retryAt: "2025-06-01T12:40:00.000Z",
      error: { code: "x", message: "y", at: "2025-06-01T12:35:00.000Z" },
      chain: {
        seq: 4,
        published: true,
        messageId: "msg_1",
        via: "qstash",
        link: 0,
        at: null,
        stopped: null,
        error: null,
      },
    });
    const loaded = parseCursor(stored(cursor));
    expect(loaded.kind).toBe("ok");
    if (loaded.kind !== "ok") return;
    expect(loaded.cursor).toEqual(cursor);
  });

  it.each([
    ["an older version", 0],
    ["a newer version", CURSOR_VERSION + 1],
    ["a version given as a string", String(CURSOR_VERSION)],
    ["no version at all", undefined],
  ])("rejects %s with a reason naming the version", (_label, version) => {
    const raw = { ...(stored(validCursor()) as Record<string, unknown>), version };
    const loaded = parseCursor(raw);
    expect(loaded.kind).toBe("invalid");
    if (loaded.kind !== "invalid") return;
    expect(loaded.reason).toMatch(/version/);
    expect(loaded.reason).toContain(JSON.stringify(version) ?? "undefined");
  });

  it.each([
    ["a negative seq", { seq: -1 }],
    ["a fractional syncPiece", { syncPiece: 1.5 }],
    ["a list without its window", { list: { pieces: 1 } }],
    ["an unknown phase", { phase: "publish" }],
    ["a section name no config allows", { section: "Blog Posts" }],
    ["an unknown status", { status: "paused" }],
    ["an empty run id", { runId: "" }],
    ["counts without a field", { counts: { listed: 1 } }],
    ["a non-array partials", { partials: "a,b" }],
    ["an unknown finalize stage", { finalize: { stage: "publish", piece: 0, chunks: [], total: 0, failedPages: [] } }],
    ["force as a string", { force: "true" }],
    ["an error without its code", { error: { message: "m", at: "t" } }],
    ["a missing since (not null)", { since: undefined }],
  ])("rejects %s as invalid with a reason instead of throwing", (_label, damage) => {
    const raw = { ...(stored(validCursor()) as Record<string, unknown>), ...damage };
    const loaded = parseCursor(raw);
    expect(loaded.kind).toBe("invalid");
    if (loaded.kind !== "invalid") return;
    expect(loaded.reason).toMatch(/validation/);
    expect(loaded.reason.length).toBeGreaterThan("cursor failed validation: ".length);
  });

  it.each([
    ["a string", "garbage"],
    ["a number", 42],
    ["an array", [1, 2]],
    ["an empty object", {}],
  ])("treats %s in the cursor key as invalid, not as a crash", (_label, raw) => {
    expect(parseCursor(raw).kind).toBe("invalid");
  });
});

describe("cursors of a deployment from before the children walk pinned its snapshot", () => {
  it("load: no trigger, and a walk mid-way has nothing pinned (it walks that index again, pinned)", () => {
    const old = stored(
      validCursor({
        list: {
          windowStart: null,
          startCursor: null,
          lastCreated: null,
          pieces: 3,
          windows: 1,
          source: { section: "posts", chunk: 2, pinned: null, restarts: 0 },
        },
      }),
    ) as Record<string, unknown> & { list: { source: Record<string, unknown> } };
    delete old.trigger;
    old.list.source = { section: "posts", chunk: 2 };
    const loaded = parseCursor(old);
    expect(loaded.kind).toBe("ok");
    if (loaded.kind !== "ok") return;
    expect(loaded.cursor.trigger).toBeNull();
    expect(loaded.cursor.list.source).toEqual({ section: "posts", chunk: 2, pinned: null, restarts: 0 });
  });

  it("a run's trigger is carried to the next run unless it has its own", () => {
    const previous = validCursor({ trigger: "t-1", status: "done" });
    expect(startCursor("children", { force: false, previous, now: NOW }).trigger).toBe("t-1");
    expect(startCursor("children", { force: false, previous, now: NOW, trigger: "t-2" }).trigger).toBe("t-2");
  });
});

describe("startCursor", () => {
  it("starts a fresh run in the list phase with nothing done", () => {
    const cursor = startCursor("posts", { force: false, previous: null, now: NOW });
    expect(cursor).toMatchObject({
      section: "posts",
      status: "running",
      phase: "list",
      seq: 0,
      force: false,
      startedAt: NOW.toISOString(),
      finishedAt: null,
      since: null,
      list: { windowStart: null, startCursor: null, lastCreated: null, pieces: 0, windows: 0, source: null },
      syncPiece: 0,
      finalize: null,
      held: null,
      partials: [],
      error: null,
      retryAt: null,
      chain: null,
    });
    expect(Object.values(cursor.counts).every((n) => n === 0)).toBe(true);
    // What it writes must load again.
    expect(parseCursor(stored(cursor)).kind).toBe("ok");
  });

  it("uses the given run id, else makes one from the start time", () => {
    expect(startCursor("pages", { force: false, previous: null, now: NOW, runId: "given" }).runId).toBe("given");
    expect(startCursor("pages", { force: false, previous: null, now: NOW }).runId.startsWith("20250601T123456Z-")).toBe(
      true,
    );
  });

  it("sets since to one minute before the minute the previous done run started", () => {
    const previous = validCursor({
      status: "done",
      startedAt: "2025-05-31T23:00:42.123Z",
      finishedAt: "2025-05-31T23:01:30.000Z",
    });
    const cursor = startCursor("pages", { force: false, previous, now: NOW });
    expect(cursor.since).toBe("2025-05-31T22:59:00.000Z");
  });

  it("ignores the previous run's own since when it completed", () => {
    const previous = validCursor({
      status: "done",
      startedAt: "2025-06-01T10:00:00.000Z",
      since: "2025-05-01T00:00:00.000Z",
    });
    expect(startCursor("pages", { force: false, previous, now: NOW }).since).toBe("2025-06-01T09:59:00.000Z");
  });

  it("takes since from the last completed run when the previous run failed (a failed run proves nothing)", () => {
    const previous = validCursor({
      status: "failed",
      startedAt: "2025-06-01T11:00:00.000Z",
      since: "2025-05-20T08:14:00.000Z",
      lastCompletedStart: "2025-05-20T08:15:30.000Z",
    });
    expect(startCursor("pages", { force: false, previous, now: NOW }).since).toBe("2025-05-20T08:14:00.000Z");
  });

  it("keeps the last completed run's start through a failed forced run", () => {
    const done = validCursor({ status: "done", startedAt: "2025-05-30T09:45:10.000Z" });
    const forced = startCursor("pages", { force: true, previous: done, now: NOW });
    expect(forced.since).toBeNull();
    const failedForced = { ...forced, status: "failed" as const };
    const next = startCursor("pages", { force: false, previous: failedForced, now: NOW });
    expect(next.since).toBe("2025-05-30T09:44:00.000Z");
  });

  it("carries a null since over from a failed first run", () => {
    const previous = validCursor({ status: "failed", startedAt: "2025-06-01T11:00:00.000Z", since: null });
    expect(startCursor("pages", { force: false, previous, now: NOW }).since).toBeNull();
  });

  it("has no since when forced, whatever the previous run", () => {
    const done = validCursor({ status: "done", startedAt: "2025-06-01T10:00:00.000Z" });
    const failed = validCursor({ status: "failed", since: "2025-05-20T08:14:00.000Z" });
    for (const previous of [done, failed, null]) {
      const cursor = startCursor("pages", { force: true, previous, now: NOW });
      expect(cursor.since).toBeNull();
      expect(cursor.force).toBe(true);
    }
  });

  it("does not inherit progress from the previous run", () => {
    const previous = validCursor({
      status: "failed",
      phase: "sync",
      seq: 9,
      syncPiece: 40,
      partials: ["p"],
      list: {
        windowStart: "2025-05-01T10:00:00.000Z",
        startCursor: "x",
        lastCreated: null,
        pieces: 80,
        windows: 2,
        source: null,
      },
    });
    const cursor = startCursor("pages", { force: false, previous, now: NOW });
    expect(cursor).toMatchObject({ phase: "list", seq: 0, syncPiece: 0, partials: [], finalize: null, held: null });
    expect(cursor.list).toEqual({
      windowStart: null,
      startCursor: null,
      lastCreated: null,
      pieces: 0,
      windows: 0,
      source: null,
    });
    expect(cursor.runId).not.toBe(previous.runId);
  });
});

describe("newRunId", () => {
  it("sorts in start order across seconds, minutes, days and years", () => {
    const instants = [
      "2024-12-31T23:59:59.999Z",
      "2025-01-01T00:00:00.000Z",
      "2025-01-01T00:00:09.000Z",
      "2025-01-01T00:00:10.000Z",
      "2025-01-01T00:59:59.000Z",
      "2025-01-01T01:00:00.000Z",
      "2025-01-09T00:00:00.000Z",
      "2025-01-10T00:00:00.000Z",
      "2025-10-01T00:00:00.000Z",
    ].map((s) => new Date(s));
    const ids = instants.map((d) => newRunId(d));
    const shuffled = [...ids].reverse();
    expect(shuffled.sort()).toEqual(ids);
  });

  it("is unique for runs started at the same instant", () => {
    const ids = Array.from({ length: 200 }, () => newRunId(NOW));
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("is safe to use in a KV key and a QStash body", () => {
    const id = newRunId(NOW);
    expect(id).toMatch(/^[0-9A-Za-z-]+$/);
    expect(id.length).toBeLessThanOrEqual(100);
  });
});

describe("nextSince", () => {
  it.each([
    ["2025-06-01T12:00:00.000Z", "2025-06-01T11:59:00.000Z"],
    ["2025-06-01T12:00:00.001Z", "2025-06-01T11:59:00.000Z"],
    ["2025-06-01T12:00:59.999Z", "2025-06-01T11:59:00.000Z"],
    ["2025-06-01T12:01:00.000Z", "2025-06-01T12:00:00.000Z"],
    ["2025-01-01T00:00:30.000Z", "2024-12-31T23:59:00.000Z"],
  ])("%s → %s", (startedAt, expected) => {
    expect(nextSince(startedAt)).toBe(expected);
  });

  it("covers any edit Notion stamps in the run's own minute", () => {
    // Notion floors last_edited_time to the minute: an edit during the run may
    // carry a stamp up to a minute before the run started.
    const startedAt = "2025-06-01T12:00:59.999Z";
    const editStampedBeforeStart = "2025-06-01T12:00:00.000Z";
    expect(editStampedBeforeStart >= nextSince(startedAt)).toBe(true);
  });
});
