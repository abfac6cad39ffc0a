/**
 * What a sync invocation accepts before doing any work: who may call
 * (lib/auth), what the call may say (lib/http/sync-request), how the
 * environment is read (lib/config), and the QStash message that chains the
 * next invocation (lib/orchestration/chain).
 */
import { describe, expect, it } from "vitest";
import { authenticate } from "../../lib/auth/index";
import { ConfigError, readNotionSettings, readSyncSettings } from "../../lib/config";
import { parseSyncRequest } from "../../lib/http/sync-request";
import { publicBaseUrl } from "../../lib/core/base-url";
import { delayWithJitter, successorMessage } from "../../lib/orchestration/chain";
import { SECTIONS } from "../support/default-sections";

const SECRET = "cron-secret-Zq81xK";
const env = { CRON_SECRET: SECRET };
const URL_BASE = "https://sync.example.com/api/sync/pages";

function req(options: { query?: string; headers?: Record<string, string>; method?: string } = {}): Request {
  const method = options.method ?? "GET";
  return new Request(`${URL_BASE}${options.query ?? ""}`, {
    method,
    headers: options.headers,
    ...(method === "POST" ? { body: "{}" } : {}),
  });
}

describe("authenticate", () => {
  it("accepts the cron bearer token", async () => {
    expect(await authenticate({ request: req({ headers: { authorization: `Bearer ${SECRET}` } }), env })).toEqual({
      ok: true,
      caller: "cron",
    });
    expect(await authenticate({ request: req({ headers: { authorization: `bearer   ${SECRET}  ` } }), env })).toEqual({
      ok: true,
      caller: "cron",
    });
  });

  it("refuses a wrong bearer token, including a prefix or extension of the secret", async () => {
    for (const token of ["nope", SECRET.slice(0, -1), `${SECRET}x`, SECRET.toUpperCase()]) {
      const result = await authenticate({ request: req({ headers: { authorization: `Bearer ${token}` } }), env });
      expect(result).toMatchObject({ ok: false, status: 401, code: "unauthorized" });
    }
  });

  it("accepts ?secret= for a manual call and refuses a wrong one", async () => {
    expect(await authenticate({ request: req({ query: `?secret=${encodeURIComponent(SECRET)}` }), env })).toEqual({
      ok: true,
      caller: "manual",
    });
    expect(await authenticate({ request: req({ query: "?secret=wrong" }), env })).toMatchObject({
      ok: false,
      status: 401,
    });
    expect(await authenticate({ request: req({ query: "?secret=" }), env })).toMatchObject({ ok: false, status: 401 });
  });

  it("does not let a right ?secret rescue a wrong bearer token", async () => {
    const request = req({ query: `?secret=${SECRET}`, headers: { authorization: "Bearer wrong" } });
    expect(await authenticate({ request, env })).toMatchObject({ ok: false, status: 401 });
  });

  it("answers 401 without credentials", async () => {
    const result = await authenticate({ request: req(), env });
    expect(result).toMatchObject({ ok: false, status: 401, code: "unauthorized" });
    expect(await authenticate({ request: req({ headers: { authorization: `Basic ${SECRET}` } }), env })).toMatchObject({
      ok: false,
      status: 401,
    });
  });

  it("stays closed (503) when CRON_SECRET is unset or blank, whatever is sent", async () => {
    for (const e of [{}, { CRON_SECRET: "" }, { CRON_SECRET: "   " }]) {
      for (const request of [
        req(),
        req({ headers: { authorization: "Bearer " } }),
        req({ query: "?secret=" }),
        req({ query: "?secret=%20%20%20" }),
      ]) {
        expect(await authenticate({ request, env: e })).toMatchObject({ ok: false, status: 503, code: "config_error" });
      }
    }
  });

  it("refuses a QStash signature on a GET (401) without calling the verifier", async () => {
    let called = false;
    const verifySignature = async () => {
      called = true;
      return { ok: true as const };
    };
    const result = await authenticate({
      request: req({ headers: { "upstash-signature": "jwt" } }),
      env,
      verifySignature,
    });
    expect(result).toMatchObject({ ok: false, status: 401 });
    expect(called).toBe(false);
  });

  it("trusts a POST the verifier accepts, and passes it the signature", async () => {
    const seen: string[] = [];
    const verifySignature = async (signature: string) => {
      seen.push(signature);
      return { ok: true as const };
    };
    const result = await authenticate({
      request: req({ method: "POST", headers: { "upstash-signature": "sig.abc" } }),
      env: {},
      verifySignature,
    });
    expect(result).toEqual({ ok: true, caller: "qstash" });
    expect(seen).toEqual(["sig.abc"]);
  });

  it("refuses a POST the verifier rejects, with its reason, even with a right bearer token", async () => {
    const verifySignature = async () => ({ ok: false as const, reason: "signature expired" });
    const request = req({ method: "POST", headers: { "upstash-signature": "sig", authorization: `Bearer ${SECRET}` } });
    const result = await authenticate({ request, env, verifySignature });
    expect(result).toMatchObject({ ok: false, status: 401 });
    expect(result.ok === false && result.message).toContain("signature expired");
  });

  it("answers 503 for a signed delivery when no verifier is configured", async () => {
    const result = await authenticate({
      request: req({ method: "POST", headers: { "upstash-signature": "sig" } }),
      env,
    });
    expect(result).toMatchObject({ ok: false, status: 503, code: "config_error" });
  });

  it("never puts the secret in a refusal message", async () => {
    const results = await Promise.all([
      authenticate({ request: req({ headers: { authorization: "Bearer wrong" } }), env }),
      authenticate({ request: req({ query: "?secret=wrong" }), env }),
      authenticate({ request: req(), env }),
    ]);
    for (const r of results) expect(JSON.stringify(r)).not.toContain(SECRET);
  });
});

