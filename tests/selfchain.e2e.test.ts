/**
 * Crons alone finish a run (issue 14): over a real `next start` with QStash
 * unset, one cron-style call per section carries the section to the end, each
 * invocation calling its own section URL for the next batch (a signed chain
 * link answered 202, the batch run in after()). Kills, replayed and forged
 * links, SYNC_MAX_CHAIN, a Notion 401 and a long Retry-After.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHAIN_TOKEN_HEADER, signChainToken } from "../lib/auth/chain-token";
import type { Section } from "../lib/core/sections";
import { createKeys } from "../lib/kv/keys";
import { createRedisStore } from "../lib/kv/redis";
import type { KvStore } from "../lib/kv/store";
import type { SectionStatus } from "../lib/operator/status";
import type { Cursor } from "../lib/sync/cursor";
import { generateWorkspace } from "../scripts/emulator/notion/generate";
import { type NotionEmulator, startNotionEmulator } from "../scripts/emulator/notion/server";
import { compareKvWithWorkspace } from "../scripts/emulator/notion/verify";
import type { Workspace } from "../scripts/emulator/notion/workspace";
import { type NextApp, buildIfNeeded, freePort, startNextApp } from "../scripts/lib/next-app";
import { startRedisServer } from "./support/redis-server";

const SECRET = "selfchain-secret-abcdefghijkl";
const BUDGET_MS = 2000;
const keys = createKeys("sc");

interface LogLine {
  event: string;
  section?: string;
  caller?: string;
  runId?: string | null;
  seq?: number | null;
  status?: number;
  outcome?: string;
  elapsedMs?: number;
}

describe("self-chained crons over next start (QStash unset)", () => {
  let app: NextApp;
  let notion: NotionEmulator;
  let workspace: Workspace;
  let redis: { url: string; stop(): Promise<void> };
  let kv: KvStore;
  let port: number;
  const env = (): Record<string, string> => ({
    CRON_SECRET: SECRET,
    NOTION_API_KEY: notion.token,
    NOTION_PAGES_DB: workspace.pagesDatabaseId,
    NOTION_POSTS_DB: workspace.postsDatabaseId,
    NOTION_BASE_URL: notion.url,
    NOTION_RATE_PER_MIN: "6000",
    REDIS_URL: redis.url,
    KV_PREFIX: "sc",
    SYNC_BUDGET_MS: String(BUDGET_MS),
    SYNC_MIN_FORCE_INTERVAL_S: "0",
  });
  const start = async (extra: Record<string, string> = {}) => {
    app = await startNextApp({ ...env(), ...extra }, { port });
  };
  const lines = (): LogLine[] =>
    app
      .output()
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as LogLine);
  const invocations = (section: Section, runId: string) =>
    lines().filter((l) => l.event === "sync.invocation" && l.section === section && l.runId === runId);
  const cron = async (section: Section, query = "") => {
    const res = await fetch(`${app.url}/api/sync/${section}${query}`, {
      headers: { authorization: `Bearer ${SECRET}` },
    });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };
  const cursor = (section: Section) => kv.get<Cursor>(keys.cursor(section));
  const waitFor = async <T>(
    what: string,
    probe: () => Promise<T | null | undefined | false>,
    timeoutMs = 120_000,
  ): Promise<T> => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const value = await probe();
      if (value) return value;
      if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const finished = (section: Section, runId: string) =>
    waitFor(`${section} run ${runId} to finish`, async () => {
      const c = await cursor(section);
      return c?.runId === runId && c.status !== "running" ? c : null;
    });
  const snapshot = async () => {
    const all = await kv.scanKeys("sc:");
    const values = await kv.mget(all);
    return JSON.stringify(all.map((k, i) => [k, values[i]]));
  };

  beforeAll(async () => {
    buildIfNeeded();
    workspace = generateWorkspace({});
    notion = await startNotionEmulator({ workspace, ratePerSecond: Infinity });
    redis = await startRedisServer();
    kv = createRedisStore({ url: redis.url });
    port = await freePort();
    await start();
  });
  afterAll(async () => {
    await app?.stop();
    await kv?.close();
    await notion?.close();
    await redis?.stop();
  });

  it(
    "one cron call per section, and no other call, carries each section of the default workspace to done",
    { timeout: 300_000 },
    async () => {
      for (const section of ["pages", "posts", "children"] as const) {
        const first = await cron(section);
        expect(first.status).toBe(200);
        expect(first.body.next).toMatchObject({ via: "self", accepted: true, link: 1 });
        const done = await finished(section, first.body.runId);
        expect(done.status).toBe("done");
        // The invocation that finished the run logs its line after its last commit: wait for it.
        const calls = await waitFor(
          `${section}'s last invocation to log`,
          async () => {
            const logged = invocations(section, done.runId);
            return logged.some((l) => l.seq === done.seq) ? logged : null;
          },
          10_000,
        );
        const links = calls.filter((l) => l.caller === "chain");
        // Every step after the first came through a link, each once, in order (seq 2, 3, …).
        expect(calls.filter((l) => l.caller === "cron")).toHaveLength(1);
        expect(links.length).toBe(done.seq - 1);
        expect(links.map((l) => l.seq)).toEqual(Array.from({ length: links.length }, (_, i) => i + 2));
        for (const l of calls) expect(l.elapsedMs!).toBeLessThan(BUDGET_MS + 3000);
        expect(links.every((l) => l.status === 200)).toBe(true);
        expect(done.chain).toMatchObject({ via: "self" });
        console.log(`${section}: ${links.length} links`);
      }
      expect(await compareKvWithWorkspace(kv, keys, workspace)).toEqual([]);
      // The status shows how the chain carried the run.
      const status = (await (await fetch(`${app.url}/api/sync/status?secret=${SECRET}&section=pages`)).json()) as {
        sections: SectionStatus[];
      };
      expect(status.sections[0].run!.chain).toMatchObject({ via: "self" });
      expect(app.output()).not.toContain(SECRET);
    },
  );

  it("a replayed, forged or misdirected chain link gets stale or 401 and writes nothing", async () => {
    const pages = (await cursor("pages"))!;
    const link = (step: { section?: Section; seq?: number; runId?: string }, secret = SECRET) =>
      signChainToken(secret, {
        section: step.section ?? "pages",
        runId: step.runId ?? pages.runId,
        seq: step.seq ?? 2,
        link: 1,
        force: false,
      });
    const post = async (path: string, token: string, body: unknown, method = "POST") => {
      const res = await fetch(`${app.url}${path}`, {
        method,
        headers: { [CHAIN_TOKEN_HEADER]: token, "content-type": "application/json" },
        body: method === "GET" ? undefined : JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as Record<string, any> };
    };
    const before = await snapshot();
    const body = { runId: pages.runId, seq: 2, force: false };
    // Replayed: a step of the finished run.
    expect(await post("/api/sync/pages", link({}), body)).toMatchObject({ status: 200, body: { stale: true } });
    // Forged (another key), for another section, a body that is not the token's step, a GET.
    expect(await post("/api/sync/pages", link({}, "not-the-secret-0123456789"), body)).toMatchObject({
      status: 401,
      body: { error: { code: "unauthorized" } },
    });
    expect(await post("/api/sync/posts", link({}), body)).toMatchObject({ status: 401 });
    expect(await post("/api/sync/pages", link({}), { ...body, seq: 3 })).toMatchObject({ status: 401 });
    expect(await post("/api/sync/pages", link({}), undefined, "GET")).toMatchObject({ status: 401 });
    expect(await post("/api/sync/pages", "garbage", body)).toMatchObject({ status: 401 });
    await new Promise((r) => setTimeout(r, 500));
    expect(await snapshot()).toBe(before);
  });

  it(
    "a server killed mid-chain leaves the run resumable: the next call continues it, nothing lost or twice",
    { timeout: 180_000 },
    async () => {
      workspace.advanceClock(10 * 60_000);
      const first = await cron("posts", "?force=1");
      const runId = first.body.runId as string;
      await waitFor("a link or two", async () => ((await cursor("posts"))!.seq >= 3 ? true : null));
      await app.kill();
      const killedAt = (await cursor("posts"))!;
      expect(killedAt.status).toBe("running");
      await start();
      // The dead invocation's lease is taken over once its recorded end has passed (budget + 5 s).
      const resumed = await waitFor(
        "the lease of the killed invocation to be free",
        async () => {
          const answer = await cron("posts");
          return answer.status === 200 ? answer : null;
        },
        30_000,
      );
      expect(resumed.body.runId).toBe(runId);
      const done = await finished("posts", runId);
      expect(done.status).toBe("done");
      expect(await compareKvWithWorkspace(kv, keys, workspace)).toEqual([]);
    },
  );

  it(
    "SYNC_MAX_CHAIN is honoured: the chain stops, says why, and the next call resumes",
    { timeout: 120_000 },
    async () => {
      await app.stop();
      await start({ SYNC_MAX_CHAIN: "2" });
      const first = await cron("pages", "?force=1");
      const runId = first.body.runId as string;
      const stopped = await waitFor("the chain to stop", async () => {
        const c = await cursor("pages");
        return c?.runId === runId && c.chain?.stopped ? c : null;
      });
      expect(stopped.status).toBe("running");
      expect(stopped.chain!.stopped).toMatch(/SYNC_MAX_CHAIN \(2\)/);
      await new Promise((r) => setTimeout(r, 1000));
      expect(invocations("pages", runId).filter((l) => l.caller === "chain")).toHaveLength(2);
      const again = await waitFor(
        "the lease",
        async () => {
          const answer = await cron("pages");
          return answer.status === 200 ? answer : null;
        },
        10_000,
      );
      expect(again.body.runId).toBe(runId);
      await app.stop();
      await start();
      // Carried to the end by later calls.
      await waitFor("the run to finish", async () => {
        const c = await cursor("pages");
        if (c?.runId === runId && c.status === "done") return c;
        if (c?.chain?.stopped || !c?.chain?.published) await cron("pages");
        return null;
      });
      expect(await compareKvWithWorkspace(kv, keys, workspace)).toEqual([]);
    },
  );

  it("a Notion 401 stops the chain with the run failed and Notion's reason", { timeout: 120_000 }, async () => {
    const first = await cron("posts", "?force=1");
    const runId = first.body.runId as string;
    await waitFor("a link", async () => ((await cursor("posts"))!.seq >= 2 ? true : null));
    notion.injectFault({ route: "*", status: 401, probability: 1 });
    try {
      const failed = await waitFor("the run to fail", async () => {
        const c = await cursor("posts");
        return c?.runId === runId && c.status === "failed" ? c : null;
      });
      expect(failed.error!.code).toBe("notion_unauthorized");
      const count = invocations("posts", runId).length;
      await new Promise((r) => setTimeout(r, 1500));
      expect(invocations("posts", runId).length).toBe(count);
    } finally {
      notion.clearFaults();
    }
  });

  it("a long Retry-After stops the chain with retryAt set (kept last: it pauses the integration for 120 s)", async () => {
    notion.injectFault({ route: "*", status: 429, retryAfterSeconds: 120, probability: 1 });
    try {
      const answer = await cron("pages", "?force=1");
      expect(answer.status).toBe(200);
      expect(answer.body.next).toMatchObject({ via: "self", accepted: false });
      expect(answer.body.next.stopped).toMatch(/wait 12\d s/);
      const c = (await cursor("pages"))!;
      expect(Date.parse(c.retryAt!) - Date.now()).toBeGreaterThan(100_000);
      expect(c.chain).toMatchObject({ via: "self", published: false });
      await new Promise((r) => setTimeout(r, 1000));
      expect(invocations("pages", c.runId).filter((l) => l.caller === "chain")).toHaveLength(0);
    } finally {
      notion.clearFaults();
    }
  });
});
