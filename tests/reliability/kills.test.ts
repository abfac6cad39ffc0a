/**
 * The kill part of the reliability matrix (issue 12, item 6): 50 seeded
 * kills of invocations mid-batch, across pages, posts and children, on a real
 * redis-server and the default emulated workspace, each followed by normal
 * invocations through the route handler (sometimes after one or two more
 * deaths in a row first). Each section runs a full run and then forced runs
 * (which re-list and re-fetch everything) until its kills are spent, and is
 * checked against the workspace as soon as each run is done, so a later run
 * cannot hide a corruption: its counts (kills lose none) and the revalidation
 * of every page it wrote (SITE_REVALIDATE_URL is a local recording server)
 * are checked too. Kill points (tests/support/kill-points.ts):
 * a Notion request that never returns (the process dies with it in flight),
 * an atomic batch that never lands, a batch KV applied whose reply the dead
 * process never saw, and a process that dies after its last commit, before
 * releasing its lease and answering. After the engine, each invocation drains
 * the record of the pages it changed (as the route does), itself a kill point.
 *
 * A dead process's lease stays held: the test checks it is, that a call
 * meanwhile gets 409 and changes nothing, then ends it the way its expiry
 * would (redis PEXPIRE to 1 ms: the key vanishes without the compare-and-
 * delete release) instead of waiting the 35 s lease out.
 *
 * At the end KV equals the workspace page by page, every index lists each
 * page once, nothing is left that no index refers to (bundles, parts,
 * chunks, ledger entries, slug claims, id sets) and no scratch key of a
 * finished run remains; the next run fetches nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SECTIONS } from "../support/default-sections";
import type { Section } from "../../lib/core/sections";
import { boundedByDeadline } from "../../lib/kv/bounded-store";
import { readLarge } from "../../lib/kv/large-value";
import * as shardedSet from "../../lib/kv/sharded-set";
import { RETIRED_CHUNK_TTL_MS, readIndexPage, readManifest } from "../../lib/mirror/section-index";
import { createBlockTreeFetcher } from "../../lib/notion/block-tree";
import { createNotionSource } from "../../lib/notion/source";
import { engineDeps, loadRuntime } from "../../lib/runtime";
import { type Cursor, parseCursor } from "../../lib/sync/cursor";
import { type InvocationOutcome, runInvocation } from "../../lib/sync/engine";
import { readHistory } from "../../lib/sync/run-history";
import type { LedgerEntry } from "../../lib/sync/ledger";
import { drainChangedPages, createRevalidator } from "../../lib/webhooks/revalidate";
import { readWebhookSettings } from "../../lib/webhooks/settings";
import { expectedOrder } from "../../scripts/emulator/notion/verify";
import { type Stack, diffKvWithWorkspace, invoke, startStack, syncAll } from "../support/harness";
import {
  KILL_KINDS,
  type KillKind,
  type KillPlan,
  type KillReport,
  expireLease,
  killSwitch,
} from "../support/kill-points";
import { seeded } from "../support/random";
import { type RevalidationSite, startRevalidationSite } from "../support/revalidation-site";

const SEED = 20261206;
const TOTAL_KILLS = 50;
/** Kills per section (the three add up to TOTAL_KILLS), spread over at least MIN_RUNS runs of each. */
const QUOTA: Record<Section, number> = { pages: 18, posts: 14, children: 18 };
/** A full run, then forced runs (which re-list and re-fetch everything) for the kills left. */
const MIN_RUNS = 2;
/** After a kill, the next invocation is killed too with this chance (two or three deaths in a row). */
const AGAIN = 0.5;
/** Small budgets and a paced Notion: a full run takes many invocations, so kills land all along it. */
const BUDGET_MS = 500;
/** Pages left in the sync phase under which the next kills aim at finalize, and the kills kept for it. */
const NEAR_THE_END = 80;
const END_RESERVE = 3;
const NOTION_RATE_PER_MIN = 9000;

type Phase = "list" | "sync" | "finalize";

interface KillRecord {
  section: Section;
  run: number;
  kind: KillKind;
  at: number;
  target: string | null;
  /** Phase of the run at the kill point. */
  phase: Phase;
  /** Where it died: the batch at the kill point, the route of the request in flight, or the last commit. */
  where: string;
  batchesLanded: number;
  notionRequests: number;
}

