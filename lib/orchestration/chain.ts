/**
 * QStash chaining: the message that carries a run to its next step. One
 * deduplication id per (run, section, step) means a retried or duplicated
 * delivery can never fork a run into two chains. Every message carries the
 * integration's flow-control key, so all sections share one Notion budget.
 */
import type { QStashConfig } from "../qstash/config";
import { notionFlowControl } from "../qstash/flow-control";
import { type PublishNextOptions, type Publisher, createPublisher } from "../qstash/publish";
import type { Section } from "../sync/sections";
import { sectionPath } from "../http/base-url";

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
  step: { runId: string; seq: number; force: boolean; retryAfterMs?: number },
): PublishNextOptions {
  return {
    destination: `${settings.baseUrl}${sectionPath(section)}`,
    body: { runId: step.runId, seq: step.seq, force: step.force },
    deduplicationId: `${step.runId}:${section}:${step.seq}`,
    delaySeconds: delayWithJitter(step.retryAfterMs ?? 0) || undefined,
    flowControl: notionFlowControl(settings.notionToken, settings.invocationsPerMin),
    failureCallback: `${settings.baseUrl}/api/sync/failed`,
  };
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
