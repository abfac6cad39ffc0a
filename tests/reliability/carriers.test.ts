/**
 * Nothing carries a run, and nobody notices (issue 22, items 7 and 9), over
 * real `next start` processes, the Notion emulator, a redis-server and, for
 * the QStash carrier, the QStash emulator:
 *
 * 1. a cron that meets a targeted run holding its section's lease is queued
 *    (202), and the run starts once the targeted run releases the lease,
 *    through each carrier: a QStash message, a self-chain link, or the
 *    targeted run's own invocation when neither exists (SYNC_CHAIN=off);
 * 2. a self-chain link answered 202 that then died leaves the run "lost" in
 *    the status, until a call of another section, or a webhook delivery,
 *    relaunches it (once) and the run finishes;
 * 3. a stalled run (Notion failing) is retried by its own chain after its
 *    backoff (SYNC_STALL_BACKOFF_S=1 here), one invocation a retry, and
 *    finishes once Notion is back, with no call from outside;
 * 4. in process: a call queued behind a holder that died is honoured by the
 *    next invocation of another section.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { signWebhookPayload } from "@notionhq/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHAIN_TOKEN_HEADER } from "../../lib/auth/chain-token";
import type { Section } from "../../lib/core/sections";
import { createKeys, type KeyBuilder } from "../../lib/kv/keys";
import { createRedisStore } from "../../lib/kv/redis";
import type { KvStore } from "../../lib/kv/store";
import type { SectionStatus } from "../../lib/operator/status";
import { type Cursor, parseCursor } from "../../lib/sync/cursor";
import { addDirtyOps } from "../../lib/webhooks/dirty";
import { webhookKeys } from "../../lib/webhooks/keys";
import { generateWorkspace } from "../../scripts/emulator/notion/generate";
import { type NotionEmulator, startNotionEmulator } from "../../scripts/emulator/notion/server";
import type { Workspace } from "../../scripts/emulator/notion/workspace";
import { type QStashEmulator, startQStashEmulator } from "../../scripts/emulator/qstash/server";
import { type NextApp, buildIfNeeded, freePort, startNextApp } from "../../scripts/lib/next-app";
import { type Stack, invoke, startStack, syncUntilDone } from "../support/harness";
import { startRedisServer } from "../support/redis-server";

const SECRET = "carriers-secret-abcdefghijkl";
const WEBHOOK_SECRET = "secret_carriers_webhook_0123456789";

async function waitFor<T>(
  what: string,
  probe: () => Promise<T | null | undefined | false>,
  timeoutMs: number,
  intervalMs = 100,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

interface Deployment {
  app: NextApp;
  keys: KeyBuilder;
  call(path: string): Promise<{ status: number; body: Record<string, any> }>;
  cursor(section: Section): Promise<Cursor | null>;
  status(section: Section): Promise<SectionStatus>;
  /** Structured log lines of one event. */
  events(event: string): Array<Record<string, any>>;
}