describe("parseSyncRequest", () => {
  const url = (query = "") => new URL(`${URL_BASE}${query}`);

  it.each([
    ["", false],
    ["?force=1", true],
    ["?force=true", true],
    ["?force=0", false],
    ["?force=false", false],
  ])("query %j → force %s", (query, force) => {
    expect(parseSyncRequest(url(query), "")).toEqual({ ok: true, force, body: {} });
  });

  it.each(["?force=yes", "?force=", "?force=TRUE", "?force=2", "?force=on"])("refuses %s as bad_query", (query) => {
    const parsed = parseSyncRequest(url(query), "");
    expect(parsed).toMatchObject({ ok: false, code: "bad_query" });
  });

  it("takes force from the body, over the query", () => {
    expect(parseSyncRequest(url(), '{"force":true}')).toMatchObject({ ok: true, force: true });
    expect(parseSyncRequest(url("?force=1"), '{"force":false}')).toMatchObject({ ok: true, force: false });
    expect(parseSyncRequest(url("?force=1"), "{}")).toMatchObject({ ok: true, force: true });
  });

  it("accepts a QStash continuation and a blank body", () => {
    expect(parseSyncRequest(url(), '{"runId":"20250601T000000Z-abc","seq":3,"force":false}')).toEqual({
      ok: true,
      force: false,
      body: { runId: "20250601T000000Z-abc", seq: 3, force: false },
    });
    expect(parseSyncRequest(url(), "  \n ")).toEqual({ ok: true, force: false, body: {} });
  });

  it.each(["{", "not json", "{'force':true}", '{"force":true,}'])("refuses invalid JSON %j as bad_body", (body) => {
    expect(parseSyncRequest(url(), body)).toMatchObject({ ok: false, code: "bad_body" });
  });

  it.each([
    ["force as a string", '{"force":"true"}', "force"],
    ["seq as a string", '{"runId":"r","seq":"1"}', "seq"],
    ["a negative seq", '{"runId":"r","seq":-1}', "seq"],
    ["a fractional seq", '{"runId":"r","seq":1.5}', "seq"],
    ["runId as a number", '{"runId":5,"seq":1}', "runId"],
    ["an empty runId", '{"runId":"","seq":1}', "runId"],
    ["an over-long runId", JSON.stringify({ runId: "r".repeat(101), seq: 1 }), "runId"],
    ["an array body", "[]", "(root)"],
    ["a null body", "null", "(root)"],
  ])("refuses %s, naming the field", (_label, body, field) => {
    const parsed = parseSyncRequest(url(), body);
    expect(parsed).toMatchObject({ ok: false, code: "bad_body" });
    expect(parsed.ok === false && parsed.message).toContain(field);
  });

  it("refuses unknown keys", () => {
    const parsed = parseSyncRequest(url(), '{"force":true,"section":"posts"}');
    expect(parsed).toMatchObject({ ok: false, code: "bad_body" });
    expect(parsed.ok === false && parsed.message).toContain("section");
  });

  it("refuses a runId without seq and a seq without runId", () => {
    expect(parseSyncRequest(url(), '{"runId":"r"}')).toMatchObject({ ok: false, code: "bad_body" });
    expect(parseSyncRequest(url(), '{"seq":0}')).toMatchObject({ ok: false, code: "bad_body" });
  });
});

