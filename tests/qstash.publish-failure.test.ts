/**
 * A step whose successor could not be published must not end the chain: the
 * delivery is answered 503 so QStash redelivers it, and the redelivery
 * continues the run (the cursor records the successor as unpublished).
 * Route handler called in process with real signed deliveries.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { handleSync } from "../lib/http/sync-route";
import type { Cursor } from "../lib/sync/cursor";
import { type QStashEmulator, startQStashEmulator } from "../scripts/emulator/qstash/server";
import { type Stack, startStack } from "./support/harness";

const BASE = "http://127.0.0.1:9"; // nothing listens: deliveries the emulator attempts go nowhere

describe("a failed publish of the successor", () => {
  let stack: Stack;
  let qstash: QStashEmulator;
  beforeAll(async () => {
    stack = await startStack({ workspace: { pages: 60, posts: 3, hugePages: 0 }, latencyMs: 15, env: { SYNC_BUDGET_MS: "500" } });
    qstash = await startQStashEmulator({ defaultRetries: 0 });
  });
  afterAll(async () => {
    await qstash?.close();
    await stack?.close();
  });

  const deliver = (body: string, qstashUrl: string) => {
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
    });
  };

  it("answers 503 so QStash redelivers, and the redelivery continues the run and publishes", async () => {
    const step0 = JSON.stringify({ runId: "run-publish-failure", seq: 0, force: false });
    const failed = await deliver(step0, "http://127.0.0.1:1"); // QStash unreachable
    expect(failed.status).toBe(503);
    const failedBody = (await failed.json()) as { ok: boolean; error: { code: string }; invocation: number };
    expect(failedBody).toMatchObject({ ok: false, error: { code: "chain_publish_failed" }, invocation: 1 });
    const after = (await stack.kv.get<Cursor>(stack.keys.cursor("pages")))!;
    expect(after.seq).toBe(1);
    expect(after.chain).toMatchObject({ seq: 1, published: false });

    const redelivered = await deliver(step0, qstash.url);
    expect(redelivered.status).toBe(200);
    const body = (await redelivered.json()) as { invocation: number; stale?: boolean; next: { published: boolean } };
    expect(body.stale).toBeUndefined();
    expect(body.invocation).toBe(2);
    expect(body.next.published).toBe(true);
    const published = qstash.messages().map((m) => JSON.parse(m.body) as { runId: string; seq: number });
    expect(published).toContainEqual({ runId: "run-publish-failure", seq: 2, force: false });

    // Once the successor is out, another copy of the old step is a duplicate.
    const duplicate = await deliver(step0, qstash.url);
    expect(((await duplicate.json()) as { stale?: boolean }).stale).toBe(true);
  });
});
