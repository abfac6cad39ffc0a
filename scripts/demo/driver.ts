/**
 * Drives the sync endpoints of a running app the way its users do: staggered
 * crons (Bearer CRON_SECRET) and a person with manual URLs (?secret=), calling
 * each section until its cursor says the run is done.
 */
import type { Section } from "../../lib/core/sections";

export interface InvocationAnswer {
  ok: boolean;
  section: Section;
  runId: string;
  done: boolean;
  phase: string;
  processed: number;
  remaining: number | null;
  invocation: number;
  elapsedMs: number;
  counts: {
    listed: number;
    toSync: number;
    fetched: number;
    skipped: number;
    gone: number;
    blocks: number;
    notionRequests: number;
  };
  error?: { code: string; message: string };
}

export interface SectionRun {
  section: Section;
  answers: InvocationAnswer[];
  wallMs: number;
}

export type CallStyle = "cron" | "manual";

export async function callSection(
  baseUrl: string,
  secret: string,
  section: Section,
  style: CallStyle,
  query = "",
): Promise<{ status: number; body: InvocationAnswer }> {
  const url = new URL(`/api/sync/${section}`, baseUrl);
  const headers: Record<string, string> = {};
  if (style === "cron") {
    headers.authorization = `Bearer ${secret}`;
    headers["user-agent"] = "vercel-cron/1.0";
  } else url.searchParams.set("secret", secret);
  for (const [k, v] of new URLSearchParams(query)) url.searchParams.set(k, v);
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(60_000) });
  return { status: res.status, body: (await res.json()) as InvocationAnswer };
}

/** Calls one section until done; 409 (another invocation running) waits and tries again. */
export async function runSection(
  baseUrl: string,
  secret: string,
  section: Section,
  options: { style: CallStyle; query?: string; onAnswer?: (a: InvocationAnswer) => void; maxCalls?: number },
): Promise<SectionRun> {
  const started = Date.now();
  const answers: InvocationAnswer[] = [];
  for (let call = 0; call < (options.maxCalls ?? 500); call++) {
    const { status, body } = await callSection(baseUrl, secret, section, options.style, options.query);
    if (status === 409) {
      await new Promise((r) => setTimeout(r, 500));
      continue;
    }
    if (status !== 200) throw new Error(`${section} answered ${status}: ${JSON.stringify(body)}`);
    answers.push(body);
    options.onAnswer?.(body);
    if (body.done) return { section, answers, wallMs: Date.now() - started };
  }
  throw new Error(`${section} did not finish within ${options.maxCalls ?? 500} calls`);
}
