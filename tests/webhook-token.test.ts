/**
 * The webhook verification token against an attacker who POSTs handshakes
 * (issue 22, item 10), over `next start` and a real redis-server: the
 * handshake and the signed deliveries go to /api/notion/webhook, the operator
 * prints and accepts tokens with `kv:cursors` (another process) or the
 * dashboard (signed in, CSRF token from the rendered page).
 *
 * Verified deliveries here are `page.locked` events: recorded (the last event
 * changes) but nothing to fetch, so no targeted run is scheduled.
 */
import { spawnSync } from "node:child_process";
import path from "node:path";
import { signWebhookPayload } from "@notionhq/client";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { handleWebhook } from "../lib/http/webhook-route";
import { createKeys } from "../lib/kv/keys";
import { createRedisStore } from "../lib/kv/redis";
import type { KvStore } from "../lib/kv/store";
import { webhookKeys } from "../lib/webhooks/keys";
import {
  type WebhookTokenRecord,
  acceptPendingToken,
  markVerified,
  revealTokens,
  storeHandshake,
} from "../lib/webhooks/token";
import { type NextApp, buildIfNeeded, startNextApp } from "../scripts/lib/next-app";
import { type RedisServerHandle, startRedisServer } from "./support/redis-server";

const ROOT = path.resolve(import.meta.dirname, "..");
const SECRET = "webhook-token-test-secret-0123456789";
const REAL = "secret_notion_real_token_0123456789abcdefghijklmnop";
const RECREATED = "secret_notion_recreated_token_9876543210zyxwvuts";
const ATTACKER = "secret_attacker_token_aaaaaaaaaaaaaaaaaaaaaaaaaaa";
const TOKENS = [REAL, RECREATED, ATTACKER];

let redis: RedisServerHandle;
let kv: KvStore;
let app: NextApp;
let env: Record<string, string>;
const keys = createKeys(`wt${process.pid}`);
const wk = webhookKeys(keys);

beforeAll(async () => {
  buildIfNeeded();
  redis = await startRedisServer();
  kv = createRedisStore({ url: redis.url });
  env = {
    CRON_SECRET: SECRET,
    REDIS_URL: redis.url,
    KV_PREFIX: keys.prefix,
    NOTION_API_KEY: "secret_unused_notion_api_key_000",
    NOTION_PAGES_DB: "11111111111111111111111111111111",
    NOTION_POSTS_DB: "22222222222222222222222222222222",
  };
  app = await startNextApp(env);
});

afterAll(async () => {
  await app?.stop();
  await kv?.close();
  await redis?.stop();
});

beforeEach(async () => {
  await kv.del(await kv.scanKeys(`${keys.prefix}:`));
});