/** A proxy in front of the app that can swallow self-chain links: answered 202, never forwarded (a link that died). */
async function startLinkEater(
  target: () => string,
): Promise<{ url: string; eat(times: number): void; eaten(): number; close(): Promise<void> }> {
  let toEat = 0;
  let eaten = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      void (async () => {
        if (toEat > 0 && req.headers[CHAIN_TOKEN_HEADER] !== undefined) {
          toEat--;
          eaten++;
          res.writeHead(202, { "content-type": "application/json" });
          res.end(JSON.stringify({ ok: true, accepted: true }));
          return;
        }
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(req.headers))
          if (typeof v === "string" && !["host", "connection", "content-length"].includes(k)) headers[k] = v;
        try {
          const answer = await fetch(`${target()}${req.url}`, {
            method: req.method,
            headers,
            body: req.method === "GET" ? undefined : Buffer.concat(chunks),
          });
          const text = await answer.text();
          res.writeHead(answer.status, { "content-type": answer.headers.get("content-type") ?? "application/json" });
          res.end(text);
        } catch {
          res.writeHead(502);
          res.end();
        }
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    eat: (times) => void (toEat = times),
    eaten: () => eaten,
    close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

describe("carriers over next start", () => {
  let notion: NotionEmulator;
  let workspace: Workspace;
  let redis: { url: string; stop(): Promise<void> };
  let kv: KvStore;
  let qstash: QStashEmulator;
  const apps: NextApp[] = [];
  let prefixes = 0;

  const deploy = async (extra: Record<string, string>, port?: number): Promise<Deployment> => {
    const prefix = `car${prefixes++}`;
    const keys = createKeys(prefix);
    const app = await startNextApp(
      {
        CRON_SECRET: SECRET,
        NOTION_API_KEY: notion.token,
        NOTION_PAGES_DB: workspace.pagesDatabaseId,
        NOTION_POSTS_DB: workspace.postsDatabaseId,
        NOTION_BASE_URL: notion.url,
        NOTION_RATE_PER_MIN: "60000",
        REDIS_URL: redis.url,
        KV_PREFIX: prefix,
        SYNC_BUDGET_MS: "2000",
        SYNC_MIN_FORCE_INTERVAL_S: "0",
        ...extra,
      },
      { port },
    );
    apps.push(app);
    return {
      app,
      keys,
      async call(path) {
        const res = await fetch(`${app.url}${path}`, { headers: { authorization: `Bearer ${SECRET}` } });
        return { status: res.status, body: (await res.json()) as Record<string, any> };
      },
      async cursor(section) {
        const loaded = parseCursor(await kv.get(keys.cursor(section)));
        return loaded.kind === "ok" ? loaded.cursor : null;
      },
      async status(section) {
        const res = await fetch(`${app.url}/api/sync/status?section=${section}`, {
          headers: { authorization: `Bearer ${SECRET}` },
        });
        return ((await res.json()) as { sections: SectionStatus[] }).sections[0];
      },
      events: (event) =>
        app
          .output()
          .split("\n")
          .filter((l) => l.startsWith("{"))
          .map((l) => JSON.parse(l) as Record<string, any>)
          .filter((l) => l.event === event),
    };
  };

  /** The section's run carried to done (calling again whenever nothing carries it: SYNC_CHAIN=off). */
  const syncToDone = async (d: Deployment, section: Section) => {
    const first = await d.call(`/api/sync/${section}`);
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    return waitFor(
      `${section} to be done`,
      async () => {
        const c = await d.cursor(section);
        if (c && c.runId === first.body.runId && c.status === "done") return c;
        if (c && !c.chain?.published && (await kv.get(d.keys.lease(section))) === null)
          await d.call(`/api/sync/${section}`);
        return null;
      },
      60_000,
      200,
    );
  };

  beforeAll(async () => {
    buildIfNeeded();
    workspace = generateWorkspace({ pages: 6, posts: 3, hugePages: 0 });
    // A page's content takes a while: a targeted run holds the pages lease long enough for a cron to meet it.
    notion = await startNotionEmulator({
      workspace,
      ratePerSecond: Infinity,
      latencyMs: { "blocks.children.list": 250 },
    });
    redis = await startRedisServer();
    kv = createRedisStore({ url: redis.url });
    qstash = await startQStashEmulator({ delayScale: 0.02, retryBackoffMs: (n) => 100 * 2 ** n });
  }, 240_000);
  afterAll(async () => {
    await Promise.all(apps.map((a) => a.stop()));
    await kv?.close();
    await qstash?.close();
    await notion?.close();
    await redis?.stop();
  });

  /** A targeted run of one edited pages row (its pages lease held while its content loads) and a cron meeting it. */
  const cronMeetsTargetedRun = async (d: Deployment) => {
    const done = await syncToDone(d, "pages");
    workspace.advanceClock(5 * 60_000);
    const row = workspace.visibleRows(workspace.pagesDatabaseId)[0];
    workspace.editPageTitle(row.id, `${row.id} edited`);
    await kv.atomic(
      addDirtyOps(webhookKeys(d.keys).dirtyBase(), [
        { pageId: row.id, timestamp: new Date(Date.now() + 60_000).toISOString() },
      ]),
    );
    const targeted = d.call("/api/sync/dirty");
    await waitFor(
      "the targeted run to hold the pages lease",
      async () => (await kv.get(d.keys.lease("pages"))) !== null,
      10_000,
      10,
    );
    const cron = await d.call("/api/sync/pages");
    const dirty = await targeted;
    expect(dirty.status, JSON.stringify(dirty.body)).toBe(200);
    expect(cron.status, `${JSON.stringify(cron.body)} / ${JSON.stringify(dirty.body)}`).not.toBe(200);
    expect(dirty.body.fetched, "the targeted run wrote the page").toBe(1);
    // Not lost: queued, and a new pages run starts once the targeted run has released the lease.
    expect(cron.status, JSON.stringify(cron.body)).toBe(202);
    expect(cron.body).toMatchObject({ ok: true, section: "pages", queued: true });
    const started = await waitFor(
      "a new pages run",
      async () => {
        const c = await d.cursor("pages");
        return c && c.runId !== done.runId && c.seq >= 1 ? c : null;
      },
      20_000,
      100,
    );
    expect(Date.parse(started.startedAt)).toBeGreaterThanOrEqual(Date.parse(cron.body.queuedAt) - 1000);
    // Honoured once: the request is gone.
    await waitFor(
      "the request to be dropped",
      async () => (await kv.get(`${d.keys.prefix}:startreq:pages`)) === null,
      20_000,
      200,
    );
    return started;
  };

  it("a cron meeting a targeted run is queued and its run starts through QStash", { timeout: 120_000 }, async () => {
    const port = await freePort();
    const d = await deploy(
      {
        QSTASH_URL: qstash.url,
        QSTASH_TOKEN: qstash.token,
        QSTASH_CURRENT_SIGNING_KEY: qstash.currentSigningKey,
        QSTASH_NEXT_SIGNING_KEY: qstash.nextSigningKey,
        SYNC_BASE_URL: `http://127.0.0.1:${port}`,
      },
      port,
    );
    const started = await cronMeetsTargetedRun(d);
    expect(
      d
        .events("sync.queued_call_started")
        .some((e) => e.section === "pages" && e.via === "qstash" && e.runId === started.runId),
    ).toBe(true);
    await d.app.stop();
  });

  it(
    "a cron meeting a targeted run is queued and its run starts in the targeted run's invocation when nothing chains (SYNC_CHAIN=off)",
    { timeout: 120_000 },
    async () => {
      const d = await deploy({ SYNC_CHAIN: "off", SYNC_BUDGET_MS: "6000" });
      const started = await cronMeetsTargetedRun(d);
      expect(d.events("sync.queued_call_ran").some((e) => e.section === "pages" && e.runId === started.runId)).toBe(
        true,
      );
      await d.app.stop();
    },
  );

  describe("self-chain", () => {
    let d: Deployment;
    let eater: Awaited<ReturnType<typeof startLinkEater>>;
    beforeAll(async () => {
      let target = "";
      eater = await startLinkEater(() => target);
      d = await deploy({
        SYNC_CHAIN: "self",
        SYNC_BASE_URL: eater.url,
        SYNC_STALL_AFTER: "1",
        SYNC_STALL_BACKOFF_S: "1",
        NOTION_WEBHOOK_SECRET: WEBHOOK_SECRET,
      });
      target = d.app.url;
    }, 120_000);
    afterAll(async () => {
      await eater?.close();
    });

    it(
      "a cron meeting a targeted run is queued and its run starts through a self-chain link",
      { timeout: 120_000 },
      async () => {
        const started = await cronMeetsTargetedRun(d);
        expect(
          d
            .events("sync.queued_call_started")
            .some((e) => e.section === "pages" && e.via === "self" && e.runId === started.runId),
        ).toBe(true);
        await waitFor(
          "that run to finish",
          async () => ((await d.cursor("pages"))?.status === "done" ? true : null),
          60_000,
          200,
        );
      },
    );

    it(
      "a link that answered 202 and died shows as lost until a call of another section relaunches it; the run then finishes",
      { timeout: 120_000 },
      async () => {
        workspace.advanceClock(5 * 60_000);
        eater.eat(1);
        const first = await d.call("/api/sync/pages?force=1");
        expect(first.status).toBe(200);
        expect(first.body.next).toMatchObject({ via: "self", accepted: true, link: 1 });
        const runId = first.body.runId as string;
        expect(eater.eaten()).toBe(1);
        // Nothing runs: the status says so once the link has had its time to start.
        const lost = await waitFor(
          "the status to report the chain lost",
          async () => {
            const s = await d.status("pages");
            return s.run?.chain.lost ? s : null;
          },
          20_000,
          300,
        );
        expect(lost.run).toMatchObject({
          runId,
          status: "running",
          invocations: 1,
          chain: { lost: true, published: true, via: "self", relaunchedAt: null },
        });
        expect((await d.cursor("pages"))!.seq).toBe(1);
        expect(d.events("sync.relaunched")).toEqual([]);
        // Any other section's call carries it on.
        const posts = await d.call("/api/sync/posts");
        expect(posts.status).toBe(200);
        const relaunched = await waitFor(
          "the pages run to go on",
          async () => {
            const c = await d.cursor("pages");
            return c?.runId === runId && c.seq >= 2 ? c : null;
          },
          15_000,
          100,
        );
        expect(relaunched.chain?.relaunchedSeq).toBe(1);
        expect(d.events("sync.relaunched").filter((e) => e.section === "pages" && e.runId === runId)).toHaveLength(1);
        const finished = await waitFor(
          "the pages run to finish",
          async () => {
            const c = await d.cursor("pages");
            return c?.runId === runId && c.status === "done" ? c : null;
          },
          60_000,
          200,
        );
        expect(finished.chain?.relaunchedAt).toBeTruthy();
        const after = await d.status("pages");
        expect(after.run!.chain).toMatchObject({ lost: false, relaunchedAt: finished.chain!.relaunchedAt });
        await waitFor(
          "posts to finish",
          async () => ((await d.cursor("posts"))?.status === "done" ? true : null),
          60_000,
          200,
        );
      },
    );

    it("a lost link is relaunched by a webhook delivery too", { timeout: 120_000 }, async () => {
      workspace.advanceClock(5 * 60_000);
      eater.eat(1);
      const eaten = eater.eaten();
      const first = await d.call("/api/sync/pages?force=1");
      expect(first.body.next).toMatchObject({ via: "self", accepted: true, link: 1 });
      expect(eater.eaten()).toBe(eaten + 1);
      const runId = first.body.runId as string;
      await waitFor(
        "the status to report the chain lost",
        async () => ((await d.status("pages")).run?.chain.lost ? true : null),
        20_000,
        300,
      );
      // A verified delivery (here one the route ignores: not an event) is an invocation of the webhook route.
      const body = JSON.stringify({ type: "not-an-event" });
      const res = await fetch(`${d.app.url}/api/notion/webhook`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-notion-signature": await signWebhookPayload({ body, verificationToken: WEBHOOK_SECRET }),
        },
        body,
      });
      expect(res.status).toBe(200);
      const done = await waitFor(
        "the pages run to finish",
        async () => {
          const c = await d.cursor("pages");
          return c?.runId === runId && c.status === "done" ? c : null;
        },
        60_000,
        200,
      );
      expect(done.chain?.relaunchedAt).toBeTruthy();
      expect(d.events("sync.relaunched").filter((e) => e.section === "pages" && e.runId === runId)).toHaveLength(1);
    });

    it(
      "a stalled run is retried by its own chain after its backoff, one invocation a retry, and finishes with no call from outside",
      { timeout: 120_000 },
      async () => {
        workspace.advanceClock(5 * 60_000);
        notion.injectFault({ route: "*", status: 503, probability: 1 });
        let runId = "";
        try {
          const first = await d.call("/api/sync/pages?force=1");
          expect(first.status).toBe(200);
          runId = first.body.runId as string;
          expect(first.body.status).toBe("stalled");
          expect(first.body.next).toMatchObject({ via: "self", accepted: true });
          // Retried by its chain while Notion fails: each retry one invocation, a backoff (1 s) apart.
          await waitFor("two retries", async () => ((await d.cursor("pages"))!.seq >= 3 ? true : null), 15_000, 100);
        } finally {
          notion.clearFaults();
        }
        const done = await waitFor(
          "the stalled run to finish",
          async () => {
            const c = await d.cursor("pages");
            return c?.runId === runId && c.status === "done" ? c : null;
          },
          60_000,
          200,
        );
        expect(done.counts.errors).toBeGreaterThanOrEqual(2);
        const steps = d
          .events("sync.invocation")
          .filter((l) => l.section === "pages" && l.runId === runId)
          .sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
        expect(steps.filter((l) => l.caller === "cron")).toHaveLength(1);
        const stalled = steps.filter((l) => l.outcome === "stalled");
        expect(stalled.length).toBeGreaterThanOrEqual(2);
        // The retry after a stalled step ended no sooner than the backoff after it.
        for (let i = 1; i < steps.length; i++) {
          if (steps[i - 1].outcome !== "stalled") continue;
          expect(
            Date.parse(steps[i].at) - Date.parse(steps[i - 1].at),
            `retry ${i} after a stalled step`,
          ).toBeGreaterThanOrEqual(900);
        }
      },
    );
  });
});

