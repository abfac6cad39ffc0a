/** Public types of the QStash emulator (re-exported by server.ts). */

export interface QStashEmulatorOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  /** Bearer token publishers must send. Default "qstash_emulator_token". */
  token?: string;
  currentSigningKey?: string;
  nextSigningKey?: string;
  /** 0..1: chance that an attempt is also delivered a second time. */
  duplicateRate?: number;
  /** 0..1: chance that an attempt is lost (request or answer) and retried. */
  failureRate?: number;
  /** Source of randomness for duplicateRate/failureRate; pass a seeded PRNG. */
  random?: () => number;
  /** Wait before retry n (n = Upstash-Retried of the failed attempt). Default 50·2ⁿ ms. */
  retryBackoffMs?: (attempt: number) => number;
  /** Retries when Upstash-Retries is absent. Default 3 (QStash free plan). */
  defaultRetries?: number;
  /** Multiplies every QStash-side wait (delay, not-before, Retry-After, flow-control period). Default 1. */
  delayScale?: number;
  /** How long a deduplication id holds. Default 10 minutes. */
  deduplicationWindowMs?: number;
  /** Per-attempt timeout when Upstash-Timeout is absent. Default 60 s. */
  deliveryTimeoutMs?: number;
  /** Largest accepted body. Default 1 MiB (QStash free plan). */
  maxBodyBytes?: number;
  /** Gets one line per notable event (accepted, delivered, retry, DLQ...). */
  log?: (line: string) => void;
}

export type MessageState = "pending" | "delivered" | "failed" | "dlq" | "deduplicated" | "cancelled";

export interface EmulatedDelivery {
  /** The Upstash-Retried value sent with this attempt. */
  retried: number;
  startedAt: number;
  /** Milliseconds until the answer (or failure); null while in flight. */
  duration: number | null;
  /** HTTP status QStash saw; null when it saw none (network error, timeout, injected loss). */
  status: number | null;
  /** An injected extra delivery of the same message. */
  duplicate: boolean;
  /** Set when failureRate chose this attempt. */
  injected?: "request-dropped" | "answer-dropped";
  error?: string;
}

export interface EmulatedFlowControl {
  key: string;
  parallelism?: number;
  rate?: number;
  /** The period as requested (unscaled). */
  periodMs: number;
}

export interface EmulatedMessage {
  /** QStash's id; a "deduplicated" entry carries the id of the message it duplicated. */
  messageId: string;
  /**
   * pending: waiting for its first attempt, a retry, a flow-control slot, or
   * in flight. failed: retries exhausted and no longer in the DLQ (deleted
   * from it), or a callback that could not be delivered.
   */
  state: MessageState;
  kind: "message" | "callback" | "failure-callback";
  destination: string;
  method: string;
  body: string;
  /** Headers of the publish request, lower-case, without Authorization. */
  headers: Record<string, string>;
  /** Headers the destination receives besides QStash's own (Content-Type, Upstash-Forward-*). */
  forwardedHeaders: Record<string, string>;
  createdAt: number;
  /** Delay asked for (Upstash-Delay or Upstash-Not-Before), before delayScale. */
  requestedDelayMs: number;
  /** Delay actually applied. */
  scheduledDelayMs: number;
  notBefore?: number;
  maxRetries: number;
  /** Attempts made, not counting injected duplicates. */
  attempts: number;
  deliveries: EmulatedDelivery[];
  deduplicationId?: string;
  flowControl?: EmulatedFlowControl;
  callback?: string;
  failureCallback?: string;
  label?: string;
  dlqId?: string;
  /** For callbacks: the message whose outcome they report. */
  sourceMessageId?: string;
  lastResponse?: { status: number; headers: Record<string, string[]>; body: string };
}

export interface QStashEmulatorStats {
  published: number;
  deduplicated: number;
  /** HTTP attempts started, including retries, injected duplicates and callbacks. */
  deliveries: number;
  retries: number;
  duplicatesInjected: number;
  failuresInjected: number;
  /** Messages currently in the DLQ. */
  dlq: number;
  /** HTTP deliveries in flight right now. */
  inFlight: number;
}

export interface QStashEmulator {
  url: string;
  token: string;
  currentSigningKey: string;
  nextSigningKey: string;
  /** Every accepted publish (including "deduplicated" ones), oldest first. */
  messages(): EmulatedMessage[];
  /** Callback and failure-callback deliveries the emulator made. */
  callbacks(): EmulatedMessage[];
  dlq(): EmulatedMessage[];
  stats(): QStashEmulatorStats;
  /** Resolves when nothing is pending or in flight (rejects after timeoutMs when given). */
  idle(timeoutMs?: number): Promise<void>;
  /** A JWT like QStash's, for tests of tampering, expiry and wrong keys. */
  signForTest(opts: { url: string; body: string; key?: string; expiresInSec?: number; issuer?: string }): string;
  close(): Promise<void>;
}