describe("readSyncSettings", () => {
  it("SYNC_STALL_BACKOFF_S: seconds between a stalled run's retries, 1, 5, 15, 60 minutes by default", () => {
    expect(readSyncSettings({}).stallBackoffMs).toEqual([60_000, 300_000, 900_000, 3_600_000]);
    expect(readSyncSettings({ SYNC_STALL_BACKOFF_S: " 1, 5 " }).stallBackoffMs).toEqual([1000, 5000]);
    for (const bad of ["0", "a", "1,,2", "1.5", "90000"])
      expect(() => readSyncSettings({ SYNC_STALL_BACKOFF_S: bad })).toThrow(ConfigError);
  });

  it("uses the documented defaults when nothing is set (or set blank)", () => {
    const defaults = {
      budgetMs: 20_000,
      concurrency: 3,
      childDepth: 5,
      maxDeleteRatio: 0.5,
      stallAfter: 5,
      minForceIntervalS: 600,
      chain: "auto",
      maxChain: 500,
      notionRatePerMin: 170,
      kvPrefix: "nks",
      notionBaseUrl: undefined,
    };
    // (Settings of later features are checked with their own tests: match, not equal.)
    expect(readSyncSettings({})).toMatchObject(defaults);
    expect(
      readSyncSettings({
        SYNC_BUDGET_MS: "",
        SYNC_CONCURRENCY: " ",
        KV_PREFIX: "  ",
        NOTION_BASE_URL: "",
        SYNC_CHAIN: "",
      }),
    ).toMatchObject(defaults);
    expect(readSyncSettings({ SYNC_CHAIN: "self", SYNC_MAX_CHAIN: "1" })).toMatchObject({ chain: "self", maxChain: 1 });
    for (const bad of [{ SYNC_CHAIN: "sometimes" }, { SYNC_MAX_CHAIN: "0" }])
      expect(() => readSyncSettings(bad)).toThrow(ConfigError);
  });

  it("reads values at the edges of their ranges", () => {
    const s = readSyncSettings({
      SYNC_BUDGET_MS: "500",
      SYNC_CONCURRENCY: "10",
      SYNC_CHILD_DEPTH: "0",
      SYNC_MAX_DELETE_RATIO: "1",
      NOTION_RATE_PER_MIN: "1",
      KV_PREFIX: " site_1.a-b ",
      NOTION_BASE_URL: "http://127.0.0.1:4010",
    });
    expect(s).toMatchObject({
      budgetMs: 500,
      concurrency: 10,
      childDepth: 0,
      maxDeleteRatio: 1,
      stallAfter: 5,
      minForceIntervalS: 600,
      notionRatePerMin: 1,
      kvPrefix: "site_1.a-b",
      notionBaseUrl: "http://127.0.0.1:4010",
    });
    expect(readSyncSettings({ SYNC_BUDGET_MS: "25000", SYNC_CONCURRENCY: "1" })).toMatchObject({
      budgetMs: 25_000,
      concurrency: 1,
    });
    expect(() => readSyncSettings({ SYNC_BUDGET_MS: "25001" })).toThrow(ConfigError);
    expect(readSyncSettings({ SYNC_MAX_DELETE_RATIO: "0" }).maxDeleteRatio).toBe(0);
    for (const bad of ["1.5", "-0.1", "half"])
      expect(() => readSyncSettings({ SYNC_MAX_DELETE_RATIO: bad })).toThrow(ConfigError);
  });

  /** `value` as a token of its own ("0" is not mentioned by "from 1 to 10"). */
  const mentions = (text: string, value: string) =>
    new RegExp(`(^|[^0-9A-Za-z])${value.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}($|[^0-9A-Za-z])`).test(text);

  function configError(envIn: Record<string, string>): ConfigError {
    try {
      readSyncSettings(envIn);
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return error as ConfigError;
    }
    throw new Error(`expected a ConfigError for ${Object.keys(envIn).join(", ")}`);
  }

  it.each([
    ["SYNC_BUDGET_MS", "499"],
    ["SYNC_BUDGET_MS", "28001"],
    ["SYNC_BUDGET_MS", "987654321"],
    ["SYNC_BUDGET_MS", "-7531"],
    ["SYNC_BUDGET_MS", "1500.5"],
    ["SYNC_BUDGET_MS", "20s-oops"],
    ["SYNC_CONCURRENCY", "0"],
    ["SYNC_CONCURRENCY", "10000"],
    ["SYNC_CONCURRENCY", "11"],
    ["SYNC_CONCURRENCY", "2.5"],
    ["SYNC_CONCURRENCY", "many-workers"],
    ["KV_PREFIX", "has space-q9"],
    ["NOTION_BASE_URL", "not a url-q9"],
  ])("%s=%s → ConfigError naming the variable, not its value", (name, value) => {
    const error = configError({ [name]: value });
    expect(error.variables).toEqual([name]);
    expect(error.code).toBe("config_error");
    expect(error.message).toContain(name);
    expect(mentions(error.message, value)).toBe(false);
    expect(mentions(JSON.stringify(error), value)).toBe(false);
  });

  it("names every malformed variable at once", () => {
    const error = configError({ SYNC_BUDGET_MS: "1", SYNC_CONCURRENCY: "99" });
    expect(error.variables.sort()).toEqual(["SYNC_BUDGET_MS", "SYNC_CONCURRENCY"]);
  });
});

