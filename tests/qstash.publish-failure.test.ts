/**
 * A step whose successor could not be published must not end the chain: the
 * delivery is answered 503 so QStash redelivers it, and the redelivery
 * continues the run (the cursor records the successor as unpublished).
 * Route handler called in process with real signed deliveries.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { handleTrigger } from "../lib/http/trigger-route";
import { handleSync } from "../lib/http/sync-route";
import type { Cursor } from "../lib/sync/cursor";
import { type QStashEmulator, startQStashEmulator } from "../scripts/emulator/qstash/server";
import { type Stack, startStack, syncUntilDone } from "./support/harness";

const BASE = "http://127.0.0.1:9"; // nothing listens: deliveries the emulator attempts go nowhere

describe("a failed publish of the successor", () => {
  const servers = withStackAndQStash({
    workspace: { pages: 60, posts: 3, hugePages: 0 },
    latencyMs: 15,
    env: { SYNC_BUDGET_MS: "500" },
  });
  let stack: Stack;
  let qstash: QStashEmulator;
  beforeAll(() => void ({ stack, qstash } = servers()));

  const deliver = (body: string, qstashUrl: string) => deliverTo(stack, qstash, body, qstashUrl);

  it("answers 503 so QStash redelivers, and a redelivery continues the run and publishes, however many attempts failed before", async () => {
    const step0 = JSON.stringify({ runId: "run-publish-failure", seq: 0, force: false });
    // Three attempts in a row meet an unreachable QStash: each is answered 503, and each
    // repairs the same step (seq 1) instead of moving past it.
    for (let attempt = 1; attempt <= 3; attempt++) {
      const failed = await deliver(step0, "http://127.0.0.1:1");
      expect(failed.status).toBe(503);
      const failedBody = (await failed.json()) as { ok: boolean; error: { code: string }; invocation: number };
      expect(failedBody, `attempt ${attempt}`).toMatchObject({
        ok: false,
        error: { code: "chain_publish_failed" },
        invocation: 1,
      });
      const after = (await stack.kv.get<Cursor>(stack.keys.cursor("pages")))!;
      expect(after.seq).toBe(1);
      expect(after.chain).toMatchObject({ seq: 1, published: false });
    }

    const redelivered = await deliver(step0, qstash.url);
    expect(redelivered.status).toBe(200);
    const body = (await redelivered.json()) as { invocation: number; stale?: boolean; next: { published: boolean } };
    expect(body.stale).toBeUndefined();
    expect(body.invocation).toBe(1);
    expect(body.next.published).toBe(true);
    // The successor carries the step's own seq: had a dead attempt published it, QStash would deduplicate this one.
    const published = qstash.messages().map((m) => JSON.parse(m.body) as { runId: string; seq: number });
    expect(published).toEqual([{ runId: "run-publish-failure", seq: 1, force: false }]);

    // Once the successor is out, another copy of the old step is a duplicate.
    const duplicate = await deliver(step0, qstash.url);
    expect(((await duplicate.json()) as { stale?: boolean }).stale).toBe(true);
  });
});

describe("a delivery of the step another invocation is running", () => {
  const servers = withStackAndQStash({ workspace: { pages: 4, posts: 3, hugePages: 0 } });
  let stack: Stack;
  let qstash: QStashEmulator;
  beforeAll(() => void ({ stack, qstash } = servers()));

  it("waits for the holder; while it is held (no recorded end to wait for) the copy gets a retryable 409 marked duplicate and writes nothing", async () => {
    const step0 = JSON.stringify({ runId: "run-dup", seq: 0, force: false });
    expect((await deliverTo(stack, qstash, step0, qstash.url)).status).toBe(200);
    const finished = (await stack.kv.get<Cursor>(stack.keys.cursor("pages")))!;
    expect(finished).toMatchObject({ runId: "run-dup", seq: 1 });
    // The run is still going (a larger workspace), and another invocation is running the step of
    // message seq 0 right now (it moved the cursor to seq 1 when it started).
    const cursor: Cursor = { ...finished, status: "running", phase: "sync", finishedAt: null };
    await stack.kv.set(stack.keys.cursor("pages"), cursor);
    await stack.kv.set(stack.keys.lease("pages"), "the-running-invocation", { pxMs: 60_000 });
    const copy = await deliverTo(stack, qstash, JSON.stringify({ runId: "run-dup", seq: 0, force: false }), qstash.url);
    // Never acknowledged: had the holder died, a 200 would drop the step for good.
    expect(copy.status).toBe(409);
    expect(await copy.json()).toMatchObject({
      ok: false,
      duplicate: true,
      runId: "run-dup",
      error: { code: "already_running" },
    });
    // The successor the holder has just published (seq 1 = the cursor's) must not be acknowledged:
    // it meets the lease and QStash delivers it again once the holder is done.
    const successor = await deliverTo(
      stack,
      qstash,
      JSON.stringify({ runId: "run-dup", seq: 1, force: false }),
      qstash.url,
    );
    expect(successor.status).toBe(409);
    // Something else while the lease is held (another run's step) still meets the lease.
    const other = await deliverTo(
      stack,
      qstash,
      JSON.stringify({ runId: "another-run", seq: 4, force: false }),
      qstash.url,
    );
    expect(other.status).toBe(409);
    expect(await stack.kv.get(stack.keys.cursor("pages"))).toEqual(cursor);
    await stack.kv.del([stack.keys.lease("pages")]);
  });
});

describe("QStash on Vercel without a public URL", () => {
  const servers = withStackAndQStash({ workspace: { pages: 4, posts: 3, hugePages: 0 } });
  let stack: Stack;
  let qstash: QStashEmulator;
  beforeAll(() => void ({ stack, qstash } = servers()));

  it("answers 503 config_error naming SYNC_BASE_URL instead of publishing to the protected VERCEL_URL, and writes nothing", async () => {
    const env = {
      ...stack.env,
      VERCEL: "1",
      VERCEL_URL: "notion-kv-sync-abc123.vercel.app",
      QSTASH_URL: qstash.url,
      QSTASH_TOKEN: qstash.token,
      QSTASH_CURRENT_SIGNING_KEY: qstash.currentSigningKey,
      QSTASH_NEXT_SIGNING_KEY: qstash.nextSigningKey,
    };
    for (const path of ["pages", "trigger"] as const) {
      const request = new Request(`http://localhost/api/sync/${path}?secret=${stack.env.CRON_SECRET}`);
      const response = path === "pages" ? await handleSync("pages", request, env) : await handleTrigger(request, env);
      expect(response.status).toBe(503);
      expect(await response.json()).toMatchObject({
        ok: false,
        error: { code: "config_error" },
        variables: ["SYNC_BASE_URL"],
      });
    }
    expect(qstash.messages()).toHaveLength(0);
    expect(await stack.kv.get(stack.keys.cursor("pages"))).toBeNull();
  });
});

describe("a failed publish of the children kick", () => {
  const servers = withStackAndQStash({ workspace: { pages: 4, posts: 3, hugePages: 0 } });
  let stack: Stack;
  let qstash: QStashEmulator;
  beforeAll(() => void ({ stack, qstash } = servers()));

  it("answers 503 when the finished run cannot start children, and the redelivery starts it", async () => {
    await syncUntilDone(stack, "posts");
    const step0 = JSON.stringify({ runId: "run-kick", seq: 0, force: false });
    const failed = await deliverTo(stack, qstash, step0, "http://127.0.0.1:1");
    expect(failed.status).toBe(503);
    expect(((await failed.json()) as { error: { code: string } }).error.code).toBe("children_kick_failed");
    expect((await stack.kv.get<Cursor>(stack.keys.cursor("pages")))!.status).toBe("done");
    expect(qstash.messages()).toHaveLength(0);

    const redelivered = await deliverTo(stack, qstash, step0, qstash.url);
    expect(redelivered.status).toBe(200);
    const body = (await redelivered.json()) as { stale?: boolean; childrenStarted?: { messageId: string } };
    expect(body.stale).toBe(true);
    expect(body.childrenStarted?.messageId).toBeTruthy();
    const kicked = qstash.messages().map((m) => ({ to: m.destination, body: JSON.parse(m.body) as { seq: number } }));
    expect(kicked).toEqual([{ to: `${BASE}/api/sync/children`, body: expect.objectContaining({ seq: 0 }) }]);
  });
});

/** A real signed delivery of `body` to the pages endpoint, with QStash at `qstashUrl`. */
function deliverTo(stack: Stack, qstash: QStashEmulator, body: string, qstashUrl: string) {
  const url = `${BASE}/api/sync/pages`;
  const request = new Request(url, {
    method: "POST",
    body,
    headers: { "content-type": "application/json", "upstash-signature": qstash.signForTest({ url, body }) },
  });
  return handleSync("pages", request, {
    ...stack.env,
    QSTASH_URL: qstashUrl,
    QSTASH_TOKEN: qstash.token,
    QSTASH_CURRENT_SIGNING_KEY: qstash.currentSigningKey,
    QSTASH_NEXT_SIGNING_KEY: qstash.nextSigningKey,
    SYNC_BASE_URL: BASE,
    SYNC_CHAIN: "auto", // the harness turns chaining off; this suite is about QStash's
  });
}

/** A stack and a QStash test server (no retries) for one describe block. */
function withStackAndQStash(options: Parameters<typeof startStack>[0]) {
  let stack: Stack | undefined;
  let qstash: QStashEmulator | undefined;
  beforeAll(async () => {
    stack = await startStack(options);
    qstash = await startQStashEmulator({ defaultRetries: 0 });
  });
  afterAll(async () => {
    await qstash?.close();
    await stack?.close();
  });
  return () => ({ stack: stack!, qstash: qstash! });
}
