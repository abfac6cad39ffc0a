/**
 * A forwarding HTTP proxy for the servers the bench and scale children run
 * (scripts/bench/child.ts, scripts/scale/child.ts): it can look at each
 * request, hold its answer back (Notion's latency) and rewrite headers.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

function listen(server: http.Server): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
  });
}

function readAll(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

const HOP = new Set(["host", "connection", "keep-alive", "transfer-encoding", "content-length"]);

/** Forwards every request to `upstream`; `onRequest` may inspect it, `delayMs` holds the answer back. */
export async function startProxy(
  upstream: string,
  hooks: {
    onRequest?: (path: string, body: Buffer) => void;
    delayMs?: () => number;
    rewrite?: (headers: Record<string, string>) => void;
    /** Changes a request's headers before it is forwarded. */
    rewriteRequest?: (path: string, headers: Record<string, string>, body: Buffer) => void;
    /** Each request's arrival and answer (epoch ms, the latency included). */
    onDone?: (startedAt: number, endedAt: number) => void;
  },
) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const server = http.createServer((req, res) => {
    void (async () => {
      const started = performance.now();
      const startedAt = Date.now();
      const body = await readAll(req);
      hooks.onRequest?.(req.url ?? "/", body);
      const delay = hooks.delayMs?.() ?? 0;
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers))
        if (v !== undefined && !HOP.has(k)) headers[k] = Array.isArray(v) ? v.join(", ") : v;
      hooks.rewriteRequest?.(req.url ?? "/", headers, body);
      const target = new URL(req.url ?? "/", upstream);
      const answer = await new Promise<{ status: number; headers: Record<string, string>; body: Buffer }>(
        (resolve, reject) => {
          const out = http.request(
            target,
            { method: req.method, headers: { ...headers, "content-length": String(body.length) }, agent },
            (r) => {
              void readAll(r).then((b) => {
                const h: Record<string, string> = {};
                for (const [k, v] of Object.entries(r.headers))
                  if (v !== undefined && !HOP.has(k)) h[k] = Array.isArray(v) ? v.join(", ") : v;
                resolve({ status: r.statusCode ?? 502, headers: h, body: b });
              }, reject);
            },
          );
          out.on("error", reject);
          out.end(body);
        },
      );
      hooks.rewrite?.(answer.headers);
      const wait = delay - (performance.now() - started);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      res.writeHead(answer.status, { ...answer.headers, "content-length": String(answer.body.length) });
      res.end(answer.body);
      hooks.onDone?.(startedAt, Date.now());
    })().catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
      res.end(`bench proxy: ${err instanceof Error ? err.message : String(err)}`);
    });
  });
  const url = await listen(server);
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        agent.destroy();
      }),
  };
}

/** Counts a request's Notion-Version header (the version the client sent: what a bench row ran under). */
export function countVersion(versions: Record<string, number>, headers: Record<string, string>): void {
  const version = headers["notion-version"];
  if (version) versions[version] = (versions[version] ?? 0) + 1;
}