describe("readNotionSettings", () => {
  function missing(envIn: Record<string, string>, needs: Parameters<typeof readNotionSettings>[1]): string[] {
    try {
      readNotionSettings(envIn, needs);
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const e = error as ConfigError;
      for (const name of e.variables) expect(e.message).toContain(name);
      return e.variables;
    }
    return [];
  }

  it("names the missing variables", () => {
    expect(missing({}, {})).toEqual(["NOTION_API_KEY"]);
    expect(missing({}, { database: "NOTION_PAGES_DB" })).toEqual(["NOTION_API_KEY", "NOTION_PAGES_DB"]);
    expect(missing({ NOTION_API_KEY: "secret_x" }, { database: "NOTION_POSTS_DB" })).toEqual(["NOTION_POSTS_DB"]);
    expect(missing({ NOTION_API_KEY: "  ", NOTION_POSTS_DB: " " }, { database: "NOTION_POSTS_DB" })).toEqual([
      "NOTION_API_KEY",
      "NOTION_POSTS_DB",
    ]);
  });

  it("does not need a database for the children section", () => {
    expect(missing({ NOTION_API_KEY: "secret_x" }, {})).toEqual([]);
  });

  it("returns trimmed values and undefined for unset databases", () => {
    expect(
      readNotionSettings({ NOTION_API_KEY: " secret_x ", NOTION_PAGES_DB: " db1 " }, { database: "NOTION_PAGES_DB" }),
    ).toEqual({
      token: "secret_x",
      pagesDatabaseId: "db1",
      postsDatabaseId: undefined,
    });
  });
});

