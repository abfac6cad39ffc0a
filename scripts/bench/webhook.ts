/**
 * The webhook run of `npm run bench` (issue 17): how long an edit in Notion
 * takes to reach KV through webhooks, Notion's aggregation included. It runs
 * after qstash-blocks' runs on the same workspace and mirror (in sync after
 * its edited run), all at --speed like everything else:
 *
 * - the notion child's webhook delivery (scripts/emulator/notion/webhooks.ts)
 *   aggregates per page for 60 s (Notion: "typically under one minute"),
 *   signs with a verification token the app has as NOTION_WEBHOOK_SECRET,
 *   duplicates 20 % of deliveries and reorders them by up to 1 s;
 * - the real /api/notion/webhook and /api/sync/dirty handlers run in this
 *   process (app-server.ts), WEBHOOK_DEBOUNCE_S = 30 (the default) ÷ speed;
 *   the targeted-run message goes through the qstash child's proxy, which
 *   asks for the delay the product would at Notion's pace (child.ts,
 *   notionPaceDirtyDelayS); QStash divides it by speed like every wait;
 * - edits: 10 pages, one every 6 s (database rows of both sections and child
 *   pages), and 10 edits to one more row within a minute (3 s, 8 s, … 48 s),
 *   all at Notion's pace. An edit has landed when the page's bundle in KV
 *   holds its text or a later edit's (read straight from redis every 10 ms).
 *
 * Delay per edit: edit → bundle in KV, wall ms, and × speed in real seconds.
 */
import { randomBytes } from "node:crypto";
import type { Section } from "../../lib/core/sections";
import { createKeys } from "../../lib/kv/keys";
import { readLarge } from "../../lib/kv/large-value";
import { createRedisStore } from "../../lib/kv/redis";
import type { LedgerEntry } from "../../lib/sync/ledger";
import { DEFAULT_DEBOUNCE_S } from "../../lib/webhooks/settings";
import { Prng } from "../emulator/notion/prng";
import type { AppServer } from "./app-server";
import type { ChildHandle } from "./children";
import { type RequestFigures, versionOf } from "./request-figures";

/** Notion aggregates a page's changes for up to about a minute. */
export const NOTION_AGGREGATE_S = 60;
/** The target: edit → KV within this long at Notion's pace. */
export const TARGET_S = 120;
const DISTINCT_PAGES = 10;
const CHILD_PAGES = 3;
const BURST_EDITS = 10;

/** Debounce in whole seconds (WEBHOOK_DEBOUNCE_S must be an integer ≥ 1): 30 s ÷ speed, rounded. */
export function webhookTiming(speed: number) {
  const debounceS = Math.max(1, Math.round(DEFAULT_DEBOUNCE_S / speed));
  return { aggregateMs: (NOTION_AGGREGATE_S * 1000) / speed, debounceS, debounceRealS: debounceS * speed };
}

export interface Percentiles {
  p50: number;
  p95: number;
  max: number;
}

export interface EditRecord {
  group: "row" | "child" | "burst";
  pageId: string;
  section: Section;
  /** Notion's pace, s after the start. */
  plannedS: number;
  editedAt: number;
  /** First successful delivery of a page.content_updated for the page after the edit. */
  deliveredAt: number | null;
  landedAt: number | null;
  delayMs: number | null;
}

