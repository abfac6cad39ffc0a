/**
 * The brake on mass removal: a revoked share or a wrong database id must never
 * wipe a site. Database sections check it when their listing completes
 * (before fetching anything), children when theirs does (at finalize).
 */
import * as ids from "../kv/sharded-set";
import type { KvOp } from "../kv/store";
import { readManifest } from "../mirror/section-index";
import type { RunContext } from "./context";
import { historyOp, readHistory, summarize } from "./run-history";
import { scratchKeys } from "./scratch";

/**
 * Counts the previously indexed pages this run did not list. An unforced run
 * that would remove more than settings.maxDeleteRatio of the index deletes
 * nothing and ends "held" (returns true).
 */
export async function holdsForRemovals(ctx: RunContext): Promise<boolean> {
  const { kv, keys, section } = ctx;
  const runId = ctx.cursor.runId;
  const manifest = await readManifest(kv, keys, section);
  const previousIds = manifest?.idsKey ?? null;
  const removals = previousIds
    ? await ids.sdiffstore(kv, keys.removals(section, runId), previousIds, keys.listedIds(section, runId))
    : 0;
  // The index's size only matters when something would be removed (16 SCARDs saved on a run that removes nothing).
  const indexed = previousIds && removals > 0 ? await ids.scard(kv, previousIds) : 0;
  const ratio = indexed > 0 ? removals / indexed : 0;
  if (ctx.cursor.force || removals === 0 || ratio <= ctx.settings.maxDeleteRatio) {
    await ctx.commit((c) => void (c.removals = removals));
    return false;
  }
  const reason =
    `this run lists ${ctx.cursor.counts.listed} pages and would remove ${removals} of the ${indexed} indexed ` +
    `(${Math.round(ratio * 100)}% > SYNC_MAX_DELETE_RATIO ${ctx.settings.maxDeleteRatio}); nothing was deleted. ` +
    `If a share was revoked or the database id is wrong, fix it and run again; if the pages really are gone, run with force=1.`;
  const history = await readHistory(kv, keys, section);
  await ctx.commit((c) => {
    c.status = "held";
    c.phase = "done";
    c.held = { reason, removals, indexed };
    c.removals = removals;
    c.finishedAt = ctx.now().toISOString();
    c.error = { code: "held_mass_removal", message: reason, at: c.finishedAt };
    const ops = scratchKeys(keys, c).map((key): KvOp => ({ op: "del", key }));
    c.partials = [];
    c.partialShapes = {};
    return [...ops, historyOp(keys, summarize(c), history)];
  });
  return true;
}
