/**
 * Self-chaining: without QStash, an invocation that leaves work calls its own
 * section URL for the next batch. The called invocation answers 202 at once
 * and runs its batch in after() (lib/http/sync-route.ts), so this call waits
 * only for that acceptance, at most LINK_ACCEPT_TIMEOUT_MS.
 *
 * It has no retries of its own: a lost link (refused, timed out, the instance
 * died) loses nothing, since the cursor is where the last commit left it; the
 * next invocation of any section or webhook relaunches it once
 * (lib/orchestration/revive.ts), else the next cron or manual call resumes it.
 */
import { CHAIN_TOKEN_HEADER, type ChainStep, signChainToken } from "../auth/chain-token";
import { sectionPath } from "../core/base-url";

export const LINK_ACCEPT_TIMEOUT_MS = 2000;

/** An accepted link starts within its wait plus this (its wait for the predecessor's lease, 5 s, and a margin). */
export const LINK_START_GRACE_MS = 8_000;

/** A Retry-After up to this long is waited out by the next link; a longer one stops the chain (retryAt set). */
export const MAX_CHAINED_WAIT_MS = 5000;

export interface SelfChainSettings {
  baseUrl: string;
  secret: string;
  /** Vercel Deployment Protection: VERCEL_AUTOMATION_BYPASS_SECRET, sent as x-vercel-protection-bypass. */
  protectionBypass?: string;
  maxLinks: number;
}

export type LinkOutcome =
  { accepted: true; status: number } | { accepted: false; status: number | null; reason: string };

/** Why a chain does not go on (null: send the next link). */
export function chainStopReason(
  step: ChainStep,
  retryAfterMs: number,
  settings: Pick<SelfChainSettings, "maxLinks">,
  waitFor = "Notion asked to wait",
): string | null {
  if (step.link > settings.maxLinks)
    return `SYNC_MAX_CHAIN (${settings.maxLinks}) links reached for this tick; the next cron or call resumes`;
  // Longer than a link can wait: the next invocation of any route (or the next cron) sends it when due.
  if (retryAfterMs > MAX_CHAINED_WAIT_MS)
    return `${waitFor} ${Math.ceil(retryAfterMs / 1000)} s; the next invocation of any section or webhook, or the next cron, resumes after it`;
  return null;
}

export async function sendLink(
  settings: SelfChainSettings,
  step: ChainStep,
  fetchImpl: typeof fetch = fetch,
): Promise<LinkOutcome> {
  const headers: Record<string, string> = {
    "content-type": "application/json",
    [CHAIN_TOKEN_HEADER]: signChainToken(settings.secret, step),
  };
  if (settings.protectionBypass) headers["x-vercel-protection-bypass"] = settings.protectionBypass;
  try {
    const response = await fetchImpl(`${settings.baseUrl}${sectionPath(step.section)}`, {
      method: "POST",
      headers,
      // The same body as a QStash step; the link number and any wait travel signed, in the token.
      body: JSON.stringify({ runId: step.runId, seq: step.seq, force: step.force }),
      signal: AbortSignal.timeout(LINK_ACCEPT_TIMEOUT_MS),
      redirect: "manual",
    });
    await response.body?.cancel().catch(() => {});
    return response.status === 202
      ? { accepted: true, status: 202 }
      : { accepted: false, status: response.status, reason: `the next link was answered ${response.status}, not 202` };
  } catch (error) {
    const timedOut = error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError");
    return {
      accepted: false,
      status: null,
      reason: timedOut
        ? `the next link was not accepted within ${LINK_ACCEPT_TIMEOUT_MS} ms`
        : `the next link could not be sent: ${error instanceof Error ? error.message : String(error)}`,
    };
  }
}
