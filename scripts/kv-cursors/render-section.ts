/** `npm run kv:cursors -- --section NAME`: one section in detail. */
import Table from "cli-table3";
import { formatBytes, formatUploads, uploadsOf } from "../../lib/dashboard/format";
import type { SectionStatus } from "../../lib/operator/status";
import type { ListingSummary } from "../../lib/sync/run-history";
import { NONE, age, attentionLines, noteLines, paintStatus, wrap } from "./format";
import { type RenderContext, header, leaseCell, statusCell } from "./render-table";

const plainTable = (head: string[], ctx: RenderContext) =>
  new Table({ head: head.map((h) => ctx.style.bold(h)), style: { head: [], border: [] } });

const when = (iso: string | null | undefined, ctx: RenderContext) =>
  iso ? `${iso} ${ctx.style.dim(`(${age(iso, ctx.now)})`)}` : NONE;

export function renderSection(
  status: SectionStatus,
  storedCursor: unknown,
  cursorKey: string,
  ctx: RenderContext,
): string {
  const { style } = ctx;
  const out: string[] = [header(ctx), ""];
  const run = status.run;
  const title = `${style.bold(status.section)} · ${statusCell(status, ctx)}`;
  if (run) {
    const p = run.progress;
    out.push(`${title} · run ${run.runId}${run.force ? " (forced)" : ""} · phase ${run.phase}`);
    out.push(
      `  progress     ${p.done}/${p.total}${p.percent === null ? "+ (listing)" : ` ${p.percent} %`} · ${run.invocations} invocation${run.invocations === 1 ? "" : "s"}`,
    );
    out.push(`  started      ${when(run.startedAt, ctx)}`);
    out.push(`  finished     ${when(run.finishedAt, ctx)}`);
    const c = run.counts;
    out.push(
      `  counts       listed ${c.listed} · to sync ${c.toSync} · fetched ${c.fetched} · unchanged ${c.skipped} · gone ${c.gone} · given up ${c.failed} · removed ${c.removed} · blocks ${c.blocks} · Notion requests ${c.notionRequests} · invocations with errors ${c.errors} · files uploaded ${formatUploads(c)}`,
    );
    if (run.error)
      out.push(
        `  error        ${style.red(`${run.error.code}: ${run.error.message}`)} ${style.dim(`(${age(run.error.at, ctx.now)})`)}`,
      );
    if (run.lastError) {
      out.push(
        `  last error   ${run.lastError.code}: ${run.lastError.message} ${style.dim(`(${age(run.lastError.at, ctx.now)}; ${run.consecutiveErrors} in a row without progress)`)}`,
      );
    }
    if (run.retryAt) out.push(`  retry at     ${when(run.retryAt, ctx)} · ${run.rateLimit?.scope ?? "unknown"} limit`);
    if (run.held)
      out.push(
        `  held         ${run.held.reason} (${run.held.removals} of ${run.held.indexed} indexed pages would go)`,
      );
    out.push(
      `  since        ${run.since ? when(run.since, ctx) : `${NONE} (a full read: forced, or no completed run before)`}`,
    );
    out.push(
      `  listing      ${run.listing.pieces} work piece${run.listing.pieces === 1 ? "" : "s"}, ${run.listing.windows} window${run.listing.windows === 1 ? "" : "s"}${listingMode(run.listingMode)}`,
    );
    if (run.chain.seq !== undefined)
      out.push(
        `  chain        seq ${run.chain.seq}, successor ${run.chain.published ? `published (${run.chain.messageId ?? "no id"})` : "not published"}`,
      );
    if (run.chain.lost)
      out.push(
        `  carrier      ${style.red(`lost: ${run.chain.reason}`)}; the next invocation of any section or webhook relaunches it`,
      );
    else if (run.chain.reason) out.push(`  carrier      ${run.chain.state}: ${run.chain.reason}`);
    if (run.chain.relaunchedAt) out.push(`  relaunched   ${when(run.chain.relaunchedAt, ctx)}`);
  } else {
    out.push(
      `${title}${status.cursorProblem ? ` · ${status.cursorProblem}` : " · no cursor: the next call starts a run"}`,
    );
  }
  const lease = leaseCell(status, ctx).replace(/\n/g, ", ");
  out.push(
    `  lease        ${lease}${status.lease.holderEndsBy ? ` · holder ends by ${when(status.lease.holderEndsBy, ctx)}` : ""}`,
  );
  out.push(`  index        ${status.indexed} page${status.indexed === 1 ? "" : "s"}`);
  const scheduled = status.scheduled;
  if (scheduled)
    out.push(
      `  scheduled    a run at ${when(scheduled.at, ctx)} via ${scheduled.via === "qstash" ? `QStash (${scheduled.messageId ?? "no id"})` : "the next invocation after it"}${scheduled.error ? ` · ${style.yellow(scheduled.error)}` : ""}`,
    );

  out.push("", style.bold(`Cursor (${cursorKey}, as stored)`));
  out.push(storedCursor === null || storedCursor === undefined ? NONE : JSON.stringify(storedCursor, null, 2));

  out.push("", style.bold(`Run history (${status.runs.length})`));
  if (status.runs.length === 0) out.push(NONE);
  else {
    const table = plainTable(
      [
        "run",
        "status",
        "started",
        "finished",
        "inv.",
        "listed",
        "fetched",
        "unchanged",
        "gone",
        "given up",
        "removed",
        "uploaded",
        "error",
      ],
      ctx,
    );
    for (const r of status.runs) {
      const error = r.error ?? r.lastError;
      table.push([
        `${r.runId}${r.force ? "\nforced" : ""}`,
        paintStatus(r.status, style),
        age(r.startedAt, ctx.now),
        age(r.finishedAt, ctx.now),
        r.invocations,
        r.counts.listed,
        r.counts.fetched,
        r.counts.skipped,
        r.counts.gone,
        r.counts.failed,
        r.removed,
        `${uploadsOf(r.counts).files}\n${formatBytes(uploadsOf(r.counts).bytes)}`,
        error ? wrap(`${error.code}: ${error.message}`, 40, 2) : r.held ? wrap(`held: ${r.held.reason}`, 40, 2) : NONE,
      ]);
    }
    out.push(table.toString());
  }

  const failed = status.failedPages;
  const shown =
    failed.pages.length < failed.count ? `${failed.count}, ${failed.pages.length} shown` : String(failed.count);
  out.push("", style.bold(`Failed pages (${shown})`));
  if (failed.pages.length === 0) out.push(NONE);
  else {
    const table = plainTable(["page", "error", "run", "queued", "Notion"], ctx);
    for (const p of failed.pages)
      table.push([
        p.id,
        wrap(p.error, 40, 3),
        p.runId ?? NONE,
        p.queuedForRetry ? "yes" : style.yellow("no"),
        p.notionUrl,
      ]);
    out.push(table.toString());
  }

  out.push("", style.bold(`Action history (${status.actions.length})`));
  if (status.actions.length === 0) out.push(NONE);
  else {
    const table = plainTable(["at", "action", "by", "run", "detail"], ctx);
    for (const a of status.actions)
      table.push([`${a.at}\n${style.dim(age(a.at, ctx.now))}`, a.action, a.by, a.runId ?? NONE, wrap(a.detail, 50, 4)]);
    out.push(table.toString());
  }

  const attention = attentionLines([status]);
  const notes = noteLines([status], ctx.now);
  if (attention.length + notes.length > 0) out.push("");
  out.push(...attention.map((a) => style.red(`! ${a}`)), ...notes.map((n) => style.dim(`· ${n}`)));
  return `${out.join("\n")}\n`;
}

/** ", incremental (edited since …)" or ", full (periodic)": how a database section's run lists. */
function listingMode(mode: ListingSummary | null | undefined): string {
  if (!mode) return "";
  return mode.mode === "incremental" ? `, incremental (edited since ${mode.editedSince})` : `, full (${mode.reason})`;
}
