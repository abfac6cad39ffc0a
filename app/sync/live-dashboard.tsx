"use client";
/**
 * The sections of the dashboard. Rendered on the server with the status read
 * there (so the page is complete without JavaScript), then, in the browser,
 * re-rendered every second from /sync/status (session cookie, same
 * SectionStatus[] as /api/sync/status). Every button is a plain POST form
 * carrying the session's CSRF token.
 */
import { useEffect, useState } from "react";
import type { FailedPage, SectionStatus } from "@/lib/operator/status";
import type { OperatorAction, RunSummary } from "@/lib/sync/run-history";
import { formatCount, formatDuration, formatTime, formatUploads, statusTone } from "@/lib/dashboard/format";

const POLL_MS = 1000;

type Live = { state: "live" | "paused" | "signed-out" | "error"; at: string; message: string | null };

export function LiveDashboard({
  initial,
  initialAt,
  csrf,
}: {
  initial: SectionStatus[];
  initialAt: string;
  csrf: string;
}) {
  const [sections, setSections] = useState(initial);
  const [live, setLive] = useState<Live>({ state: "paused", at: initialAt, message: null });

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = async () => {
      try {
        const res = await fetch("/sync/status", { cache: "no-store", headers: { accept: "application/json" } });
        if (res.status === 401) {
          stopped = true;
          setLive((l) => ({ ...l, state: "signed-out", message: "The session ended: sign in again." }));
          return;
        }
        const body = (await res.json()) as {
          ok: boolean;
          at?: string;
          sections?: SectionStatus[];
          error?: { message: string };
        };
        if (body.ok && body.sections) {
          setSections(body.sections);
          setLive({ state: "live", at: body.at ?? new Date().toISOString(), message: null });
        } else {
          setLive((l) => ({ ...l, state: "error", message: body.error?.message ?? `status answered ${res.status}` }));
        }
      } catch {
        setLive((l) => ({ ...l, state: "error", message: "the server could not be reached" }));
      }
      if (!stopped) timer = setTimeout(tick, POLL_MS);
    };
    setLive((l) => ({ ...l, state: "live" }));
    timer = setTimeout(tick, POLL_MS);
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, []);

  return (
    <>
      <p className="notice" data-testid="live" data-state={live.state} aria-live="polite">
        {live.state === "live" && <>Live: updated every second, last at {formatTime(live.at)}.</>}
        {live.state === "paused" && (
          <>
            Read at {formatTime(live.at)}. <a href="/sync">Refresh</a>
          </>
        )}
        {live.state === "signed-out" && (
          <>
            {live.message} <a href="/sync/signin">Sign in</a>
          </>
        )}
        {live.state === "error" && (
          <>
            Live updates failed ({live.message}); retrying. Last update {formatTime(live.at)}.
          </>
        )}
      </p>
      <div className="grid">
        {sections.map((s) => (
          <SectionCard key={s.section} status={s} csrf={csrf} />
        ))}
      </div>
      {sections.map((s) => (
        <SectionDetails key={s.section} status={s} />
      ))}
    </>
  );
}

function ActionForm({
  csrf,
  action,
  section,
  label,
  className,
  disabled,
  title,
}: {
  csrf: string;
  action: string;
  section?: string;
  label: string;
  className?: string;
  disabled?: boolean;
  title?: string;
}) {
  return (
    <form method="post" action="/sync/action">
      <input type="hidden" name="csrf" value={csrf} />
      <input type="hidden" name="action" value={action} />
      {section && <input type="hidden" name="section" value={section} />}
      <button
        type="submit"
        className={className}
        disabled={disabled}
        title={title}
        data-action={action}
        data-section={section}
      >
        {label}
      </button>
    </form>
  );
}

function ProgressBar({ status }: { status: SectionStatus }) {
  const run = status.run;
  const label = `${status.section} progress`;
  if (!run) {
    return (
      <>
        <div
          className="bar"
          role="progressbar"
          aria-label={label}
          aria-valuemin={0}
          aria-valuemax={100}
          aria-valuetext="no run yet"
          data-testid={`progress-${status.section}`}
          data-percent=""
          data-status="none"
        >
          <div className="fill" style={{ width: "0%" }} />
        </div>
        <div className="bar-label">
          <span>no run yet</span>
          <span>{formatCount(status.indexed)} indexed</span>
        </div>
      </>
    );
  }
  const { done, total, percent } = run.progress;
  const tone = statusTone(run.status);
  const indeterminate = percent === null;
  return (
    <>
      <div
        className={`bar ${tone === "busy" || tone === "idle" ? "" : tone}${indeterminate ? " indeterminate" : ""}`}
        role="progressbar"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={indeterminate ? undefined : percent}
        aria-valuetext={
          indeterminate ? `listing: ${done} of ${total} listed so far` : `${done} of ${total} pages, ${percent} %`
        }
        data-testid={`progress-${status.section}`}
        data-percent={indeterminate ? "" : String(percent)}
        data-done={done}
        data-total={total}
        data-status={run.status}
        data-run-id={run.runId}
      >
        <div className="fill" style={{ width: `${indeterminate ? 0 : percent}%` }} />
      </div>
      <div className="bar-label">
        <span>
          {formatCount(done)} / {formatCount(total)} pages{indeterminate ? " (listing…)" : ""}
        </span>
        <span data-testid={`percent-${status.section}`}>{indeterminate ? "…" : `${percent} %`}</span>
      </div>
    </>
  );
}

