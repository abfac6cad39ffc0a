/**
 * The edge follows the workspace (issue 24), through the real handlers in
 * process against the Notion emulator and a real redis-server: a posts-only
 * deployment (NOTION_PAGES_DB unset), unknown sections, file refs minted
 * before sections came from the config, and scheduled publishing's
 * orchestration (the QStash test server; the reviver without a carrier).
 */
import { createHmac } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cursor, parseCursor } from "../lib/sync/cursor";
import { startRequestKey } from "../lib/sync/start-requests";
import { handleStatus } from "../lib/http/status-route";
import { handleSync } from "../lib/http/sync-route";
import { handleTrigger } from "../lib/http/trigger-route";
import { parseAction, runAction } from "../lib/dashboard/actions";
import { configuredSections } from "../lib/dashboard/sections";
import { decodeFileRef, encodeFileRef, fileRefKey } from "../lib/files/refs";
import { readSectionStatus } from "../lib/operator/status";
import { reviveSections } from "../lib/orchestration/revive";
import { parseScheduledRun, scheduleNextPublish, scheduledRunKey } from "../lib/orchestration/scheduled-run";
import { createPublisher } from "../lib/qstash/publish";
import { type QStashEmulator, startQStashEmulator } from "../scripts/emulator/qstash/server";
import { type Stack, TEST_SECRET, startStack, syncUntilDone } from "./support/harness";

const json = async (response: Response) => ({
  status: response.status,
  body: (await response.json()) as Record<string, unknown> & { error?: { code: string; message: string } },
});

describe("a posts-only deployment (NOTION_PAGES_DB unset), in process", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      workspace: { pages: 4, posts: 5, hugePages: 0 },
      env: { NOTION_PAGES_DB: "", SYNC_INLINE_FALLBACK: "1" },
    });
  });
  afterAll(async () => stack?.close());
  const call = (path: string, init?: RequestInit) => new Request(`http://localhost${path}`, init);

  it("an unknown section is a 404 listing the configured ones, before authentication; pages names its variable", async () => {
    for (const name of ["nope", "PAGES", "toString", "__proto__", "a".repeat(60)]) {
      const { status, body } = await json(await handleSync(name, call(`/api/sync/${name}`), stack.env));
      expect(status, name).toBe(404);
      expect(body.error!.code).toBe("unknown_section");
      expect(body.sections).toEqual(["posts", "children"]);
      expect(body.error!.message).toContain("use one of posts, children");
    }
    const pages = await json(await handleSync("pages", call(`/api/sync/pages?secret=${TEST_SECRET}`), stack.env));
    expect(pages.status).toBe(503);
    expect(pages.body).toMatchObject({ error: { code: "config_error" }, variables: ["NOTION_PAGES_DB"] });
  });

  it("the trigger runs posts then children (no 503 for the missing pages database); status lists just those", async () => {
    const trigger = await json(await handleTrigger(call(`/api/sync/trigger?secret=${TEST_SECRET}`), stack.env));
    expect(trigger.status, JSON.stringify(trigger.body)).toBe(200);
    expect(trigger.body.mode).toBe("inline");
    expect((trigger.body.sections as { section: string }[]).map((s) => s.section)).toEqual(["posts", "children"]);
    const status = await json(await handleStatus(call(`/api/sync/status?secret=${TEST_SECRET}`), stack.env));
    expect((status.body.sections as { section: string }[]).map((s) => s.section)).toEqual(["posts", "children"]);
    const narrowed = await json(
      await handleStatus(call(`/api/sync/status?secret=${TEST_SECRET}&section=pages`), stack.env),
    );
    expect(narrowed.status).toBe(400);
    expect(narrowed.body.error!.message).toContain("posts, children");
  });

  it("the dashboard acts on the configured sections only", async () => {
    expect(configuredSections(stack.env)).toEqual(["posts", "children"]);
    const form = (section: string) => new URLSearchParams({ action: "start", section });
    expect(parseAction(form("pages"), configuredSections(stack.env))).toEqual({
      error: "start needs a section: one of posts, children",
    });
    const context = { secret: TEST_SECRET, origin: "http://localhost", env: stack.env };
    for (const section of ["posts", "children"]) {
      const parsed = parseAction(form(section), configuredSections(stack.env));
      expect(parsed).toEqual({ action: "start", section });
      const outcome = await runAction(parsed as { action: "start"; section: string }, context);
      expect(outcome.ok, outcome.text).toBe(true);
    }
    const run = await runAction({ action: "run", section: null }, context);
    expect(run.ok, run.text).toBe(true);
    expect(run.text).toMatch(/posts .*children/);
  });
});

