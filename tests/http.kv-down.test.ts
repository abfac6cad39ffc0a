/**
 * With the KV store down, every route still answers JSON with a status that
 * says so (503), never a 500, and never names the secret.
 */
import { describe, expect, it } from "vitest";
import { handleStatus } from "../lib/http/status-route";
import { handleSync } from "../lib/http/sync-route";
import { handleTrigger } from "../lib/http/trigger-route";

const SECRET = "kv-down-secret-0123456789";
// Nothing listens on port 1: every connection is refused at once.
const env = {
  CRON_SECRET: SECRET,
  NOTION_API_KEY: "secret_not_used",
  NOTION_PAGES_DB: "11111111111111111111111111111111",
  NOTION_POSTS_DB: "22222222222222222222222222222222",
  REDIS_URL: "redis://127.0.0.1:1",
  SYNC_LOG: "off",
  SYNC_INLINE_FALLBACK: "1",
};

describe("the KV store is down", () => {
  it.each([
    ["status", () => handleStatus(new Request(`http://localhost/api/sync/status?secret=${SECRET}`), env), "kv_unavailable"],
    ["trigger (inline fallback)", () => handleTrigger(new Request(`http://localhost/api/sync/trigger?secret=${SECRET}`), env), "kv_unavailable"],
    ["a section", () => handleSync("pages", new Request(`http://localhost/api/sync/pages?secret=${SECRET}`), env), "sync_error"],
  ])("%s answers JSON 503", async (_name, call, code) => {
    const response = await call();
    expect(response.status).toBe(503);
    const text = await response.text();
    expect(JSON.parse(text)).toMatchObject({ ok: false, error: { code } });
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain("127.0.0.1:1");
  });
});
