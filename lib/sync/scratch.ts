/**
 * A run's scratch keys (see worklist.ts): written while it runs, deleted when
 * it finishes, is held, or is replaced by another run.
 */
import { deleteLarge } from "../kv/large-value";
import type { KeyBuilder } from "../kv/keys";
import { shardKeys } from "../kv/sharded-set";
import type { Cursor } from "./cursor";

/** Every scratch key a run may have written (deleted when it finishes or is replaced). */
export function scratchKeys(keys: KeyBuilder, run: Cursor): string[] {
  return [
    ...Array.from({ length: run.list.pieces }, (_, n) => keys.workPiece(run.section, run.runId, n)),
    ...shardKeys(keys.listedIds(run.section, run.runId)),
    ...shardKeys(keys.doneIds(run.section, run.runId)),
    ...shardKeys(keys.removals(run.section, run.runId)),
    // FILES_MIRROR's gc (files-gc.ts).
    keys.liveFiles(run.section, run.runId),
    keys.liveFiles(run.section, `${run.runId}:revived`),
    keys.unreferencedFiles(run.section, run.runId),
    ...(run.childCheck?.found ? [keys.editedIds(run.section, run.runId)] : []),
    // The sweep's page objects themselves are deleted at finalize (child-check.ts dropSweptPages), or expire.
    ...(run.childCheck?.sweep ? shardKeys(keys.foundIds(run.section, run.runId)) : []),
    ...run.partials.flatMap((id) =>
      deleteLarge(keys, keys.partialPage(run.section, id), run.partialShapes[id]).map((op) => op.key),
    ),
  ];
}
