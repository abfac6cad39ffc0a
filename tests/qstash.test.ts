/**
 * QStash, end to end over real HTTP: the real `@upstash/qstash` Client
 * publishes to the emulator, the emulator delivers to a local node:http
 * receiver, and every delivery is checked with the real `Receiver` and with
 * lib/qstash/verify.ts. Waits are scaled down (delayScale, fast backoff).
 */
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Client, QstashError, Receiver } from "@upstash/qstash";
import { afterEach, describe, expect, it, vi } from "vitest";
import { QStashConfigError, readQStashConfig } from "../lib/qstash/config";
import { notionFlowControl, notionFlowControlKey } from "../lib/qstash/flow-control";
import { createPublisher, toDeduplicationId, type PublishNextOptions } from "../lib/qstash/publish";
import { verifyDelivery, type VerifyResult } from "../lib/qstash/verify";
import {
  startQStashEmulator,
  type QStashEmulator,
  type QStashEmulatorOptions,
} from "../scripts/emulator/qstash/server";
import { seeded } from "./support/random";

// ---------------------------------------------------------------------------
// helpers

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
  vi.restoreAllMocks();
});

async function emulator(opts: QStashEmulatorOptions = {}): Promise<QStashEmulator> {
  const emu = await startQStashEmulator(opts);
  cleanups.push(() => emu.close());
  return emu;
}

interface Hit {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  messageId: string;
  retried: number;
  at: number;
  sdkVerified: boolean;
  libVerified: VerifyResult;
}

interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: string;
  delayMs?: number;
}

interface TestReceiver {
  url: string;
  hits: Hit[];
  maxConcurrent: number;
}

/**
 * A destination that verifies every request like the product must, then
 * answers what `respond` says. Tracks how many requests overlap.
 */
