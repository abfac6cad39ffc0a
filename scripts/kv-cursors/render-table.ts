/** The overview of `npm run kv:cursors`: one table row per section, then what needs attention. */
import Table from "cli-table3";
import type { SectionStatus } from "../../lib/operator/status";
import {
  NONE,
  type Style,
  age,
  attentionLines,
  lastFinishedRun,
  noteLines,
  paintStatus,
  progressCell,
  wrap,
} from "./format";

export interface RenderContext {
  now: number;
  style: Style;
  /** "redis (REDIS_URL)": which backend and which variable, never its value. */
  source: string;
  prefix: string;
}

export function header(ctx: RenderContext): string {
  return (
    ctx.style.bold("kv:cursors") +
    ctx.style.dim(` · ${ctx.source} · prefix ${ctx.prefix} · ${new Date(ctx.now).toISOString()}`)
  );
}

export function leaseCell(status: SectionStatus, ctx: RenderContext): string {
  const { lease } = status;
  if (!lease.held) return ctx.style.dim("free");
  const expiry = lease.expiresAt ? `expires ${age(lease.expiresAt, ctx.now)}` : "no expiry";
  if (lease.abandoned) return `${ctx.style.yellow("held, abandoned")}\n${expiry}`;
  return `held\n${expiry}`;
}

function errorCell(status: SectionStatus, ctx: RenderContext): string {
  const run = status.run;
  const error = run?.error ?? run?.lastError ?? null;
  if (!error) return NONE;
  const text = wrap(`${error.code}: ${error.message}`, 32, 2);
  const painted = run?.status === "failed" || run?.status === "stalled" ? ctx.style.red(text) : text;
  return `${painted}\n${ctx.style.dim(age(error.at, ctx.now))}`;
}

function retryCell(status: SectionStatus, ctx: RenderContext): string {
  const run = status.run;
  if (!run?.retryAt) return NONE;
  const scope = run.rateLimit?.scope ?? "unknown";
  const ahead = Date.parse(run.retryAt) > ctx.now;
  const when = age(run.retryAt, ctx.now);
  return `${ahead ? ctx.style.yellow(when) : ctx.style.dim(when)}\n${scope}`;
}

function lastRunCell(status: SectionStatus, ctx: RenderContext): string {
  const last = lastFinishedRun(status);
  if (!last) return NONE;
  const failed = last.counts.failed > 0 ? ` (${last.counts.failed} given up)` : "";
  return `${paintStatus(last.status, ctx.style)}${failed}\n${ctx.style.dim(age(last.finishedAt, ctx.now))}`;
}

export function statusCell(status: SectionStatus, ctx: RenderContext): string {
  // A run whose carrier died says so until the next invocation of any route relaunches it.
  if (status.run)
    return `${paintStatus(status.run.status, ctx.style)}${status.run.chain.lost ? `\n${ctx.style.red("carrier lost")}` : status.run.chain.relaunchedAt ? `\n${ctx.style.dim("relaunched")}` : ""}`;
  return status.cursorProblem ? ctx.style.yellow("unreadable") : ctx.style.dim("no run");
}

export function renderOverview(statuses: SectionStatus[], ctx: RenderContext): string {
  const { style } = ctx;
  const table = new Table({
    head: [
      "section",
      "run",
      "status",
      "phase",
      "progress",
      "inv.",
      "failed",
      "last error",
      "lease",
      "retry at",
      "since",
      "last run",
    ].map((h) => style.bold(h)),
    style: { head: [], border: [] },
  });
  for (const s of statuses) {
    const run = s.run;
    table.push([
      style.bold(s.section),
      run ? `${run.runId}${run.force ? "\nforced" : ""}` : NONE,
      statusCell(s, ctx),
      run?.phase ?? NONE,
      run ? progressCell(run.progress, style) : NONE,
      run ? String(run.invocations) : NONE,
      s.failedPages.count > 0 ? style.yellow(String(s.failedPages.count)) : "0",
      errorCell(s, ctx),
      leaseCell(s, ctx),
      retryCell(s, ctx),
      run?.since ? age(run.since, ctx.now) : NONE,
      lastRunCell(s, ctx),
    ]);
  }
  const lines = [header(ctx), table.toString()];
  const attention = attentionLines(statuses);
  const notes = noteLines(statuses, ctx.now);
  if (attention.length > 0) lines.push(...attention.map((a) => style.red(`! ${a}`)));
  if (notes.length > 0) lines.push(...notes.map((n) => style.dim(`· ${n}`)));
  return `${lines.join("\n")}\n`;
}