function SectionCard({ status, csrf }: { status: SectionStatus; csrf: string }) {
  const { run, lease, section } = status;
  const runStatus = run?.status ?? "no run";
  return (
    <section className="card" data-section={section} aria-labelledby={`h-${section}`}>
      <div className="card-head">
        <h2 id={`h-${section}`}>{section}</h2>
        <span className={`badge ${statusTone(run?.status)}`} data-testid={`badge-${section}`}>
          {runStatus}
        </span>
      </div>
      <ProgressBar status={status} />
      <dl className="facts">
        <dt>Run</dt>
        <dd className="mono">{run ? `${run.runId}${run.force ? " (forced)" : ""}` : "—"}</dd>
        <dt>Phase</dt>
        <dd data-testid={`phase-${section}`}>{run?.phase ?? "—"}</dd>
        <dt>Invocations</dt>
        <dd>{run ? formatCount(run.invocations) : "—"}</dd>
        <dt>Started</dt>
        <dd>{formatTime(run?.startedAt)}</dd>
        <dt>Finished</dt>
        <dd>
          {run?.finishedAt ? `${formatTime(run.finishedAt)} (${formatDuration(run.startedAt, run.finishedAt)})` : "—"}
        </dd>
        {run && (
          <>
            <dt>Pages</dt>
            <dd>
              {formatCount(run.counts.fetched)} fetched, {formatCount(run.counts.skipped)} unchanged,{" "}
              {formatCount(run.counts.gone)} gone, {formatCount(run.counts.failed)} failed
            </dd>
            <dt>Files uploaded</dt>
            <dd data-testid={`uploads-${section}`}>{formatUploads(run.counts)}</dd>
          </>
        )}
        <dt>Indexed</dt>
        <dd>{formatCount(status.indexed)}</dd>
        {run?.error && (
          <>
            <dt>Run error</dt>
            <dd className="error-text">
              <code>{run.error.code}</code> {run.error.message} ({formatTime(run.error.at)})
            </dd>
          </>
        )}
        <dt>Last error</dt>
        <dd className={run?.lastError ? "error-text" : undefined} data-testid={`last-error-${section}`}>
          {run?.lastError ? (
            <>
              <code>{run.lastError.code}</code> {run.lastError.message} ({formatTime(run.lastError.at)}
              {run.consecutiveErrors > 0
                ? `; ${run.consecutiveErrors} invocation${run.consecutiveErrors === 1 ? "" : "s"} in a row without progress`
                : ""}
              )
            </>
          ) : (
            "—"
          )}
        </dd>
        <dt>Stalled</dt>
        <dd>{run?.stalled ? <span className="badge warn">stalled</span> : "no"}</dd>
        <dt>Carrier</dt>
        <dd data-testid={`carrier-${section}`}>
          {run?.chain.lost ? <span className="badge warn">lost</span> : (run?.chain.state ?? "—")}
          {run?.chain.reason ? ` ${run.chain.reason}` : ""}
          {run?.chain.relaunchedAt ? ` (relaunched ${formatTime(run.chain.relaunchedAt)})` : ""}
        </dd>
        {run?.held && (
          <>
            <dt>Held</dt>
            <dd className="error-text">
              {run.held.reason} ({formatCount(run.held.removals)} of {formatCount(run.held.indexed)} would go)
            </dd>
          </>
        )}
        <dt>Retry at</dt>
        <dd>
          {run?.retryAt
            ? `${formatTime(run.retryAt)}${run.rateLimit ? ` (${run.rateLimit.scope} rate limit)` : ""}`
            : "—"}
        </dd>
        <dt>Lease</dt>
        <dd data-testid={`lease-${section}`}>
          {lease.held ? (
            <>
              held until {formatTime(lease.expiresAt)}
              {lease.abandoned ? (
                <>
                  {" "}
                  <span className="badge warn">abandoned</span>
                </>
              ) : lease.holderEndsBy ? (
                `, holder ends by ${formatTime(lease.holderEndsBy)}`
              ) : (
                ""
              )}
            </>
          ) : (
            "free"
          )}
        </dd>
        {status.cursorProblem && (
          <>
            <dt>Cursor</dt>
            <dd className="error-text">{status.cursorProblem} (the next call starts a new run)</dd>
          </>
        )}
      </dl>
      <FailedPages section={section} failed={status.failedPages} />
      <div className="actions">
        <ActionForm
          csrf={csrf}
          action="start"
          section={section}
          label={`Start ${section}`}
          className="primary"
          title="Runs one batch of this section now (QStash carries the rest)"
        />
        <ActionForm
          csrf={csrf}
          action="retry"
          section={section}
          label="Retry failed pages"
          disabled={status.failedPages.count === 0}
        />
        <ActionForm csrf={csrf} action="reset" section={section} label="Reset cursor…" className="danger" />
        {lease.held && (
          <ActionForm
            csrf={csrf}
            action="release"
            section={section}
            label="Release lease…"
            className="danger"
            disabled={!lease.abandoned}
            title={lease.abandoned ? "The lease's holder has ended" : "The holder may still be working"}
          />
        )}
      </div>
    </section>
  );
}