describe("scheduled publishing without a carrier: the reviver starts the due run", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ workspace: { pages: 3, posts: 4, hugePages: 0 } });
  });
  afterAll(async () => stack?.close());

  const cursor = async (section: string): Promise<Cursor> => {
    const loaded = parseCursor(await stack.kv.get(stack.keys.cursor(section)));
    if (loaded.kind !== "ok") throw new Error(`no ${section} cursor`);
    return loaded.cursor;
  };

  it("records the due time in KV, shows it in the status, and once due a run starts from any invocation's reviver", async () => {
    await syncUntilDone(stack, "posts");
    const done = await cursor("posts");
    const at = new Date(Date.now() + 1500).toISOString();
    const record = await scheduleNextPublish({
      kv: stack.kv,
      keys: stack.keys,
      section: "posts",
      cursor: { ...done, nextPublishAt: at },
      qstash: null,
    });
    expect(record).toMatchObject({ at, via: "kv", messageId: null, byRunId: done.runId, error: null });
    expect((await readSectionStatus(stack.kv, stack.keys, "posts")).scheduled).toEqual(record);

    const revive = () => reviveSections({ env: stack.env, startedAt: Date.now(), budgetMs: 2000 });
    await revive(); // not due yet: nothing starts
    expect((await cursor("posts")).runId).toBe(done.runId);
    expect(await stack.kv.get(startRequestKey(stack.keys, "posts"))).toBeNull();

    await new Promise((r) => setTimeout(r, Date.parse(at) - Date.now() + 50));
    await revive();
    const after = await cursor("posts");
    expect(after.runId).not.toBe(done.runId);
    expect(Date.parse(after.startedAt)).toBeGreaterThanOrEqual(Date.parse(at));
    expect(await stack.kv.get(scheduledRunKey(stack.keys, "posts"))).toBeNull();
  });

  it("a run that completes with no future publish date drops the record; a run started after the time covers it", async () => {
    const done = await cursor("posts");
    const key = scheduledRunKey(stack.keys, "posts");
    await scheduleNextPublish({
      kv: stack.kv,
      keys: stack.keys,
      section: "posts",
      cursor: { ...done, nextPublishAt: new Date(Date.now() + 60_000).toISOString() },
      qstash: null,
    });
    expect(parseScheduledRun(await stack.kv.get(key))).not.toBeNull();
    await scheduleNextPublish({ kv: stack.kv, keys: stack.keys, section: "posts", cursor: done, qstash: null });
    expect(await stack.kv.get(key)).toBeNull();

    // Due a while ago, but the current run started after it: covered, dropped, nothing started.
    await stack.kv.set(key, {
      at: new Date(Date.parse(done.startedAt) - 1000).toISOString(),
      via: "kv",
      messageId: null,
      byRunId: "older",
      recordedAt: done.startedAt,
      error: null,
    });
    await reviveSections({ env: stack.env, startedAt: Date.now(), budgetMs: 2000 });
    expect(await stack.kv.get(key)).toBeNull();
    expect((await cursor("posts")).runId).toBe(done.runId);
  });
});