/** Kinds are dealt from a shuffled deck of the four (refilled when empty): every kind comes up as often. */
let deck: KillKind[] = [];
function fromDeck(random: () => number): KillKind {
  if (deck.length === 0) {
    deck = [...KILL_KINDS];
    for (let i = deck.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [deck[i], deck[j]] = [deck[j], deck[i]];
    }
  }
  return deck.pop()!;
}

const pick = <T>(random: () => number, list: readonly T[]): T => list[Math.floor(random() * list.length)];

/**
 * Kinds drawn so far. Where only some kinds fit the phase (finalize, the end of the sync phase),
 * the least drawn of them is taken (ties by the seed): how many runs reach those phases depends on
 * timing, and a plain draw there once left a kind under its quota on a loaded CI machine.
 */
const drawn = new Map<KillKind, number>();
function leastDrawn(random: () => number, allowed: readonly KillKind[]): KillKind {
  const fewest = Math.min(...allowed.map((k) => drawn.get(k) ?? 0));
  return pick(
    random,
    allowed.filter((k) => (drawn.get(k) ?? 0) === fewest),
  );
}

/** Batch kills drawn in the sync phase; every DRAIN_EVERY-th dies in the drain of the changed-pages record that ends the invocation. */
let syncBatchPlans = 0;
const DRAIN_EVERY = 4;

/**
 * Where the next invocation dies, drawn from the seed: any of the kinds,
 * aimed at what the run's phase does (a listing step or a query in list;
 * the index step, the final swap or the step's first commit in finalize,
 * also when the sync phase is about to end, as finalize then follows in the
 * same invocation; the N-th page commit or Notion request in sync, or the
 * drain of the changed-pages record after its last commit).
 */
function drawPlan(random: () => number, phase: Phase, section: Section, nearTheEnd: boolean): KillPlan {
  const kind =
    phase === "finalize"
      ? leastDrawn(random, ["batch-dropped", "batch-landed", "before-answer"])
      : nearTheEnd
        ? leastDrawn(random, ["batch-dropped", "batch-landed"])
        : fromDeck(random);
  drawn.set(kind, (drawn.get(kind) ?? 0) + 1);
  const r = random();
  if (kind === "before-answer") return { kind, at: 0 };
  if (phase === "list") {
    if (kind === "notion-hang")
      return section === "children"
        ? { kind, at: 1 + Math.floor(r * 8) }
        : { kind, at: 1 + Math.floor(r * 2), target: "dataSources.query" };
    return r < 0.25
      ? { kind, at: 1 }
      : { kind, at: 1 + Math.floor(random() * (section === "children" ? 3 : 2)), target: "listing step" };
  }
  if (phase === "finalize")
    return { kind, at: 1, target: pick(random, ["index step", "final swap", "cursor commit"] as const) };
  if (nearTheEnd) return { kind, at: 1, target: pick(random, ["index step", "final swap"] as const) };
  // The pages the invocation committed are revalidated after its last commit: it may die there.
  if (kind !== "notion-hang" && ++syncBatchPlans % DRAIN_EVERY === 0) return { kind, at: 1, target: "changed drain" };
  // Small numbers more often: the commit that persists the step, the first page commits.
  return { kind, at: kind === "notion-hang" ? 1 + Math.floor(r * r * 40) : 1 + Math.floor(r * r * 24) };
}

/** The phase a kill point belongs to. */
function phaseOf(where: string, started: Phase, after: Cursor | null): Phase {
  if (/listing step|dataSources\.query/.test(where)) return "list";
  if (/page commit|partial checkpoint|blocks\.children\.list|pages\.retrieve/.test(where)) return "sync";
  if (/index step|final swap|removals step/.test(where)) return "finalize";
  if (where === "changed drain") return after?.phase === "done" ? "finalize" : started;
  if (where.startsWith("after the last commit"))
    return after?.phase === "done" ? "finalize" : ((after?.phase as Phase | undefined) ?? started);
  return started;
}

async function rawCursor(stack: Stack, section: Section): Promise<Cursor | null> {
  const loaded = parseCursor(await stack.kv.get(stack.keys.cursor(section)));
  return loaded.kind === "ok" ? loaded.cursor : null;
}

type KilledOutcome = { killed: true; report: KillReport } | { killed: false; outcome: InvocationOutcome };