function FailedPages({ section, failed }: { section: string; failed: SectionStatus["failedPages"] }) {
  return (
    <>
      <h3>
        Failed pages <span className={`badge ${failed.count > 0 ? "warn" : "idle"}`}>{failed.count}</span>
      </h3>
      {failed.count === 0 ? (
        <p className="empty">None.</p>
      ) : (
        <div className="scroll">
          <table data-testid={`failed-${section}`}>
            <thead>
              <tr>
                <th>Page</th>
                <th>Error</th>
                <th>Retry</th>
              </tr>
            </thead>
            <tbody>
              {failed.pages.map((p: FailedPage) => (
                <tr key={p.id} data-page-id={p.id}>
                  <td>
                    <a href={p.notionUrl} target="_blank" rel="noopener noreferrer" className="mono">
                      {p.id.slice(0, 8)}… in Notion
                    </a>
                  </td>
                  <td className="wrap narrow">{p.error}</td>
                  <td data-testid="queued">{p.queuedForRetry ? <span className="badge busy">queued</span> : "—"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {failed.count > failed.pages.length && (
        <p className="empty">and {formatCount(failed.count - failed.pages.length)} more.</p>
      )}
    </>
  );
}

function SectionDetails({ status }: { status: SectionStatus }) {
  const { section, runs, actions } = status;
  return (
    <section className="section-details card" data-details={section}>
      <h2>{section}: history</h2>
      <h3>Last runs</h3>
      {runs.length === 0 ? (
        <p className="empty">No finished run yet.</p>
      ) : (
        <div className="scroll">
          <table data-testid={`runs-${section}`}>
            <thead>
              <tr>
                <th>Run</th>
                <th>Status</th>
                <th>Started</th>
                <th>Ended</th>
                <th className="num">Invocations</th>
                <th className="num">Fetched</th>
                <th className="num">Skipped</th>
                <th className="num">Deleted</th>
                <th className="num">Failed</th>
                <th className="num">Notion requests</th>
                <th className="num">Files uploaded</th>
                <th className="num">Errors</th>
                <th>Error</th>
              </tr>
            </thead>
            <tbody>
              {runs.map((r: RunSummary) => (
                <tr key={r.runId} data-run-id={r.runId} data-status={r.status}>
                  <td className="mono">
                    {r.runId}
                    {r.force ? " (forced)" : ""}
                  </td>
                  <td>
                    <span className={`badge ${statusTone(r.status)}`}>{r.status}</span>
                  </td>
                  <td>{formatTime(r.startedAt)}</td>
                  <td>{formatTime(r.finishedAt)}</td>
                  <td className="num">{formatCount(r.invocations)}</td>
                  <td className="num">{formatCount(r.counts.fetched)}</td>
                  <td className="num">{formatCount(r.counts.skipped)}</td>
                  <td className="num">{formatCount(r.removed ?? r.counts.removed)}</td>
                  <td className="num">{formatCount(r.counts.failed)}</td>
                  <td className="num">{formatCount(r.counts.notionRequests)}</td>
                  <td className="num" data-uploads>
                    {formatUploads(r.counts)}
                  </td>
                  <td className="num">{formatCount(r.counts.errors)}</td>
                  <td className="wrap">
                    {r.error
                      ? `${r.error.code}: ${r.error.message}`
                      : r.held
                        ? `held: ${r.held.reason}`
                        : r.failedPages.length > 0
                          ? `${r.failedPages.length} page(s) given up`
                          : "—"}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <h3>Operator actions</h3>
      {actions.length === 0 ? (
        <p className="empty">None yet.</p>
      ) : (
        <div className="scroll">
          <table data-testid={`actions-${section}`}>
            <thead>
              <tr>
                <th>At</th>
                <th>Action</th>
                <th>By</th>
                <th>Run</th>
                <th>Detail</th>
              </tr>
            </thead>
            <tbody>
              {actions.map((a: OperatorAction, i: number) => (
                <tr key={`${a.at}-${i}`} data-action-name={a.action}>
                  <td>{formatTime(a.at)}</td>
                  <td>{a.action}</td>
                  <td>{a.by}</td>
                  <td className="mono">{a.runId ?? "—"}</td>
                  <td className="wrap">{a.detail}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
