/**
 * A local stand-in for the Upstash Redis REST API in front of a real
 * redis-server, so `@vercel/kv` / `@upstash/redis` run unmodified in tests.
 *
 *   POST /            body ["SET","k","v"]              → {result} | 400 {error}
 *   POST /pipeline    body [["SET",...],["GET",...]]    → [{result}|{error}, ...]
 *   POST /multi-exec  same, inside MULTI/EXEC           → [{result}|{error}, ...]
 *   GET|POST /get/k   path-style command (POST body = last argument)
 *
 * `Authorization: Bearer <token>` (or ?_token=) is required → 401 otherwise.
 * With `Upstash-Encoding: base64` string results are base64 encoded exactly
 * the way @upstash/redis's `decode()` undoes it (see encodeResult).
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { createClient } from "redis";

export interface UpstashBridge {
  url: string;
  token: string;
  /** HTTP requests received so far (including rejected ones). */
  requests(): number;
  /** "METHOD /path" of every request so far, oldest first. */
  log(): string[];
  close(): Promise<void>;
}

/** Upstash caps a request body at 10 MB; mirror it so oversize batches fail here too. */
const MAX_BODY_BYTES = 10 * 1024 * 1024;

type Reply = { result: unknown } | { error: string };

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");

/**
 * Mirrors @upstash/redis `decode()`:
 * - a top-level string is decoded unless it is exactly "OK";
 * - strings directly inside a top-level array are always decoded (no "OK"
 *   exception), nested arrays are decoded element-wise with the top-level rule;
 * - numbers and null pass through.
 */
function encodeResult(value: unknown): unknown {
  if (typeof value === "string") return value === "OK" ? value : b64(value);
  if (Array.isArray(value)) {
    return value.map((v) => (typeof v === "string" ? b64(v) : Array.isArray(v) ? v.map(encodeResult) : v));
  }
  return value;
}

/** JSON arguments may be numbers or booleans; Redis only takes strings. */
function toArgs(cmd: unknown): string[] {
  if (!Array.isArray(cmd) || cmd.length === 0) throw new HttpError(400, "ERR failed to parse command");
  return cmd.map((a) => (typeof a === "string" ? a : typeof a === "object" && a !== null ? JSON.stringify(a) : String(a)));
}

function toCommands(body: unknown): string[][] {
  if (!Array.isArray(body) || body.length === 0) throw new HttpError(400, "ERR failed to parse pipeline request");
  return body.map(toArgs);
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new HttpError(400, "ERR max request size exceeded"));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, "ERR failed to parse command");
  }
}

export async function startUpstashBridge({ redisUrl, token }: { redisUrl: string; token: string }): Promise<UpstashBridge> {
  // RESP2: the REST API answers with RESP2 shapes (arrays, not maps).
  const redis = createClient({ url: redisUrl, RESP: 2 });
  redis.on("error", () => {}); // failures surface per request
  await redis.connect();
  const seen: string[] = [];

  const exec = (args: string[]) => redis.sendCommand(args) as Promise<unknown>;

  async function single(args: string[]): Promise<unknown> {
    try {
      return await exec(args);
    } catch (err) {
      throw new HttpError(400, message(err));
    }
  }

  async function pipeline(cmds: string[][]): Promise<Reply[]> {
    // Sent back to back on one connection: node-redis pipelines them.
    const settled = await Promise.allSettled(cmds.map(exec));
    return settled.map((s) => (s.status === "fulfilled" ? { result: s.value } : { error: message(s.reason) }));
  }

  async function multiExec(cmds: string[][]): Promise<Reply[]> {
    const tx = redis.multi();
    for (const args of cmds) tx.addCommand(args);
    try {
      const replies = (await tx.exec()) as unknown[];
      return replies.map((r) => ({ result: r }));
    } catch (err) {
      // Runtime errors of single elements (WRONGTYPE): the rest was applied.
      const e = err as { replies?: unknown[]; errorIndexes?: number[] };
      if (Array.isArray(e.replies) && Array.isArray(e.errorIndexes)) {
        return e.replies.map((r) => (r instanceof Error ? { error: r.message } : { result: r }));
      }
      // Queue-time errors (syntax, unknown command) abort the whole EXEC.
      throw new HttpError(400, message(err));
    }
  }

  async function handle(req: http.IncomingMessage): Promise<{ status: number; body: unknown }> {
    const url = new URL(req.url ?? "/", "http://bridge");
    const auth = req.headers.authorization ?? "";
    if (auth !== `Bearer ${token}` && url.searchParams.get("_token") !== token) {
      return { status: 401, body: { error: "Unauthorized" } };
    }
    const base64 = String(req.headers["upstash-encoding"] ?? "").toLowerCase() === "base64";
    const encode = (v: unknown) => (base64 ? encodeResult(v) : v);
    const encodeAll = (replies: Reply[]) => replies.map((r) => ("result" in r ? { result: encode(r.result) } : r));
    const segments = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
    const text = req.method === "POST" ? await readBody(req) : "";

    if (segments.length === 0) {
      if (req.method !== "POST") throw new HttpError(405, "ERR use POST");
      return { status: 200, body: { result: encode(await single(toArgs(parseJson(text)))) } };
    }
    if (segments.length === 1 && segments[0] === "pipeline") {
      return { status: 200, body: encodeAll(await pipeline(toCommands(parseJson(text)))) };
    }
    if (segments.length === 1 && segments[0] === "multi-exec") {
      return { status: 200, body: encodeAll(await multiExec(toCommands(parseJson(text)))) };
    }
    // Path style: /set/key/value, or POST /set/key with the value as body.
    const args = text ? [...segments, text] : segments;
    return { status: 200, body: { result: encode(await single(args)) } };
  }

  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${new URL(req.url ?? "/", "http://bridge").pathname}`);
    handle(req)
      .catch((err: unknown) =>
        err instanceof HttpError
          ? { status: err.status, body: { error: err.message } }
          : { status: 500, body: { error: `ERR bridge: ${message(err)}` } },
      )
      .then(({ status, body }) => {
        const json = JSON.stringify(body);
        res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(json) });
        res.end(json);
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  let closed = false;
  return {
    url: `http://127.0.0.1:${port}`,
    token,
    requests: () => seen.length,
    log: () => [...seen],
    async close() {
      if (closed) return;
      closed = true;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Clients keep connections alive; do not wait for them to time out.
        server.closeAllConnections();
      });
      await redis.close().catch(() => redis.destroy());
    },
  };
}
