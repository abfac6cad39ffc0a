/**
 * What `npm run kv:cursors` does once its arguments are parsed: reads every
 * section's status (lib/operator/status.ts) through the app's runtime
 * (lib/runtime.ts: same environment, KV adapters and key builder), renders it,
 * or takes an operator action (lib/operator/actions.ts, by: "script"). Every
 * KV call is bounded (lib/kv/bounded-store.ts), so an unreachable store is
 * reported within seconds, naming the variable to check.
 */
import { createInterface } from "node:readline/promises";
import { ConfigError } from "../../lib/config";
import { createDeadline } from "../../lib/core/deadline";
import type { Section } from "../../lib/core/sections";
import { boundedByDeadline } from "../../lib/kv/bounded-store";
import { KvTimeoutError } from "../../lib/kv/errors";
import type { KvStore } from "../../lib/kv/store";
import { releaseLease, resetSection, retryFailedPages } from "../../lib/operator/actions";
import {
  type SectionStatus,
  type WebhookStatus,
  needsAttention,
  readSectionStatus,
  readStoredCursor,
  readWebhookStatus,
} from "../../lib/operator/status";
import { type StoreRuntime, loadStoreRuntime } from "../../lib/runtime";
import { type ActionName, type Command, EXIT } from "./args";
import { webhookKeys } from "../../lib/webhooks/keys";
import { type AcceptOutcome, acceptPendingToken, revealTokens } from "../../lib/webhooks/token";
import { attentionLines, colorWanted, createStyle } from "./format";
import { type KvSource, describeKvFailure, isKvSetupError, kvSource } from "./kv-errors";
import { renderSection } from "./render-section";
import { type RenderContext, header, renderOverview } from "./render-table";

type Env = Record<string, string | undefined>;

const NAME = "kv:cursors";
/** A network store that has not answered a frame's reads by then is unreachable (exit 3). */
const NETWORK_TIMEOUT_MS = 5_000;
/** The file store reads its whole log first: a large one takes a while, and nothing is remote. */
const FILE_TIMEOUT_MS = 30_000;
/** An action, once the store has answered: a reset deletes scratch keys 500 at a time. */
const ACTION_TIMEOUT_MS = 60_000;
const WATCH_INTERVAL_MS = 1_000;
/** The JSON document's version: bumped only when a field changes meaning or goes away. */
const JSON_VERSION = 1;

const env: Env = process.env;
const out = (text: string) => process.stdout.write(text);
const err = (text: string) => process.stderr.write(`${NAME}: ${text}\n`);

/** Failures of the KV store or its configuration (exit 3), as opposed to bugs (exit 4). */
function isKvFailure(error: unknown): boolean {
  return (
    error instanceof ConfigError ||
    error instanceof KvTimeoutError ||
    isKvSetupError(error) ||
    (error instanceof Error && /^kv\b/.test(error.message))
  );
}

/** Every KV call made through the result ends within `ms` of now (lib/kv/bounded-store.ts). */
function boundedStore(runtime: StoreRuntime, ms: number): KvStore {
  return boundedByDeadline(runtime.kv, createDeadline(ms), { tailMs: 0, minMs: 100 });
}

interface Snapshot {
  now: number;
  statuses: SectionStatus[];
  /** The one section's cursor as stored (--section only). */
  storedCursor?: unknown;
  webhooks?: WebhookStatus;
}

/** `section`: one in detail; else every one of `all`. */
async function snapshot(
  runtime: StoreRuntime,
  timeoutMs: number,
  section: Section | null,
  all: readonly Section[] = [],
): Promise<Snapshot> {
  const kv = boundedStore(runtime, timeoutMs);
  const now = Date.now();
  const sections = section ? [section] : all;
  const [statuses, storedCursor, webhooks] = await Promise.all([
    Promise.all(sections.map((s) => readSectionStatus(kv, runtime.keys, s, { now }))),
    section ? readStoredCursor(kv, runtime.keys, section) : Promise.resolve(undefined),
    section ? Promise.resolve(undefined) : readWebhookStatus(kv, runtime.keys, runtime.workspace.names),
  ]);
  return { now, statuses, storedCursor, webhooks };
}

