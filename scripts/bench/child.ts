/**
 * The servers `npm run bench` keeps out of its own process (so their work and
 * allocations stay out of what it measures), forked with an IPC channel
 * (scripts/bench/children.ts):
 *
 *   child.ts notion '{"pages":60,"posts":40,"seed":1,"speed":10,...}'
 *     the Notion emulator with a generated workspace (rich content, child
 *     pages), its rate limit (3 × speed requests/s, 429 + Retry-After), and in
 *     front of it a proxy that adds Notion's latency: 150–400 ms a request,
 *     drawn from a seeded PRNG, divided by `speed`, divides Retry-After by
 *     `speed` (fractional seconds) so a 429 costs what it costs at Notion, and
 *     counts the Notion-Version each request carries.
 *     ops: stats {windowMs, invocations?} (requests since the last reset: per
 *     route, per status, per Notion-Version, in the first window, and where slots were lost:
 *     scripts/bench/diagnostics.ts), reset, edit {share, seed}, and the
 *     webhook delivery (scripts/emulator/notion/webhooks.ts) for
 *     scripts/bench/webhook.ts: webhookAttach, webhookCandidates,
 *     webhookEdit, webhookSummary, webhookIdle, webhookDetach
 *   child.ts bridge '{"redisUrl":…,"token":…}'
 *     the Upstash REST bridge of tests/support, behind a counter of HTTP round
 *     trips (and of those that carry an EVAL: a fenced batch).
 *     ops: stats, reset
 *   child.ts qstash '{"speed":10,"debounceMs":3000}'
 *     the QStash test server, its waits divided by `speed`; `webhookUrl` is
 *     the same behind a proxy that gives a targeted-run message the delay the
 *     product asks for at Notion's pace (notionPaceDirtyDelayS).
 *     ops: count {since}, idle, retimed
 *   child.ts s3 '{}'
 *     the S3-compatible test server of tests/support (FILES_MIRROR=s3 for the
 *     qstash-files contender): the bucket the sync copies files to.
 *     ops: stats (PUTs since the last reset, objects new since then and their bytes, objects held), reset
 *   all: cpu
 */
import { exitChild, onChildExit, sendToParent, serveParent } from "../lib/forked-child-server";
import { countVersion, startProxy } from "../lib/http-proxy";
import { generateWorkspace } from "../emulator/notion/generate";
import { Prng } from "../emulator/notion/prng";
import { startNotionEmulator } from "../emulator/notion/server";
import { type WebhookDelivery, attachWebhooks } from "../emulator/notion/webhooks";
import { parseDurationMs } from "../emulator/qstash/durations";
import { normalizeId } from "../../lib/notion/types";
import { type Interval, rateDiagnostics } from "./diagnostics";
import { requestFigures } from "./request-figures";
import type { BlockTree } from "../emulator/notion/workspace";
import { startQStashEmulator } from "../emulator/qstash/server";
import { startS3Server } from "../../tests/support/s3-server";
import { startUpstashBridge } from "../../tests/support/upstash-bridge";

export interface NotionChildOptions {
  pages: number;
  posts: number;
  hugePages: number;
  seed: number;
  speed: number;
  /** Notion's rate (requests/s at speed 1) and burst. */
  rate: number;
  burst: number;
  latencyMs: [number, number];
  /** Retry-After of a 429 at speed 1, seconds. */
  retryAfterS: number;
  /** "self": the emulator serves hosted files' bytes itself (qstash-files: FILES_MIRROR copies them). */
  hostedFiles?: "self";
}

/** Downloads of hosted files (the emulator's `/s3/…` paths when it serves them), not Notion API requests. */
const isFileRequest = (path: string) => path.startsWith("/s3/");

/** Distinct hosted files (by bucket path) of every page a sync reads: rows of both databases and their child pages. */
function hostedFileCount(workspace: ReturnType<typeof generateWorkspace>): number {
  const paths = new Set<string>();
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) return value.forEach(visit);
    if (typeof value !== "object" || value === null) return;
    const v = value as { type?: unknown; file?: { url?: unknown } };
    if (v.type === "file" && typeof v.file?.url === "string") paths.add(v.file.url.split("?")[0]);
    for (const child of Object.values(value)) visit(child);
  };
  const ids = [
    ...workspace.visibleRows(workspace.pagesDatabaseId).map((p) => p.id),
    ...workspace.visibleRows(workspace.postsDatabaseId).map((p) => p.id),
    ...new Set(workspace.reachableChildPages().map((c) => c.id)),
  ];
  for (const id of ids) {
    const page = workspace.page(id);
    visit([page?.cover, page?.icon, page?.properties]);
    visit(workspace.contentTree(id));
  }
  return paths.size;
}