/**
 * One invocation of the real engine and the drain of the changed-pages
 * record (what the route handler runs), with its KV and Notion fetch behind a kill switch. Resolves when it dies, or when
 * it ends because its kill point was never reached. A dead invocation is
 * abandoned: its leftover promises are kept in `zombies` and only settle.
 */
async function killedInvocation(
  stack: Stack,
  section: Section,
  plan: KillPlan,
  force: boolean,
  zombies: Promise<number>[],
): Promise<KilledOutcome> {
  const runtime = loadRuntime(section, stack.env);
  const deps = engineDeps(runtime, section, Date.now());
  const kill = killSwitch(runtime.kv, plan, stack.keys, stack.keys.lease(section));
  const notion = createNotionSource({
    token: runtime.notionSettings.token,
    baseUrl: runtime.settings.notionBaseUrl,
    ratePerMin: runtime.settings.notionRatePerMin,
    deadline: deps.deadline,
    fetch: kill.fetch,
  });
  const kv = boundedByDeadline(kill.kv, deps.deadline);
  const run = runInvocation({ ...deps, kv, notion, content: createBlockTreeFetcher(notion) }, { section, force }).then(
    async (outcome) => {
      await drainChangedPages(kv, stack.keys, section, createRevalidator(readWebhookSettings(stack.env)));
      return outcome;
    },
  );
  const settled = run.then(
    (outcome) => ({ outcome }),
    (error: unknown) => ({ error }),
  );
  const first = await Promise.race([settled, kill.died.then((report) => ({ report }))]);
  if ("report" in first) {
    zombies.push(settled.then(() => kill.report().refusedAfterDeath));
    return { killed: true, report: first.report };
  }
  if ("error" in first) {
    if (kill.isDead()) return { killed: true, report: kill.report() };
    throw first.error;
  }
  return { killed: false, outcome: first.outcome };
}

/**
 * One section right after its run: the index lists exactly the workspace's
 * pages (pages and posts in their order; children, whose parents are indexed
 * by then, as a set), each once, each bundle current, and no scratch key of
 * the section is left.
 */
async function sectionMatches(stack: Stack, section: Section): Promise<string[]> {
  const { kv, keys, workspace } = stack;
  const problems: string[] = [];
  const index = await readIndexPage(kv, keys, section);
  const ids = index?.entries.map((e) => e.id) ?? [];
  if (section === "children") {
    const expected = workspace
      .reachableChildPages(Number(stack.env.SYNC_CHILD_DEPTH ?? 5))
      .map((c) => c.id)
      .sort();
    if (JSON.stringify([...ids].sort()) !== JSON.stringify(expected))
      problems.push(`children: ${ids.length} indexed, ${expected.length} reachable`);
  } else {
    const expected = expectedOrder(
      workspace,
      section === "pages" ? workspace.pagesDatabaseId : workspace.postsDatabaseId,
    );
    if (JSON.stringify(ids) !== JSON.stringify(expected))
      problems.push(`${section}: ${ids.length} indexed, ${expected.length} rows, or not in order`);
  }
  if (new Set(ids).size !== ids.length) problems.push(`${section}: a page indexed twice`);
  for (const entry of index?.entries ?? []) {
    const bundle = (await readLarge<{ id: string; last_edited_time: string }>(kv, keys, keys.page(section, entry.slug)))
      ?.value;
    if (bundle?.id !== entry.id || bundle.last_edited_time !== workspace.page(entry.id)?.last_edited_time)
      problems.push(`${section}: bundle of ${entry.slug} missing or stale`);
  }
  for (const what of ["work", "done", "removals", "partial", "edited", "found", "foundids"])
    for (const key of await scan(stack, `${what}:${section}:`)) problems.push(`scratch key left: ${key}`);
  return problems;
}

/**
 * A run just done: its counts are whole (every run here fetches every page it lists, and reads the
 * same blocks), and the site was told of every page it indexed (`tags`: what the site got since the
 * run began, after the drain the next invocation would make when the last one died before its own).
 */
