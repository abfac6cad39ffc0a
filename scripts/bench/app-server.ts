/**
 * The product's real route handlers (handleSync, handleTrigger, and for the
 * webhook run handleWebhook at /api/notion/webhook and handleDirty at
 * /api/sync/dirty) behind a plain node:http server in this process, so the
 * QStash test server and the emulator's webhook delivery can reach them over
 * HTTP as they would a deployment, and this process can measure them. Every
 * answer of a section endpoint is recorded (when it started and ended, its
 * elapsedMs: the invocation's budget use), and every webhook and dirty answer.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Section } from "../../lib/core/sections";
import { handleSync } from "../../lib/http/sync-route";
import { handleTrigger } from "../../lib/http/trigger-route";
import { handleDirty } from "../../lib/http/dirty-route";
import { handleWebhook } from "../../lib/http/webhook-route";

export interface InvocationRecord {
  section: string;
  status: number;
  elapsedMs: number | null;
  ran: boolean;
  /** When the request arrived and when its answer was ready (epoch ms). */
  startedAt: number;
  at: number;
}

/** An answer of /api/notion/webhook or /api/sync/dirty. */
export interface HookRecord {
  path: "/api/notion/webhook" | "/api/sync/dirty";
  status: number;
  startedAt: number;
  at: number;
  json: Record<string, unknown> | null;
}

export interface AppServer {
  url: string;
  invocations: InvocationRecord[];
  hooks: HookRecord[];
  close(): Promise<void>;
}

async function jsonOf(response: Response): Promise<Record<string, unknown> | null> {
  try {
    return JSON.parse(await response.clone().text()) as Record<string, unknown>;
  } catch {
    return null;
  }
}

export async function startAppServer(env: () => Record<string, string>): Promise<AppServer> {
  const invocations: InvocationRecord[] = [];
  const hooks: HookRecord[] = [];
  const server = http.createServer((req, res) => {
    void (async () => {
      const startedAt = Date.now();
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const url = new URL(req.url ?? "/", `http://${req.headers.host ?? "localhost"}`);
      const headers = new Headers();
      for (const [k, v] of Object.entries(req.headers))
        if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(", ") : v);
      const method = req.method ?? "GET";
      const request = new Request(url, {
        method,
        headers,
        ...(method === "GET" || method === "HEAD" ? {} : { body: Buffer.concat(chunks) }),
      });
      const section = url.pathname.replace(/^\/api\/sync\//, "") as Section;
      let response: Response;
      if (url.pathname === "/api/sync/trigger") response = await handleTrigger(request, env());
      else if (url.pathname === "/api/notion/webhook" || url.pathname === "/api/sync/dirty") {
        response =
          url.pathname === "/api/notion/webhook"
            ? await handleWebhook(request, env())
            : await handleDirty(request, env());
        hooks.push({
          path: url.pathname,
          status: response.status,
          startedAt,
          at: Date.now(),
          json: await jsonOf(response),
        });
      } else if (/^\/api\/sync\/[^/]+$/.test(url.pathname)) {
        // Any section name, as the dynamic route takes it: one the workspace lacks is answered 404 by the handler.
        response = await handleSync(section, request, env());
        // not JSON: recorded as is
        const json = (await jsonOf(response)) ?? {};
        invocations.push({
          section,
          status: response.status,
          elapsedMs: typeof json.elapsedMs === "number" ? json.elapsedMs : null,
          ran: typeof json.invocation === "number",
          startedAt,
          at: Date.now(),
        });
      } else response = new Response("not found", { status: 404 });
      const body = Buffer.from(await response.arrayBuffer());
      const out: Record<string, string> = {};
      response.headers.forEach((v, k) => (out[k] = v));
      res.writeHead(response.status, { ...out, "content-length": String(body.length) });
      res.end(body);
    })().catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
      res.end(String(err));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    invocations,
    hooks,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
