/**
 * Fenced commits: an invocation that outlived its lease (killed from the
 * lease's point of view, still running on Fluid compute) writes nothing once
 * another invocation holds the lease, and its workers stop.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KvOp, KvStore } from "../lib/kv/store";
import { engineDeps, loadRuntime } from "../lib/runtime";
import { parseCursor } from "../lib/sync/cursor";
import { runInvocation } from "../lib/sync/engine";
import { LeaseLostError } from "../lib/sync/errors";
import { type Stack, diffKvWithWorkspace, startStack, syncAll } from "./support/harness";

/** Hands the lease to another invocation right after the `n`th commit, as an expiry and a new caller would. */
function leaseTakenAfter(kv: KvStore, leaseKey: string, n: number, log: { refused: number; applied: number }): KvStore {
  let commits = 0;
  return new Proxy(kv, {
    get(target, prop, receiver) {
      if (prop !== "atomic") return Reflect.get(target, prop, receiver);
      return async (ops: KvOp[]) => {
        try {
          await target.atomic(ops);
          log.applied++;
        } catch (error) {
          log.refused++;
          throw error;
        }
        if (++commits === n) await target.set(leaseKey, "another-invocation", { pxMs: 60_000 });
      };
    },
  });
}

describe("fenced commits", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      workspace: {
        pages: 30,
        posts: 0,
        blocksPerRow: 3,
        hugePages: 0,
        childDepth: 0,
        trashedRows: 0,
        unsharedChildPages: 0,
      },
      latencyMs: 5,
    });
  });
  afterAll(async () => stack?.close());

  it("an invocation whose lease was taken writes nothing more and stops its workers", async () => {
    const runtime = loadRuntime("pages", stack.env);
    const deps = engineDeps(runtime, "pages", Date.now(), 20_000);
    const log = { refused: 0, applied: 0 };
    const leaseKey = stack.keys.lease("pages");
    const kv = leaseTakenAfter(runtime.kv, leaseKey, 2, log); // the seq commit and one listing step land
    const before = await stack.kv.scanKeys(`${stack.keys.prefix}:`);
    const outcome = await runInvocation({ ...deps, kv }, { section: "pages", force: false }).catch((e: unknown) => e);
    expect(outcome).toBeInstanceOf(LeaseLostError);
    expect(log.applied).toBe(2);
    expect(log.refused).toBe(1); // the first refused commit stops the invocation: no worker tries again
    // Nothing past the two commits: one listed piece, no bundle, no ledger entry, no done mark.
    const after = (await stack.kv.scanKeys(`${stack.keys.prefix}:`)).filter((k) => !before.includes(k));
    expect(after.filter((k) => k.includes(":page:") || k.includes(":entry:") || k.includes(":done:"))).toEqual([]);
    const cursor = parseCursor(await stack.kv.get(stack.keys.cursor("pages")));
    expect(cursor.kind === "ok" && cursor.cursor.seq).toBe(1);
    expect(cursor.kind === "ok" && cursor.cursor.list.pieces).toBe(1);
    // The orphan did not free the lease it no longer holds.
    expect(await stack.kv.get(leaseKey)).toBe("another-invocation");

    // Once that invocation is gone, the run goes on from the last fenced commit and converges.
    await stack.kv.del([leaseKey]);
    await syncAll(stack);
    expect(await diffKvWithWorkspace(stack)).toEqual([]);
  });

  it("in the sync phase, the workers of an orphan stop at their first refused commit", async () => {
    stack.workspace.advanceClock(5 * 60_000);
    for (const row of stack.workspace.visibleRows(stack.workspace.pagesDatabaseId).slice(0, 20))
      stack.workspace.editPageTitle(row.id, `${row.id} edited`);
    const runtime = loadRuntime("pages", stack.env);
    const deps = engineDeps(runtime, "pages", Date.now(), 20_000);
    const log = { refused: 0, applied: 0 };
    const kv = leaseTakenAfter(runtime.kv, stack.keys.lease("pages"), 4, log); // seq, listing, phase change, one page
    const outcome = await runInvocation(
      { ...deps, kv, settings: { ...deps.settings, concurrency: 4 } },
      { section: "pages", force: false },
    ).catch((e: unknown) => e);
    expect(outcome).toBeInstanceOf(LeaseLostError);
    expect(log.applied).toBe(4);
    // Workers already in flight may each be refused once; none starts another page.
    expect(log.refused).toBeGreaterThanOrEqual(1);
    expect(log.refused).toBeLessThanOrEqual(4);
    await stack.kv.del([stack.keys.lease("pages")]);
    await syncAll(stack);
    expect(await diffKvWithWorkspace(stack)).toEqual([]);
  });
});