async function notionMain(o: NotionChildOptions): Promise<void> {
  // Generated a day ago; the clock then runs with wall time, like Notion's (the engine's watermarks are on the same clock).
  const workspace = generateWorkspace({
    seed: o.seed,
    pages: o.pages,
    posts: o.posts,
    hugePages: o.hugePages,
    trashedRows: 0,
    unsharedChildPages: 0,
    now: new Date(Date.now() - 86_400_000),
  });
  workspace.setNow(new Date());
  workspace.setClockRunning(true);
  const emulator = await startNotionEmulator({
    workspace,
    ratePerSecond: o.rate * o.speed,
    burst: o.burst,
    retryAfterSeconds: o.retryAfterS,
    ...(o.hostedFiles ? { hostedFiles: o.hostedFiles } : {}),
  });
  onChildExit(() => emulator.close());
  const latency = new Prng(`${o.seed}:latency`);
  const [lo, hi] = o.latencyMs;
  let flights: Interval[] = [];
  let versions: Record<string, number> = {};
  const proxy = await startProxy(emulator.url, {
    onDone: (startedAt, endedAt) => void flights.push([startedAt, endedAt]),
    rewriteRequest: (_path, headers) => countVersion(versions, headers),
    delayMs: () => (lo + latency.next() * (hi - lo)) / o.speed,
    rewrite: (h) => {
      const key = Object.keys(h).find((k) => k.toLowerCase() === "retry-after");
      if (key && Number.isFinite(Number(h[key]))) h[key] = String(Number(h[key]) / o.speed);
    },
  });
  onChildExit(() => proxy.close());
  const edits = new Prng(`${o.seed}:edits`);
  let hooks: WebhookDelivery | null = null;
  /** The page and every block whose children a read of its content lists. */
  const containers = (pageId: string): string[] => {
    const ids = [pageId];
    const walk = (nodes: BlockTree[]) => {
      for (const b of nodes) {
        if (b.has_children && b.type !== "child_page" && b.type !== "child_database") {
          ids.push(b.id);
          walk(b.children ?? []);
        }
      }
    };
    walk(workspace.contentTree(pageId));
    return ids;
  };
  serveParent({
    async stats(args) {
      const windowMs = Number(args.windowMs ?? 60_000);
      const all = emulator.requests();
      const log = all.filter((r) => !isFileRequest(r.path));
      const diagnostics = rateDiagnostics({
        arrivals: log.map((r) => r.at),
        flights,
        slotMs: 1000 / (o.rate * o.speed),
        windowMs,
        invocations: Array.isArray(args.invocations) ? (args.invocations as Interval[]) : null,
      });
      return { ...requestFigures(log, windowMs, versions), fileRequests: all.length - log.length, diagnostics };
    },
    async reset() {
      emulator.resetRequestLog();
      flights = [];
      versions = {};
      return null;
    },
    // ---- webhooks (scripts/bench/webhook.ts): Notion's delivery, aggregated per page, to the app's route
    async webhookAttach(args) {
      hooks?.detach();
      hooks = attachWebhooks(workspace, {
        url: String(args.url),
        verificationToken: String(args.verificationToken),
        aggregateMs: Number(args.aggregateMs),
        duplicateRate: Number(args.duplicateRate ?? 0),
        reorderMs: Number(args.reorderMs ?? 0),
        seed: String(args.seed ?? o.seed),
      });
      return { token: hooks.token };
    },
    /** Pages an edit can be made to (a text block to change), with their section and the containers their content reads list. */
    async webhookCandidates() {
      const rows = (["pages", "posts"] as const).flatMap((section) =>
        workspace
          .visibleRows(section === "pages" ? workspace.pagesDatabaseId : workspace.postsDatabaseId)
          .map((p) => ({ id: p.id, section, child: false })),
      );
      const children = [
        ...new Map(
          workspace
            .reachableChildPages()
            .map((c) => [c.id, { id: c.id, section: "children" as const, child: true, depth: c.depth }]),
        ).values(),
      ];
      return [...rows, ...children]
        .filter((p) => firstText(workspace.contentTree(p.id)) !== undefined)
        .map((p) => ({ ...p, containers: containers(p.id).length }));
    },
    /** Sets the text of the page's first text block (a content edit: Notion sends page.content_updated). */
    async webhookEdit(args) {
      const block = firstText(workspace.contentTree(String(args.pageId)));
      if (!block) throw new Error(`page ${String(args.pageId)} has no text block`);
      workspace.editBlockText(block.id, String(args.text));
      return { at: Date.now() };
    },
    /** Events and deliveries about `ids` since `since`, and the Notion requests naming each page or its containers since the last reset. */
    async webhookSummary(args) {
      const since = Number(args.since ?? 0);
      const ids = (args.ids as string[]).map(String);
      const events = hooks?.events() ?? [];
      const deliveries = hooks?.deliveries() ?? [];
      const owner = new Map<string, string>();
      for (const id of ids) for (const c of containers(id)) owner.set(normalizeId(c), id);
      const requests = new Map(ids.map((id) => [id, { retrieves: 0, lists: 0, total: 0 }]));
      for (const r of emulator.requests()) {
        const match = /\/v1\/(pages|blocks)\/([^/?]+)/.exec(r.path);
        const id = match ? owner.get(normalizeId(decodeURIComponent(match[2]))) : undefined;
        if (!id) continue;
        const c = requests.get(id)!;
        c.total++;
        if (r.route === "pages.retrieve") c.retrieves++;
        else if (r.route === "blocks.children.list") c.lists++;
      }
      return {
        pages: ids.map((id) => {
          const ev = events.filter((e) => e.entityId === id && Date.parse(e.timestamp) >= since - 1000);
          const dl = deliveries.filter((d) => d.entityId === id && d.startedAt >= since);
          const ok = dl.filter(
            (d) => d.type === "page.content_updated" && d.status !== null && d.status >= 200 && d.status < 300,
          );
          return {
            id,
            events: ev.length,
            deliveries: dl.length,
            duplicates: dl.filter((d) => d.duplicate).length,
            delivered: ok.map((d) => d.endedAt).sort((a, b) => a - b),
            ...requests.get(id)!,
          };
        }),
        deliveries: deliveries.filter((d) => d.startedAt >= since).length,
        failedDeliveries: deliveries.filter(
          (d) => d.startedAt >= since && !(d.status !== null && d.status >= 200 && d.status < 300),
        ).length,
        answerMsMax: Math.max(0, ...deliveries.filter((d) => d.startedAt >= since).map((d) => d.endedAt - d.startedAt)),
      };
    },
    async webhookIdle(args) {
      await hooks?.idle(Number(args.timeoutMs ?? 60_000));
      return null;
    },
    async webhookDetach() {
      hooks?.detach();
      hooks = null;
      return null;
    },
    /** Edits the first text block of `share` of all pages (rows and child pages), seeded: a content edit bumps last_edited_time. */
    async edit(args) {
      const share = Number(args.share);
      const ids = [
        ...workspace.visibleRows(workspace.pagesDatabaseId).map((p) => p.id),
        ...workspace.visibleRows(workspace.postsDatabaseId).map((p) => p.id),
        ...[...new Set(workspace.reachableChildPages().map((c) => c.id))],
      ];
      const picked = edits.shuffle(ids).slice(0, Math.max(1, Math.ceil(ids.length * share)));
      let children = 0;
      const childIds = new Set(workspace.reachableChildPages().map((c) => c.id));
      for (const id of picked) {
        const block = firstText(workspace.contentTree(id));
        if (block) workspace.editBlockText(block.id, `Edited by the bench ${new Date().toISOString()}`);
        else workspace.appendBlocks(id, 1);
        if (childIds.has(id)) children++;
      }
      return { edited: picked.length, children };
    },
  });
  sendToParent({
    type: "ready",
    url: proxy.url,
    directUrl: emulator.url,
    token: emulator.token,
    pagesDatabaseId: workspace.pagesDatabaseId,
    postsDatabaseId: workspace.postsDatabaseId,
    stats: workspace.stats(),
    hostedFiles: o.hostedFiles ? hostedFileCount(workspace) : null,
  });
}

