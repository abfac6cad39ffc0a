/**
 * Starts the children section after the database sections have finished.
 *
 * A trigger's round: one children run per trigger, started once both database
 * runs of that trigger are done (the runs keys.trigger names, or runs started
 * after it), whichever finishes last. Its run id is the trigger's id, so both
 * sections finishing at once publish one deduplication id; the children cursor
 * records the trigger, and another step 0 of it is stale (engine.ts). A kick
 * that meets an older children run still going is answered stale: that run,
 * finishing, kicks again (run id `<trigger>-r`, a deduplication id QStash has
 * not seen). While a trigger's round waits for its second database run,
 * nothing else starts children: pairing the first run with the other
 * section's previous "done" started a second, overlapping children pass.
 *
 * Runs outside any pending trigger (crons with QStash, manual calls): a
 * database run that finished after children last started starts a run named
 * by the pair; a children run that finishes while a database section finished
 * meanwhile starts one more round.
 */
import type { KeyBuilder } from "../kv/keys";
import type { KvStore } from "../kv/store";
import type { Publisher } from "../qstash/publish";
import { type Cursor, isCompleted, parseCursor } from "../sync/cursor";
import type { DatabaseSection, Section } from "../core/sections";
import { type ChainSettings, successorMessage } from "./chain";
import { type TriggerRecord, readTriggerRecord } from "./trigger";

type Kick = { runId: string; force: boolean; trigger?: string };

export async function kickChildrenWhenReady(options: {
  kv: KvStore;
  keys: KeyBuilder;
  publisher: Publisher;
  chain: ChainSettings;
  /** The run that just finished: pages or posts, or children itself. */
  finished: Cursor;
}): Promise<{ messageId: string; runId: string } | null> {
  const { kv, keys, finished } = options;
  const load = async (s: Section) => (s === finished.section ? finished : storedCursor(await kv.get(keys.cursor(s))));
  const [record, pages, posts, children] = await Promise.all([
    readTriggerRecord(kv, keys),
    load("pages"),
    load("posts"),
    load("children"),
  ]);
  // The round of a trigger children has not started for yet.
  const pending = record && children?.trigger !== record.id ? record : null;
  const kick = pending
    ? triggerKick(pending, { pages, posts }, finished)
    : pairKick(doneOrNull(pages), doneOrNull(posts), children, finished);
  if (!kick) return null;
  const sent = await options.publisher.publishNext(successorMessage(options.chain, "children", { ...kick, seq: 0 }));
  return { messageId: sent.messageId, runId: kick.runId };
}

/** Both database runs of the trigger are done: its one children run (null while one is not). */
function triggerKick(
  record: TriggerRecord,
  cursors: Record<DatabaseSection, Cursor | null>,
  finished: Cursor,
): Kick | null {
  const done = (s: "pages" | "posts") => {
    const c = cursors[s];
    return c !== null && isCompleted(c) && (c.runId === record.runs[s] || c.startedAt >= record.at);
  };
  if (!done("pages") || !done("posts")) return null;
  return {
    runId: finished.section === "children" ? `${record.id}-r` : record.id,
    force: record.force,
    trigger: record.id,
  };
}

/** Outside a trigger: a database run finished after children last started. */
function pairKick(pages: Cursor | null, posts: Cursor | null, children: Cursor | null, finished: Cursor): Kick | null {
  if (!pages || !posts) return null; // both database sections must have a finished run
  const childrenStart = children?.startedAt ?? null;
  const latest = [pages.finishedAt!, posts.finishedAt!].sort()[1];
  if (childrenStart && latest <= childrenStart) return null;
  // One children run per pair of finished database runs: its id is derived from both.
  const pair = [pages.runId, posts.runId].sort();
  const runId = pair[0] === pair[1] ? pair[0] : `${pair[1]}-c`;
  return { runId: finished.section === "children" ? `${runId}-r` : runId, force: pages.force && posts.force };
}

function storedCursor(raw: unknown): Cursor | null {
  const loaded = parseCursor(raw);
  return loaded.kind === "ok" ? loaded.cursor : null;
}

/** The cursor when it describes a finished run, else null. */
function doneOrNull(cursor: Cursor | null): Cursor | null {
  return cursor && isCompleted(cursor) && cursor.finishedAt ? cursor : null;
}
