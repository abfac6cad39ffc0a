/**
 * Starts the children section after its parent sections (the database sections
 * that follow child pages, `workspace.children.parents`) have finished; does
 * nothing in a workspace without a children section.
 *
 * A trigger's round: one children run per trigger, started once every parent
 * run of that trigger is done (the runs keys.trigger names, or runs started
 * after it), whichever finishes last. Its run id is the trigger's id, so parents
 * finishing at once publish one deduplication id; the children cursor
 * records the trigger, and another step 0 of it is stale (engine.ts). A kick
 * that meets an older children run still going is answered stale: that run,
 * finishing, kicks again (run id `<trigger>-r`, a deduplication id QStash has
 * not seen). While a trigger's round waits for a parent's run,
 * nothing else starts children: pairing the first run with another
 * section's previous "done" started a second, overlapping children pass.
 *
 * Runs outside any pending trigger (crons with QStash, manual calls): a
 * parent run that finished after children last started starts a run named
 * by the parents' runs; a children run that finishes while a database section finished
 * meanwhile starts one more round.
 */
import type { KeyBuilder } from "../kv/keys";
import type { KvStore } from "../kv/store";
import type { Publisher } from "../qstash/publish";
import { type Cursor, isCompleted, parseCursor } from "../sync/cursor";
import type { Section } from "../core/sections";
import type { ChildrenSectionSpec } from "../workspace/types";
import { type ChainSettings, successorMessage } from "./chain";
import { type TriggerRecord, readTriggerRecord } from "./trigger";

type Kick = { runId: string; force: boolean; trigger?: string };

export async function kickChildrenWhenReady(options: {
  kv: KvStore;
  keys: KeyBuilder;
  publisher: Publisher;
  chain: ChainSettings;
  /** The workspace's children section; undefined: there is none, nothing to start. */
  children: ChildrenSectionSpec | undefined;
  /** The run that just finished: a parent section's, or children's itself. */
  finished: Cursor;
}): Promise<{ messageId: string; runId: string } | null> {
  const { kv, keys, finished, children: spec } = options;
  if (!spec || spec.parents.length === 0) return null;
  if (finished.section !== spec.name && !spec.parents.includes(finished.section)) return null;
  const load = async (s: Section) => (s === finished.section ? finished : storedCursor(await kv.get(keys.cursor(s))));
  const [record, children, ...parents] = await Promise.all([
    readTriggerRecord(kv, keys),
    load(spec.name),
    ...spec.parents.map(load),
  ]);
  // The round of a trigger children has not started for yet.
  const pending = record && children?.trigger !== record.id ? record : null;
  const isChildren = finished.section === spec.name;
  const kick = pending
    ? triggerKick(pending, spec.parents, parents, isChildren)
    : parentsKick(parents.map(doneOrNull), children, isChildren);
  if (!kick) return null;
  const sent = await options.publisher.publishNext(successorMessage(options.chain, spec.name, { ...kick, seq: 0 }));
  return { messageId: sent.messageId, runId: kick.runId };
}

/** Every parent run of the trigger is done: its one children run (null while one is not). */
function triggerKick(
  record: TriggerRecord,
  sections: readonly Section[],
  cursors: (Cursor | null)[],
  isChildren: boolean,
): Kick | null {
  const done = (c: Cursor | null, s: Section) =>
    c !== null && isCompleted(c) && (c.runId === record.runs[s] || c.startedAt >= record.at);
  if (!sections.every((s, i) => done(cursors[i], s))) return null;
  return { runId: isChildren ? `${record.id}-r` : record.id, force: record.force, trigger: record.id };
}

/** Outside a trigger: a parent run finished after children last started. */
function parentsKick(parents: (Cursor | null)[], children: Cursor | null, isChildren: boolean): Kick | null {
  if (parents.some((p) => p === null)) return null; // every parent section must have a finished run
  const done = parents as Cursor[];
  const childrenStart = children?.startedAt ?? null;
  const latest = done.map((p) => p.finishedAt!).sort()[done.length - 1];
  if (childrenStart && latest <= childrenStart) return null;
  // One children run per set of finished parent runs: its id is derived from them.
  const runs = [...new Set(done.map((p) => p.runId))].sort();
  const runId = runs.length === 1 ? runs[0] : `${runs[runs.length - 1]}-c`;
  return { runId: isChildren ? `${runId}-r` : runId, force: done.every((p) => p.force) };
}

function storedCursor(raw: unknown): Cursor | null {
  const loaded = parseCursor(raw);
  return loaded.kind === "ok" ? loaded.cursor : null;
}

/** The cursor when it describes a finished run, else null. */
function doneOrNull(cursor: Cursor | null): Cursor | null {
  return cursor && isCompleted(cursor) && cursor.finishedAt ? cursor : null;
}