describe("in process: a call queued behind a holder that died", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ workspace: { pages: 6, posts: 3, hugePages: 0 }, env: { SYNC_BUDGET_MS: "5000" } });
    await syncUntilDone(stack, "pages");
  });
  afterAll(async () => stack?.close());

  it("is honoured by the next invocation of another section once the holder's recorded end has passed", async () => {
    const done = (await stack.kv.get<Cursor>(stack.keys.cursor("pages")))!;
    // A holder that will never release: its token says it has ended by then.
    await stack.kv.set(stack.keys.lease("pages"), `dead-holder~${Date.now() + 1500}`, { pxMs: 60_000 });
    const queued = await invoke(stack, "pages");
    expect(queued.status).toBe(202);
    expect(queued.body).toMatchObject({ queued: true });
    await new Promise((r) => setTimeout(r, 1600));
    expect((await invoke(stack, "posts")).status).toBe(200);
    const started = await waitFor(
      "the queued pages run",
      async () => {
        const c = await stack.kv.get<Cursor>(stack.keys.cursor("pages"));
        return c && c.runId !== done.runId ? c : null;
      },
      15_000,
      100,
    );
    expect(started.seq).toBeGreaterThanOrEqual(1);
    await waitFor(
      "the request to be dropped",
      async () => (await stack.kv.get(`${stack.keys.prefix}:startreq:pages`)) === null,
      10_000,
      100,
    );
  });
});
