/**
 * A real QStash-chained stack for end-to-end tests:
 *
 *   QStash emulator ──deliveries──▶ tap (recording proxy) ──▶ `next start`
 *        ▲                                                        │
 *        └──────────── publish (real @upstash/qstash Client) ─────┘
 *   `next start` ──▶ Notion emulator, redis-server
 *
 * SYNC_BASE_URL is the tap's URL, so the emulator delivers (and signs for)
 * the tap's URL and the app verifies signatures against that same URL; the
 * tap forwards bodies byte for byte and records every request and answer
 * (bodies included), which the emulator alone does not keep per delivery.
 * It can answer chosen deliveries itself (a platform error the app never
 * sees) and be re-pointed at another `next start`, e.g. one whose clock runs
 * minutes ahead: the instance a delayed step lands on once that time passed.
 */
import { writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import os from "node:os";
import path from "node:path";
import type { AddressInfo } from "node:net";
import { createKeys, type KeyBuilder } from "../../lib/kv/keys";
import { createRedisStore } from "../../lib/kv/redis";
import type { KvStore } from "../../lib/kv/store";
import { type Cursor, parseCursor } from "../../lib/sync/cursor";
import { SECTIONS } from "./default-sections";
import type { Section } from "../../lib/core/sections";
import { type NextApp, startNextApp } from "../../scripts/lib/next-app";
import { type GenerateOptions, generateWorkspace } from "../../scripts/emulator/notion/generate";
import { type NotionEmulator, startNotionEmulator } from "../../scripts/emulator/notion/server";
import { compareKvWithWorkspace } from "../../scripts/emulator/notion/verify";
import type { Workspace } from "../../scripts/emulator/notion/workspace";
import {
  type QStashEmulator,
  type QStashEmulatorOptions,
  startQStashEmulator,
} from "../../scripts/emulator/qstash/server";
import { type RedisServerHandle, startRedisServer } from "./redis-server";
import { seeded } from "./random";
export { seeded };

export const E2E_SECRET = "e2e-cron-secret-0123456789";

// ---------------------------------------------------------------- the tap

export interface TapRecord {
  id: number;
  method: string;
  /** Path without the query string. */
  path: string;
  search: string;
  /** Request headers, lower-case. */
  headers: Record<string, string>;
  body: string;
  startedAt: number;
  endedAt: number | null;
  /** null when the upstream could not be reached. */
  status: number | null;
  responseHeaders: Record<string, string>;
  responseBody: string;
  /** The answer parsed as JSON (null when it is not JSON). */
  json: Record<string, unknown> | null;
  upstream: string;
}

export interface TapFault {
  /** Request path the fault applies to (signed QStash deliveries only). */
  path: string;
  /** Status answered instead of forwarding, like a platform error (504 FUNCTION_INVOCATION_TIMEOUT). */
  status: number;
  times: number;
  /** Only requests whose raw body passes this. */
  match?: (body: string) => boolean;
}

export interface Tap {
  url: string;
  setUpstream(url: string): void;
  /** The next `times` matching deliveries are answered `status` by the tap; the app never sees them. */
  injectFault(fault: TapFault): void;
  records(): TapRecord[];
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set([
  "host",
  "connection",
  "keep-alive",
  "transfer-encoding",
  "content-length",
  "accept-encoding",
  "upgrade",
  "te",
  "trailer",
]);

function readAll(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

export async function startTap(): Promise<Tap> {
  let upstream = "";
  let nextId = 0;
  let faults: TapFault[] = [];
  const log: TapRecord[] = [];
  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = await readAll(req);
      const url = new URL(req.url ?? "/", "http://tap");
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers))
        if (v !== undefined) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(", ") : v;
      const record: TapRecord = {
        id: nextId++,
        method: req.method ?? "GET",
        path: url.pathname,
        search: url.search,
        headers,
        body: body.toString("utf8"),
        startedAt: Date.now(),
        endedAt: null,
        status: null,
        responseHeaders: {},
        responseBody: "",
        json: null,
        upstream,
      };
      log.push(record);
      const fault = faults.find(
        (f) =>
          f.path === record.path && headers["upstash-signature"] !== undefined && (!f.match || f.match(record.body)),
      );
      if (fault) {
        if (--fault.times <= 0) faults = faults.filter((f) => f !== fault);
        record.upstream = "tap-fault";
        record.status = fault.status;
        record.endedAt = Date.now();
        res.writeHead(fault.status, { "content-type": "text/plain" });
        res.end("tap: injected platform error");
        return;
      }
      const forward = new Headers();
      for (const [k, v] of Object.entries(headers)) if (!HOP_BY_HOP.has(k)) forward.set(k, v);
      try {
        const answer = await fetch(`${upstream}${url.pathname}${url.search}`, {
          method: record.method,
          headers: forward,
          redirect: "manual",
          ...(record.method === "GET" || record.method === "HEAD" ? {} : { body: new Uint8Array(body) }),
        });
        const text = Buffer.from(await answer.arrayBuffer());
        record.endedAt = Date.now();
        record.status = answer.status;
        answer.headers.forEach((v, k) => (record.responseHeaders[k] = v));
        record.responseBody = text.toString("utf8");
        try {
          record.json = JSON.parse(record.responseBody) as Record<string, unknown>;
        } catch {
          record.json = null;
        }
        const out: Record<string, string> = {};
        for (const [k, v] of Object.entries(record.responseHeaders))
          if (!HOP_BY_HOP.has(k) && k !== "content-encoding") out[k] = v;
        res.writeHead(answer.status, { ...out, "content-length": String(text.length) });
        res.end(text);
      } catch (error) {
        record.endedAt = Date.now();
        res.writeHead(502, { "content-type": "text/plain" });
        res.end(`tap: upstream unreachable: ${error instanceof Error ? error.message : String(error)}`);
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    setUpstream: (u) => void (upstream = u),
    injectFault: (fault) => void faults.push({ ...fault }),
    records: () => log.map((r) => ({ ...r })),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

// ---------------------------------------------------------------- a process living later

const CLOCK_SHIFT_PRELOAD = `"use strict";
const shift = Number(process.env.E2E_CLOCK_SHIFT_MS || 0);
if (shift) {
  const RealDate = Date;
  const realNow = RealDate.now;
  RealDate.now = () => realNow() + shift;
  // new Date() with no argument reads the shifted clock; everything else is Date's own.
  globalThis.Date = new Proxy(RealDate, {
    construct(target, args, newTarget) {
      return Reflect.construct(target, args.length === 0 ? [RealDate.now()] : args, newTarget);
    },
  });
}
`;

/**
 * Environment that makes a Node process (here \`next start\`) see the wall
 * clock \`shiftMs\` ahead. The QStash emulator scales its waits (a 120 s
 * delay takes 2.4 s) but the app measures real time: an instance started
 * with this env is the instance a delayed step lands on once that time has
 * really passed. Only Date is shifted (timers and performance.now are not).
 */
export function clockShiftEnv(shiftMs: number): Record<string, string> {
  const file = path.join(os.tmpdir(), "notion-kv-sync-e2e-clock-shift.cjs");
  writeFileSync(file, CLOCK_SHIFT_PRELOAD);
  return { NODE_OPTIONS: `--require ${file}`, E2E_CLOCK_SHIFT_MS: String(shiftMs) };
}

// ---------------------------------------------------------------- the stack

export interface QStashStackOptions {
  workspace?: GenerateOptions;
  /** Notion emulator requests per second; the app paces itself to the same rate. */
  notionRatePerSecond?: number;
  qstash?: QStashEmulatorOptions;
  /** Extra or overriding variables for `next start`. */
  env?: Record<string, string>;
  /** Runs once the Notion emulator is up, before `next start`: more variables (e.g. the ids of databases it created). */
  prepare?: (notion: NotionEmulator) => Promise<Record<string, string>>;
}

export interface QStashStack {
  notion: NotionEmulator;
  workspace: Workspace;
  qstash: QStashEmulator;
  redis: RedisServerHandle;
  kv: KvStore;
  keys: KeyBuilder;
  tap: Tap;
  /** The running `next start` that the tap forwards to. */
  app: NextApp;
  /** SYNC_BASE_URL: the public URL QStash delivers to (the tap). */
  baseUrl: string;
  /** Exactly the environment `next start` got. */
  env: Record<string, string>;
  budgetMs: number;
  /**
   * Starts another `next start` with the same env (not yet receiving
   * anything). `clockShiftMs` runs its clock that far ahead (see clockShiftEnv).
   */
  startSpareApp(options?: { clockShiftMs?: number }): Promise<NextApp>;
  /**
   * Points the tap (so every later QStash delivery) at `next`, waits for the
   * requests the current app is answering, then stops it: the next steps
   * land on a fresh instance, as on a serverless platform.
   */
  switchApp(next: NextApp): Promise<void>;
  get(
    path: string,
    init?: RequestInit,
  ): Promise<{ status: number; json: Record<string, unknown>; headers: Headers; ms: number }>;
  cursor(section: Section): Promise<Cursor | null>;
  /** Every key under the prefix with its raw value, for before/after comparisons. */
  snapshot(): Promise<Record<string, string | null>>;
  diffKv(): Promise<string[]>;
  close(): Promise<void>;
}

let prefixCounter = 0;

export async function startQStashStack(options: QStashStackOptions = {}): Promise<QStashStack> {
  const workspace = generateWorkspace(options.workspace ?? { pages: 60, posts: 40, hugePages: 1 });
  const rate = options.notionRatePerSecond ?? 100;
  const cleanups: Array<() => Promise<void>> = [];
  const closeAll = async () => {
    while (cleanups.length > 0) await cleanups.pop()!().catch(() => {});
  };
  try {
    const notion = await startNotionEmulator({ workspace, ratePerSecond: rate });
    cleanups.push(() => notion.close());
    const redis = await startRedisServer();
    cleanups.push(() => redis.stop());
    const kv = createRedisStore({ url: redis.url });
    cleanups.push(() => kv.close());
    const qstash = await startQStashEmulator({
      delayScale: 0.02,
      retryBackoffMs: (n) => 100 * 2 ** n,
      ...options.qstash,
    });
    cleanups.push(() => qstash.close());
    const tap = await startTap();
    cleanups.push(() => tap.close());

    const prefix = `e2e${process.pid}x${prefixCounter++}`;
    const env: Record<string, string> = {
      CRON_SECRET: E2E_SECRET,
      NOTION_API_KEY: notion.token,
      NOTION_PAGES_DB: workspace.pagesDatabaseId,
      NOTION_POSTS_DB: workspace.postsDatabaseId,
      NOTION_BASE_URL: notion.url,
      NOTION_RATE_PER_MIN: String(Math.round(rate * 60)),
      REDIS_URL: redis.url,
      KV_PREFIX: prefix,
      SYNC_BUDGET_MS: "2000",
      SYNC_MIN_FORCE_INTERVAL_S: "0",
      QSTASH_URL: qstash.url,
      QSTASH_TOKEN: qstash.token,
      QSTASH_CURRENT_SIGNING_KEY: qstash.currentSigningKey,
      QSTASH_NEXT_SIGNING_KEY: qstash.nextSigningKey,
      SYNC_BASE_URL: tap.url,
      ...options.env,
      ...(options.prepare ? await options.prepare(notion) : {}),
    };
    const apps = new Set<NextApp>();
    cleanups.push(async () => void (await Promise.all([...apps].map((a) => a.stop()))));
    const startApp = async (options: { clockShiftMs?: number } = {}) => {
      const started = await startNextApp(
        options.clockShiftMs ? { ...env, ...clockShiftEnv(options.clockShiftMs) } : env,
      );
      apps.add(started);
      return started;
    };
    let app = await startApp();
    tap.setUpstream(app.url);
    const keys = createKeys(prefix);

    const stack: QStashStack = {
      notion,
      workspace,
      qstash,
      redis,
      kv,
      keys,
      tap,
      get app() {
        return app;
      },
      baseUrl: tap.url,
      env,
      budgetMs: Number(env.SYNC_BUDGET_MS),
      startSpareApp: startApp,
      async switchApp(next) {
        const old = app;
        app = next;
        tap.setUpstream(next.url);
        await waitFor(
          "the old app to answer its last request",
          async () => !tap.records().some((r) => r.upstream === old.url && r.endedAt === null),
          30_000,
          20,
        );
        await old.stop();
        apps.delete(old);
      },
      async get(path, init) {
        const started = Date.now();
        const res = await fetch(`${app.url}${path}`, init);
        const text = await res.text();
        let json: Record<string, unknown>;
        try {
          json = JSON.parse(text) as Record<string, unknown>;
        } catch {
          json = { raw: text };
        }
        return { status: res.status, json, headers: res.headers, ms: Date.now() - started };
      },
      async cursor(section) {
        const loaded = parseCursor(await kv.get(keys.cursor(section)));
        return loaded.kind === "ok" ? loaded.cursor : null;
      },
      async snapshot() {
        const names = await kv.scanKeys(`${prefix}:`);
        const values = await kv.mget(names);
        return Object.fromEntries(names.map((n, i) => [n, values[i] === null ? null : JSON.stringify(values[i])]));
      },
      diffKv: () => compareKvWithWorkspace(kv, keys, workspace, Number(env.SYNC_CHILD_DEPTH ?? 5)),
      close: closeAll,
    };
    return stack;
  } catch (error) {
    await closeAll();
    throw error;
  }
}

// ---------------------------------------------------------------- waiting and reading the records

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | null | undefined | false>,
  timeoutMs: number,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** The children run id children-kick.ts derives from the two database runs. */
export function childrenRunId(pagesRunId: string, postsRunId: string): string {
  const pair = [pagesRunId, postsRunId].sort();
  return pair[0] === pair[1] ? pair[0] : `${pair[1]}-c`;
}

/**
 * Waits (reading redis only, no call to the app) until pages and posts have
 * finished the given runs and children has finished the run they started.
 * Throws at once when a section's run is marked failed.
 */
export async function waitForRunDone(
  stack: QStashStack,
  runIds: { pages: string; posts: string },
  timeoutMs: number,
): Promise<Record<Section, Cursor>> {
  const childrenId = childrenRunId(runIds.pages, runIds.posts);
  const expected: Record<Section, string> = { pages: runIds.pages, posts: runIds.posts, children: childrenId };
  const since = Date.now();
  return waitFor(
    `pages ${runIds.pages}, posts ${runIds.posts} and children ${childrenId} to be done`,
    async () => {
      const cursors = {} as Record<Section, Cursor>;
      for (const section of SECTIONS) {
        const cursor = await stack.cursor(section);
        if (cursor?.runId === expected[section] && cursor.status === "failed") {
          throw new Error(`${section} run ${cursor.runId} failed: ${JSON.stringify(cursor.error)}`);
        }
        if (cursor?.runId !== expected[section] || cursor.status !== "done") return null;
        cursors[section] = cursor;
      }
      return cursors;
    },
    timeoutMs,
    150,
  ).catch(async (error: Error) => {
    // What a CI log needs to tell a stalled chain from a slow one.
    const cursors = await Promise.all(
      SECTIONS.map(async (s) => {
        const c = await stack.cursor(s);
        return (
          c && {
            section: s,
            runId: c.runId,
            status: c.status,
            phase: c.phase,
            seq: c.seq,
            chain: c.chain,
            retryAt: c.retryAt,
            error: c.error,
          }
        );
      }),
    );
    const traffic = stack.tap
      .records()
      .filter((r) => r.startedAt >= since)
      .slice(-12)
      .map(
        (r) =>
          `${r.startedAt - since}ms ${r.path} ${r.body.slice(0, 80)} → ${r.status} ${r.responseBody.slice(0, 240)}`,
      );
    const pending = stack.qstash
      .messages()
      .filter((m) => m.state === "pending")
      .map((m) => `${m.destination} ${m.body}`);
    throw new Error(
      `${error.message}\ncursors: ${JSON.stringify(cursors)}\npending: ${JSON.stringify(pending)}\nlast requests:\n${traffic.join("\n")}`,
    );
  });
}

/** Tap records of QStash deliveries (signed requests) to one section endpoint. */
export function sectionDeliveries(records: TapRecord[], section: Section): TapRecord[] {
  return records.filter((r) => r.path === `/api/sync/${section}` && r.headers["upstash-signature"] !== undefined);
}

export interface RanStep {
  seq: number;
  invocation: number;
  startedAt: number;
  endedAt: number;
  elapsedMs: number;
  messageId: string;
  retried: number;
}

/**
 * The steps of one run that really ran through QStash: signed deliveries the
 * endpoint answered 200 with a non-stale body for that run. The request body
 * carries the step (`seq`), the answer the cursor's step after it ran.
 */
export function ranSteps(records: TapRecord[], section: Section, runId: string): RanStep[] {
  return sectionDeliveries(records, section)
    .filter(
      (r) => r.status === 200 && r.json && r.json.stale !== true && r.json.duplicate !== true && r.json.runId === runId,
    )
    .map((r) => ({
      seq: (JSON.parse(r.body) as { seq: number }).seq,
      invocation: r.json!.invocation as number,
      startedAt: r.startedAt,
      endedAt: r.endedAt!,
      elapsedMs: r.json!.elapsedMs as number,
      messageId: r.headers["upstash-message-id"] ?? "",
      retried: Number(r.headers["upstash-retried"] ?? 0),
    }))
    .sort((a, b) => a.startedAt - b.startedAt);
}
