/**
 * What a section invocation does after the engine ran (lib/http/sync-route.ts
 * calls it):
 * - the pages its commits (or earlier invocations that died first) recorded
 *   as changed, and the section's tag, are revalidated (drainChangedPages);
 * - once the full run has finished, pages a targeted run left dirty while that
 *   run was live (the section is in `{p}:wh:deferred`) get their targeted run
 *   now (scheduled as an event would schedule it). Read after the run's
 *   finishing commit: a targeted run marks the section before it reads the
 *   cursor again (lib/webhooks/targeted/plan.ts), so a page it left for this
 *   run is either marked by now or handled by that targeted run itself.
 * Never throws: the run is committed whatever happens here.
 */
import { publicBaseUrl } from "../core/base-url";
import type { Section } from "../core/sections";
import type { KeyBuilder } from "../kv/keys";
import type { KvStore } from "../kv/store";
import { logEvent } from "../core/log";
import { readQStashConfig } from "../qstash/config";
import { type Cursor, isFinished } from "../sync/cursor";
import { webhookKeys } from "./keys";
import { createRevalidator, drainChangedPages } from "./revalidate";
import { runDirtyInvocation } from "./run";
import { scheduleTargetedRun } from "./schedule";
import { readWebhookSettings } from "./settings";

type Env = Record<string, string | undefined>;

export async function afterFullRun(input: {
  env: Env;
  request: Request;
  kv: KvStore;
  lateKv: KvStore;
  keys: KeyBuilder;
  section: Section;
  cursor: Cursor;
  startedAt: number;
  budgetMs: number;
  notionToken: string;
}): Promise<void> {
  const { cursor, section } = input;
  try {
    const settings = readWebhookSettings(input.env);
    const revalidation = drainChangedPages(input.kv, input.keys, section, createRevalidator(settings)).then(
      () => {},
      (error: unknown) =>
        logEvent(
          "revalidate.drain_failed",
          { section, error: error instanceof Error ? error.message.slice(0, 200) : String(error) },
          "warn",
        ),
    );
    if (!isFinished(cursor)) {
      await revalidation;
      return;
    }
    const wk = webhookKeys(input.keys);
    const [deferred] = await input.kv.smismember(wk.deferred(), [section]);
    if (deferred) {
      const next = await scheduleTargetedRun({
        env: input.env,
        kv: input.kv,
        lateKv: input.lateKv,
        keys: input.keys,
        settings,
        qstash: readQStashConfig(input.env),
        baseUrl: publicBaseUrl(input.env, input.request),
        notionToken: input.notionToken,
        requestStartedAt: input.startedAt,
        budgetMs: input.budgetMs,
        reason: `${section} full run finished`,
        runInline: (startedAt, budgetMs) =>
          runDirtyInvocation({ env: input.env, startedAt, budgetMs, caller: "after-full-run" }),
      });
      const scheduled =
        (next.via === "qstash" && (next.published || next.already)) ||
        (next.via === "after" && (next.started || next.already));
      // Kept when nothing could be scheduled: the section's next finished invocation tries again.
      if (scheduled) await input.kv.atomic([{ op: "srem", key: wk.deferred(), members: [section] }]);
      logEvent("targeted.kicked", { section, via: next.via, scheduled });
    }
    await revalidation;
  } catch (error) {
    logEvent(
      "targeted.kick_failed",
      { section, error: error instanceof Error ? error.message.slice(0, 200) : String(error) },
      "warn",
    );
  }
}
