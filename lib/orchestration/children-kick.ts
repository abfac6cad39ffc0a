/**
 * Starts the children section once both database sections have finished their
 * runs. Each database section checks after finishing; when both finish at the
 * same moment both publish, with the same deduplication id, so QStash keeps one.
 * A children run that finishes checks too, for a database run that finished
 * while it was going.
 */
import type { KeyBuilder } from "../kv/keys";
import type { KvStore } from "../kv/store";
import type { Publisher } from "../qstash/publish";
import { type Cursor, isCompleted, parseCursor } from "../sync/cursor";
import type { Section } from "../core/sections";
import { type ChainSettings, successorMessage } from "./chain";

export async function kickChildrenWhenReady(options: {
  kv: KvStore;
  keys: KeyBuilder;
  publisher: Publisher;
  chain: ChainSettings;
  /** The run that just finished: pages or posts, or children itself. */
  finished: Cursor;
}): Promise<{ messageId: string; runId: string } | null> {
  const { kv, keys, finished } = options;
  const load = async (s: Section) => (s === finished.section ? finished : parseDone(await kv.get(keys.cursor(s))));
  const [pages, posts, children] = await Promise.all((["pages", "posts", "children"] as const).map(load));
  if (!pages || !posts) return null; // both database sections must have a finished run
  // A database run that finished after children last started has child pages
  // children has not followed yet. A "done" left over from the previous round
  // does not count (children would start before the new child pages are
  // indexed); a children run that finishes while a database section finished
  // meanwhile starts one more round.
  const childrenStart = children?.startedAt ?? (finished.section === "children" ? finished.startedAt : null);
  const latest = [pages.finishedAt!, posts.finishedAt!].sort()[1];
  if (childrenStart && latest <= childrenStart) return null;
  // One children run per pair of finished database runs: its id is derived from both.
  const pair = [pages.runId, posts.runId].sort();
  const runId = pair[0] === pair[1] ? pair[0] : `${pair[1]}-c`;
  const force = pages.force && posts.force;
  const sent = await options.publisher.publishNext(successorMessage(options.chain, "children", { runId: finished.section === "children" ? `${runId}-r` : runId, seq: 0, force }));
  return { messageId: sent.messageId, runId };
}

/** The cursor when it describes a finished run, else null. */
function parseDone(raw: unknown): Cursor | null {
  const loaded = parseCursor(raw);
  return loaded.kind === "ok" && isCompleted(loaded.cursor) && loaded.cursor.finishedAt ? loaded.cursor : null;
}