describe("scheduled publishing with QStash", () => {
  let stack: Stack;
  let qstash: QStashEmulator;
  beforeAll(async () => {
    stack = await startStack({ workspace: { pages: 2, posts: 2, hugePages: 0 } });
    qstash = await startQStashEmulator({ delayScale: 1 });
  });
  afterAll(async () => {
    await qstash?.close();
    await stack?.close();
  });

  it("publishes one message per time, not before it, deduplicated by section and time; a moved date gets its own", async () => {
    await syncUntilDone(stack, "posts");
    const done = parseCursor(await stack.kv.get(stack.keys.cursor("posts")));
    if (done.kind !== "ok") throw new Error("no cursor");
    const chain = { baseUrl: "http://127.0.0.1:9", notionToken: "secret_scheduled" };
    const publisher = createPublisher({ token: qstash.token, url: qstash.url });
    const schedule = (at: string, p = publisher) =>
      scheduleNextPublish({
        kv: stack.kv,
        keys: stack.keys,
        section: "posts",
        cursor: { ...done.cursor, nextPublishAt: at },
        qstash: { publisher: p, chain },
      });
    const at = new Date(Math.ceil(Date.now() / 1000) * 1000 + 10 * 60_000).toISOString();
    const first = await schedule(at);
    const again = await schedule(at);
    expect(first).toMatchObject({ at, via: "qstash", error: null });
    expect(again).toEqual(first);
    const sent = qstash.messages();
    expect(sent).toHaveLength(1);
    const seconds = Date.parse(at) / 1000;
    expect(sent[0]).toMatchObject({
      destination: "http://127.0.0.1:9/api/sync/posts",
      notBefore: seconds * 1000,
      deduplicationId: `scheduled-posts-${seconds}`,
      messageId: first!.messageId,
    });
    expect(sent[0].requestedDelayMs).toBeGreaterThan(9 * 60_000);
    expect(sent[0].requestedDelayMs).toBeLessThanOrEqual(10 * 60_000 + 1000);
    expect(JSON.parse(sent[0].body)).toMatchObject({ seq: 0, force: false });
    expect(sent[0].headers["upstash-flow-control-key"]).toBeTruthy();

    const moved = new Date(Date.parse(at) + 3600_000).toISOString();
    expect(await schedule(moved)).toMatchObject({ at: moved, via: "qstash" });
    expect(qstash.messages().map((m) => m.notBefore)).toEqual([seconds * 1000, (seconds + 3600) * 1000]);
    expect((await readSectionStatus(stack.kv, stack.keys, "posts")).scheduled).toMatchObject({ at: moved });

    // Beyond QStash's delay limit: kept in KV, said why; a later run publishes it once within reach.
    const far = new Date(Date.now() + 8 * 24 * 3600_000).toISOString();
    expect(await schedule(far)).toMatchObject({ at: far, via: "kv", error: expect.stringMatching(/7-day/) });
    expect(qstash.messages()).toHaveLength(2);
  });

  it("a failed publish is logged and kept in the record (the reviver's path), never thrown", async () => {
    const done = parseCursor(await stack.kv.get(stack.keys.cursor("posts")));
    if (done.kind !== "ok") throw new Error("no cursor");
    const down = createPublisher({ token: qstash.token, url: "http://127.0.0.1:9" });
    const at = new Date(Date.now() + 20 * 60_000).toISOString();
    const record = await scheduleNextPublish({
      kv: stack.kv,
      keys: stack.keys,
      section: "posts",
      cursor: { ...done.cursor, nextPublishAt: at },
      qstash: { publisher: down, chain: { baseUrl: "http://127.0.0.1:9", notionToken: "secret_x" } },
    });
    expect(record).toMatchObject({ at, via: "kv", messageId: null, error: expect.stringMatching(/publish failed/) });
    expect((await readSectionStatus(stack.kv, stack.keys, "posts")).scheduled).toEqual(record);
  });
});

describe("file refs", () => {
  const KEY = fileRefKey({ CRON_SECRET: "refs-secret" });
  const PAGE = "0123456789abcdef0123456789abcdef";
  /** A version 1 ref as minted before sections came from the config: the section is an index byte. */
  const v1Ref = (sectionIndex: number) => {
    const body = Buffer.concat([
      Buffer.from([1, 2 /* cover */, sectionIndex]),
      Buffer.from(PAGE, "hex"),
      Buffer.from("0123456789ab", "hex"),
    ]);
    const mac = createHmac("sha256", KEY).update("notion-kv-sync.file-ref.v1.").update(body).digest().subarray(0, 16);
    return Buffer.concat([body, mac]).toString("base64url");
  };

  it("still decodes version 1 refs (index 0/1/2 = pages/posts/children) and refuses an index past them", () => {
    const dashed = "01234567-89ab-cdef-0123-456789abcdef";
    expect(decodeFileRef(v1Ref(0), KEY)).toEqual({
      kind: "cover",
      section: "pages",
      pageId: dashed,
      tag: "0123456789ab",
    });
    expect(decodeFileRef(v1Ref(1), KEY)).toMatchObject({ section: "posts" });
    expect(decodeFileRef(v1Ref(2), KEY)).toMatchObject({ section: "children" });
    expect(decodeFileRef(v1Ref(3), KEY)).toBeNull();
  });

  it("mints version 2 refs that spell any section name", () => {
    const ref = { kind: "block" as const, blockId: PAGE, section: "release-notes", pageId: PAGE, tag: "0123456789ab" };
    const text = encodeFileRef(ref, KEY);
    expect(Buffer.from(text, "base64url")[0]).toBe(2);
    expect(decodeFileRef(text, KEY)).toMatchObject({ section: "release-notes", kind: "block" });
    expect(() => encodeFileRef({ ...ref, section: "Not A Name" }, KEY)).toThrow(RangeError);
  });
});