async function countsAndRevalidation(
  stack: Stack,
  section: Section,
  tags: Set<string>,
  blocks: Map<Section, number>,
): Promise<string[]> {
  const problems: string[] = [];
  const cursor = await rawCursor(stack, section);
  const index = await readIndexPage(stack.kv, stack.keys, section);
  const c = cursor!.counts;
  const indexed = index?.entries.length ?? 0;
  if (c.fetched !== indexed) problems.push(`${section}: counts.fetched ${c.fetched}, ${indexed} pages indexed`);
  if (c.fetched + c.skipped + c.gone + c.failed !== c.listed)
    problems.push(`${section}: counts ${JSON.stringify(c)} do not add up to listed`);
  if (!blocks.has(section)) blocks.set(section, c.blocks);
  else if (blocks.get(section) !== c.blocks)
    problems.push(`${section}: counts.blocks ${c.blocks}, the first run read ${blocks.get(section)}`);
  if (!tags.has(`notion:${section}`)) problems.push(`${section}: section tag not revalidated`);
  const missing = (index?.entries ?? []).filter((e) => !tags.has(`notion:${section}:${e.slug}`));
  if (missing.length > 0)
    problems.push(`${section}: ${missing.length} page tags not revalidated, e.g. ${missing[0].slug}`);
  return problems;
}

/** Every key under `prefix:what:` (sorted). */
const scan = (stack: Stack, what: string) => stack.kv.scanKeys(`${stack.keys.prefix}:${what}`);

/** Nothing in KV that no index refers to, and nothing left of finished runs. */
async function expectNothingLeftOver(stack: Stack): Promise<string[]> {
  const { kv, keys } = stack;
  const p = keys.prefix;
  const problems: string[] = [];
  const idSetShards = new Set<string>();
  for (const section of SECTIONS) {
    const manifest = await readManifest(kv, keys, section);
    const index = await readIndexPage(kv, keys, section);
    if (!manifest || !index) {
      problems.push(`${section}: no index`);
      continue;
    }
    const ids = index.entries.map((e) => e.id);
    const twice = ids.filter((id, i) => ids.indexOf(id) !== i);
    if (twice.length > 0) problems.push(`${section}: indexed twice: ${twice.join(", ")}`);
    if (manifest.total !== ids.length)
      problems.push(`${section}: manifest total ${manifest.total}, ${ids.length} entries`);
    // Chunks: the manifest's, and replaced ones only while they expire (a children walk may read them).
    const live = manifest.chunks.map((c) => c.key);
    const stored = await scan(stack, `ichunk:${section}:`);
    const retired = stored.filter((key) => !live.includes(key));
    const lasting = (await Promise.all(retired.map((key) => kv.pttl(key)))).filter(
      (ttl) => ttl === null || ttl > RETIRED_CHUNK_TTL_MS,
    ).length;
    if (live.some((key) => !stored.includes(key)) || lasting > 0)
      problems.push(
        `${section}: index chunks ${stored.length} stored, ${live.length} in the manifest, ${lasting} retired without an end`,
      );
    if (manifest.idsKey) for (const key of shardedSet.shardKeys(manifest.idsKey)) idSetShards.add(key);
    // Ledger entries: exactly the indexed pages, each naming its bundle.
    const entryKeys = await scan(stack, `entry:${section}:`);
    const entryIds = entryKeys.map((k) => k.slice(`${p}:entry:${section}:`.length)).sort();
    if (JSON.stringify(entryIds) !== JSON.stringify([...ids].sort())) {
      const extra = entryIds.filter((id) => !ids.includes(id));
      const missing = ids.filter((id) => !entryIds.includes(id));
      problems.push(
        `${section}: ledger entries without index entry ${JSON.stringify(extra)}, index entries without ledger ${JSON.stringify(missing)}`,
      );
    }
    const ledgers = await kv.mget<LedgerEntry>(ids.map((id) => keys.entry(section, id)));
    ledgers.forEach((l, i) => {
      if (l?.entry?.slug !== index.entries[i].slug)
        problems.push(`${section}: ledger of ${ids[i]} says slug ${l?.entry?.slug}, index ${index.entries[i].slug}`);
    });
    // Slug claims (databases): exactly the indexed slugs, each owned by its page.
    if (section !== "children") {
      const claims = await scan(stack, `slug:${section}:`);
      const owners = await kv.mget<string>(claims);
      const bySlug = new Map(index.entries.map((e) => [e.slug, e.id]));
      claims.forEach((key, i) => {
        const slug = key.slice(`${p}:slug:${section}:`.length);
        if (bySlug.get(slug) !== owners[i])
          problems.push(`${section}: slug claim ${slug} → ${owners[i]}, index → ${bySlug.get(slug) ?? "nothing"}`);
      });
      if (claims.length !== bySlug.size)
        problems.push(`${section}: ${claims.length} slug claims for ${bySlug.size} indexed slugs`);
    }
    // The run is done, and its summary says so.
    const cursor = await rawCursor(stack, section);
    if (cursor?.status !== "done" || cursor.phase !== "done")
      problems.push(`${section}: cursor ${cursor?.status}/${cursor?.phase}`);
    if (cursor && (cursor.partials.length > 0 || Object.keys(cursor.attempts).length > 0))
      problems.push(`${section}: cursor keeps partials or attempts`);
    const history = await readHistory(kv, keys, section);
    if (history[0]?.runId !== cursor?.runId || history[0]?.status !== "done")
      problems.push(`${section}: last run summary ${history[0]?.runId} ${history[0]?.status}`);
    if ((await kv.get(keys.lease(section))) !== null) problems.push(`${section}: lease still held`);
  }
  // Parts of bundles: only those of the stubs stored now.
  for (const key of await scan(stack, "part:")) {
    const match = /^part:page:(pages|posts|children):([^:]+):([^:]+):(\d+)$/.exec(key.slice(p.length + 1));
    if (!match) {
      problems.push(`part of something else than a bundle: ${key}`);
      continue;
    }
    const [, section, slug, generation, i] = match;
    const stub = await kv.get<{ $parts?: number; $generation?: string }>(keys.page(section as Section, slug));
    if (stub?.$generation !== generation || Number(i) >= (stub.$parts ?? 0)) problems.push(`orphan part ${key}`);
  }
  // Bundles in parts read back whole (the diff reads every bundle; this names a broken one).
  for (const key of await scan(stack, "page:")) {
    const bundle = await readLarge<{ id: string }>(kv, keys, key).catch(() => null);
    if (!bundle?.value?.id) problems.push(`unreadable bundle ${key}`);
  }
  // Id sets: only the current indexes'.
  for (const key of await scan(stack, "ids:")) if (!idSetShards.has(key)) problems.push(`id set of no index: ${key}`);
  // Scratch keys of runs: none is left once every run is done.
  for (const what of ["work:", "done:", "removals:", "partial:", "edited:", "found:", "foundids:"])
    for (const key of await scan(stack, what)) problems.push(`scratch key left: ${key}`);
  if ((await kv.scard(keys.childQueue())) > 0) problems.push("children queue not drained");
  if ((await kv.scard(keys.refetch())) > 0)
    problems.push(`refetch set not empty: ${(await kv.smembers(keys.refetch())).join(", ")}`);
  return problems;
}

