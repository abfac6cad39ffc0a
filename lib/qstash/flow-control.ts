/**
 * QStash flow control for the sync chain.
 *
 * Notion rate-limits per integration (one token), about 3 requests/s on
 * average. The three sections (pages, posts, children) each run as their own
 * QStash chain, but they share that one token. If two section invocations ran
 * at once, each spending its own per-invocation request budget, together they
 * would exceed the integration's limit and collect 429s. QStash flow control
 * applies across every message that carries the same key, whatever the
 * destination, so giving all three chains the same key with parallelism 1
 * makes QStash start one invocation at a time: the sections take turns and
 * stay together under the limit. The rate caps how many invocations may
 * start per minute; the request budget inside an invocation is the sync
 * engine's own limiter.
 */
import { createHash } from "node:crypto";

export interface NotionFlowControl {
  key: string;
  /** Invocations QStash may start per `period`. */
  rate: number;
  /** 1: never two invocations for the same Notion token at the same time. */
  parallelism: 1;
  period: "1m";
}

/**
 * A flow-control key for a Notion token. The key shows up in the QStash
 * console, its logs and its API, so it is derived from a SHA-256 of the token
 * and never contains the token. Same token → same key, so every deployment
 * syncing one workspace shares one limit. Only [a-z0-9-] is used, which any
 * header and URL path accepts as is.
 */
export function notionFlowControlKey(notionToken: string): string {
  if (!notionToken) throw new Error("notionFlowControlKey needs a Notion token");
  const digest = createHash("sha256").update(notionToken, "utf8").digest("hex");
  return `notion-${digest.slice(0, 16)}`;
}

/** Default invocation starts per minute: well under one a second. */
export const DEFAULT_INVOCATIONS_PER_MINUTE = 30;

/**
 * Flow-control settings for one Notion token, for `PublishNextOptions.flowControl`.
 * The token is needed to derive the key (see notionFlowControlKey).
 */
export function notionFlowControl(
  notionToken: string,
  ratePerMin: number = DEFAULT_INVOCATIONS_PER_MINUTE,
): NotionFlowControl {
  if (!Number.isInteger(ratePerMin) || ratePerMin < 1) {
    throw new Error(`notionFlowControl: ratePerMin must be a positive integer, got ${ratePerMin}`);
  }
  return { key: notionFlowControlKey(notionToken), rate: ratePerMin, parallelism: 1, period: "1m" };
}
