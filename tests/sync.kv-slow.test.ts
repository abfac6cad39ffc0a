/**
 * A slow KV store (5 s per call, through a delaying TCP proxy in front of a
 * real redis-server) does not carry an invocation past its budget and tail:
 * it answers a JSON 503 in time, and the next call, with KV fast again,
 * resumes and converges.
 */
import net from "node:net";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_KV_BOUNDS } from "../lib/kv/bounded-store";
import { type Stack, diffKvWithWorkspace, invoke, startStack, syncAll } from "./support/harness";

/** Forwards to `port`, holding every chunk sent to the server for `delayMs()` first. */
async function delayingProxy(port: number, delayMs: () => number) {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: "127.0.0.1", port });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("error", () => {});
      s.on("close", () => sockets.delete(s));
    }
    client.on("data", (chunk) => {
      const ms = delayMs();
      if (ms > 0) setTimeout(() => upstream.write(chunk), ms);
      else upstream.write(chunk);
    });
    upstream.pipe(client);
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `redis://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe("KV slow (5 s a call)", () => {
  let stack: Stack;
  let proxy: Awaited<ReturnType<typeof delayingProxy>>;
  let delay = 0;
  const BUDGET_MS = 2000;
  beforeAll(async () => {
    stack = await startStack({
      workspace: { pages: 20, posts: 3, hugePages: 0 },
      env: { SYNC_BUDGET_MS: String(BUDGET_MS) },
    });
    proxy = await delayingProxy(Number(new URL(stack.redis.url).port), () => delay);
    stack.env.REDIS_URL = proxy.url;
  });
  afterAll(async () => {
    await proxy?.close();
    await stack?.close();
  });

  it("ends the invocation within its budget and tail with a JSON 503, and the next call resumes", async () => {
    // A first batch with KV fast, so the run is under way.
    expect((await invoke(stack, "pages")).status).toBe(200);
    delay = 5000;
    const started = Date.now();
    const slow = await invoke(stack, "pages");
    const took = Date.now() - started;
    expect(slow.status).toBe(503);
    expect(slow.body).toMatchObject({ ok: false, error: { code: "sync_error" } });
    expect(took).toBeLessThan(BUDGET_MS + DEFAULT_KV_BOUNDS.tailMs + 1000);
    delay = 0;
    // What the slow invocation sent still arrives; its lease expires (or was never taken).
    await new Promise((resolve) => setTimeout(resolve, 5500));
    await stack.kv.del([stack.keys.lease("pages")]);
    await syncAll(stack);
    expect(await diffKvWithWorkspace(stack)).toEqual([]);
  });
});
