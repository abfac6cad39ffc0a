/**
 * What a run costs in KV commands (Upstash bills each one), on the benchmark's
 * 100-row workspace (60 pages, 40 posts, one huge page, 64 child pages) through
 * the Upstash REST bridge: a no-change run must stay a small fixed cost per
 * section plus well under one command a page. Also: a no-change children run
 * killed after any of its atomic batches converges, each child page listed once.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KvStore } from "../lib/kv/store";
import { engineDeps, loadRuntime } from "../lib/runtime";
import { parseCursor } from "../lib/sync/cursor";
import { runInvocation } from "../lib/sync/engine";
import { type Stack, diffKvWithWorkspace, startStack, syncAll, syncUntilDone } from "./support/harness";
import { seeded } from "./support/random";

const SECTIONS = ["pages", "posts", "children"] as const;

/** A KV store whose atomic batches fail after the first `n` (later ones never land, like a killed process). */
function killAfter(kv: KvStore, n: number): KvStore {
  let commits = 0;
  return new Proxy(kv, {
    get(target, prop, receiver) {
      if (prop === "atomic")
        return (ops: Parameters<KvStore["atomic"]>[0]) =>
          ++commits > n ? Promise.reject(new Error("killed")) : target.atomic(ops);
      return Reflect.get(target, prop, receiver);
    },
  });
}

describe("KV commands of a no-change run", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ backend: "upstash", workspace: { pages: 60, posts: 40, hugePages: 1 } });
    await syncAll(stack, "force=1");
    await syncAll(stack);
  }, 120_000);
  afterAll(async () => stack?.close());

  /** One no-change run of every section: its KV commands (by command), pages listed and invocations. */
  async function noChangeRun(env: Record<string, string> = {}) {
    const byCommand: Record<string, number> = {};
    let commands = 0;
    let listed = 0;
    let invocations = 0;
    for (const section of SECTIONS) {
      stack.bridge!.resetStats();
      const answers = await syncUntilDone({ env: { ...stack.env, ...env } }, section, { maxCalls: 20 });
      invocations += answers.length;
      const last = answers.at(-1)!;
      expect(last.counts.fetched).toBe(0);
      listed += last.counts.listed;
      const stats = stack.bridge!.stats();
      commands += stats.commands;
      for (const [name, n] of Object.entries(stats.byCommand)) byCommand[name] = (byCommand[name] ?? 0) + n;
      // A section's fixed cost: lease, cursor, a few commits, the manifest, the brake's SDIFFSTORE (16 shards).
      expect(stats.commands, `${section}: ${JSON.stringify(stats.byCommand)}`).toBeLessThanOrEqual(
        50 + last.counts.listed,
      );
    }
    return { commands, byCommand, listed, invocations };
  }

  it("costs at most 1.5 commands a mirrored page (it was 3.3: a done mark per child page, a piece per discovery, the brake's SCARDs, the empty removals set read), less when database sections list incrementally", async () => {
    stack.workspace.advanceClock(5 * 60_000);
    const mirrored = (
      await Promise.all(SECTIONS.map((s) => stack.kv.get<{ total: number }>(stack.keys.index(s))))
    ).reduce((sum, m) => sum + m!.total, 0);
    // Every database section listing in full (what every run did before incremental listing), then incrementally.
    const full = await noChangeRun({ SYNC_FULL_LIST_HOURS: "0" });
    const incremental = await noChangeRun();
    for (const [name, run] of Object.entries({ full, incremental }))
      console.log(
        `[kv-commands] no-change run, ${name} listing: ${run.commands} commands for ${mirrored} mirrored pages (${run.listed} listed) ${JSON.stringify(run.byCommand)}`,
      );
    expect(full.listed).toBeGreaterThanOrEqual(mirrored);
    expect(incremental.listed).toBeLessThan(mirrored);
    expect(incremental.commands).toBeLessThan(full.commands);
    for (const run of [full, incremental]) {
      expect(run.commands, JSON.stringify(run.byCommand)).toBeLessThanOrEqual(1.5 * mirrored);
      // The changed-pages record is read once an invocation (lib/webhooks/revalidate.ts drainChangedPages).
      expect(run.byCommand.srandmember ?? 0).toBeLessThanOrEqual(1 + run.invocations);
    }
    // The brake's index size is only read when something would be removed, an empty removals set never.
    expect(full.byCommand.scard ?? 0).toBeLessThanOrEqual(1);
    // An incremental listing removes nothing (no brake: no SDIFFSTORE); it counts the failed and refetch sets
    // of each database section (pages waiting for a retry make it list in full).
    expect(incremental.byCommand.sdiffstore ?? 0).toBe(16);
    expect(incremental.byCommand.scard ?? 0).toBeLessThanOrEqual(1 + 2 * 2);
    expect(await diffKvWithWorkspace(stack)).toEqual([]);
  }, 60_000);

  it("a no-change children run killed after any atomic batch converges, each child page listed once and counted at most once", async () => {
    const random = seeded(5);
    stack.workspace.advanceClock(5 * 60_000);
    const clean = (await syncUntilDone(stack, "children", { maxCalls: 20 })).at(-1)!.counts;
    let kills = 0;
    for (let round = 0; round < 6; round++) {
      stack.workspace.advanceClock(5 * 60_000);
      const runtime = loadRuntime("children", stack.env);
      const deps = engineDeps(runtime, "children", Date.now());
      const kv = killAfter(runtime.kv, 2 + Math.floor(random() * 12));
      const outcome = await runInvocation({ ...deps, kv }, { section: "children", force: false }).catch(
        (e: Error) => e,
      );
      if (outcome instanceof Error) {
        expect(outcome.message).toMatch(/killed/);
        kills++;
        await runtime.kv.del([stack.keys.lease("children")]);
      }
      const answers = await syncUntilDone(stack, "children", { maxCalls: 20 });
      const last = answers.at(-1)!;
      expect(last.status).toBe("done");
      const cursor = parseCursor(await stack.kv.get(stack.keys.cursor("children")));
      expect(cursor.kind).toBe("ok");
      const counts = last.counts;
      // Each page listed once, none counted twice (a killed invocation's uncommitted counts may be missing).
      expect(counts.listed).toBe(clean.listed);
      expect(counts.fetched).toBe(0);
      expect(counts.skipped + counts.gone + counts.failed, JSON.stringify(counts)).toBeLessThanOrEqual(counts.listed);
      expect(counts.skipped, JSON.stringify(counts)).toBeGreaterThan(0);
      expect(await diffKvWithWorkspace(stack)).toEqual([]);
    }
    expect(kills).toBeGreaterThanOrEqual(4);
  }, 120_000);
});
