/**
 * Text helpers for `npm run kv:cursors`: colours (plain ANSI, only on a
 * terminal and never with NO_COLOR), ages ("3m ago"), progress bars, and the
 * attention and note lines shown under the tables.
 */
import type { RunStatus } from "../../lib/sync/cursor";
import type { RunProgress, SectionStatus } from "../../lib/operator/status";
import { needsAttention } from "../../lib/operator/status";
import type { RunSummary } from "../../lib/sync/run-history";

type Paint = (text: string) => string;

export interface Style {
  readonly color: boolean;
  red: Paint;
  green: Paint;
  yellow: Paint;
  cyan: Paint;
  magenta: Paint;
  dim: Paint;
  bold: Paint;
}

/** Colours when writing to a terminal, unless NO_COLOR is set (any value, empty too) or TERM=dumb. */
export function colorWanted(stream: { isTTY?: boolean }, env: Record<string, string | undefined>): boolean {
  return stream.isTTY === true && env.NO_COLOR === undefined && env.TERM !== "dumb";
}

export function createStyle(color: boolean): Style {
  const sgr = (open: number, close: number): Paint =>
    color ? (text) => (text ? `\x1b[${open}m${text}\x1b[${close}m` : text) : (text) => text;
  return {
    color,
    red: sgr(31, 39),
    green: sgr(32, 39),
    yellow: sgr(33, 39),
    cyan: sgr(36, 39),
    magenta: sgr(35, 39),
    dim: sgr(2, 22),
    bold: sgr(1, 22),
  };
}

export const NONE = "—";

/** "12s ago", "3m ago", "5h ago", "2d ago"; "in 40s" for an instant ahead; "now" within a second. */
export function age(iso: string | null | undefined, now: number): string {
  if (!iso) return NONE;
  const at = Date.parse(iso);
  if (!Number.isFinite(at)) return iso;
  const diff = now - at;
  const s = Math.floor(Math.abs(diff) / 1000);
  if (s < 1) return "now";
  const text =
    s < 60
      ? `${s}s`
      : s < 3600
        ? `${Math.floor(s / 60)}m`
        : s < 48 * 3600
          ? `${Math.floor(s / 3600)}h`
          : `${Math.floor(s / 86_400)}d`;
  return diff >= 0 ? `${text} ago` : `in ${text}`;
}

/** At most `max` characters, an ellipsis when cut. */
export function clip(text: string, max: number): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}

/** Word-wrapped to `width`, at most `lines` lines (the last one clipped). */
export function wrap(text: string, width: number, lines: number): string {
  const words = text.replace(/\s+/g, " ").trim().split(" ");
  const out: string[] = [];
  let line = "";
  for (const word of words) {
    if (line && line.length + 1 + word.length > width) {
      out.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) out.push(line);
  if (out.length <= lines) return out.map((l) => clip(l, width)).join("\n");
  const kept = out.slice(0, lines);
  kept[lines - 1] = clip(`${kept[lines - 1]} ${out.slice(lines).join(" ")}`, width);
  return kept.map((l) => clip(l, width)).join("\n");
}

const BAR_WIDTH = 12;

/** "██████░░░░░░ 50 %" over "98/196"; while listing (total still growing) "47/120+" and no percent. */
export function progressCell(progress: RunProgress, style: Style): string {
  const { done, total, percent } = progress;
  const ratio = percent !== null ? percent / 100 : total > 0 ? done / total : 0;
  const filled = Math.max(0, Math.min(BAR_WIDTH, Math.round(ratio * BAR_WIDTH)));
  const bar = style.green("█".repeat(filled)) + style.dim("░".repeat(BAR_WIDTH - filled));
  const count = `${done}/${total}${percent === null ? "+" : ""}`;
  return percent === null ? `${bar}\n${count} listing` : `${bar} ${percent} %\n${count}`;
}

export function paintStatus(status: RunStatus | string, style: Style): string {
  switch (status) {
    case "done":
      return style.green(status);
    case "running":
      return style.cyan(status);
    case "partial":
    case "held":
      return style.yellow(status);
    case "failed":
    case "stalled":
      return style.red(style.bold(status));
    default:
      return status;
  }
}

/** The last run that went to an end (the history also keeps runs recorded while running). */
export function lastFinishedRun(status: SectionStatus): RunSummary | null {
  return status.runs.find((r) => r.finishedAt !== null && r.status !== "running" && r.status !== "stalled") ?? null;
}

/** Why a section needs attention (failed or stalled), one line per section; the JSON's `attention`. */
export function attentionLines(statuses: SectionStatus[]): string[] {
  const lines: string[] = [];
  for (const s of statuses) {
    if (!needsAttention(s) || !s.run) continue;
    const run = s.run;
    if (run.status === "failed") {
      const why = run.error ? `${run.error.code}: ${run.error.message}` : "no reason recorded";
      lines.push(`${s.section}: run ${run.runId} failed (${why}); the next call resumes it once the cause is fixed`);
    } else if (run.status !== "stalled" && run.chain.lost) {
      lines.push(
        `${s.section}: run ${run.runId} lost its carrier (${run.chain.reason}); the next invocation of any section or webhook relaunches it`,
      );
    } else {
      const last = run.lastError
        ? `; last error ${run.lastError.code}: ${run.lastError.message} at ${run.lastError.at}`
        : "";
      lines.push(
        `${s.section}: run ${run.runId} stalled: ${run.consecutiveErrors} invocation${run.consecutiveErrors === 1 ? "" : "s"} in a row met errors without progress${last}`,
      );
    }
  }
  return lines;
}

/** What else an operator may want to act on (text output only). */
export function noteLines(statuses: SectionStatus[], now: number): string[] {
  const notes: string[] = [];
  for (const s of statuses) {
    if (s.cursorProblem)
      notes.push(`${s.section}: the stored cursor cannot be used (${s.cursorProblem}); the next call starts a new run`);
    if (s.lease.abandoned) {
      notes.push(
        `${s.section}: the lease was left by an invocation that ended ${age(s.lease.holderEndsBy, now)}: npm run kv:cursors -- --release-lease ${s.section}`,
      );
    }
    if (s.run?.status === "held" && s.run.held) {
      notes.push(
        `${s.section}: run held: ${s.run.held.reason} (${s.run.held.removals} of ${s.run.held.indexed} indexed pages would go); a forced run (force=1) goes ahead`,
      );
    }
    if (s.run?.retryAt && Date.parse(s.run.retryAt) > now) {
      notes.push(
        `${s.section}: Notion asked to wait until ${s.run.retryAt} (${s.run.rateLimit?.scope ?? "unknown"} limit)`,
      );
    }
    if (s.failedPages.count > 0) {
      const queued = s.failedPages.pages.length > 0 && s.failedPages.pages.every((p) => p.queuedForRetry);
      notes.push(
        `${s.section}: ${s.failedPages.count} page${s.failedPages.count === 1 ? "" : "s"} given up (--section ${s.section} lists them)` +
          (queued ? "; queued for the next run" : `; --retry-failed ${s.section} queues them for the next run`),
      );
    }
  }
  return notes;
}
