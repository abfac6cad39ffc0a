/**
 * Finalize's gc step (FILES_MIRROR): the section's stored objects no ledger
 * entry of this run references are marked orphaned, and deleted from the
 * store once orphaned longer than FILES_GC_DAYS, a batch at a time, then
 * forgotten. Safe because every writer of the section holds its lease and a
 * page write referencing an object clears its orphanSince in its own batch.
 */
import { type FileRecord, forgetOps, readRecords, recordOps, reviveOps } from "../files/mirror";
import type { KvOp } from "../kv/store";
import type { RunContext } from "./context";
import type { LedgerEntry } from "./ledger";

/** Objects looked at per step, and deleted per store call. */
const GC_BATCH = 100;
const DAY_MS = 86_400_000;

/** The identities a ledger entry references in the store (not the files kept at Notion's URL). */
export function liveIdentities(ledgers: (LedgerEntry | null)[]): string[] {
  return ledgers.flatMap((l) => Object.entries(l?.files ?? {}).flatMap(([id, url]) => (url ? [id] : [])));
}

/** The index step's op adding the live identities of its pieces to the run's scratch set. */
export function liveFilesOps(ctx: RunContext, identities: string[]): KvOp[] {
  if (!ctx.files || identities.length === 0) return [];
  return [{ op: "sadd", key: ctx.keys.liveFiles(ctx.section, ctx.cursor.runId), members: identities }];
}

/** What follows the removals: the gc step when files are mirrored, else the commit. */
export function afterRemovals(ctx: RunContext): "gc" | "commit" {
  return ctx.files ? "gc" : "commit";
}

/** One step: prepares the set of unreferenced objects once, then goes through it a batch at a time. */
export async function gcStep(ctx: RunContext): Promise<void> {
  if (!ctx.files) return ctx.commit((c) => void (c.finalize!.stage = "commit"));
  if (!ctx.cursor.finalize!.gc?.prepared) return prepareGc(ctx);
  const scratch = ctx.keys.unreferencedFiles(ctx.section, ctx.cursor.runId);
  const ids = await ctx.kv.srandmember(scratch, GC_BATCH);
  if (ids.length === 0) return ctx.commit((c) => void (c.finalize!.stage = "commit"));
  const records = await readRecords(ctx.kv, ctx.keys, ctx.section, ids);
  const cutoff = ctx.now().getTime() - ctx.files.gcDays * DAY_MS;
  const due: [string, FileRecord][] = [];
  const ops: KvOp[] = [{ op: "srem", key: scratch, members: ids }];
  records.forEach((record, i) => {
    if (!record) ops.push(...forgetOps(ctx.keys, ctx.section, [ids[i]]));
    else if (!record.orphanSince) ops.push(...orphanOps(ctx, ids[i], record));
    else if (Date.parse(record.orphanSince) <= cutoff) due.push([ids[i], record]);
  });
  // Fenced first: a straggler whose lease was taken deletes nothing from the store.
  await ctx.commit(() => ops);
  if (due.length > 0) await deleteDue(ctx, due);
}

/**
 * The run's unreferenced objects (stored, not live) into a scratch set, and the
 * live ones still marked orphaned made live again (their page came back).
 */
async function prepareGc(ctx: RunContext): Promise<void> {
  const { kv, keys, section } = ctx;
  const runId = ctx.cursor.runId;
  const scratch = keys.unreferencedFiles(section, runId);
  await kv.sdiffstore(scratch, [keys.fileObjects(section), keys.liveFiles(section, runId)]);
  const revivedKey = keys.liveFiles(section, `${runId}:revived`);
  await kv.sdiffstore(revivedKey, [keys.fileOrphans(section), scratch]);
  const revived = await kv.smembers(revivedKey);
  for (let i = 0; i < revived.length; i += GC_BATCH) {
    const ids = revived.slice(i, i + GC_BATCH);
    const records = await readRecords(kv, keys, section, ids);
    const live: Record<string, FileRecord> = {};
    records.forEach((r, j) => r && (live[ids[j]] = r));
    await ctx.commit(() => [
      ...reviveOps(keys, section, live),
      { op: "srem", key: keys.fileOrphans(section), members: ids },
    ]);
  }
  await ctx.commit((c) => {
    c.finalize!.gc = { prepared: true };
    return [{ op: "del", key: revivedKey }];
  });
}

function orphanOps(ctx: RunContext, identity: string, record: FileRecord): KvOp[] {
  const [set, add] = recordOps(ctx.keys, ctx.section, identity, record);
  return [
    { ...set, value: { ...record, orphanSince: ctx.now().toISOString() } } as KvOp,
    add,
    { op: "sadd", key: ctx.keys.fileOrphans(ctx.section), members: [identity] },
  ];
}

/** Deleted from the store, then forgotten; a store failure leaves them for the next run (reported). */
async function deleteDue(ctx: RunContext, due: [string, FileRecord][]): Promise<void> {
  try {
    await ctx.files!.store.delete(due.map(([, r]) => ({ key: r.key, url: r.url })));
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    ctx.lastError = { code: "file_delete_failed", message: `deleting ${due.length} objects: ${message.slice(0, 200)}` };
    return;
  }
  const ids = due.map(([id]) => id);
  await ctx.commit((c) => {
    c.counts.filesDeleted += ids.length;
    return forgetOps(ctx.keys, ctx.section, ids);
  });
}