export interface WebhookResult {
  size: number;
  contender: "qstash-blocks";
  speed: number;
  ok: boolean;
  failure: string | null;
  settings: {
    aggregateS: number;
    debounceS: number;
    debounceRealS: number;
    duplicateRate: number;
    reorderRealMs: number;
  };
  wallMs: number;
  edits: number;
  pagesEdited: number;
  delayMs: Percentiles | null;
  delayRealS: Percentiles | null;
  /** Delivery of the event → KV (the product's part), real s. */
  afterDeliveryRealS: Percentiles | null;
  notion: { total: number; byRoute: Record<string, number>; byStatus: Record<string, number> };
  /** The Notion-Version the run's requests carried (scripts/bench/request-figures.ts versionOf). */
  notionVersion?: string | null;
  /** All Notion requests of the run ÷ pages edited. */
  requestsPerPage: number;
  qstashMessages: number;
  retimedMessages: number;
  targetedRuns: number;
  webhookPosts: number;
  webhookAnswerMsMax: number;
  burst: {
    edits: number;
    events: number;
    deliveries: number;
    duplicates: number;
    fetches: number;
    requests: number;
    delayRealS: Percentiles | null;
  };
  kv: { roundTrips: number; commands: number } | null;
  perEdit: EditRecord[];
  perPage: {
    id: string;
    section: Section;
    group: EditRecord["group"];
    containers: number;
    events: number;
    deliveries: number;
    duplicates: number;
    retrieves: number;
    lists: number;
    total: number;
  }[];
}

interface Candidate {
  id: string;
  section: Section;
  child: boolean;
  containers: number;
}

interface PageSummary {
  id: string;
  events: number;
  deliveries: number;
  duplicates: number;
  delivered: number[];
  retrieves: number;
  lists: number;
  total: number;
}

export function percentiles(values: number[]): Percentiles | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const at = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))];
  return { p50: at(0.5), p95: at(0.95), max: s[s.length - 1] };
}

const sleepUntil = (t: number) => new Promise((r) => setTimeout(r, Math.max(0, t - Date.now())));

