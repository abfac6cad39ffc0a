/**
 * What an operator may do to a section, from the inspection script or the
 * dashboard: reset its run, put its given-up pages back, free a lease left by
 * a dead invocation. Each action is recorded in the section's action history.
 *
 * None of them can corrupt the mirror: the published index, bundles and
 * ledger are never touched, and an invocation still running when its lease
 * or cursor disappears has every later write refused (fenced commits).
 */
import type { Section } from "../core/sections";
import type { KeyBuilder } from "../kv/keys";
import { shardKeys } from "../kv/sharded-set";
import type { KvStore } from "../kv/store";
import { readManifest } from "../mirror/section-index";
import { completedStart, parseCursor } from "../sync/cursor";
import { leaseHolderDeadline } from "../sync/lease";
import { type OperatorAction, actionOp, readActions } from "../sync/run-history";
import { scratchKeys } from "../sync/scratch";

export interface ActionOptions {
  by: OperatorAction["by"];
  now?: Date;
}

/** Keys deleted per atomic batch (well inside Upstash's 10 MB a request). */
const DELETE_BATCH = 500;

async function record(
  kv: KvStore,
  keys: KeyBuilder,
  action: Omit<OperatorAction, "at" | "by">,
  options: ActionOptions,
): Promise<OperatorAction> {
  const entry: OperatorAction = { ...action, at: (options.now ?? new Date()).toISOString(), by: options.by };
  await kv.atomic([actionOp(keys, entry, await readActions(kv, keys, action.section))]);
  return entry;
}

export interface ResetOutcome {
  /** The run that was cleared, if there was a cursor. */
  runId: string | null;
  deletedKeys: number;
  action: OperatorAction;
}

/**
 * Clears the section's cursor, lease and scratch keys (its work list, id sets,
 * partly read pages), those of the current run and any left by older ones.
 * The next call starts a new run; the published index and bundles stay.
 */
export async function resetSection(
  kv: KvStore,
  keys: KeyBuilder,
  section: Section,
  options: ActionOptions,
): Promise<ResetOutcome> {
  const [rawCursor, manifest] = await Promise.all([kv.get(keys.cursor(section)), readManifest(kv, keys, section)]);
  const loaded = parseCursor(rawCursor);
  const cursor = loaded.kind === "ok" ? loaded.cursor : null;
  // The published index's id set is not scratch: finalize made it the index's.
  const keep = new Set(manifest?.idsKey ? shardKeys(manifest.idsKey) : []);
  // Cursor and lease first, in one batch: from here a holder still running writes nothing. The
  // watermark stays (keys.watermark): the next run still re-reads pages edited in the minute the
  // last completed run read, which Notion's rounded last_edited_time would otherwise hide.
  const watermark = cursor ? completedStart(cursor) : null;
  await kv.atomic([
    { op: "del", key: keys.cursor(section) },
    { op: "del", key: keys.lease(section) },
    ...(watermark ? [{ op: "set" as const, key: keys.watermark(section), value: watermark }] : []),
  ]);
  const known = cursor ? scratchKeys(keys, cursor) : [];
  const strays = (await Promise.all(scratchPrefixes(keys, section).map((prefix) => kv.scanKeys(prefix)))).flat();
  const doomed = [...new Set([...known, ...strays])].filter((key) => !keep.has(key));
  let deleted = 0;
  for (let i = 0; i < doomed.length; i += DELETE_BATCH) {
    deleted += await kv.del(doomed.slice(i, i + DELETE_BATCH));
  }
  const action = await record(
    kv,
    keys,
    {
      action: "reset",
      section,
      runId: cursor?.runId ?? null,
      detail: `cleared the cursor${cursor ? ` of run ${cursor.runId} (${cursor.status}, ${cursor.phase})` : ""}, the lease and ${deleted} scratch keys`,
    },
    options,
  );
  return { runId: cursor?.runId ?? null, deletedKeys: deleted, action };
}

/** Where runs of `section` keep scratch state (see lib/sync/worklist.ts and scratch.ts). */
function scratchPrefixes(keys: KeyBuilder, section: Section): string[] {
  const p = keys.prefix;
  return [
    `${p}:work:${section}:`,
    `${p}:ids:${section}:`,
    `${p}:done:${section}:`,
    `${p}:removals:${section}:`,
    `${p}:partial:${section}:`,
    `${p}:part:partial:${section}:`,
    `${p}:edited:${section}:`,
    `${p}:found:${section}:`,
    `${p}:foundids:${section}:`,
  ];
}

export interface RetryOutcome {
  pages: number;
  action: OperatorAction;
}

/**
 * Puts every given-up page of the section in the refetch set: the next run
 * fetches each of them whatever its timestamp says, with fresh attempts.
 */
export async function retryFailedPages(
  kv: KvStore,
  keys: KeyBuilder,
  section: Section,
  options: ActionOptions,
): Promise<RetryOutcome> {
  const ids = await kv.smembers(keys.failedPages(section));
  for (let i = 0; i < ids.length; i += DELETE_BATCH) {
    await kv.atomic([{ op: "sadd", key: keys.refetch(), members: ids.slice(i, i + DELETE_BATCH) }]);
  }
  const cursor = parseCursor(await kv.get(keys.cursor(section)));
  const runId = cursor.kind === "ok" ? cursor.cursor.runId : null;
  const action = await record(
    kv,
    keys,
    {
      action: "retry-failed",
      section,
      runId,
      detail: `${ids.length} given-up page${ids.length === 1 ? "" : "s"} queued for the next run`,
    },
    options,
  );
  return { pages: ids.length, action };
}

export type ReleaseOutcome =
  | { released: true; action: OperatorAction }
  | { released: false; reason: "no_lease" | "live"; holderEndsBy: string | null; message: string };

/**
 * Frees the section's lease. Refused while its holder may still be working
 * (before the end its token carries), unless `force`: a forced release while
 * a holder runs lets another invocation start, and the holder's later writes
 * are then refused.
 */
export async function releaseLease(
  kv: KvStore,
  keys: KeyBuilder,
  section: Section,
  options: ActionOptions & { force?: boolean },
): Promise<ReleaseOutcome> {
  const now = (options.now ?? new Date()).getTime();
  const token = await kv.get(keys.lease(section));
  if (token === null)
    return { released: false, reason: "no_lease", holderEndsBy: null, message: `${section} holds no lease` };
  const endsBy = leaseHolderDeadline(token);
  const endsByText = endsBy === null ? null : new Date(endsBy).toISOString();
  if (!options.force && (endsBy === null || endsBy > now)) {
    return {
      released: false,
      reason: "live",
      holderEndsBy: endsByText,
      message:
        endsBy === null
          ? `the ${section} lease has no recorded end (an older release); it expires by itself, or use --force`
          : `the ${section} lease is live: its invocation may work until ${endsByText}; wait, or use --force`,
    };
  }
  const freed = await kv.deleteIfEquals(keys.lease(section), token);
  if (!freed)
    return {
      released: false,
      reason: "no_lease",
      holderEndsBy: null,
      message: `the ${section} lease was released or expired meanwhile`,
    };
  const cursor = parseCursor(await kv.get(keys.cursor(section)));
  const action = await record(
    kv,
    keys,
    {
      action: "release-lease",
      section,
      runId: cursor.kind === "ok" ? cursor.cursor.runId : null,
      detail:
        endsBy !== null && endsBy <= now
          ? `freed a lease left by an invocation that ended by ${endsByText}`
          : "freed a live lease (forced)",
    },
    options,
  );
  return { released: true, action };
}