async function receiver(
  emu: QStashEmulator,
  respond: (hit: Hit, sameMessageCount: number) => Reply = () => ({ status: 200 }),
): Promise<TestReceiver> {
  const keys = { currentSigningKey: emu.currentSigningKey, nextSigningKey: emu.nextSigningKey };
  const sdkReceiver = new Receiver({ ...keys, devMode: false });
  const state: TestReceiver = { url: "", hits: [], maxConcurrent: 0 };
  let active = 0;
  const server: Server = createServer((req, res) => {
    active++;
    state.maxConcurrent = Math.max(state.maxConcurrent, active);
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      void (async () => {
        const body = Buffer.concat(chunks).toString("utf8");
        const signature = req.headers["upstash-signature"];
        const url = `${state.url}${req.url ?? ""}`;
        const sdkVerified = await sdkReceiver
          .verify({ signature: typeof signature === "string" ? signature : "", body, url })
          .catch(() => false);
        const libVerified = await verifyDelivery({
          signature: typeof signature === "string" ? signature : undefined,
          rawBody: body,
          url,
          config: keys,
        });
        const hit: Hit = {
          path: req.url ?? "",
          headers: req.headers,
          body,
          messageId: String(req.headers["upstash-message-id"] ?? ""),
          retried: Number(req.headers["upstash-retried"] ?? -1),
          at: Date.now(),
          sdkVerified,
          libVerified,
        };
        state.hits.push(hit);
        const reply = respond(hit, state.hits.filter((h) => h.messageId === hit.messageId).length);
        if (reply.delayMs) await new Promise((r) => setTimeout(r, reply.delayMs));
        active--;
        res.writeHead(reply.status, reply.headers ?? {});
        res.end(reply.body ?? "");
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  return state;
}

function syncOptions(destination: string, seq: number, extra: Partial<PublishNextOptions> = {}): PublishNextOptions {
  return {
    destination,
    body: { runId: "run-1", seq, force: false },
    deduplicationId: `run-1-${seq}`,
    ...extra,
  };
}

function expectAllVerified(hits: Hit[]): void {
  expect(hits.length).toBeGreaterThan(0);
  for (const hit of hits) {
    expect(hit.sdkVerified, `Receiver rejected ${hit.path}`).toBe(true);
    expect(hit.libVerified, `verifyDelivery rejected ${hit.path}`).toEqual({ ok: true });
  }
}

/** The SDK logs failed requests to the console; keep expected failures quiet. */
function quietSdk(): void {
  vi.spyOn(console, "error").mockImplementation(() => undefined);
  vi.spyOn(console, "warn").mockImplementation(() => undefined);
}

// ---------------------------------------------------------------------------

describe("publishing through the real SDK", () => {
  it("publishJSON and batchJSON deliver signed requests the Receiver accepts", async () => {
    const emu = await emulator();
    const r = await receiver(emu);
    const publisher = createPublisher({ token: emu.token, url: emu.url });

    const one = await publisher.publishNext(syncOptions(`${r.url}/api/sync/pages`, 1));
    expect(one.deduplicated).toBe(false);
    expect(one.messageId).toMatch(/^msg_/);

    // Straight SDK too, with a forwarded header and a query string in the destination.
    const client = new Client({ token: emu.token, baseUrl: emu.url, devMode: false });
    const raw = await client.publishJSON({
      url: `${r.url}/api/raw?section=posts&x=1`,
      body: { hello: "world" },
      headers: { "X-Trace": "abc" },
    });

    const batch = await publisher.publishBatch([
      syncOptions(`${r.url}/api/sync/pages`, 2),
      syncOptions(`${r.url}/api/sync/posts`, 3),
      syncOptions(`${r.url}/api/sync/children`, 4),
    ]);
    expect(batch).toHaveLength(3);
    expect(new Set([one.messageId, raw.messageId, ...batch.map((b) => b.messageId)]).size).toBe(5);

    await emu.idle(5000);
    expect(r.hits).toHaveLength(5);
    expectAllVerified(r.hits);

    const first = r.hits.find((h) => h.messageId === one.messageId);
    expect(first?.path).toBe("/api/sync/pages");
    expect(JSON.parse(first?.body ?? "")).toEqual({ runId: "run-1", seq: 1, force: false });
    expect(first?.headers["content-type"]).toBe("application/json");
    expect(first?.headers["upstash-retried"]).toBe("0");
    expect(first?.headers["user-agent"]).toBe("Upstash-QStash");
    // QStash's own publish headers are not passed on.
    expect(first?.headers["upstash-deduplication-id"]).toBeUndefined();
    expect(first?.headers["upstash-method"]).toBeUndefined();

    const rawHit = r.hits.find((h) => h.messageId === raw.messageId);
    expect(rawHit?.path).toBe("/api/raw?section=posts&x=1");
    expect(rawHit?.headers["x-trace"]).toBe("abc");

    const posts = r.hits.find((h) => h.messageId === batch[1]?.messageId);
    expect(JSON.parse(posts?.body ?? "")).toEqual({ runId: "run-1", seq: 3, force: false });
    expect(posts?.path).toBe("/api/sync/posts");

    expect(emu.messages().map((m) => m.state)).toEqual(Array(5).fill("delivered"));
    expect(emu.stats()).toMatchObject({
      published: 5,
      deduplicated: 0,
      deliveries: 5,
      retries: 0,
      dlq: 0,
      inFlight: 0,
    });
  });

  it("answers 401 to a wrong token", async () => {
    quietSdk();
    const emu = await emulator();
    const client = new Client({ token: "nope", baseUrl: emu.url, devMode: false, retry: false });
    const error: unknown = await client.publishJSON({ url: "http://127.0.0.1:9/x", body: {} }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QstashError);
    expect((error as QstashError).status).toBe(401);
  });

  it("a deduplication id suppresses the second publish", async () => {
    quietSdk();
    const emu = await emulator();
    const r = await receiver(emu);
    const publisher = createPublisher({ token: emu.token, url: emu.url });

    const a = await publisher.publishNext(syncOptions(`${r.url}/api/sync/pages`, 7));
    const b = await publisher.publishNext(syncOptions(`${r.url}/api/sync/pages`, 7));
    expect(b).toEqual({ messageId: a.messageId, deduplicated: true });

    // Colons are refused by QStash; the publisher hashes such ids instead.
    const c = await publisher.publishNext(
      syncOptions(`${r.url}/api/sync/pages`, 8, { deduplicationId: "run:2026-01-01T00:00" }),
    );
    const d = await publisher.publishNext(
      syncOptions(`${r.url}/api/sync/pages`, 8, { deduplicationId: "run:2026-01-01T00:00" }),
    );
    expect(c.deduplicated).toBe(false);
    expect(d).toEqual({ messageId: c.messageId, deduplicated: true });

    const client = new Client({ token: emu.token, baseUrl: emu.url, devMode: false, retry: false });
    await expect(client.publishJSON({ url: `${r.url}/x`, body: {}, deduplicationId: "a:b" })).rejects.toThrow(
      "DeduplicationId cannot contain ':'",
    );

    await emu.idle(5000);
    expect(r.hits.map((h) => h.messageId).sort()).toEqual([a.messageId, c.messageId].sort());
    expect(emu.messages().map((m) => m.state)).toEqual(["delivered", "deduplicated", "delivered", "deduplicated"]);
    expect(emu.stats()).toMatchObject({ published: 2, deduplicated: 2 });
  });

  it("honours Upstash-Delay (scaled) and records the requested delay; messages can be read and cancelled while pending", async () => {
    const emu = await emulator({ delayScale: 0.01 });
    const r = await receiver(emu);
    const publisher = createPublisher({ token: emu.token, url: emu.url });
    const client = new Client({ token: emu.token, baseUrl: emu.url, devMode: false });

    const sentAt = Date.now();
    const delayed = await publisher.publishNext(syncOptions(`${r.url}/api/sync/pages`, 1, { delaySeconds: 30 }));
    const doomed = await publisher.publishNext(syncOptions(`${r.url}/api/sync/posts`, 2, { delaySeconds: 30 }));

    const pending = await client.messages.get(delayed.messageId);
    expect(pending.url).toBe(`${r.url}/api/sync/pages`);
    expect(pending.maxRetries).toBe(3);
    expect(await client.messages.cancel(doomed.messageId)).toEqual({ cancelled: 1 });

    await emu.idle(5000);
    expect(r.hits).toHaveLength(1);
    expect(r.hits[0]?.messageId).toBe(delayed.messageId);
    expect((r.hits[0]?.at ?? 0) - sentAt).toBeGreaterThanOrEqual(290);
    const [m1, m2] = emu.messages();
    expect(m1).toMatchObject({ state: "delivered", requestedDelayMs: 30_000, scheduledDelayMs: 300 });
    expect(m1?.headers["upstash-delay"]).toBe("30s");
    expect(m2?.state).toBe("cancelled");
  });
});

describe("retries, DLQ and failure callbacks", () => {
  it("retries a 500 with backoff until it succeeds", async () => {
    const emu = await emulator();
    const r = await receiver(emu, (_hit, n) => (n <= 2 ? { status: 500, body: "boom" } : { status: 200 }));
    const publisher = createPublisher({ token: emu.token, url: emu.url });
    const { messageId } = await publisher.publishNext(syncOptions(`${r.url}/api/sync/pages`, 1));

    await emu.idle(5000);
    expect(r.hits.map((h) => [h.messageId, h.retried])).toEqual([
      [messageId, 0],
      [messageId, 1],
      [messageId, 2],
    ]);
    expectAllVerified(r.hits);
    const [m] = emu.messages();
    expect(m).toMatchObject({ state: "delivered", attempts: 3 });
    expect(m?.deliveries.map((d) => d.status)).toEqual([500, 500, 200]);
    expect(emu.stats()).toMatchObject({ retries: 2, deliveries: 3, dlq: 0 });
  });

  it("honours Retry-After from the destination (scaled)", async () => {
    const emu = await emulator({ delayScale: 0.1 });
    const r = await receiver(emu, (_hit, n) =>
      n === 1 ? { status: 429, headers: { "Retry-After": "3" } } : { status: 200 },
    );
    const publisher = createPublisher({ token: emu.token, url: emu.url });
    await publisher.publishNext(syncOptions(`${r.url}/api/sync/pages`, 1));
    await emu.idle(5000);
    expect(r.hits).toHaveLength(2);
    // 3 s × 0.1 = 300 ms, far above the 50 ms default backoff.
    expect((r.hits[1]?.at ?? 0) - (r.hits[0]?.at ?? 0)).toBeGreaterThanOrEqual(290);
  });

  it("489 with Upstash-NonRetryable-Error goes straight to the DLQ and calls the failure callback", async () => {
    const emu = await emulator();
    const r = await receiver(emu, (hit) =>
      hit.path.startsWith("/api/sync")
        ? { status: 489, headers: { "Upstash-NonRetryable-Error": "true" }, body: '{"error":"bad run"}' }
        : { status: 200 },
    );
    const publisher = createPublisher({ token: emu.token, url: emu.url });
    const { messageId } = await publisher.publishNext(
      syncOptions(`${r.url}/api/sync/pages`, 1, { failureCallback: `${r.url}/api/qstash-failure`, retries: 3 }),
    );
    await emu.idle(5000);

    const syncHits = r.hits.filter((h) => h.path === "/api/sync/pages");
    expect(syncHits).toHaveLength(1);
    const [m] = emu.messages();
    expect(m).toMatchObject({ state: "dlq", attempts: 1 });
    expect(emu.stats()).toMatchObject({ retries: 0, dlq: 1 });

    const client = new Client({ token: emu.token, baseUrl: emu.url, devMode: false });
    const { messages } = await client.dlq.listMessages();
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({
      messageId,
      url: `${r.url}/api/sync/pages`,
      responseStatus: 489,
      dlqId: m?.dlqId,
    });

    const failure = r.hits.filter((h) => h.path === "/api/qstash-failure");
    expect(failure).toHaveLength(1);
    expectAllVerified(failure);
    const payload = JSON.parse(failure[0]?.body ?? "") as Record<string, unknown>;
    expect(payload).toMatchObject({
      status: 489,
      sourceMessageId: messageId,
      url: `${r.url}/api/sync/pages`,
      dlqId: m?.dlqId,
    });
    expect(Buffer.from(String(payload.body), "base64").toString()).toBe('{"error":"bad run"}');
    expect(JSON.parse(Buffer.from(String(payload.sourceBody), "base64").toString())).toEqual({
      runId: "run-1",
      seq: 1,
      force: false,
    });
  });

  it("after the last retry the message goes to the DLQ and the failure callback is called", async () => {
    const emu = await emulator();
    const r = await receiver(emu, (hit) =>
      hit.path.startsWith("/api/sync") ? { status: 500, body: "down" } : { status: 200 },
    );
    const publisher = createPublisher({ token: emu.token, url: emu.url });
    const { messageId } = await publisher.publishNext(
      syncOptions(`${r.url}/api/sync/posts`, 1, { failureCallback: `${r.url}/api/qstash-failure`, retries: 2 }),
    );
    await emu.idle(5000);

    expect(r.hits.filter((h) => h.path === "/api/sync/posts").map((h) => h.retried)).toEqual([0, 1, 2]);
    const [m] = emu.messages();
    expect(m?.state).toBe("dlq");
    const failure = r.hits.filter((h) => h.path === "/api/qstash-failure");
    expect(failure).toHaveLength(1);
    expectAllVerified(failure);
    expect(JSON.parse(failure[0]?.body ?? "")).toMatchObject({
      status: 500,
      retried: 2,
      maxRetries: 2,
      sourceMessageId: messageId,
      dlqId: m?.dlqId,
    });
    expect(emu.callbacks()).toMatchObject([
      { kind: "failure-callback", state: "delivered", sourceMessageId: messageId },
    ]);

    // Deleting it from the DLQ through the SDK.
    const client = new Client({ token: emu.token, baseUrl: emu.url, devMode: false });
    await client.dlq.delete(m?.dlqId ?? "");
    expect(emu.dlq()).toHaveLength(0);
    expect(emu.messages()[0]?.state).toBe("failed");
  });
});

describe("flow control", () => {
  it("parallelism=1 never has two deliveries in flight for one key, across destinations", async () => {
    const emu = await emulator();
    const r = await receiver(emu, () => ({ status: 200, delayMs: 40 }));
    const publisher = createPublisher({ token: emu.token, url: emu.url });
    const flowControl = { key: notionFlowControlKey("secret_token"), rate: 1000, parallelism: 1, period: "1m" };
    const sections = ["pages", "posts", "children"];
    await publisher.publishBatch(
      Array.from({ length: 6 }, (_, i) => syncOptions(`${r.url}/api/sync/${sections[i % 3]}`, i, { flowControl })),
    );
    await emu.idle(5000);
    expect(r.hits).toHaveLength(6);
    expect(r.maxConcurrent).toBe(1);
    expect(emu.messages()[0]?.flowControl).toMatchObject({
      key: flowControl.key,
      parallelism: 1,
      rate: 1000,
      periodMs: 60_000,
    });
    expect(emu.messages()[0]?.headers["upstash-flow-control-value"]).toBe("parallelism=1, rate=1000, period=60s");

    // Control: without flow control the same load overlaps, so the check above can fail.
    const r2 = await receiver(emu, () => ({ status: 200, delayMs: 40 }));
    await publisher.publishBatch(Array.from({ length: 6 }, (_, i) => syncOptions(`${r2.url}/api/sync/pages`, 100 + i)));
    await emu.idle(5000);
    expect(r2.maxConcurrent).toBeGreaterThan(1);
  });

  it("rate limits starts per period (scaled)", async () => {
    const emu = await emulator({ delayScale: 0.2 }); // period 1s → 200 ms
    const r = await receiver(emu);
    const publisher = createPublisher({ token: emu.token, url: emu.url });
    const flowControl = { key: "notion-rate-test", rate: 2, parallelism: 10, period: "1s" };
    await publisher.publishBatch(
      Array.from({ length: 6 }, (_, i) => syncOptions(`${r.url}/api/sync/pages`, i, { flowControl })),
    );
    await emu.idle(5000);
    const starts = emu
      .messages()
      .map((m) => m.deliveries[0]?.startedAt ?? 0)
      .sort((a, b) => a - b);
    expect(starts).toHaveLength(6);
    for (let i = 0; i + 2 < starts.length; i++) {
      expect((starts[i + 2] ?? 0) - (starts[i] ?? 0)).toBeGreaterThanOrEqual(200);
    }
  });
});

describe("at-least-once delivery", () => {
  it("duplicateRate delivers the same message id more than once", async () => {
    const emu = await emulator({ duplicateRate: 1, random: seeded(42) });
    const r = await receiver(emu);
    const publisher = createPublisher({ token: emu.token, url: emu.url });
    const sent = await publisher.publishBatch([1, 2, 3, 4].map((seq) => syncOptions(`${r.url}/api/sync/pages`, seq)));
    await emu.idle(5000);
    for (const { messageId } of sent) {
      const copies = r.hits.filter((h) => h.messageId === messageId);
      expect(copies.length).toBe(2);
      expect(copies[0]?.body).toBe(copies[1]?.body);
    }
    expectAllVerified(r.hits);
    expect(emu.stats()).toMatchObject({ duplicatesInjected: 4, deliveries: 8 });
    expect(emu.messages().every((m) => m.state === "delivered" && m.deliveries.some((d) => d.duplicate))).toBe(true);
  });

  it("failureRate loses requests and answers, and retries until delivered", async () => {
    const emu = await emulator({ failureRate: 0.5, random: seeded(7), defaultRetries: 30, retryBackoffMs: () => 5 });
    const r = await receiver(emu);
    const publisher = createPublisher({ token: emu.token, url: emu.url });
    await publisher.publishBatch(Array.from({ length: 20 }, (_, i) => syncOptions(`${r.url}/api/sync/pages`, i)));
    await emu.idle(5000);
    const messages = emu.messages();
    expect(messages.every((m) => m.state === "delivered")).toBe(true);
    const injected = messages.flatMap((m) => m.deliveries.filter((d) => d.injected));
    expect(injected.length).toBe(emu.stats().failuresInjected);
    expect(injected.some((d) => d.injected === "answer-dropped")).toBe(true);
    expect(injected.some((d) => d.injected === "request-dropped")).toBe(true);
    // A dropped answer means the destination saw the message and will see it again.
    const ids = r.hits.map((h) => h.messageId);
    expect(new Set(ids).size).toBe(20);
    expect(ids.length).toBeGreaterThan(20);
    expectAllVerified(r.hits);
  });
});

describe("verifyDelivery", () => {
  const url = "https://sync.example.com/api/sync/pages";
  const body = JSON.stringify({ runId: "r", seq: 1, force: false });

  it("accepts tokens signed with the current or the next key", async () => {
    const emu = await emulator();
    const config = { currentSigningKey: emu.currentSigningKey, nextSigningKey: emu.nextSigningKey };
    expect(await verifyDelivery({ signature: emu.signForTest({ url, body }), rawBody: body, url, config })).toEqual({
      ok: true,
    });
    const next = emu.signForTest({ url, body, key: emu.nextSigningKey });
    expect(await verifyDelivery({ signature: next, rawBody: body, url, config })).toEqual({ ok: true });
  });

  it("rejects tampering, wrong keys, expiry, other URLs and missing headers, and never throws", async () => {
    const emu = await emulator();
    const config = { currentSigningKey: emu.currentSigningKey, nextSigningKey: emu.nextSigningKey };
    const good = emu.signForTest({ url, body });
    const cases: Array<[string, Parameters<typeof verifyDelivery>[0], string]> = [
      [
        "tampered body",
        { signature: good, rawBody: body.replace("1", "2"), url, config },
        "body does not match signature",
      ],
      [
        "wrong key",
        { signature: emu.signForTest({ url, body, key: "sig_attacker" }), rawBody: body, url, config },
        "invalid signature",
      ],
      [
        "expired",
        { signature: emu.signForTest({ url, body, expiresInSec: -60 }), rawBody: body, url, config },
        "signature expired",
      ],
      [
        "other URL",
        {
          signature: emu.signForTest({ url: "https://evil.example.com/api/sync/pages", body }),
          rawBody: body,
          url,
          config,
        },
        "signature is for another URL",
      ],
      [
        "wrong issuer",
        { signature: emu.signForTest({ url, body, issuer: "Mallory" }), rawBody: body, url, config },
        "signature issuer is not Upstash",
      ],
      ["missing (null)", { signature: null, rawBody: body, url, config }, "missing Upstash-Signature header"],
      ["missing (undefined)", { signature: undefined, rawBody: body, url, config }, "missing Upstash-Signature header"],
      ["missing (empty)", { signature: "", rawBody: body, url, config }, "missing Upstash-Signature header"],
      ["garbage", { signature: "not-a-jwt", rawBody: body, url, config }, "malformed signature"],
      ["garbage parts", { signature: "a.b.c", rawBody: body, url, config }, "malformed signature"],
      [
        "no keys",
        { signature: good, rawBody: body, url, config: { currentSigningKey: "", nextSigningKey: "" } },
        "signing keys not configured",
      ],
    ];
    for (const [name, input, reason] of cases) {
      const result = await verifyDelivery(input);
      expect(result, name).toEqual({ ok: false, reason });
      expect(reason).not.toContain(emu.currentSigningKey);
    }
    // The real Receiver agrees on the tampered body (the emulator's JWT is QStash-shaped).
    const sdk = new Receiver({ ...config, devMode: false });
    await expect(sdk.verify({ signature: good, body: body.replace("1", "2"), url })).rejects.toThrow(/body hash/);
  });
});

describe("configuration and helpers", () => {
  it("readQStashConfig: null without a token, an error naming missing keys, values never echoed", () => {
    expect(readQStashConfig({})).toBeNull();
    expect(readQStashConfig({ QSTASH_TOKEN: "  " })).toBeNull();
    let error: unknown;
    try {
      readQStashConfig({ QSTASH_TOKEN: "tok_secret_value", QSTASH_NEXT_SIGNING_KEY: "sig_next_secret" });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(QStashConfigError);
    expect((error as QStashConfigError).message).toContain("QSTASH_CURRENT_SIGNING_KEY");
    expect((error as QStashConfigError).message).not.toMatch(/secret/);
    expect((error as QStashConfigError).variables).toEqual(["QSTASH_CURRENT_SIGNING_KEY"]);
    expect(() =>
      readQStashConfig({
        QSTASH_TOKEN: "t",
        QSTASH_CURRENT_SIGNING_KEY: "a",
        QSTASH_NEXT_SIGNING_KEY: "b",
        QSTASH_URL: "nope",
      }),
    ).toThrow(QStashConfigError);
    expect(
      readQStashConfig({
        QSTASH_TOKEN: "t",
        QSTASH_CURRENT_SIGNING_KEY: "a",
        QSTASH_NEXT_SIGNING_KEY: "b",
        QSTASH_URL: "http://127.0.0.1:8080/",
      }),
    ).toEqual({ token: "t", url: "http://127.0.0.1:8080", currentSigningKey: "a", nextSigningKey: "b" });
    expect(
      readQStashConfig({ QSTASH_TOKEN: "t", QSTASH_CURRENT_SIGNING_KEY: "a", QSTASH_NEXT_SIGNING_KEY: "b" }),
    ).toEqual({
      token: "t",
      currentSigningKey: "a",
      nextSigningKey: "b",
    });
  });

  it("flow-control keys come from a hash of the Notion token, never the token", () => {
    const token = "ntn_abcdefghijklmnopqrstuvwxyz0123456789";
    const key = notionFlowControlKey(token);
    expect(key).toMatch(/^notion-[0-9a-f]{16}$/);
    expect(key).toBe(notionFlowControlKey(token));
    expect(key).not.toBe(notionFlowControlKey(`${token}x`));
    expect(key).not.toContain(token.slice(4, 12));
    expect(notionFlowControl(token, 20)).toEqual({ key, rate: 20, parallelism: 1, period: "1m" });
    expect(() => notionFlowControl(token, 0)).toThrow();
  });

  it("toDeduplicationId keeps safe ids and hashes the rest", () => {
    expect(toDeduplicationId("run-1_2")).toBe("run-1_2");
    expect(toDeduplicationId("a:b")).toMatch(/^h_[0-9a-f]{64}$/);
    expect(toDeduplicationId("a:b")).not.toBe(toDeduplicationId("a-b"));
  });
});