async function post(body: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${app.url}/api/notion/webhook`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body,
  });
  return { status: res.status, text: await res.text() };
}

async function handshake(token: string): Promise<string> {
  const res = await post(JSON.stringify({ verification_token: token }));
  expect(res.status).toBe(200);
  return res.text;
}

function lockedEvent(): string {
  return JSON.stringify({
    id: crypto.randomUUID(),
    timestamp: new Date().toISOString(),
    workspace_id: crypto.randomUUID(),
    subscription_id: crypto.randomUUID(),
    integration_id: crypto.randomUUID(),
    type: "page.locked",
    attempt_number: 1,
    api_version: "2025-09-03",
    entity: { id: crypto.randomUUID(), type: "page" },
    data: { parent: { id: crypto.randomUUID(), type: "space" } },
  });
}

/** A `page.locked` event signed with `token`; the answer's status. */
async function deliver(token: string): Promise<number> {
  const body = lockedEvent();
  return (await post(body, { "x-notion-signature": await signWebhookPayload({ body, verificationToken: token }) }))
    .status;
}

async function snapshot(): Promise<Record<string, unknown>> {
  const names = await kv.scanKeys(`${keys.prefix}:`);
  const values = await kv.mget(names);
  return Object.fromEntries(names.map((n, i) => [n, values[i]]));
}

const record = () => kv.get<WebhookTokenRecord>(wk.token());

/** Signed deliveries of the attacker are refused and change nothing at all. */
async function expectAttackerRefused(token = ATTACKER): Promise<void> {
  const before = await snapshot();
  for (let i = 0; i < 3; i++) expect(await deliver(token)).toBe(401);
  expect(await snapshot()).toEqual(before);
}

function kvCursors(args: string[]) {
  const result = spawnSync(process.execPath, ["--import", "tsx", "scripts/kv-cursors.ts", ...args], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "",
      REDIS_URL: redis.url,
      KV_PREFIX: keys.prefix,
      NO_COLOR: "1",
    } as unknown as NodeJS.ProcessEnv,
    encoding: "utf8",
    timeout: 30_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

function expectNoToken(text: string): void {
  for (const token of TOKENS) expect(text).not.toContain(token);
}

describe("the webhook token over next start: a handshake never displaces the token in use", () => {
  it("an attacker's handshake after the real one and before any verified delivery is kept pending: real deliveries verify, the attacker's get 401 and write nothing", async () => {
    const realAnswer = await handshake(REAL);
    // The same answer whatever became of the token: the attacker learns nothing.
    expect(await handshake(ATTACKER)).toBe(realAnswer);
    await expectAttackerRefused();
    expect(await record()).toMatchObject({ token: REAL, verifiedAt: null, pending: { token: ATTACKER } });
    expect(await deliver(REAL)).toBe(200);
    expect(await record()).toMatchObject({ token: REAL, verifiedAt: expect.any(String), pending: { token: ATTACKER } });
  });

  it("after the first verified delivery, repeated attacker handshakes keep one pending slot, never a log line or an answer with a token", async () => {
    await handshake(REAL);
    expect(await deliver(REAL)).toBe(200);
    const keyCount = (await kv.scanKeys(`${keys.prefix}:`)).length;
    for (let i = 0; i < 30; i++) await handshake(`${ATTACKER}${i}`);
    expect((await kv.scanKeys(`${keys.prefix}:`)).length).toBe(keyCount);
    expect(await record()).toMatchObject({ token: REAL, pending: { token: `${ATTACKER}29` } });
    await expectAttackerRefused(`${ATTACKER}29`);
    await expectAttackerRefused(`${ATTACKER}3`);
    expect(await deliver(REAL)).toBe(200);

    const status = await fetch(`${app.url}/api/sync/status?secret=${SECRET}`).then((r) => r.text());
    expect(JSON.parse(status).webhooks.token).toMatchObject({ stored: true, pending: true, pendingShown: false });
    expectNoToken(status);
    expect(app.output()).toContain("webhook.handshake");
    expect(app.output()).not.toMatch(/secret_attacker|secret_notion/);
  });

  it("an attacker's handshake before the real one: the real one waits as pending; the operator, shown both, accepts it and the attacker's token is gone", async () => {
    await handshake(ATTACKER);
    await handshake(REAL);
    expect(await deliver(REAL)).toBe(401); // never used before it is accepted

    const shown = kvCursors(["--webhook-token"]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout.split("\n").filter(Boolean)).toEqual([ATTACKER, REAL]);
    expect(shown.stderr).toMatch(/stdout line 1: active webhook token/);
    expect(shown.stderr).toMatch(/stdout line 2: PENDING webhook token/);
    expectNoToken(shown.stderr);

    const accepted = kvCursors(["--webhook-token", "--accept"]);
    expect(accepted.code, accepted.stderr).toBe(0);
    expect(await record()).toMatchObject({ token: REAL, pending: null });
    expect(await deliver(REAL)).toBe(200);
    await expectAttackerRefused();
  });

  it("a handshake that lands between printing and accepting is not accepted: the active token stays", async () => {
    await handshake(REAL);
    expect(await deliver(REAL)).toBe(200);
    await handshake(RECREATED);
    expect(kvCursors(["--webhook-token"]).stdout.split("\n").filter(Boolean)).toEqual([REAL, RECREATED]);
    await handshake(ATTACKER); // swaps the pending slot after the operator looked
    const refused = kvCursors(["--webhook-token", "--accept"]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("never shown");
    expect(await record()).toMatchObject({ token: REAL, pending: { token: ATTACKER, shownAt: null } });
    expect(await deliver(REAL)).toBe(200);
    await expectAttackerRefused();

    // Resend token in Notion: the recreated subscription's token comes back, is printed, then accepted.
    await handshake(RECREATED);
    const again = kvCursors(["--webhook-token"]);
    expect(again.stdout.trim()).toBe(RECREATED);
    expect(again.stderr).toMatch(/active webhook token.*was shown already/);
    expect(kvCursors(["--webhook-token", "--accept"]).code).toBe(0);
    expect(await deliver(RECREATED)).toBe(200);
    expect(await deliver(REAL)).toBe(401);
  });

  it("the dashboard shows the token's state (never a token) and accepts a printed pending token behind sign-in, CSRF and confirmation", async () => {
    await handshake(REAL);
    expect(await deliver(REAL)).toBe(200);
    await handshake(RECREATED);
    const origin = { origin: app.url };
    const form = (fields: Record<string, string>) => ({
      method: "POST",
      redirect: "manual" as const,
      headers: { "content-type": "application/x-www-form-urlencoded", ...origin, cookie },
      body: new URLSearchParams(fields).toString(),
    });
    const signin = await fetch(`${app.url}/sync/signin`, {
      method: "POST",
      redirect: "manual",
      headers: { "content-type": "application/x-www-form-urlencoded", ...origin },
      body: `secret=${SECRET}`,
    });
    expect(signin.status).toBe(303);
    const cookie = signin.headers.get("set-cookie")!.split(";")[0];
    const page = async () => fetch(`${app.url}/sync`, { headers: { cookie } }).then((r) => r.text());

    let html = await page();
    expect(html).toContain('data-testid="webhook-token-pending"');
    expect(html).toMatch(/data-action="accept-token"[^>]*disabled/); // not printed yet
    expectNoToken(html);
    const csrf = /name="csrf" value="([^"]+)"/.exec(html)![1];

    // Not printed yet: refused even with every check passed.
    expect((await fetch(`${app.url}/sync/action`, form({ csrf, action: "accept-token", confirmed: "1" }))).status).toBe(
      303,
    );
    expect(await record()).toMatchObject({ token: REAL, pending: { token: RECREATED } });

    expect(kvCursors(["--webhook-token"]).code).toBe(0);
    html = await page();
    expect(html).not.toMatch(/data-action="accept-token"[^>]*disabled/);
    expectNoToken(html);

    const forged = await fetch(`${app.url}/sync/action`, form({ action: "accept-token", confirmed: "1" }));
    expect(forged.status).toBe(403);
    const unconfirmed = await fetch(`${app.url}/sync/action`, form({ csrf, action: "accept-token" }));
    expect(unconfirmed.headers.get("location")).toContain("/sync/confirm?action=accept-token");
    const confirm = await fetch(`${app.url}${unconfirmed.headers.get("location")}`, { headers: { cookie } }).then((r) =>
      r.text(),
    );
    expect(confirm).toContain("Accept the pending webhook token");
    expect(await record()).toMatchObject({ token: REAL });

    const done = await fetch(`${app.url}/sync/action`, form({ csrf, action: "accept-token", confirmed: "1" }));
    expect(done.status).toBe(303);
    expect(await record()).toMatchObject({ token: RECREATED, pending: null, verifiedAt: null });
    expect(await deliver(RECREATED)).toBe(200);
    expect(await deliver(REAL)).toBe(401);
    expectNoToken(await page());
    expect(app.output()).not.toMatch(/secret_attacker|secret_notion/);
  });

  it("handshakes, an accept and a verified delivery racing on the record never undo one another", async () => {
    for (let round = 0; round < 10; round++) {
      await kv.del([wk.token()]);
      await storeHandshake(kv, wk, REAL);
      await storeHandshake(kv, wk, RECREATED);
      await revealTokens(kv, wk);
      const active = (await record())!;
      const [accepted] = await Promise.all([
        acceptPendingToken(kv, wk),
        markVerified(kv, wk, active),
        ...Array.from({ length: 5 }, (_, i) => storeHandshake(kv, wk, `${ATTACKER}${round}${i}`)),
      ]);
      const final = (await record())!;
      if (accepted.kind === "accepted") expect(final.token, `round ${round}`).toBe(RECREATED);
      else expect(final).toMatchObject({ token: REAL, pending: { shownAt: null } });
      expect(final.pending?.token ?? ATTACKER, `round ${round}`).toContain(ATTACKER);
    }
  });

  it("NOTION_WEBHOOK_SECRET overrides both stored tokens", async () => {
    await handshake(REAL);
    await handshake(RECREATED);
    const overridden = { ...env, NOTION_WEBHOOK_SECRET: RECREATED };
    const signed = async (token: string) => {
      const body = lockedEvent();
      const request = new Request("http://localhost/api/notion/webhook", {
        method: "POST",
        headers: { "x-notion-signature": await signWebhookPayload({ body, verificationToken: token }) },
        body,
      });
      return (await handleWebhook(request, overridden)).status;
    };
    expect(await signed(RECREATED)).toBe(200);
    expect(await signed(REAL)).toBe(401);
  });
});
