/**
 * The catch-all that serves every /api/sync endpoint (lib/http/sync-router.ts):
 * which handler a path and method reach, and the JSON 405s and 404s it answers
 * itself. Only answers given before any KV or Notion call are asserted here;
 * the e2e suites run the whole endpoints through it over `next start`.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { syncRouter } from "../../lib/http/sync-router";

const router = syncRouter();
const SECRET = "router-test-secret-0123456789";

type Method = keyof typeof router;

async function call(method: Method, path: string[] | undefined, init: RequestInit = {}) {
  const url = `http://localhost/api/sync/${(path ?? []).join("/")}`;
  const request = new Request(url, { method: init.method ?? method, ...init });
  const response = await router[method](request, { params: Promise.resolve(path === undefined ? {} : { path }) });
  const text = await response.text();
  return { status: response.status, allow: response.headers.get("allow"), body: text ? JSON.parse(text) : null };
}

describe("sync router", () => {
  beforeEach(() => {
    vi.stubEnv("CRON_SECRET", SECRET);
    // Nothing here may reach a store: a KV variable pointing nowhere would turn a slip into a 503, not a pass.
    vi.stubEnv("REDIS_URL", "redis://127.0.0.1:1");
  });
  afterEach(() => vi.unstubAllEnvs());

  it("answers each endpoint's other methods with a JSON 405 naming the ones it takes", async () => {
    const cases: [Method, string[] | undefined, string][] = [
      ["PUT", ["pages"], "GET, POST"],
      ["PATCH", ["posts"], "GET, POST"],
      ["DELETE", ["trigger"], "GET, POST"],
      ["DELETE", undefined, "GET, POST"],
      ["PUT", ["dirty"], "GET, POST"],
      ["POST", ["status"], "GET"],
      ["GET", ["failed"], "POST"],
      ["HEAD", ["pages"], "GET, POST"],
      ["HEAD", ["trigger"], "GET, POST"],
    ];
    for (const [method, path, allow] of cases) {
      const answer = await call(method, path);
      expect(answer, `${method} ${path?.join("/")}`).toMatchObject({
        status: 405,
        allow,
        body: { ok: false, error: { code: "method_not_allowed" } },
      });
    }
  });

  it("never syncs on HEAD, even when Next.js answers HEAD with the GET export", async () => {
    const answer = await call("GET", ["pages"], { method: "HEAD" });
    expect(answer).toMatchObject({ status: 405, allow: "GET, POST" });
  });

  it("HEAD on the status runs the status read (its auth answers first)", async () => {
    expect(await call("HEAD", ["status"])).toMatchObject({ status: 401, body: { error: { code: "unauthorized" } } });
  });

  it("reaches each endpoint's own handler: their auth answers without a secret", async () => {
    for (const path of [["pages"], ["trigger"], undefined, ["status"]]) {
      const answer = await call("GET", path);
      expect(answer, path?.join("/")).toMatchObject({ status: 401, body: { error: { code: "unauthorized" } } });
    }
    // The failure callback takes signed QStash deliveries only.
    expect(await call("POST", ["failed"])).toMatchObject({
      status: 503,
      body: { error: { code: "qstash_not_configured" } },
    });
  });

  it("a deeper path is a JSON 404", async () => {
    expect(await call("GET", ["pages", "extra"])).toMatchObject({
      status: 404,
      body: { ok: false, error: { code: "not_found" } },
    });
  });
});