function jsonDocument(snap: Snapshot): string {
  const doc = {
    version: JSON_VERSION,
    generatedAt: new Date(snap.now).toISOString(),
    sections: snap.statuses,
    attention: attentionLines(snap.statuses),
    ...(snap.webhooks && webhooksInUse(snap.webhooks) ? { webhooks: snap.webhooks } : {}),
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

function renderContext(now: number, source: KvSource, runtime: StoreRuntime): RenderContext {
  return {
    now,
    style: createStyle(colorWanted(process.stdout, env)),
    source: source.label,
    prefix: runtime.keys.prefix,
  };
}

function renderText(snap: Snapshot, section: Section | null, source: KvSource, runtime: StoreRuntime): string {
  const ctx = renderContext(snap.now, source, runtime);
  if (section) return renderSection(snap.statuses[0], snap.storedCursor, runtime.keys.cursor(section), ctx);
  return renderOverview(snap.statuses, ctx) + (snap.webhooks ? webhookLine(snap.webhooks) : "");
}

const exitFor = (statuses: SectionStatus[]) => (statuses.some(needsAttention) ? EXIT.attention : EXIT.ok);

async function show(
  command: Extract<Command, { kind: "show" }>,
  sections: readonly Section[],
  runtime: StoreRuntime,
  source: KvSource,
  timeoutMs: number,
): Promise<number> {
  if (command.watch) return watch(command.section, sections, runtime, source, timeoutMs);
  const snap = await snapshot(runtime, timeoutMs, command.section, sections);
  out(command.json ? jsonDocument(snap) : renderText(snap, command.section, source, runtime));
  return exitFor(snap.statuses);
}

/** Redraws every second until Ctrl-C: clears the screen on a terminal, else prints one frame a second. */
async function watch(
  section: Section | null,
  all: readonly Section[],
  runtime: StoreRuntime,
  source: KvSource,
  timeoutMs: number,
): Promise<number> {
  const tty = process.stdout.isTTY === true;
  let stopped = false;
  let wake: () => void = () => {};
  const stop = () => {
    stopped = true;
    wake();
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  while (!stopped) {
    const started = Date.now();
    let frame: string;
    try {
      frame = renderText(await snapshot(runtime, timeoutMs, section, all), section, source, runtime);
    } catch (error) {
      if (error instanceof ConfigError || !isKvFailure(error)) throw error;
      // The store may come back: say so in the frame and keep trying.
      const ctx = renderContext(Date.now(), source, runtime);
      frame = `${header(ctx)}\n${ctx.style.red(`! ${describeKvFailure(error, env, timeoutMs)} (trying again every second)`)}\n`;
    }
    if (stopped) break;
    out(tty ? `\x1b[H\x1b[2J${frame}` : `${frame}\n`);
    const pause = Math.max(0, WATCH_INTERVAL_MS - (Date.now() - started));
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, pause);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
  return EXIT.ok;
}

async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    const answer = await rl.question(question);
    return /^\s*y(es)?\s*$/i.test(answer);
  } finally {
    rl.close();
  }
}

function describeRun(status: SectionStatus): string {
  const run = status.run;
  const what = run
    ? `run ${run.runId} (${run.status}, phase ${run.phase}, ${run.progress.done}/${run.progress.total}, ${run.invocations} invocations)`
    : "no run";
  return `${status.section}: ${what}, lease ${status.lease.held ? (status.lease.abandoned ? "held (abandoned)" : "held") : "free"}, ${status.indexed} indexed pages`;
}

async function act(
  command: Extract<Command, { kind: "action" }>,
  runtime: StoreRuntime,
  timeoutMs: number,
): Promise<number> {
  const { section } = command;
  // Read first, bounded: an unreachable store fails here within seconds, before anything is asked or changed.
  const [status] = (await snapshot(runtime, timeoutMs, section)).statuses;
  // Its time starts when the action does, not before the question is answered.
  const kv = () => boundedStore(runtime, ACTION_TIMEOUT_MS);
  const options = { by: "script" as const };
  const run: Record<ActionName, () => Promise<number>> = {
    async reset() {
      if (!command.yes) {
        if (process.stdin.isTTY !== true) {
          err(`refusing to reset the ${section} cursor without confirmation: not on a terminal; add --yes to reset it`);
          return EXIT.usage;
        }
        out(`${describeRun(status)}\n`);
        if (!(await confirm(`Reset the ${section} cursor? [y/N] `))) {
          out("Nothing changed.\n");
          return EXIT.ok;
        }
      }
      const outcome = await resetSection(kv(), runtime.keys, section, options);
      out(`reset ${section}: ${outcome.action.detail}\n`);
      out(`The next call of /api/sync/${section} starts a new run; the published index and bundles are kept.\n`);
      return EXIT.ok;
    },
    async "retry-failed"() {
      const outcome = await retryFailedPages(kv(), runtime.keys, section, options);
      out(`retry-failed ${section}: ${outcome.action.detail}\n`);
      return EXIT.ok;
    },
    async "release-lease"() {
      const outcome = await releaseLease(kv(), runtime.keys, section, { ...options, force: command.force });
      if (outcome.released) {
        out(`release-lease ${section}: ${outcome.action.detail}\n`);
        return EXIT.ok;
      }
      if (outcome.reason === "no_lease") {
        out(`release-lease ${section}: ${outcome.message}; nothing to do\n`);
        return EXIT.ok;
      }
      err(`release-lease ${section} refused: ${outcome.message}`);
      return EXIT.usage;
    },
  };
  return run[command.action]();
}

/** A subscription was set up (or events are waiting): only then do --json and the table mention webhooks. */
function webhooksInUse(w: WebhookStatus): boolean {
  return Boolean(w.lastEvent) || w.token.stored || w.dirty > 0 || w.deferred.length > 0 || w.fullRefetch.length > 0;
}

/** One line under the table once webhooks are in use: the last event and the dirty set. */
function webhookLine(w: WebhookStatus): string {
  if (!webhooksInUse(w)) return "";
  const last = w.lastEvent
    ? `last event ${w.lastEvent.type} received ${w.lastEvent.receivedAt}`
    : "no event received yet";
  const token = w.token.stored
    ? w.token.verifiedAt
      ? "token verified"
      : "token stored, no verified delivery yet"
    : "no token stored";
  const extra = [
    w.deferred.length > 0 ? `deferred: ${w.deferred.join(", ")}` : "",
    w.token.pending ? `a pending token received ${w.token.pendingReceivedAt} waits (--webhook-token)` : "",
  ].filter(Boolean);
  return `· webhooks: ${last}; ${w.dirty} dirty; ${token}${extra.length > 0 ? `; ${extra.join("; ")}` : ""}\n`;
}

/** `--webhook-token`: the stored tokens, each shown once (stdout: the tokens alone, one a line, so `$(…)` takes one; stderr says which is which). */
async function webhookToken(accept: boolean, runtime: StoreRuntime, timeoutMs: number): Promise<number> {
  const kv = boundedStore(runtime, timeoutMs);
  const wk = webhookKeys(runtime.keys);
  if (env.NOTION_WEBHOOK_SECRET?.trim())
    err("note: NOTION_WEBHOOK_SECRET is set here; the app verifies with it, not with a stored token");
  if (accept) return acceptWebhookToken(await acceptPendingToken(kv, wk));
  const reveals = await revealTokens(kv, wk);
  if (reveals.length === 0) {
    err(
      "no webhook token stored yet: create the subscription in Notion (it POSTs the token to /api/notion/webhook), or click Resend token",
    );
    return EXIT.ok;
  }
  let line = 0;
  for (const r of reveals) {
    const name =
      r.which === "pending"
        ? "PENDING webhook token (never used to verify until --webhook-token --accept)"
        : "active webhook token";
    const verified = r.verifiedAt
      ? `, deliveries verified since ${r.verifiedAt}`
      : r.which === "active"
        ? ", no verified delivery yet"
        : "";
    if (r.token === null)
      err(
        `the ${name}, received ${r.receivedAt}${verified}, was shown already (${r.shownAt}); in Notion, click Resend token to show it once more`,
      );
    else
      process.stderr.write(
        `stdout line ${++line}: ${name}, received ${r.receivedAt}${verified}. It is not shown again.\n`,
      );
  }
  if (reveals.some((r) => r.which === "pending")) {
    process.stderr.write(
      "Two different handshakes arrived; anybody can POST one. Paste the token in Notion (Webhooks → Verify): only Notion's own is accepted there. If that is the pending one, run --webhook-token --accept; otherwise ignore it (it is never used).\n",
    );
  } else if (line > 0) {
    process.stderr.write("Paste it in Notion (Webhooks → Verify).\n");
  }
  for (const r of reveals) if (r.token !== null) out(`${r.token}\n`);
  return line > 0 ? EXIT.ok : EXIT.usage;
}

function acceptWebhookToken(outcome: AcceptOutcome): number {
  switch (outcome.kind) {
    case "none":
      err("no pending webhook token to accept");
      return EXIT.usage;
    case "not_shown":
      err(
        `the pending webhook token (received ${outcome.receivedAt}) was never shown, so it is not the one you checked: run --webhook-token, verify it in Notion, then --accept`,
      );
      return EXIT.usage;
    case "accepted":
      process.stderr.write(
        `webhook token received ${outcome.receivedAt} is now the active one; the previous one is dropped\n`,
      );
      return EXIT.ok;
  }
}

/** Runs a parsed command (not --help) against the KV store the environment configures; returns the exit code. */
/** `sections`: the ones to show (scripts/kv-cursors/sections.ts). */
export async function runCommand(
  command: Exclude<Command, { kind: "help" }>,
  sections: readonly Section[],
): Promise<number> {
  let runtime: StoreRuntime;
  let source: KvSource;
  try {
    source = kvSource(env);
    runtime = loadStoreRuntime(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    err(describeKvFailure(error, env, NETWORK_TIMEOUT_MS));
    return EXIT.kv;
  }
  const timeoutMs = source.kind === "file" ? FILE_TIMEOUT_MS : NETWORK_TIMEOUT_MS;
  try {
    if (command.kind === "webhook-token") return await webhookToken(command.accept, runtime, timeoutMs);
    return command.kind === "show"
      ? await show(command, sections, runtime, source, timeoutMs)
      : await act(command, runtime, timeoutMs);
  } catch (error) {
    if (isKvFailure(error)) {
      err(describeKvFailure(error, env, timeoutMs));
      return EXIT.kv;
    }
    throw error;
  } finally {
    // A store still connecting (or retrying) is not waited for.
    await Promise.race([
      runtime.kv.close().catch(() => {}),
      new Promise((resolve) => setTimeout(resolve, 1_000).unref()),
    ]);
  }
}
