/**
 * QStash chaining: the message that carries a run to its next step. One
 * deduplication id per (run, section, step) means a retried or duplicated
 * delivery can never fork a run into two chains. Every message carries the
 * integration's flow-control key, so all sections share one Notion budget.
 */
import type { QStashConfig } from "../qstash/config";
import { notionFlowControl } from "../qstash/flow-control";
import { type PublishNextOptions, type Publisher, createPublisher } from "../qstash/publish";
import type { Section } from "../core/sections";
import { sectionPath } from "../core/base-url";

export interface ChainSettings {
  baseUrl: string;
  notionToken: string;
  /** QStash invocation starts per minute for the integration's flow-control key. */
  invocationsPerMin?: number;
}

/** Up to a few seconds of jitter so chains released by one Retry-After do not all start at once. */
export function delayWithJitter(retryAfterMs: number, random: () => number = Math.random): number {
  if (retryAfterMs <= 0) return 0;
  return Math.ceil(retryAfterMs / 1000) + Math.floor(random() * 3);
}

export function successorMessage(
  settings: ChainSettings,
  section: Section,
  step: {
    runId: string;
    seq: number;
    force: boolean;
    retryAfterMs?: number;
    /** Step 0 of a run a trigger starts. */
    trigger?: string;
    /** A step sent again (a trigger's resume, lib/orchestration/revive.ts): its own deduplication id. */
    resend?: string;
  },
): PublishNextOptions {
  return {
    destination: `${settings.baseUrl}${sectionPath(section)}`,
    body: { runId: step.runId, seq: step.seq, force: step.force, ...(step.trigger ? { trigger: step.trigger } : {}) },
    deduplicationId: `${step.runId}:${section}:${step.seq}${step.resend ? `:${step.resend}` : ""}`,
    delaySeconds: delayWithJitter(step.retryAfterMs ?? 0) || undefined,
    flowControl: notionFlowControl(settings.notionToken, settings.invocationsPerMin),
    failureCallback: `${settings.baseUrl}/api/sync/failed`,
  };
}

/** A publish that has not answered by then is reported as failed (QStash redelivery repairs the chain). */
export const PUBLISH_TIMEOUT_MS = 4000;

export function withinPublishTimeout<T>(publish: Promise<T>, ms: number = PUBLISH_TIMEOUT_MS): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`QStash did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([publish, timeout]).finally(() => clearTimeout(timer));
}

const publishers = new Map<string, Publisher>();

export function sharedPublisher(config: QStashConfig): Publisher {
  const id = `${config.url ?? ""}|${config.token}`;
  let publisher = publishers.get(id);
  if (!publisher) {
    publisher = createPublisher(config);
    publishers.set(id, publisher);
  }
  return publisher;
}