function firstText(nodes: BlockTree[]): BlockTree | undefined {
  for (const n of nodes) {
    if (n.type !== "child_page" && Array.isArray((n[n.type] as { rich_text?: unknown } | undefined)?.rich_text))
      return n;
    const inner = firstText(n.children ?? []);
    if (inner) return inner;
  }
  return undefined;
}

async function bridgeMain(o: { redisUrl: string; token: string }): Promise<void> {
  const bridge = await startUpstashBridge({ redisUrl: o.redisUrl, token: o.token });
  onChildExit(() => bridge.close());
  let roundTrips = 0;
  let evalRoundTrips = 0;
  const proxy = await startProxy(bridge.url, {
    onRequest: (_path, body) => {
      roundTrips++;
      if (/"eval(sha)?"/i.test(body.toString("utf8"))) evalRoundTrips++;
    },
  });
  onChildExit(() => proxy.close());
  serveParent({
    async stats() {
      return { ...bridge.stats(), roundTrips, evalRoundTrips };
    },
    async reset() {
      bridge.resetStats();
      roundTrips = 0;
      evalRoundTrips = 0;
      return null;
    },
  });
  sendToParent({ type: "ready", url: proxy.url, token: bridge.token });
}

async function s3Main(): Promise<void> {
  const s3 = await startS3Server();
  onChildExit(() => s3.close());
  let before = new Set<string>();
  serveParent({
    /** PUT requests since the last reset, the objects (and their bytes) that appeared since, what the bucket holds. */
    async stats() {
      let newObjects = 0;
      let newBytes = 0;
      let bytes = 0;
      for (const [key, object] of s3.objects) {
        bytes += object.bytes.length;
        if (before.has(key)) continue;
        newObjects++;
        newBytes += object.bytes.length;
      }
      return { puts: s3.counts.put, gets: s3.counts.get, newObjects, newBytes, objects: s3.objects.size, bytes };
    },
    async reset() {
      s3.reset();
      before = new Set(s3.objects.keys());
      return null;
    },
  });
  sendToParent({
    type: "ready",
    endpoint: s3.endpoint,
    bucket: s3.bucket,
    region: s3.region,
    accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey,
    publicBaseUrl: s3.publicBaseUrl,
  });
}