describe("kills: 50 seeded kills mid-batch across pages, posts and children", () => {
  let stack: Stack;
  let site: RevalidationSite;
  const kills: KillRecord[] = [];
  /** Blocks the first run of each section read (every later run reads as many). */
  const blocks = new Map<Section, number>();
  /** Runs whose last invocation died before draining the changed-pages record. */
  let drainedByNext = 0;
  const zombies: Promise<number>[] = [];
  let refusedAfterDeath = 0;
  let invocations = 0;
  let runsChecked = 0;

  beforeAll(async () => {
    site = await startRevalidationSite();
    stack = await startStack({
      env: { SYNC_BUDGET_MS: String(BUDGET_MS), NOTION_RATE_PER_MIN: String(NOTION_RATE_PER_MIN), ...site.env },
    });
  });
  afterAll(async () => {
    const byKind = Object.fromEntries(KILL_KINDS.map((k) => [k, kills.filter((x) => x.kind === k).length]));
    const count = (f: (k: KillRecord) => string) => {
      const out: Record<string, number> = {};
      for (const k of kills) out[f(k)] = (out[f(k)] ?? 0) + 1;
      return out;
    };
    console.log(
      "[kills]",
      JSON.stringify(
        {
          kills: kills.length,
          invocations,
          runsChecked,
          drainedByNext,
          refusedAfterDeath,
          byKind,
          bySection: count((k) => k.section),
          byPhase: count((k) => k.phase),
          byWhere: count((k) => `${k.kind}: ${k.where}`),
        },
        null,
        1,
      ),
    );
    await Promise.allSettled(zombies);
    await stack?.close();
    await site?.close();
  });

  it("converge to exactly the workspace, no page lost and none indexed twice", { timeout: 120_000 }, async () => {
    const random = seeded(SEED);
    for (const section of SECTIONS) {
      let sectionKills = 0;
      for (let run = 0; run < MIN_RUNS || sectionKills < QUOTA[section]; run++) {
        expect(run, `${section}: runs`).toBeLessThan(6);
        const runsLeft = Math.max(1, MIN_RUNS - run);
        const runQuota = sectionKills + Math.ceil((QUOTA[section] - sectionKills) / runsLeft);
        const previousRunId = (await rawCursor(stack, section))?.runId ?? null;
        const callsAtStart = site.calls.length;
        let lastKilled = false;
        for (let call = 0; ; call++) {
          expect(call, `${section} run ${run}: invocations`).toBeLessThan(300);
          const before = await rawCursor(stack, section);
          const ours = before !== null && before.runId !== previousRunId;
          if (ours && before.status !== "running") {
            expect(before.status, `${section} run ${run}`).toBe("done");
            // Checked at once: a later (forced) run must not hide what this one got wrong.
            expect(await sectionMatches(stack, section), `${section} after run ${run}`).toEqual([]);
            if ((await stack.kv.scard(stack.keys.changedPages(section))) > 0) {
              drainedByNext++;
              await drainChangedPages(stack.kv, stack.keys, section, createRevalidator(readWebhookSettings(stack.env)));
            }
            const tags = new Set(
              site.calls.slice(callsAtStart).flatMap((call) => (call.verified ? call.body.tags : [])),
            );
            expect(await countsAndRevalidation(stack, section, tags, blocks), `${section} after run ${run}`).toEqual(
              [],
            );
            runsChecked++;
            break;
          }
          // The first call of a run after the first starts a forced one (it re-lists and re-fetches everything).
          const force = run > 0 && !ours;
          const phase: Phase = ours ? (before.phase as Phase) : "list";
          // Finalize usually follows the last pages in the same invocation: aim at it when few are left
          // (counted from the done set: a killed invocation's counts are lost with it, its done marks are not).
          const left =
            ours && phase === "sync"
              ? before.counts.toSync - (await shardedSet.scard(stack.kv, stack.keys.doneIds(section, before.runId)))
              : Infinity;
          const nearTheEnd = phase === "sync" && left < NEAR_THE_END;
          const killsLeft = runQuota - sectionKills;
          const killNow =
            killsLeft > 0 &&
            (phase === "finalize" ||
              nearTheEnd ||
              (lastKilled ? random() < AGAIN : phase === "list" || (killsLeft > END_RESERVE && random() < 0.85)));
          if (!killNow) {
            const normal = await invoke(stack, section, force ? { query: "force=1" } : {});
            invocations++;
            lastKilled = false;
            expect(normal.status, JSON.stringify(normal.body)).toBe(200);
            expect(normal.body.ok).toBe(true);
            expect(normal.body.cursorReset).toBeUndefined();
            if (ours) expect(normal.body.runId, "a normal invocation continues the run").toBe(before.runId);
            continue;
          }
          const plan = drawPlan(random, phase, section, nearTheEnd);
          const result = await killedInvocation(stack, section, plan, force, zombies);
          invocations++;
          if (!result.killed) {
            // It ended before its kill point: a normal invocation of the engine.
            expect(result.outcome.kind).toBe("ran");
            lastKilled = false;
            continue;
          }
          sectionKills++;
          lastKilled = true;
          const { report } = result;
          const after = await rawCursor(stack, section);
          const where =
            plan.kind === "notion-hang"
              ? `${report.route} in flight`
              : plan.kind === "before-answer"
                ? `after the last commit (${after?.phase})`
                : `${report.batch}`;
          kills.push({
            section,
            run,
            kind: plan.kind,
            at: plan.at,
            target: plan.target ?? null,
            phase: phaseOf(where, phase, after),
            where,
            batchesLanded: report.batchesLanded,
            notionRequests: report.notionRequests,
          });

          const leaseKey = stack.keys.lease(section);
          // The drain follows the engine, which released its lease: nothing is held.
          if (where === "changed drain") {
            expect(await stack.kv.get(leaseKey)).toBeNull();
            continue;
          }
          // The dead process's lease stays held: a call meanwhile is refused and changes nothing.
          const held = await stack.kv.get(leaseKey);
          expect(held, `${section} ${plan.kind}@${plan.at}: the dead invocation's lease`).not.toBeNull();
          expect(await stack.kv.pttl(leaseKey)).toBeGreaterThan(10_000);
          const cursorAtDeath = JSON.stringify(await stack.kv.get(stack.keys.cursor(section)));
          const refused = await invoke(stack, section);
          // A live run's call is merged with it (409); with none live the call is queued for the lease's release (202).
          const liveAtDeath = ["running", "stalled"].includes(
            (JSON.parse(cursorAtDeath) as { status?: string } | null)?.status ?? "",
          );
          if (liveAtDeath) expect(refused.body.error?.code).toBe("already_running");
          else expect(refused.body).toMatchObject({ queued: true });
          expect(refused.status).toBe(liveAtDeath ? 409 : 202);
          expect(JSON.stringify(await stack.kv.get(stack.keys.cursor(section)))).toBe(cursorAtDeath);
          expect(await stack.kv.get(leaseKey)).toEqual(held);
          // As its expiry would: the key goes, without the compare-and-delete release.
          await expireLease(stack.redis.url, leaseKey);
        }
      }
    }
    expect(kills).toHaveLength(TOTAL_KILLS);
    expect(runsChecked).toBeGreaterThanOrEqual(MIN_RUNS * SECTIONS.length);
    for (const section of SECTIONS)
      expect(
        kills.filter((k) => k.section === section),
        section,
      ).toHaveLength(QUOTA[section]);
    for (const kind of KILL_KINDS)
      expect(kills.filter((k) => k.kind === kind).length, `${kind} kills`).toBeGreaterThanOrEqual(6);
    // All along the runs: listing, pages, the last steps.
    expect(kills.filter((k) => k.phase === "list").length, "kills while listing").toBeGreaterThanOrEqual(4);
    expect(kills.filter((k) => k.phase === "finalize").length, "kills in finalize").toBeGreaterThanOrEqual(3);
    for (const where of ["listing step", "page commit", "changed drain"])
      expect(
        kills.some((k) => k.where === where),
        `a kill at a ${where}`,
      ).toBe(true);
    expect(
      kills.some((k) => k.where === "final swap" || k.where === "index step"),
      "a kill inside an index step or the final swap",
    ).toBe(true);
    expect(
      kills.some((k) => k.where === "blocks.children.list in flight"),
      "a kill with a block read in flight",
    ).toBe(true);

    // Every abandoned invocation settles; what it tried after its death (KV calls, Notion requests) was refused.
    refusedAfterDeath = (await Promise.all(zombies)).reduce((a, b) => a + b, 0);

    expect(await diffKvWithWorkspace(stack)).toEqual([]);
    expect(await expectNothingLeftOver(stack)).toEqual([]);
  });

  it("the next run fetches nothing and leaves the mirror as it was", async () => {
    const before = await Promise.all(SECTIONS.map((s) => readIndexPage(stack.kv, stack.keys, s)));
    stack.emulator.resetRequestLog();
    const runs = await syncAll(stack);
    for (const section of SECTIONS) {
      const last = runs[section].at(-1)!;
      expect(last.status, section).toBe("done");
      expect(last.counts.fetched, `${section} fetched`).toBe(0);
      expect(last.counts.blocks, `${section} blocks`).toBe(0);
      expect(last.counts.removed, `${section} removed`).toBe(0);
    }
    expect(stack.emulator.requests().filter((r) => r.route === "blocks.children.list")).toHaveLength(0);
    const after = await Promise.all(SECTIONS.map((s) => readIndexPage(stack.kv, stack.keys, s)));
    // Pages and posts keep their order; children are breadth first, in the order workers found them.
    const comparable = (i: Awaited<ReturnType<typeof readIndexPage>>, section: Section) =>
      section === "children" ? [...(i?.entries ?? [])].sort((a, b) => a.id.localeCompare(b.id)) : i?.entries;
    expect(after.map((i, n) => comparable(i, SECTIONS[n]))).toEqual(before.map((i, n) => comparable(i, SECTIONS[n])));
    expect(await diffKvWithWorkspace(stack)).toEqual([]);
    expect(await expectNothingLeftOver(stack)).toEqual([]);
  });
});
