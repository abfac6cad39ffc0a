/**
 * A QStash emulator: an HTTP server that speaks enough of the QStash v2 API
 * for the real `@upstash/qstash` Client (pointed at it with `baseUrl`) to
 * publish, and that delivers messages over real HTTP with signatures the real
 * `Receiver` accepts. Tests use it, and so does `npm run demo -- --qstash`.
 *
 * It exists to make the awkward parts of QStash happen on demand and fast:
 * retries with backoff, Retry-After, the dead letter queue and failure
 * callbacks, deduplication, flow control (rate and parallelism per key), and
 * at-least-once delivery (injected duplicates and dropped answers). Every
 * wait QStash would impose (Upstash-Delay, Not-Before, Retry-After, the
 * flow-control period) is multiplied by `delayScale`, so a "2m" delay can
 * take 1.2 s in a test while the requested value is still recorded.
 *
 * Endpoints: POST /v2/publish/{destination}, POST /v2/batch,
 * GET|DELETE /v2/messages/{id}, GET /v2/dlq, DELETE /v2/dlq[/{dlqId}],
 * GET /v2/keys. Everything else answers 404.
 */
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { parseRetryAfterMs } from "./durations";
import { signJwt } from "./jwt";
import { HttpError, parsePublish, type CallbackSettings, type ParsedPublish, type PublishLimits } from "./parse";
import type {
  EmulatedDelivery,
  EmulatedFlowControl,
  EmulatedMessage,
  QStashEmulator,
  QStashEmulatorOptions,
  QStashEmulatorStats,
} from "./types";

export type {
  EmulatedDelivery,
  EmulatedFlowControl,
  EmulatedMessage,
  MessageState,
  QStashEmulator,
  QStashEmulatorOptions,
  QStashEmulatorStats,
} from "./types";

// ---------------------------------------------------------------------------

type Outcome =
  | { kind: "response"; status: number; headers: Record<string, string[]>; body: Buffer }
  | { kind: "lost"; error: string };

interface Rec {
  pub: EmulatedMessage;
  bodyBuf: Buffer;
  timeoutMs: number;
  timer?: NodeJS.Timeout;
  callbackSettings?: CallbackSettings;
  failureCallbackSettings?: CallbackSettings;
}

interface FlowState {
  parallelism?: number;
  rate?: number;
  periodMs: number;
  active: number;
  starts: number[];
  queue: Rec[];
  timer?: NodeJS.Timeout;
}

const DEFAULT_TOKEN = "qstash_emulator_token";
const DEFAULT_CURRENT_KEY = "sig_current_emulator";
const DEFAULT_NEXT_KEY = "sig_next_emulator";

function newId(prefix: string): string {
  return `${prefix}${randomBytes(16).toString("base64url").replace(/[-_]/g, "")}`;
}

function headerRecord(headers: Headers): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  headers.forEach((value, key) => {
    (out[key] ??= []).push(value);
  });
  return out;
}

function asArrays(record: Record<string, string>): Record<string, string[]> {
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, [v]]));
}

/** "parallelism=1, rate=3, period=1m" (any case, spaces optional). */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new HttpError(413, `message size exceeds the limit of ${limit} bytes`));
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

// ---------------------------------------------------------------------------

class Emulator implements QStashEmulator {
  url = "";
  readonly token: string;
  readonly currentSigningKey: string;
  readonly nextSigningKey: string;

