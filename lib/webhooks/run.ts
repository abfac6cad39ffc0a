/**
 * One targeted-run invocation: the run itself (lib/webhooks/targeted/),
 * given its dependencies as the engine is given EngineDeps,
 * its log line, and the continuation when it left work (QStash only: an
 * after() run ends with its invocation; the next event or scheduled run
 * takes what is left).
 */
import { webhookKeys } from "./keys";
import { publicBaseUrl } from "../core/base-url";
import { logEvent } from "../core/log";
import { readQStashConfig } from "../qstash/config";
import { type Runtime, engineDeps, loadRuntime, loadStoreRuntime } from "../runtime";
import { CHILDREN_SECTION } from "../core/sections";
import { type TargetedDeps, type TargetedRunResult, runTargeted } from "./targeted/loop";
import type { Revalidator } from "./revalidate";
import { createRevalidator } from "./revalidate";
import { type ScheduleOutcome, scheduleTargetedRun } from "./schedule";
import { readWebhookSettings } from "./settings";
import { reviveSections } from "../orchestration/revive";

type Env = Record<string, string | undefined>;

export interface DirtyInvocation {
  result: TargetedRunResult;
  next: ScheduleOutcome | null;
}

export async function runDirtyInvocation(input: {
  env: Env;
  startedAt: number;
  budgetMs?: number;
  caller: string;
  request?: Request;
  window?: number;
}): Promise<DirtyInvocation> {
  const { env } = input;
  const runtime = loadTargetedRuntime(env);
  // The window's run has begun: an event (or a finished full run) from here on schedules a run
  // of its own, even inside the same window (docs/decisions.md 20).
  if (input.window !== undefined)
    await runtime.kv.del([webhookKeys(runtime.keys).window(input.window)]).catch(() => {});
  const settings = readWebhookSettings(env);
  const budgetMs = input.budgetMs ?? runtime.settings.budgetMs;
  const result = await runTargeted(targetedDeps(runtime, input.startedAt, budgetMs, createRevalidator(settings)));
  let next: ScheduleOutcome | null = null;
  const qstash = readQStashConfig(env);
  if ((result.leftover > 0 || result.rateLimitedUntil) && !result.error && qstash) {
    next = await scheduleTargetedRun({
      env,
      kv: runtime.kv,
      keys: runtime.keys,
      settings,
      qstash,
      baseUrl: publicBaseUrl(env, input.request),
      notionToken: runtime.notionSettings.token,
      requestStartedAt: input.startedAt,
      budgetMs,
      notBefore: result.rateLimitedUntil ?? undefined,
      reason: "continuation",
    }).catch((error: unknown) => ({
      via: "none" as const,
      reason: error instanceof Error ? error.message : String(error),
    }));
  }
  logEvent(
    "targeted.run",
    {
      caller: input.caller,
      pages: result.pages,
      fetched: result.fetched,
      removed: result.removed,
      dropped: result.dropped,
      deferred: result.deferred,
      ...(result.sectionRuns.length > 0 ? { sectionRuns: result.sectionRuns.join(",") } : {}),
      givenUp: result.givenUp,
      leftover: result.leftover,
      notionRequests: result.notionRequests,
      changed: result.changed.length,
      elapsedMs: result.elapsedMs,
      ...(result.rateLimitedUntil ? { retryAt: new Date(result.rateLimitedUntil).toISOString() } : {}),
      ...(result.error ? { error: result.error.code } : {}),
      ...(next ? { next: next.via } : {}),
    },
    result.error ? "warn" : "info",
  );
  // Its section leases are released: calls queued meanwhile start now, and lost chains are relaunched.
  await reviveSections({ env, request: input.request, startedAt: input.startedAt, budgetMs });
  return { result, next };
}

/**
 * A targeted run serves every configured section (each under its own lease): the runtime of the
 * children section when there is one, else of the first database section. Nothing configured
 * answers as a section would (ConfigError naming the variables, without a config file).
 */
function loadTargetedRuntime(env: Env): Runtime {
  const { workspace } = loadStoreRuntime(env);
  const spec = workspace.children ?? workspace.databaseSections[0];
  return loadRuntime(spec?.name ?? CHILDREN_SECTION, env);
}

/** What a targeted run is handed, from the runtime (as a section invocation gets EngineDeps). */
function targetedDeps(runtime: Runtime, startedAt: number, budgetMs: number, revalidate: Revalidator): TargetedDeps {
  return {
    ...engineDeps(runtime, runtime.spec.name, startedAt, budgetMs),
    now: () => new Date(),
    startedAt,
    workspace: runtime.workspace,
    revalidate,
  };
}