/**
 * The delay of a targeted-run message as the product asks for it at Notion's pace:
 * lib/webhooks/schedule.ts delivers window W's run at (W + 1) × window + 1 s,
 * in whole seconds, from a window that is already compressed (WEBHOOK_DEBOUNCE_S
 * = 30 / speed). Its "+ 1 s" and the rounding up are real-time constants: sent
 * as is and then divided by `speed`, the run would come before the window ends;
 * multiplied out, they would weigh × speed. So the delay is what the same
 * formula gives with the window and the remaining time at Notion's pace, and
 * the emulator then divides it by `speed` like every other wait.
 */
function notionPaceDirtyDelayS(input: {
  window: number;
  windowMs: number;
  speed: number;
  now: number;
  requestedS: number;
}): number {
  const remainingRealMs = input.speed * ((input.window + 1) * input.windowMs - input.now);
  return Math.max(1, Math.ceil((remainingRealMs + 1000) / 1000), input.requestedS);
}

async function qstashMain(o: { speed: number; debounceMs?: number }): Promise<void> {
  const qstash = await startQStashEmulator({
    delayScale: 1 / o.speed,
    retryBackoffMs: (n) => (1_000 * 2 ** n) / o.speed,
  });
  onChildExit(() => qstash.close());
  let retimed = 0;
  // Only the webhook run's QSTASH_URL goes through this proxy (scripts/bench/webhook.ts).
  const proxy = await startProxy(qstash.url, {
    rewriteRequest: (path, headers, body) => {
      if (!o.debounceMs || !path.startsWith("/v2/publish/") || !decodeURIComponent(path).includes("/api/sync/dirty"))
        return;
      let window: unknown;
      try {
        window = (JSON.parse(body.toString("utf8")) as { window?: unknown }).window;
      } catch {
        return;
      }
      if (!Number.isSafeInteger(window)) return;
      const requestedS = (parseDurationMs(headers["upstash-delay"]) ?? 0) / 1000;
      headers["upstash-delay"] =
        `${notionPaceDirtyDelayS({ window: window as number, windowMs: o.debounceMs, speed: o.speed, now: Date.now(), requestedS })}s`;
      retimed++;
    },
  });
  onChildExit(() => proxy.close());
  serveParent({
    async retimed() {
      return { retimed };
    },
    async count(args) {
      const since = Number(args.since ?? 0);
      const messages = qstash
        .messages()
        .filter((m) => m.createdAt >= since && m.kind === "message" && m.state !== "deduplicated");
      return {
        messages: messages.length,
        deliveries: messages.reduce((n, m) => n + m.deliveries.length, 0),
        pending: messages.filter((m) => m.state === "pending").length,
        dlq: qstash.dlq().length,
      };
    },
    async idle(args) {
      await qstash.idle(Number(args.timeoutMs ?? 600_000));
      return null;
    },
  });
  sendToParent({
    type: "ready",
    url: qstash.url,
    webhookUrl: proxy.url,
    token: qstash.token,
    currentSigningKey: qstash.currentSigningKey,
    nextSigningKey: qstash.nextSigningKey,
  });
}

const [kind, json] = process.argv.slice(2);
try {
  const options = JSON.parse(json ?? "{}");
  if (kind === "notion") await notionMain(options as NotionChildOptions);
  else if (kind === "bridge") await bridgeMain(options);
  else if (kind === "qstash") await qstashMain(options);
  else if (kind === "s3") await s3Main();
  else throw new Error(`unknown child kind ${String(kind)}`);
} catch (err) {
  process.stderr.write(`bench child ${String(kind)}: ${err instanceof Error ? err.stack : String(err)}\n`);
  await exitChild(1);
}
