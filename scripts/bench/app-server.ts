/**
 * The product's real route handlers (handleSync, handleTrigger) behind a plain
 * node:http server in this process, so the QStash test server can deliver to
 * them over HTTP as it would to a deployment, and this process can measure
 * them. Every answer of a section endpoint is recorded (its elapsedMs, the
 * invocation's budget use).
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { SECTIONS, type Section } from "../../lib/core/sections";
import { handleSync } from "../../lib/http/sync-route";
import { handleTrigger } from "../../lib/http/trigger-route";

export interface InvocationRecord {
  section: string;
  status: number;
  elapsedMs: number | null;
  ran: boolean;
  at: number;
}

export interface AppServer {
  url: string;
  invocations: InvocationRecord[];
  close(): Promise<void>;
}

export async function startAppServer(env: () => Record<string, string>): Promise<AppServer> {
  const invocations: InvocationRecord[] = [];
  const server = http.createServer((req, res) => {
    void (async () => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const url = new URL(req.url ?? "/", `http://${req.headers.host ?? "localhost"}`);
      const headers = new Headers();
      for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(", ") : v);
      const method = req.method ?? "GET";
      const request = new Request(url, { method, headers, ...(method === "GET" || method === "HEAD" ? {} : { body: Buffer.concat(chunks) }) });
      const section = url.pathname.replace(/^\/api\/sync\//, "") as Section;
      let response: Response;
      if (url.pathname === "/api/sync/trigger") response = await handleTrigger(request, env());
      else if (SECTIONS.includes(section)) {
        response = await handleSync(section, request, env());
        const text = await response.clone().text();
        let json: Record<string, unknown> = {};
        try {
          json = JSON.parse(text) as Record<string, unknown>;
        } catch {
          // not JSON: recorded as is
        }
        invocations.push({ section, status: response.status, elapsedMs: typeof json.elapsedMs === "number" ? json.elapsedMs : null, ran: typeof json.invocation === "number", at: Date.now() });
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
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
