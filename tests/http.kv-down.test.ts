/**
 * With the KV store down, every route still answers JSON with a status that
 * says so (503), never a 500, and never names the secret. With the Upstash
 * REST endpoint hanging, the client's own requests (and its retries) end with
 * the invocation, not after it.
 */
import net from "node:net";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { DEFAULT_KV_BOUNDS } from "../lib/kv/bounded-store";
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
    [
      "status",
      () => handleStatus(new Request(`http://localhost/api/sync/status?secret=${SECRET}`), env),
      "kv_unavailable",
    ],
    [
      "trigger (inline fallback)",
      () => handleTrigger(new Request(`http://localhost/api/sync/trigger?secret=${SECRET}`), env),
      "kv_unavailable",
    ],
    [
      "a section",
      () => handleSync("pages", new Request(`http://localhost/api/sync/pages?secret=${SECRET}`), env),
      "sync_error",
    ],
    [
      "a forced section call",
      () =>
        handleSync("pages", new Request(`http://localhost/api/sync/pages?secret=${SECRET}&force=1`), {
          ...env,
          SYNC_MIN_FORCE_INTERVAL_S: "600",
        }),
      "kv_unavailable",
    ],
  ])("%s answers JSON 503", async (_name, call, code) => {
    const response = await call();
    expect(response.status).toBe(503);
    const text = await response.text();
    expect(JSON.parse(text)).toMatchObject({ ok: false, error: { code } });
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain("127.0.0.1:1");
  });
});

/** A broken Upstash endpoint: it takes requests, then hangs or resets the connection. Counts the requests' data. */
async function brokenServer(mode: "hang" | "reset") {
  const open = new Set<net.Socket>();
  let accepted = 0;
  // Requests, not connections: after an abort undici may open a spare connection that sends nothing.
  const server = net.createServer((socket) => {
    socket.on("error", () => {});
    socket.on("data", () => accepted++);
    if (mode === "reset") return void socket.once("data", () => socket.resetAndDestroy());
    socket.once("data", () => open.add(socket));
    socket.on("close", () => open.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    accepted: () => accepted,
    /** Connections that carried a request and are still open (a hung request the client never dropped). */
    hung: () => open.size,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe("the Upstash REST endpoint is broken", () => {
  const budgetMs = 1000;
  it.each([
    // Hung requests are aborted at the call's deadline (lib/kv/call-deadline.ts).
    ["hangs", "hang" as const, budgetMs + DEFAULT_KV_BOUNDS.tailMs + 1000],
    // The client's retries are few and short (its default is 5, with up to 2.7 s between them).
    ["resets every connection", "reset" as const, 1500],
  ])(
    "%s: the invocation answers JSON 503 in time, and the client sends nothing more after it",
    async (_name, mode, withinMs) => {
      const upstash = await brokenServer(mode);
      try {
        const started = Date.now();
        const response = await handleSync("pages", new Request(`http://localhost/api/sync/pages?secret=${SECRET}`), {
          ...env,
          REDIS_URL: "",
          KV_REST_API_URL: upstash.url,
          KV_REST_API_TOKEN: "broken-token-0123456789",
          SYNC_BUDGET_MS: String(budgetMs),
        });
        expect(Date.now() - started).toBeLessThan(withinMs);
        expect(response.status).toBe(503);
        const text = await response.text();
        expect(JSON.parse(text)).toMatchObject({ ok: false, error: { code: "sync_error" } });
        expect(text).not.toContain("broken-token");
        expect(upstash.accepted()).toBeGreaterThan(0);
        const atAnswer = upstash.accepted();
        // The hung request was aborted (not merely abandoned): its connection is closed.
        await new Promise((resolve) => setTimeout(resolve, 500));
        expect(upstash.hung()).toBe(0);
        await new Promise((resolve) => setTimeout(resolve, 3000));
        expect(upstash.accepted()).toBe(atAnswer);
      } finally {
        await upstash.close();
      }
    },
  );
});
