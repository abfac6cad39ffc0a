/**
 * Publishing the next link of a sync chain through QStash, with the official
 * SDK so the wire format stays the SDK's business.
 */
import { createHash } from "node:crypto";
import { Client, type FlowControl, type PublishRequest } from "@upstash/qstash";
import type { QStashConfig } from "./config";

/** The body every sync invocation receives. */
export interface SyncMessage {
  runId: string;
  seq: number;
  force: boolean;
}

export interface PublishNextOptions {
  /** Full URL of the sync endpoint; QStash signs it as the JWT `sub`. */
  destination: string;
  body: SyncMessage;
  /**
   * Makes a retried publish harmless: QStash drops a second message with the
   * same id (for a while) and answers with the first one's messageId. Any
   * string is accepted; see toDeduplicationId for how it is made QStash-safe.
   */
  deduplicationId: string;
  /** Whole seconds; QStash takes `Upstash-Delay: <n>s`. */
  delaySeconds?: number;
  /** Unix time in seconds before which QStash does not deliver (`Upstash-Not-Before`; wins over a delay). */
  notBefore?: number;
  flowControl?: { key: string; rate: number; parallelism: number; period?: string };
  failureCallback?: string;
  retries?: number;
}

export interface PublishResult {
  messageId: string;
  /** True when QStash recognised the deduplication id and did not enqueue again. */
  deduplicated: boolean;
}

export interface Publisher {
  publishNext(options: PublishNextOptions): Promise<PublishResult>;
  /** One HTTP request for several messages; results in input order. */
  publishBatch(list: PublishNextOptions[]): Promise<PublishResult[]>;
}

const DEFAULT_QSTASH_URL = "https://qstash.upstash.io";

/**
 * QStash answers 400 "DeduplicationId cannot contain ':'" (seen in production,
 * 2026), and run ids built from ISO timestamps contain colons. Ids made only
 * of [A-Za-z0-9_-] (up to 100 chars) pass unchanged, so they stay readable
 * in the console; anything else becomes a SHA-256 of the input, which keeps
 * distinct inputs distinct (a plain character swap would let "a:b" and "a-b"
 * collide and silently drop a message).
 */
export function toDeduplicationId(raw: string): string {
  if (!raw) throw new Error("deduplicationId must not be empty");
  if (/^[A-Za-z0-9_-]{1,100}$/.test(raw)) return raw;
  return `h_${createHash("sha256").update(raw, "utf8").digest("hex")}`;
}

const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86400 } as const;

/** "1m" → 60. The SDK sends a numeric period as `period=<n>s`. */
function periodSeconds(period: string): number {
  const match = /^(\d+)([smhd])$/.exec(period.trim());
  if (!match) throw new Error(`flowControl.period must look like 30s, 1m, 1h or 1d, got "${period}"`);
  const [, amount, unit] = match;
  return Number(amount) * UNIT_SECONDS[unit as keyof typeof UNIT_SECONDS];
}

function toRequest(o: PublishNextOptions): PublishRequest<SyncMessage> & { url: string } {
  if (o.delaySeconds !== undefined && !(Number.isFinite(o.delaySeconds) && o.delaySeconds >= 0)) {
    throw new Error(`delaySeconds must be a non-negative number, got ${o.delaySeconds}`);
  }
  let flowControl: FlowControl | undefined;
  if (o.flowControl) {
    const { key, rate, parallelism, period } = o.flowControl;
    flowControl = {
      key,
      rate,
      parallelism,
      ...(period === undefined ? {} : { period: periodSeconds(period) }),
    };
  }
  return {
    url: o.destination,
    body: o.body,
    deduplicationId: toDeduplicationId(o.deduplicationId),
    // The SDK writes `${delay.toFixed(0)}s`, which would round 0.4 down to
    // "0s"; round up so a requested pause is never shortened.
    ...(o.delaySeconds ? { delay: Math.ceil(o.delaySeconds) } : {}),
    ...(o.notBefore !== undefined ? { notBefore: o.notBefore } : {}),
    ...(flowControl ? { flowControl } : {}),
    ...(o.failureCallback ? { failureCallback: o.failureCallback } : {}),
    ...(o.retries === undefined ? {} : { retries: o.retries }),
  };
}

function toResult(response: { messageId: string; deduplicated?: boolean }): PublishResult {
  return { messageId: response.messageId, deduplicated: response.deduplicated === true };
}

export function createPublisher(config: Pick<QStashConfig, "token" | "url">): Publisher {
  const client = new Client({
    token: config.token,
    // Always pass a base URL: with only a token, the SDK would let
    // QSTASH_REGION / <REGION>_QSTASH_URL from the environment pick the
    // endpoint (and token) instead of our config.
    baseUrl: config.url ?? DEFAULT_QSTASH_URL,
    // QSTASH_DEV=true in the environment would make the SDK ignore baseUrl and
    // token and try to download and start a local dev server.
    devMode: false,
    // The SDK's default (5 retries, e^n·50 ms ≈ 4.3 s) would eat into the
    // invocation's 30 s; a publish that still fails is reported and repaired
    // by QStash redelivering the step (see lib/http/sync-route.ts).
    retry: { retries: 2, backoff: (n) => 100 * 2 ** n },
  });

  return {
    async publishNext(options) {
      return toResult(await client.publishJSON(toRequest(options)));
    },
    async publishBatch(list) {
      if (list.length === 0) return [];
      // batchJSON stringifies each body in place (it mutates its argument):
      // hand it fresh objects so callers' options are left untouched.
      const responses = await client.batchJSON(list.map(toRequest));
      if (responses.length !== list.length) {
        throw new Error(`QStash batch answered ${responses.length} results for ${list.length} messages`);
      }
      return responses.map((response) => toResult(response));
    },
  };
}
