/**
 * The fan-out trigger: one call starts (or resumes) a run of every configured
 * database section with a single QStash batch. The children section is started
 * once the runs of its parent sections are done (see children-kick.ts), because
 * it follows the child pages their indexes list. Which runs belong to the
 * trigger is recorded in KV (keys.trigger) before publishing: a resumed run
 * began before the trigger, so no step of it brings the trigger's id into its cursor.
 */
import { z } from "zod";
import type { KeyBuilder } from "../kv/keys";
import type { KvStore } from "../kv/store";
import type { Publisher } from "../qstash/publish";
import { type Cursor, isFinished, newRunId, parseCursor } from "../sync/cursor";
import type { DatabaseSection } from "../core/sections";
import { type ChainSettings, successorMessage } from "./chain";

export interface TriggeredMessage {
  section: DatabaseSection;
  messageId: string;
  /** "start": a new run; "resume": the section's unfinished run continues from its cursor. */
  mode: "start" | "resume";
  runId: string;
  /** A resumed run's status when the trigger read it: a "running" one's chain may carry the step itself (this delivery is then answered stale). */
  resumedFrom?: Cursor["status"];
  deduplicated: boolean;
}

const TriggerRecordSchema = z.object({
  id: z.string().min(1),
  /** When the trigger was made: a database run started after it counts as that trigger's run. */
  at: z.string(),
  force: z.boolean(),
  /** Per database section, the run this trigger started or resumed (a record of older releases names pages and posts). */
  runs: z.record(z.string(), z.string()),
});
export type TriggerRecord = z.infer<typeof TriggerRecordSchema>;

export async function readTriggerRecord(kv: KvStore, keys: KeyBuilder): Promise<TriggerRecord | null> {
  const parsed = TriggerRecordSchema.safeParse(await kv.get(keys.trigger()));
  return parsed.success ? parsed.data : null;
}

export async function triggerRun(options: {
  kv: KvStore;
  keys: KeyBuilder;
  publisher: Publisher;
  chain: ChainSettings;
  /** The workspace's database sections, in config order. */
  sections: readonly DatabaseSection[];
  force: boolean;
  now?: Date;
}): Promise<{ runId: string; messages: TriggeredMessage[] }> {
  const now = options.now ?? new Date();
  const runId = newRunId(now);
  const cursors = await Promise.all(
    options.sections.map(async (s) => parseCursor(await options.kv.get(options.keys.cursor(s)))),
  );
  const plans = options.sections.map((section, i) => {
    const loaded = cursors[i];
    const cursor: Cursor | null = loaded.kind === "ok" ? loaded.cursor : null;
    // An unfinished run is resumed, not forked: the delivery carries the run's own step.
    if (cursor && !isFinished(cursor) && !options.force) {
      return {
        section,
        mode: "resume" as const,
        from: cursor.status,
        step: { runId: cursor.runId, seq: cursor.seq, force: cursor.force },
      };
    }
    return {
      section,
      mode: "start" as const,
      from: undefined,
      step: { runId, seq: 0, force: options.force, trigger: runId },
    };
  });
  const record: TriggerRecord = {
    id: runId,
    at: now.toISOString(),
    force: options.force,
    runs: Object.fromEntries(plans.map((p) => [p.section, p.step.runId])),
  };
  await options.kv.set(options.keys.trigger(), record);
  let results: Awaited<ReturnType<Publisher["publishBatch"]>>;
  try {
    results = await options.publisher.publishBatch(
      plans.map((p) => resumableMessage(options.chain, p.section, p.step, p.from ? runId : null)),
    );
  } catch (error) {
    // Nothing started: no children run waits for this trigger.
    await options.kv.deleteIfEquals(options.keys.trigger(), record).catch(() => {});
    throw error;
  }
  return {
    runId,
    messages: plans.map((p, i) => ({
      section: p.section,
      mode: p.mode,
      runId: p.step.runId,
      ...(p.from ? { resumedFrom: p.from } : {}),
      messageId: results[i].messageId,
      deduplicated: results[i].deduplicated,
    })),
  };
}

/**
 * A resume gets a deduplication id of its own (QStash remembers the step's for
 * about 10 minutes, so reusing it after chain_failed delivered nothing): if
 * the chain is alive, the engine's seq and lease make the extra delivery stale.
 */
function resumableMessage(
  chain: ChainSettings,
  section: DatabaseSection,
  step: Parameters<typeof successorMessage>[2],
  resumeId: string | null,
) {
  return successorMessage(chain, section, resumeId ? { ...step, resend: `resume:${resumeId}` } : step);
}
