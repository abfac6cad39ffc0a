/**
 * Starts the children section once both database sections have finished their
 * runs. Each database section checks after finishing; when both finish at the
 * same moment both publish, with the same deduplication id, so QStash keeps one.
 */
import type { KeyBuilder } from "../kv/keys";
import type { KvStore } from "../kv/store";
import type { Publisher } from "../qstash/publish";
import { type Cursor, parseCursor } from "../sync/cursor";
import type { DatabaseSection } from "../sync/sections";
import { type ChainSettings, successorMessage } from "./chain";

export async function kickChildrenWhenReady(options: {
  kv: KvStore;
  keys: KeyBuilder;
  publisher: Publisher;
  chain: ChainSettings;
  finished: Cursor;
}): Promise<{ messageId: string; runId: string } | null> {
  const other: DatabaseSection = options.finished.section === "pages" ? "posts" : "pages";
  const loaded = parseCursor(await options.kv.get(options.keys.cursor(other)));
  if (loaded.kind !== "ok" || loaded.cursor.status !== "done") return null;
  // One children run per pair of finished runs: its id is derived from both.
  const pair = [options.finished.runId, loaded.cursor.runId].sort();
  const runId = pair[0] === pair[1] ? pair[0] : `${pair[1]}-c`;
  const force = options.finished.force && loaded.cursor.force;
  const sent = await options.publisher.publishNext(successorMessage(options.chain, "children", { runId, seq: 0, force }));
  return { messageId: sent.messageId, runId };
}