export async function runWebhookPhase(input: {
  size: number;
  speed: number;
  seed: number;
  env: Record<string, string>;
  setEnv: (env: Record<string, string>) => void;
  app: AppServer;
  redisUrl: string;
  notion: ChildHandle<unknown>;
  qstash: ChildHandle<{ webhookUrl: string }>;
  bridge: ChildHandle<unknown>;
  progress: (line: string) => void;
}): Promise<WebhookResult> {
  const { speed, notion, qstash } = input;
  const timing = webhookTiming(speed);
  const duplicateRate = 0.2;
  const reorderRealMs = 1000;
  const kv = createRedisStore({ url: input.redisUrl });
  const keys = createKeys(input.env.KV_PREFIX);
  const base = {
    size: input.size,
    contender: "qstash-blocks" as const,
    speed,
    settings: {
      aggregateS: NOTION_AGGREGATE_S,
      debounceS: timing.debounceS,
      debounceRealS: timing.debounceRealS,
      duplicateRate,
      reorderRealMs,
    },
  };
  try {
    // Pages the mirror holds (a child page deeper than SYNC_CHILD_DEPTH is not mirrored).
    const candidates = await notion.call<Candidate[]>("webhookCandidates");
    const ledgers = await kv.mget<LedgerEntry>(candidates.map((c) => keys.entry(c.section, c.id)));
    const mirrored = candidates.filter((_, i) => ledgers[i]?.entry);
    const rng = new Prng(`${input.seed}:webhook`);
    const children = rng.shuffle(mirrored.filter((c) => c.child)).slice(0, CHILD_PAGES);
    const rows = rng.shuffle(mirrored.filter((c) => !c.child)).slice(0, DISTINCT_PAGES - children.length + 1);
    const burstPage = rows.pop();
    if (!burstPage || rows.length + children.length < DISTINCT_PAGES)
      throw new Error(`not enough mirrored pages with a text block to edit (${mirrored.length})`);
    const distinct = rng.shuffle([...rows, ...children]);
    const nonce = randomBytes(4).toString("hex");
    const plan = [
      ...distinct.map((p, k) => ({
        page: p,
        group: (p.child ? "child" : "row") as EditRecord["group"],
        plannedS: 6 * k,
        text: `bench webhook edit ${k} ${nonce}`,
      })),
      ...Array.from({ length: BURST_EDITS }, (_, j) => ({
        page: burstPage,
        group: "burst" as const,
        plannedS: 3 + 5 * j,
        text: `bench webhook burst ${j} ${nonce}`,
      })),
    ].sort((a, b) => a.plannedS - b.plannedS);

    const token = `secret_${randomBytes(24).toString("hex")}`;
    input.setEnv({
      ...input.env,
      WEBHOOK_DEBOUNCE_S: String(timing.debounceS),
      NOTION_WEBHOOK_SECRET: token,
      QSTASH_URL: qstash.ready.webhookUrl,
    });
    await notion.call("webhookAttach", {
      url: `${input.app.url}/api/notion/webhook`,
      verificationToken: token,
      aggregateMs: timing.aggregateMs,
      duplicateRate,
      reorderMs: reorderRealMs / speed,
      seed: input.seed,
    });
    await notion.call("reset");
    await input.bridge.call("reset");
    const { retimed: retimedBefore } = await qstash.call<{ retimed: number }>("retimed");
    input.progress(
      `${input.size} pages, qstash-blocks: webhook run (${plan.length} edits to ${distinct.length + 1} pages over ${Math.max(...plan.map((e) => e.plannedS))} s; Notion aggregates ${NOTION_AGGREGATE_S} s, WEBHOOK_DEBOUNCE_S ${timing.debounceS} = ${timing.debounceRealS} s at Notion's pace)`,
    );

    const t0 = Date.now();
    const records: (EditRecord & { text: string; order: number })[] = [];
    let editsDone = false;
    const doEdits = async () => {
      for (const [order, e] of plan.entries()) {
        await sleepUntil(t0 + (e.plannedS * 1000) / speed);
        const { at } = await notion.call<{ at: number }>("webhookEdit", { pageId: e.page.id, text: e.text });
        records.push({
          group: e.group,
          pageId: e.page.id,
          section: e.page.section,
          plannedS: e.plannedS,
          editedAt: at,
          deliveredAt: null,
          landedAt: null,
          delayMs: null,
          text: e.text,
          order,
        });
      }
    };
    const lastPlannedMs = (Math.max(...plan.map((e) => e.plannedS)) * 1000) / speed;
    const deadline = t0 + lastPlannedMs + Math.max(30_000, 600_000 / speed);
    let failure: string | null = null;
    const poll = async () => {
      const seen = new Map<string, string>();
      const bundles = new Map<string, string>();
      for (;;) {
        const open = records.filter((r) => r.landedAt === null);
        if (editsDone && open.length === 0) return;
        if (Date.now() > deadline) {
          failure = `${open.length + plan.length - records.length} of ${plan.length} edits not in KV within ${Math.round(((deadline - t0) * speed) / 1000)} s at Notion's pace`;
          return;
        }
        const pages = [...new Map(open.map((r) => [r.pageId, r.section])).entries()];
        if (pages.length > 0) {
          const now = Date.now();
          const entries = await kv.mget<LedgerEntry>(pages.map(([id, section]) => keys.entry(section, id)));
          for (const [i, [id, section]] of pages.entries()) {
            const ledger = entries[i];
            if (!ledger?.entry) continue;
            const sig = JSON.stringify(ledger);
            if (seen.get(id) !== sig) {
              const bundle = await readLarge(kv, keys, keys.page(section, ledger.entry.slug));
              bundles.set(id, bundle ? JSON.stringify(bundle.value) : "");
              seen.set(id, sig);
            }
            const text = bundles.get(id) ?? "";
            const mine = records.filter((r) => r.pageId === id);
            // An edit has landed when its text or a later edit's to the same page is there.
            const newest = mine.filter((r) => text.includes(r.text)).reduce((n, r) => Math.max(n, r.order), -1);
            for (const r of mine) if (r.landedAt === null && r.order <= newest) r.landedAt = now;
          }
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    // The poll ends once every edit made has landed (or at the deadline), even when an edit failed.
    const [edited, polled] = await Promise.allSettled([doEdits().finally(() => (editsDone = true)), poll()]);
    if (edited.status === "rejected") throw edited.reason;
    if (polled.status === "rejected") throw polled.reason;
    const wallMs = Date.now() - t0;
    // Late duplicates, then whatever QStash still holds (a continuation, a run of a later window).
    await notion.call("webhookIdle", { timeoutMs: 60_000 }, 90_000).catch(() => {});
    await qstash.call("idle", {}, 600_000);

    const stats = await notion.call<RequestFigures>("stats", { windowMs: 60_000 / speed });
    const ids = [...distinct.map((p) => p.id), burstPage.id];
    const summary = await notion.call<{
      pages: PageSummary[];
      deliveries: number;
      failedDeliveries: number;
      answerMsMax: number;
    }>("webhookSummary", { since: t0, ids });
    const q = await qstash.call<{ messages: number }>("count", { since: t0 });
    const { retimed } = await qstash.call<{ retimed: number }>("retimed");
    const bridgeStats = await input.bridge.call<{ roundTrips: number; commands: number }>("stats");
    const hooks = input.app.hooks.filter((h) => h.startedAt >= t0);
    const dirtyRuns = hooks.filter((h) => h.path === "/api/sync/dirty");
    const badRun = dirtyRuns.find((h) => h.status !== 200 || h.json?.ok === false);
    if (!failure && badRun)
      failure = `a targeted run answered ${badRun.status}: ${JSON.stringify(badRun.json).slice(0, 300)}`;

    const byId = new Map(summary.pages.map((p) => [p.id, p]));
    for (const r of records) {
      r.deliveredAt = byId.get(r.pageId)?.delivered.find((t) => t >= r.editedAt) ?? null;
      r.delayMs = r.landedAt !== null ? r.landedAt - r.editedAt : null;
    }
    const landed = records.filter((r) => r.delayMs !== null);
    const real = (ms: number) => (ms * speed) / 1000;
    const pct = (rs: typeof records, f: (r: (typeof records)[number]) => number | null) =>
      percentiles(rs.map(f).filter((v): v is number => v !== null));
    const burstSummary = byId.get(burstPage.id)!;
    const groupOf = (id: string): EditRecord["group"] =>
      id === burstPage.id ? "burst" : distinct.find((p) => p.id === id)!.child ? "child" : "row";
    const all = [...distinct, burstPage];
    return {
      ...base,
      ok: failure === null,
      failure,
      wallMs,
      edits: records.length,
      pagesEdited: ids.length,
      delayMs: pct(landed, (r) => r.delayMs),
      delayRealS: pct(landed, (r) => real(r.delayMs!)),
      afterDeliveryRealS: pct(landed, (r) => (r.deliveredAt !== null ? real(r.landedAt! - r.deliveredAt) : null)),
      notion: { total: stats.total, byRoute: stats.byRoute, byStatus: stats.byStatus },
      notionVersion: versionOf(stats.versions),
      requestsPerPage: stats.total / ids.length,
      qstashMessages: q.messages,
      retimedMessages: retimed - retimedBefore,
      targetedRuns: dirtyRuns.length,
      webhookPosts: hooks.filter((h) => h.path === "/api/notion/webhook").length,
      webhookAnswerMsMax: summary.answerMsMax,
      burst: {
        edits: BURST_EDITS,
        events: burstSummary.events,
        deliveries: burstSummary.deliveries,
        duplicates: burstSummary.duplicates,
        fetches: burstSummary.retrieves,
        requests: burstSummary.total,
        delayRealS: pct(
          landed.filter((r) => r.group === "burst"),
          (r) => real(r.delayMs!),
        ),
      },
      kv: { roundTrips: bridgeStats.roundTrips, commands: bridgeStats.commands },
      perEdit: records.map(({ text: _t, order: _o, ...r }) => r),
      perPage: summary.pages.map((p) => {
        const c = all.find((x) => x.id === p.id)!;
        return {
          id: p.id,
          section: c.section,
          group: groupOf(p.id),
          containers: c.containers,
          events: p.events,
          deliveries: p.deliveries,
          duplicates: p.duplicates,
          retrieves: p.retrieves,
          lists: p.lists,
          total: p.total,
        };
      }),
    };
  } catch (err) {
    return {
      ...base,
      ok: false,
      failure: err instanceof Error ? err.message : String(err),
      wallMs: 0,
      edits: 0,
      pagesEdited: 0,
      delayMs: null,
      delayRealS: null,
      afterDeliveryRealS: null,
      notion: { total: 0, byRoute: {}, byStatus: {} },
      requestsPerPage: 0,
      qstashMessages: 0,
      retimedMessages: 0,
      targetedRuns: 0,
      webhookPosts: 0,
      webhookAnswerMsMax: 0,
      burst: { edits: 0, events: 0, deliveries: 0, duplicates: 0, fetches: 0, requests: 0, delayRealS: null },
      kv: null,
      perEdit: [],
      perPage: [],
    };
  } finally {
    await notion.call("webhookDetach").catch(() => {});
    input.setEnv(input.env);
    await kv.close();
  }
}

// ---------------------------------------------------------------- output

const f = (n: number, d = 1) => n.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
const triple = (p: Percentiles | null, d = 0) => (p ? `${f(p.p50, d)} / ${f(p.p95, d)} / ${f(p.max, d)}` : "-");

export function renderWebhookTable(results: WebhookResult[]): string {
  const head = [
    "pages",
    "ok",
    "NOTION_VERSION",
    "edits (pages)",
    "delay wall ms p50 / p95 / max",
    "real s p50 / p95 / max",
    "after delivery real s p50 / max",
    "Notion req / edited page",
    "QStash msgs",
    "targeted runs",
    "webhook POSTs",
    "10 edits to one page: events / fetches / requests",
  ];
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  const rows = results.map((w) => [
    w.size.toLocaleString("en-US"),
    w.ok ? "yes" : "NO",
    w.notionVersion ?? "-",
    `${w.edits} (${w.pagesEdited})`,
    triple(w.delayMs),
    triple(w.delayRealS),
    w.afterDeliveryRealS ? `${f(w.afterDeliveryRealS.p50)} / ${f(w.afterDeliveryRealS.max)}` : "-",
    f(w.requestsPerPage, 2),
    String(w.qstashMessages),
    String(w.targetedRuns),
    String(w.webhookPosts),
    `${w.burst.events} / ${w.burst.fetches} / ${w.burst.requests}`,
  ]);
  return [line(head), line(head.map((_, i) => (i === 1 || i === 2 ? ":---" : "---:"))), ...rows.map(line)].join("\n");
}

export function webhookTargets(results: WebhookResult[]): { name: string; met: boolean | null; detail: string }[] {
  const name = (size: number) =>
    `${size.toLocaleString("en-US")} pages: edit → KV within 2 minutes at Notion's pace (webhooks, aggregation included)`;
  return results.map((w) =>
    !w.ok || !w.delayRealS
      ? { name: name(w.size), met: false, detail: `the webhook run failed: ${w.failure}` }
      : {
          name: name(w.size),
          met: w.delayRealS.max <= TARGET_S,
          detail: `max ${f(w.delayRealS.max, 0)} s (p50 ${f(w.delayRealS.p50, 0)}, p95 ${f(w.delayRealS.p95, 0)}) over ${w.edits} edits to ${w.pagesEdited} pages at --speed ${w.speed}: Notion's aggregation ${w.settings.aggregateS} s + debounce ${w.settings.debounceRealS} s + the run; after delivery ≤ ${f(w.afterDeliveryRealS?.max ?? 0, 0)} s; ${f(w.requestsPerPage, 2)} Notion requests per edited page; 10 edits to one page: ${w.burst.events} event(s), ${w.burst.fetches} fetch(es)`,
        },
  );
}