  private readonly server: Server;
  private readonly records: Rec[] = [];
  private readonly byId = new Map<string, Rec>();
  private readonly dedup = new Map<string, { messageId: string; expiresAt: number }>();
  private readonly flows = new Map<string, FlowState>();
  private readonly dlqRecs: Rec[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly inflight = new Set<Promise<void>>();
  private readonly controllers = new Set<AbortController>();
  private dlqSeq = 0;
  private inFlightHttp = 0;
  private closed = false;
  private readonly counters = {
    published: 0,
    deduplicated: 0,
    deliveries: 0,
    retries: 0,
    duplicatesInjected: 0,
    failuresInjected: 0,
  };

  private readonly random: () => number;
  private readonly backoff: (attempt: number) => number;
  private readonly defaultRetries: number;
  private readonly delayScale: number;
  private readonly dedupWindowMs: number;
  private readonly deliveryTimeoutMs: number;
  private readonly maxBodyBytes: number;
  private readonly limits: PublishLimits;
  private readonly duplicateRate: number;
  private readonly failureRate: number;

  constructor(private readonly opts: QStashEmulatorOptions) {
    this.token = opts.token ?? DEFAULT_TOKEN;
    this.currentSigningKey = opts.currentSigningKey ?? DEFAULT_CURRENT_KEY;
    this.nextSigningKey = opts.nextSigningKey ?? DEFAULT_NEXT_KEY;
    this.random = opts.random ?? Math.random;
    this.backoff = opts.retryBackoffMs ?? ((attempt) => 50 * 2 ** attempt);
    this.defaultRetries = opts.defaultRetries ?? 3;
    this.delayScale = opts.delayScale ?? 1;
    this.dedupWindowMs = opts.deduplicationWindowMs ?? 10 * 60_000;
    this.deliveryTimeoutMs = opts.deliveryTimeoutMs ?? 60_000;
    this.maxBodyBytes = opts.maxBodyBytes ?? 1024 * 1024;
    this.duplicateRate = opts.duplicateRate ?? 0;
    this.failureRate = opts.failureRate ?? 0;
    this.limits = {
      maxBodyBytes: this.maxBodyBytes,
      defaultRetries: this.defaultRetries,
      deliveryTimeoutMs: this.deliveryTimeoutMs,
    };
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        const status = error instanceof HttpError ? error.status : 500;
        const message = error instanceof Error ? error.message : String(error);
        if (!res.headersSent) sendJson(res, status, { error: message });
        else res.end();
      });
    });
  }

  async listen(port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, "127.0.0.1", () => resolve());
    });
    const address = this.server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${address.port}`;
  }

  private log(line: string): void {
    this.opts.log?.(`[qstash-emulator] ${line}`);
  }

  /** setTimeout that close() can cancel; a no-op once closed. */
  private later(ms: number, fn: () => void): NodeJS.Timeout | undefined {
    if (this.closed) return undefined;
    const timer = setTimeout(
      () => {
        this.timers.delete(timer);
        fn();
      },
      Math.max(0, ms),
    );
    this.timers.add(timer);
    return timer;
  }

  private track(promise: Promise<void>): void {
    this.inflight.add(promise);
    void promise.finally(() => this.inflight.delete(promise));
  }

  // -- HTTP API -------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const rawUrl = req.url ?? "/";
    const method = req.method ?? "GET";
    if (req.headers.authorization !== `Bearer ${this.token}`) {
      req.resume();
      sendJson(res, 401, { error: "Unauthorized" });
      return;
    }
    // The destination follows /v2/publish/ unencoded, query string included.
    if (method === "POST" && rawUrl.startsWith("/v2/publish/")) {
      const body = await readBody(req, this.maxBodyBytes);
      const parsed = parsePublish(rawUrl.slice("/v2/publish/".length), this.nodeHeaders(req), body, this.limits);
      const { status, result } = this.commit(parsed);
      sendJson(res, status, result);
      return;
    }
    const { pathname, searchParams } = new URL(rawUrl, "http://emulator");
    const parts = pathname.split("/").filter(Boolean).map(decodeURIComponent);
    if (method === "POST" && pathname === "/v2/batch") {
      const body = await readBody(req, this.maxBodyBytes * 100);
      sendJson(res, 200, this.batch(body));
      return;
    }
    req.resume();
    if (parts[0] !== "v2") throw new HttpError(404, "not found");
    if (parts[1] === "messages" && parts.length === 3) {
      const rec = this.byId.get(parts[2] ?? "");
      const live = rec && rec.pub.kind === "message" && rec.pub.state === "pending" ? rec : undefined;
      if (!live) throw new HttpError(404, "message not found");
      if (method === "GET") return sendJson(res, 200, this.messagePayload(live));
      if (method === "DELETE") {
        this.cancel(live);
        return sendJson(res, 200, { cancelled: 1 });
      }
    }
    if (parts[1] === "dlq" && method === "GET" && parts.length === 2) {
      return sendJson(res, 200, this.listDlq(searchParams));
    }
    if (parts[1] === "dlq" && method === "DELETE") {
      const ids = parts.length === 3 ? [parts[2] ?? ""] : searchParams.getAll("dlqIds");
      const all = parts.length === 2 && ids.length === 0;
      const deleted = this.deleteDlq(all ? undefined : ids);
      if (parts.length === 3) {
        if (deleted === 0) throw new HttpError(404, "dlq message not found");
        res.writeHead(200).end();
        return;
      }
      return sendJson(res, 200, { deleted });
    }
    if (parts[1] === "keys" && method === "GET") {
      return sendJson(res, 200, { current: this.currentSigningKey, next: this.nextSigningKey });
    }
    throw new HttpError(404, `no route for ${method} ${pathname}`);
  }

  private nodeHeaders(req: IncomingMessage): Map<string, string> {
    const map = new Map<string, string>();
    for (const [key, value] of Object.entries(req.headers)) {
      if (value === undefined || key === "authorization") continue;
      map.set(key.toLowerCase(), Array.isArray(value) ? value.join(", ") : value);
    }
    return map;
  }

  /** What every record of a published message starts with, accepted or deduplicated. */
  private messageFields(p: ParsedPublish, now: number, headers: Record<string, string>) {
    return {
      kind: "message" as const,
      destination: p.destination,
      method: p.method,
      body: p.body.toString("utf8"),
      headers,
      forwardedHeaders: p.forwardedHeaders,
      createdAt: now,
      requestedDelayMs: p.requestedDelayMs,
      maxRetries: p.maxRetries,
      attempts: 0,
      deliveries: [],
    };
  }

  private commit(p: ParsedPublish): {
    status: number;
    result: { messageId: string; url: string; deduplicated?: true };
  } {
    const now = Date.now();
    const headers = Object.fromEntries(p.headers);
    if (p.deduplicationId !== undefined) {
      for (const [id, entry] of this.dedup) if (entry.expiresAt <= now) this.dedup.delete(id);
      const seen = this.dedup.get(p.deduplicationId);
      if (seen) {
        this.counters.deduplicated++;
        this.records.push({
          pub: {
            ...this.messageFields(p, now, headers),
            messageId: seen.messageId,
            state: "deduplicated",
            scheduledDelayMs: 0,
            deduplicationId: p.deduplicationId,
          },
          bodyBuf: p.body,
          timeoutMs: p.timeoutMs,
        });
        this.log(`deduplicated ${p.deduplicationId} → ${seen.messageId}`);
        // QStash answers 202 Accepted with the first message's id.
        return { status: 202, result: { messageId: seen.messageId, url: p.destination, deduplicated: true } };
      }
    }

    const scheduledDelayMs = p.requestedDelayMs * this.delayScale;
    const rec: Rec = {
      pub: {
        ...this.messageFields(p, now, headers),
        messageId: newId("msg_"),
        state: "pending",
        scheduledDelayMs,
        ...(p.notBefore === undefined ? {} : { notBefore: p.notBefore }),
        ...(p.deduplicationId === undefined ? {} : { deduplicationId: p.deduplicationId }),
        ...(p.flowControl ? { flowControl: p.flowControl } : {}),
        ...(p.callback ? { callback: p.callback.url } : {}),
        ...(p.failureCallback ? { failureCallback: p.failureCallback.url } : {}),
        ...(p.label ? { label: p.label } : {}),
      },
      bodyBuf: p.body,
      timeoutMs: p.timeoutMs,
      ...(p.callback ? { callbackSettings: p.callback } : {}),
      ...(p.failureCallback ? { failureCallbackSettings: p.failureCallback } : {}),
    };
    if (p.deduplicationId !== undefined) {
      this.dedup.set(p.deduplicationId, { messageId: rec.pub.messageId, expiresAt: now + this.dedupWindowMs });
    }
    if (p.flowControl) this.updateFlow(p.flowControl);
    this.records.push(rec);
    this.byId.set(rec.pub.messageId, rec);
    this.counters.published++;
    this.log(
      `accepted ${rec.pub.messageId} → ${p.destination}${p.requestedDelayMs ? ` (delay ${p.requestedDelayMs} ms)` : ""}`,
    );
    this.schedule(rec, scheduledDelayMs);
    return { status: 200, result: { messageId: rec.pub.messageId, url: p.destination } };
  }

  private batch(raw: Buffer): Array<{ messageId: string; url: string; deduplicated?: true }> {
    let entries: unknown;
    try {
      entries = JSON.parse(raw.toString("utf8"));
    } catch {
      throw new HttpError(400, "batch body must be a JSON array");
    }
    if (!Array.isArray(entries) || entries.length === 0)
      throw new HttpError(400, "batch body must be a non-empty JSON array");
    const parsed = entries.map((entry: unknown, index) => {
      if (!entry || typeof entry !== "object") throw new HttpError(400, `batch[${index}] is not an object`);
      const { destination, headers, body } = entry as { destination?: unknown; headers?: unknown; body?: unknown };
      if (typeof destination !== "string") throw new HttpError(400, `batch[${index}].destination must be a string`);
      if (body !== undefined && body !== null && typeof body !== "string")
        throw new HttpError(400, `batch[${index}].body must be a string`);
      const map = new Map<string, string>();
      if (headers && typeof headers === "object") {
        for (const [key, value] of Object.entries(headers as Record<string, unknown>)) {
          if (typeof value === "string") map.set(key.toLowerCase(), value);
        }
      }
      return parsePublish(destination, map, Buffer.from(typeof body === "string" ? body : "", "utf8"), this.limits);
    });
    return parsed.map((p) => this.commit(p).result);
  }

  private messagePayload(rec: Rec): Record<string, unknown> {
    const m = rec.pub;
    return {
      messageId: m.messageId,
      url: m.destination,
      topicName: "",
      method: m.method,
      header: asArrays(m.forwardedHeaders),
      body: m.body,
      maxRetries: m.maxRetries,
      notBefore: m.createdAt + m.requestedDelayMs,
      createdAt: m.createdAt,
      ...(m.callback ? { callback: m.callback } : {}),
      ...(m.failureCallback ? { failureCallback: m.failureCallback } : {}),
      ...(m.label ? { label: m.label, labels: [m.label] } : {}),
      ...(m.flowControl
        ? {
            flowControlKey: m.flowControl.key,
            ...(m.flowControl.parallelism === undefined ? {} : { parallelism: m.flowControl.parallelism }),
            ...(m.flowControl.rate === undefined ? {} : { rate: m.flowControl.rate }),
            period: m.flowControl.periodMs / 1000,
          }
        : {}),
      callerIp: "127.0.0.1",
    };
  }

  private listDlq(query: URLSearchParams): { messages: Record<string, unknown>[]; cursor?: string } {
    const url = query.get("url");
    const ids = query.getAll("dlqIds");
    const matching = this.dlqRecs.filter(
      (rec) => (!url || rec.pub.destination === url) && (ids.length === 0 || ids.includes(rec.pub.dlqId ?? "")),
    );
    const offset = Number(query.get("cursor") ?? 0) || 0;
    const count = Math.min(Number(query.get("count") ?? 100) || 100, 100);
    const page = matching.slice(offset, offset + count);
    const messages = page.map((rec) => ({
      ...this.messagePayload(rec),
      dlqId: rec.pub.dlqId,
      ...(rec.pub.lastResponse
        ? {
            responseStatus: rec.pub.lastResponse.status,
            responseHeader: rec.pub.lastResponse.headers,
            responseBody: rec.pub.lastResponse.body,
          }
        : {}),
    }));
    const next = offset + page.length;
    return next < matching.length ? { messages, cursor: String(next) } : { messages };
  }

  /** Removes DLQ entries (all when ids is undefined); their messages become "failed". */
  private deleteDlq(ids: string[] | undefined): number {
    let deleted = 0;
    for (let i = this.dlqRecs.length - 1; i >= 0; i--) {
      const rec = this.dlqRecs[i];
      if (!rec || (ids && !ids.includes(rec.pub.dlqId ?? ""))) continue;
      this.dlqRecs.splice(i, 1);
      rec.pub.state = "failed";
      deleted++;
    }
    return deleted;
  }

  private cancel(rec: Rec): void {
    if (rec.timer) {
      clearTimeout(rec.timer);
      this.timers.delete(rec.timer);
      rec.timer = undefined;
    }
    // If it sits in a flow-control queue, pump() skips it; if it is in
    // flight, settle() ignores the answer and nothing is retried.
    rec.pub.state = "cancelled";
    this.log(`cancelled ${rec.pub.messageId}`);
  }

  // -- delivery -------------------------------------------------------------

  private schedule(rec: Rec, waitMs: number): void {
    const timer = this.later(waitMs, () => {
      rec.timer = undefined;
      this.dispatch(rec);
    });
    if (timer) rec.timer = timer;
  }

  private dispatch(rec: Rec): void {
    if (rec.pub.state !== "pending") return;
    const fc = rec.pub.flowControl;
    if (!fc) {
      this.startAttempt(rec, undefined);
      return;
    }
    const flow = this.flows.get(fc.key);
    if (!flow) {
      this.startAttempt(rec, undefined);
      return;
    }
    flow.queue.push(rec);
    this.pump(fc.key);
  }

  /** The latest settings published for a key apply to every message carrying it. */
  private updateFlow(fc: EmulatedFlowControl): void {
    const flow = this.flows.get(fc.key) ?? { periodMs: 1000, active: 0, starts: [], queue: [] };
    if (fc.parallelism === undefined) delete flow.parallelism;
    else flow.parallelism = fc.parallelism;
    if (fc.rate === undefined) delete flow.rate;
    else flow.rate = fc.rate;
    flow.periodMs = fc.periodMs * this.delayScale;
    this.flows.set(fc.key, flow);
  }

  /** Starts queued attempts for a key while parallelism and rate allow. */
  private pump(key: string): void {
    const flow = this.flows.get(key);
    if (!flow || this.closed) return;
    while (flow.queue.length > 0) {
      const head = flow.queue[0];
      if (!head || head.pub.state !== "pending") {
        flow.queue.shift();
        continue;
      }
      if (flow.parallelism !== undefined && flow.active >= flow.parallelism) return; // resumed when one finishes
      const now = Date.now();
      if (flow.rate !== undefined) {
        flow.starts = flow.starts.filter((t) => t > now - flow.periodMs);
        const oldest = flow.starts[0];
        if (flow.starts.length >= flow.rate && oldest !== undefined) {
          if (!flow.timer) {
            flow.timer = this.later(oldest + flow.periodMs - now + 1, () => {
              flow.timer = undefined;
              this.pump(key);
            });
          }
          return;
        }
      }
      flow.queue.shift();
      flow.starts.push(now);
      this.startAttempt(head, flow, now);
    }
  }

  /** `slot`: the start time flow control granted, recorded as the delivery's start (a later clock read could differ under load). */
  private startAttempt(rec: Rec, flow: FlowState | undefined, slot?: number): void {
    const retried = rec.pub.attempts;
    rec.pub.attempts++;
    if (retried > 0) this.counters.retries++;
    if (flow) flow.active++;

    // An injected duplicate goes around flow control on purpose: real
    // duplicates come from QStash believing a delivery failed, and nothing
    // stops them overlapping the original or the next message.
    const duplicate = this.duplicateRate > 0 && this.random() < this.duplicateRate;
    const concurrent = duplicate && this.random() < 0.5;
    if (duplicate) this.counters.duplicatesInjected++;

    const primary = this.attempt(rec, retried, false, slot).then((outcome) => {
      if (flow) {
        flow.active--;
        const key = rec.pub.flowControl?.key;
        if (key) this.pump(key);
      }
      this.settle(rec, outcome, retried);
      if (duplicate && !concurrent) this.track(this.attempt(rec, retried, true).then(() => undefined));
    });
    this.track(primary);
    if (concurrent) this.track(this.attempt(rec, retried, true).then(() => undefined));
  }

  /** One HTTP delivery. Never rejects: failures come back as a "lost" outcome. */
  private async attempt(rec: Rec, retried: number, duplicate: boolean, startedAt = Date.now()): Promise<Outcome> {
    const delivery: EmulatedDelivery = { retried, startedAt, duration: null, status: null, duplicate };
    rec.pub.deliveries.push(delivery);
    this.counters.deliveries++;
    this.inFlightHttp++;
    let injected: EmulatedDelivery["injected"];
    if (!duplicate && this.failureRate > 0 && this.random() < this.failureRate) {
      injected = this.random() < 0.5 ? "request-dropped" : "answer-dropped";
      this.counters.failuresInjected++;
      delivery.injected = injected;
    }
    try {
      if (injected === "request-dropped") {
        delivery.error = "injected: request lost before reaching the destination";
        return { kind: "lost", error: delivery.error };
      }
      const outcome = await this.send(rec, retried);
      if (injected === "answer-dropped") {
        delivery.error = `injected: answer${outcome.kind === "response" ? ` (${outcome.status})` : ""} lost on the way back`;
        return { kind: "lost", error: delivery.error };
      }
      if (outcome.kind === "response") delivery.status = outcome.status;
      else delivery.error = outcome.error;
      return outcome;
    } finally {
      delivery.duration = Date.now() - delivery.startedAt;
      this.inFlightHttp--;
    }
  }

  private async send(rec: Rec, retried: number): Promise<Outcome> {
    const hasBody = rec.pub.method !== "GET";
    const body = hasBody ? rec.bodyBuf : Buffer.alloc(0);
    const headers = new Headers(rec.pub.forwardedHeaders);
    headers.set("User-Agent", "Upstash-QStash");
    headers.set("Upstash-Message-Id", rec.pub.messageId);
    headers.set("Upstash-Retried", String(retried));
    headers.set("Upstash-Caller-Ip", "127.0.0.1");
    headers.set("Upstash-Signature", signJwt({ key: this.currentSigningKey, url: rec.pub.destination, body }));
    const controller = new AbortController();
    this.controllers.add(controller);
    const timer = setTimeout(() => controller.abort(new Error(`timed out after ${rec.timeoutMs} ms`)), rec.timeoutMs);
    try {
      const response = await fetch(rec.pub.destination, {
        method: rec.pub.method,
        headers,
        // A fresh Uint8Array: DOM typings refuse Buffer<ArrayBufferLike> as a body.
        ...(hasBody ? { body: new Uint8Array(body) } : {}),
        signal: controller.signal,
      });
      const answer = Buffer.from(await response.arrayBuffer());
      return { kind: "response", status: response.status, headers: headerRecord(response.headers), body: answer };
    } catch (error) {
      const reason = controller.signal.aborted ? controller.signal.reason : error;
      return { kind: "lost", error: reason instanceof Error ? reason.message : String(reason) };
    } finally {
      clearTimeout(timer);
      this.controllers.delete(controller);
    }
  }

  private settle(rec: Rec, outcome: Outcome, retried: number): void {
    if (rec.pub.state !== "pending") return; // cancelled meanwhile
    const id = rec.pub.messageId;
    if (outcome.kind === "response") {
      rec.pub.lastResponse = { status: outcome.status, headers: outcome.headers, body: outcome.body.toString("utf8") };
      // "A callback url ... will be called after each attempt" (publish API docs).
      if (rec.callbackSettings) this.enqueueCallback(rec, "callback", rec.callbackSettings, outcome, retried);
      if (outcome.status >= 200 && outcome.status < 300) {
        rec.pub.state = "delivered";
        this.log(`delivered ${id} (${outcome.status}, attempt ${retried + 1})`);
        return;
      }
      const nonRetryable = outcome.status === 489 && outcome.headers["upstash-nonretryable-error"]?.[0] === "true";
      if (nonRetryable) {
        this.log(`${id} answered 489 non-retryable`);
        this.fail(rec, outcome, retried);
        return;
      }
    } else {
      delete rec.pub.lastResponse;
    }
    if (retried < rec.pub.maxRetries) {
      const retryAfter =
        outcome.kind === "response"
          ? parseRetryAfterMs(outcome.headers["retry-after"]?.[0] ?? null, Date.now())
          : undefined;
      const wait = retryAfter !== undefined ? retryAfter * this.delayScale : this.backoff(retried);
      this.log(
        `${id} attempt ${retried + 1} failed (${outcome.kind === "response" ? outcome.status : outcome.error}); retry in ${Math.round(wait)} ms`,
      );
      this.schedule(rec, wait);
      return;
    }
    this.fail(rec, outcome, retried);
  }

  private fail(rec: Rec, outcome: Outcome, retried: number): void {
    if (rec.pub.kind !== "message") {
      rec.pub.state = "failed";
      this.log(`${rec.pub.kind} ${rec.pub.messageId} to ${rec.pub.destination} failed`);
      return;
    }
    rec.pub.state = "dlq";
    rec.pub.dlqId = `${Date.now()}-${this.dlqSeq++}`;
    this.dlqRecs.push(rec);
    this.log(`${rec.pub.messageId} moved to the DLQ (${rec.pub.dlqId})`);
    if (rec.failureCallbackSettings) {
      this.enqueueCallback(rec, "failure-callback", rec.failureCallbackSettings, outcome, retried);
    }
  }

  /**
   * Callbacks are new messages to the callback URL, signed like any delivery
   * (sub = callback URL), retried with the source message's retry setting
   * unless Upstash-(Failure-)Callback-Retries says otherwise. Body as the
   * QStash docs describe it.
   */
  private enqueueCallback(
    source: Rec,
    kind: "callback" | "failure-callback",
    settings: CallbackSettings,
    outcome: Outcome,
    retried: number,
  ): void {
    const m = source.pub;
    const response = outcome.kind === "response" ? outcome : undefined;
    const payload = {
      status: response?.status ?? 0,
      header: response?.headers ?? {},
      body: response ? response.body.toString("base64") : "",
      retried,
      maxRetries: m.maxRetries,
      ...(kind === "failure-callback" && m.dlqId ? { dlqId: m.dlqId } : {}),
      sourceMessageId: m.messageId,
      url: m.destination,
      method: m.method,
      sourceHeader: asArrays(m.forwardedHeaders),
      sourceBody: source.bodyBuf.toString("base64"),
      notBefore: String(m.createdAt + m.requestedDelayMs),
      createdAt: String(m.createdAt),
      callerIP: "127.0.0.1",
      ...(outcome.kind === "lost" ? { error: outcome.error } : {}),
    };
    const body = Buffer.from(JSON.stringify(payload), "utf8");
    const delayMs = settings.delayMs ?? 0;
    const rec: Rec = {
      pub: {
        messageId: newId("msg_"),
        state: "pending",
        kind,
        destination: settings.url,
        method: settings.method ?? "POST",
        body: body.toString("utf8"),
        headers: {},
        forwardedHeaders: { "content-type": "application/json", ...settings.forward },
        createdAt: Date.now(),
        requestedDelayMs: delayMs,
        scheduledDelayMs: delayMs * this.delayScale,
        maxRetries: settings.retries ?? m.maxRetries,
        attempts: 0,
        deliveries: [],
        sourceMessageId: m.messageId,
      },
      bodyBuf: body,
      timeoutMs: this.deliveryTimeoutMs,
    };
    this.records.push(rec);
    this.byId.set(rec.pub.messageId, rec);
    this.schedule(rec, rec.pub.scheduledDelayMs);
  }

  // -- public API -----------------------------------------------------------

  messages(): EmulatedMessage[] {
    return this.records.filter((r) => r.pub.kind === "message").map((r) => structuredClone(r.pub));
  }

  callbacks(): EmulatedMessage[] {
    return this.records.filter((r) => r.pub.kind !== "message").map((r) => structuredClone(r.pub));
  }

  dlq(): EmulatedMessage[] {
    return this.dlqRecs.map((r) => structuredClone(r.pub));
  }

  stats(): QStashEmulatorStats {
    return { ...this.counters, dlq: this.dlqRecs.length, inFlight: this.inFlightHttp };
  }

  private busy(): boolean {
    return this.inflight.size > 0 || this.records.some((r) => r.pub.state === "pending");
  }

  async idle(timeoutMs?: number): Promise<void> {
    const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
    while (!this.closed && this.busy()) {
      if (Date.now() > deadline) {
        const pending = this.records
          .filter((r) => r.pub.state === "pending")
          .map((r) => `${r.pub.messageId}→${r.pub.destination}`);
        throw new Error(
          `QStash emulator not idle after ${timeoutMs} ms; pending: ${pending.join(", ") || "none"}; in flight: ${this.inflight.size}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  signForTest(opts: { url: string; body: string; key?: string; expiresInSec?: number; issuer?: string }): string {
    return signJwt({
      key: opts.key ?? this.currentSigningKey,
      url: opts.url,
      body: opts.body,
      ...(opts.expiresInSec === undefined ? {} : { expiresInSec: opts.expiresInSec }),
      ...(opts.issuer === undefined ? {} : { issuer: opts.issuer }),
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    const stopped = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    // Let deliveries in flight finish, but do not hang on a destination that
    // never answers.
    const grace = setTimeout(() => {
      for (const controller of this.controllers) controller.abort(new Error("emulator closed"));
    }, 2000);
    // A settling delivery can start one more (an injected duplicate): loop.
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
    clearTimeout(grace);
    await stopped;
  }
}

export async function startQStashEmulator(opts: QStashEmulatorOptions = {}): Promise<QStashEmulator> {
  const emulator = new Emulator(opts);
  await emulator.listen(opts.port ?? 0);
  return emulator;
}