describe("successorMessage", () => {
  const TOKEN = "secret_ntn_Vx93kLmPq0";
  const settings = { baseUrl: "https://sync.example.com", notionToken: TOKEN };
  const step = { runId: "20250601T120000Z-abc123", seq: 4, force: false };

  it("addresses the section's endpoint with the run and step", () => {
    const msg = successorMessage(settings, "posts", step);
    expect(msg.destination).toBe("https://sync.example.com/api/sync/posts");
    expect(msg.body).toEqual({ runId: step.runId, seq: 4, force: false });
    expect(msg.failureCallback).toBe("https://sync.example.com/api/sync/failed");
  });

  it("has a deduplication id that is stable per run, section and step", () => {
    const id = (section: (typeof SECTIONS)[number], s = step) => successorMessage(settings, section, s).deduplicationId;
    expect(id("pages")).toBe(id("pages"));
    // A retried publish of the same step, even with another delay or force flag, is the same message.
    expect(successorMessage(settings, "pages", { ...step, retryAfterMs: 5_000 }).deduplicationId).toBe(id("pages"));
    const all = new Set<string>();
    for (const section of SECTIONS) {
      for (const seq of [0, 1, 2, 10, 11]) all.add(id(section, { ...step, seq }));
      all.add(id(section, { ...step, runId: "20250601T120000Z-zzz999" }));
    }
    expect(all.size).toBe(SECTIONS.length * 6);
  });

  it("sends at once without a Retry-After", () => {
    expect(successorMessage(settings, "pages", step).delaySeconds).toBeUndefined();
    expect(successorMessage(settings, "pages", { ...step, retryAfterMs: 0 }).delaySeconds).toBeUndefined();
  });

  it("never delays less than Retry-After, with at most a few seconds of jitter", () => {
    for (const retryAfterMs of [1, 999, 1_000, 1_001, 2_500, 30_000, 61_234]) {
      for (const r of [0, 0.5, 0.999999]) {
        const seconds = delayWithJitter(retryAfterMs, () => r);
        expect(Number.isInteger(seconds)).toBe(true);
        expect(seconds * 1000).toBeGreaterThanOrEqual(retryAfterMs);
        expect(seconds * 1000).toBeLessThan(retryAfterMs + 4_000);
      }
    }
    // Through the message, with the real random source.
    for (let i = 0; i < 50; i++) {
      const msg = successorMessage(settings, "children", { ...step, retryAfterMs: 2_500 });
      expect(msg.delaySeconds).toBeGreaterThanOrEqual(3);
      expect(msg.delaySeconds).toBeLessThanOrEqual(5);
    }
  });

  it("spreads chains released by one Retry-After", () => {
    const delays = new Set([0, 0.4, 0.8].map((r) => delayWithJitter(10_000, () => r)));
    expect(delays.size).toBeGreaterThan(1);
  });

  it("gives every section one flow-control key that does not contain the token", () => {
    const controls = SECTIONS.map((section) => successorMessage(settings, section, step).flowControl!);
    expect(new Set(controls.map((c) => c.key)).size).toBe(1);
    for (const c of controls) {
      expect(c.parallelism).toBe(1);
      expect(c.key).not.toContain(TOKEN);
      expect(c.key).not.toContain(TOKEN.slice(-10));
      expect(c.key).toMatch(/^[a-z0-9-]+$/);
    }
    const other = successorMessage({ ...settings, notionToken: "secret_other" }, "pages", step).flowControl!;
    expect(other.key).not.toBe(controls[0].key);
    expect(JSON.stringify(successorMessage(settings, "pages", step))).not.toContain(TOKEN);
  });
});

describe("publicBaseUrl (where QStash delivers)", () => {
  const request = new Request("http://127.0.0.1:3000/api/sync/pages");
  it("takes SYNC_BASE_URL, then NEXT_PUBLIC_SITE_URL, then the production domain, never the per-deployment VERCEL_URL", () => {
    expect(publicBaseUrl({ SYNC_BASE_URL: "https://site.example/", VERCEL_URL: "x-123.vercel.app" }, request)).toBe(
      "https://site.example",
    );
    expect(publicBaseUrl({ NEXT_PUBLIC_SITE_URL: "https://www.site.example" }, request)).toBe(
      "https://www.site.example",
    );
    expect(
      publicBaseUrl(
        { VERCEL: "1", VERCEL_URL: "x-123.vercel.app", VERCEL_PROJECT_PRODUCTION_URL: "site.example" },
        request,
      ),
    ).toBe("https://site.example");
    expect(publicBaseUrl({ VERCEL: "1", VERCEL_URL: "x-123.vercel.app" }, request)).toBeNull();
  });
  it("off Vercel, without any of them, is the origin the request came to (a local run)", () => {
    expect(publicBaseUrl({}, request)).toBe("http://127.0.0.1:3000");
  });
});
