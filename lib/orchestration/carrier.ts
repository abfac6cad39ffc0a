/**
 * Who carries a run to its next step, decided per invocation: QStash (a
 * published message), the self-chain (a link to the section's own URL), or
 * nobody (the next cron or manual call). SYNC_CHAIN picks; "auto" means QStash
 * when it is configured, else the self-chain.
 */
import type { Section } from "../core/sections";
import { publicBaseUrl } from "../core/base-url";
import { type ChainSettings, sharedPublisher, successorMessage, withinPublishTimeout } from "./chain";
import { chainStopReason, sendLink } from "./self-chain";
import { type QStashConfig, readQStashConfig } from "../qstash/config";
import type { SyncSettings } from "../config";
import type { Cursor } from "../sync/cursor";
import type { ScheduledSuccessor } from "../sync/engine";

type Env = Record<string, string | undefined>;

const SELF_CHAIN_NO_BASE_URL =
  "the self-chain cannot call this deployment: its public URL is not known; set SYNC_BASE_URL (never the per-deployment VERCEL_URL)";

export interface SuccessorInput {
  section: Section;
  env: Env;
  mode: "auto" | "qstash" | "self" | "off";
  qstash: QStashConfig | null;
  baseUrl: string | null;
  notionToken: string;
  maxLinks: number;
  /** The link this invocation is (0 for a cron or manual call). */
  link: number;
}

/** The step a carrier sends: a run's next step, or step 0 of a new run. */
export type Step = Pick<Cursor, "runId" | "seq" | "force"> & Partial<Pick<Cursor, "status">> & { resend?: string };

export interface Carrier {
  scheduleNext?: (step: Step, retryAfterMs: number) => Promise<ScheduledSuccessor>;
  chainVia?: "qstash" | "self";
}

/** The carrier of `section` for an invocation that is not a link of its chain (a reviver, a holder honouring a request). */
export function carrierFromEnv(input: {
  section: Section;
  env: Env;
  request?: Request;
  settings: Pick<SyncSettings, "chain" | "maxChain">;
  notionToken: string;
  link: number;
}): Carrier {
  let qstash: QStashConfig | null = null;
  try {
    qstash = readQStashConfig(input.env);
  } catch {
    qstash = null; // half configured: the section routes answer 503 for it; nothing to carry with
  }
  return successorCarrier({
    section: input.section,
    env: input.env,
    mode: input.settings.chain,
    qstash,
    baseUrl: publicBaseUrl(input.env, input.request),
    notionToken: input.notionToken,
    maxLinks: input.settings.maxChain,
    link: input.link,
  });
}

export function successorCarrier(input: SuccessorInput): Carrier {
  const mode = input.mode === "auto" ? (input.qstash ? "qstash" : "self") : input.mode;
  if (mode === "qstash" && input.qstash) {
    const publisher = sharedPublisher(input.qstash);
    const chain: ChainSettings = { baseUrl: input.baseUrl ?? "", notionToken: input.notionToken };
    return {
      chainVia: "qstash",
      scheduleNext: (cursor, retryAfterMs) =>
        withinPublishTimeout(
          publisher.publishNext(
            successorMessage(chain, input.section, {
              runId: cursor.runId,
              seq: cursor.seq,
              force: cursor.force,
              retryAfterMs,
              resend: cursor.resend,
            }),
          ),
        ),
    };
  }
  if (mode !== "self") return {};
  const secret = input.env.CRON_SECRET?.trim() ?? "";
  return {
    chainVia: "self",
    async scheduleNext(cursor, retryAfterMs) {
      const next = {
        section: input.section,
        runId: cursor.runId,
        seq: cursor.seq,
        force: cursor.force,
        link: input.link + 1,
        ...(retryAfterMs > 0 ? { notBefore: Date.now() + retryAfterMs } : {}),
      };
      const stopped = chainStopReason(
        next,
        retryAfterMs,
        { maxLinks: input.maxLinks },
        cursor.status === "stalled" ? "the stalled run retries" : undefined,
      );
      if (stopped) return { messageId: null, link: next.link, stopped };
      if (!input.baseUrl) throw new Error(SELF_CHAIN_NO_BASE_URL);
      const sent = await sendLink(
        {
          baseUrl: input.baseUrl,
          secret,
          protectionBypass: input.env.VERCEL_AUTOMATION_BYPASS_SECRET?.trim() || undefined,
          maxLinks: input.maxLinks,
        },
        next,
      );
      if (!sent.accepted) throw new Error(sent.reason);
      return { messageId: null, link: next.link };
    },
  };
}
