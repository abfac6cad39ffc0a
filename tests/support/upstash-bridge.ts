/**
 * A local stand-in for the Upstash Redis REST API in front of a real
 * redis-server, so `@vercel/kv` / `@upstash/redis` run unmodified in tests.
 *
 *   POST /            body ["SET","k","v"]              → {result} | 400 {error}
 *   POST /pipeline    body [["SET",...],["GET",...]]    → [{result}|{error}, ...]
 *   POST /multi-exec  same, inside MULTI/EXEC           → [{result}|{error}, ...] | 400 {error}
 *   GET|POST /get/k   path-style command (POST body = last argument)
 *
 * `Authorization: Bearer <token>` (or ?_token=) is required → 401 otherwise.
 * With `Upstash-Encoding: base64` string results are base64 encoded exactly
 * the way @upstash/redis's `decode()` undoes it (see encodeResult).
 *
 * Limits, as Upstash enforces them on Free / Pay-as-you-go databases (sizes
 * from upstash/docs redis/overall/billing.mdx; texts from the troubleshooting
 * pages and from errors users reported, see the constants below):
 * - a request body over 10 MiB is refused whole (400, nothing runs), as is a
 *   single reply over 10 MiB (Upstash applies "max request size" to what a
 *   command returns too: an LRANGE or HGETALL of a big key fails with it);
 * - a write that would make one record (a key's value: a string's length, the
 *   sum of a set's / list's / hash's members) larger than 100 MiB is refused:
 *   a single command with 400, that element of a /pipeline with {error}, a
 *   whole /multi-exec with 400 (nothing runs; Upstash discards a transaction
 *   as a whole for size limits, upstash/docs redis/features/restapi.mdx).
 *   Checked before running, from the sizes in Redis plus what the request
 *   adds (SADD counts every member sent, even one already there). Reading
 *   those sizes costs one EVAL on the redis-server behind the bridge per
 *   request that grows a record relatively (SADD, APPEND...; not SET): it
 *   shows in that server's INFO (redis-meter.ts), never in stats().
 *
 * Metering (stats(), resetStats()), as Upstash bills: see BridgeStats.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { createClient } from "redis";
import { RECORD_SIZE_ESTIMATE_LUA } from "./redis-meter";

export interface BridgeStats {
  /**
   * Billed commands executed: each element of a /pipeline or /multi-exec is
   * one, like a single command. The MULTI and EXEC around a /multi-exec are
   * not counted: the REST client never sends them, and Upstash bills "each
   * command inside a pipeline or transaction" (upstash/docs
   * redis/overall/billing.mdx) without mentioning the wrapper. Commands
   * Upstash does not charge (AUTH, INFO, PING, QUIT, COMMAND) are left out.
   * A command Redis answered with an error (WRONGTYPE) still counts; one the
   * bridge refused (401, size limits, unparsable body) never ran and does not.
   */
  commands: number;
  /** HTTP request body bytes received, every request included (refused ones too). */
  requestBytes: number;
  /** HTTP response body bytes sent (JSON, after base64 encoding), every response included. */
  responseBytes: number;
  /**
   * Sum of the UTF-8 byte lengths of the value arguments of write commands
   * that wrote: SET / SETNX / GETSET / SETEX / PSETEX / APPEND / SETRANGE
   * value, each MSET / MSETNX value, each SADD / LPUSH / RPUSH member, each
   * HSET value. Keys, options and field names are not values. Not counted: a
   * command answered with an error, a SET NX/XX that answered nil, a SETNX /
   * MSETNX that answered 0. SADD counts every member sent, even ones already
   * in the set (the reply does not say which were new).
   */
  writtenBytes: number;
  /** The largest single value argument counted in writtenBytes (one SET value, one set member). */
  largestValueBytes: number;
  /** Commands executed per name (lower case), billed or not; sum ≥ commands. */
  byCommand: Record<string, number>;
}

export interface UpstashBridge {
  url: string;
  token: string;
  /** HTTP requests received so far (including rejected ones). */
  requests(): number;
  /** "METHOD /path" of every request so far, oldest first. */
  log(): string[];
  /** Counters since start or the last resetStats(); a copy. */
  stats(): BridgeStats;
  resetStats(): void;
  close(): Promise<void>;
}

export interface UpstashBridgeOptions {
  redisUrl: string;
  token: string;
  /** Largest request body accepted, in bytes (Upstash: 10 MiB). */
  maxRequestBytes?: number;
  /** Largest reply of one command, in RESP bytes (Upstash: the request limit applies to replies too). */
  maxResponseBytes?: number;
  /** Largest record a write may produce, in bytes (Upstash: 100 MiB). */
  maxRecordBytes?: number;
}

/** Upstash's limits on Free and Pay-as-you-go databases. */
export const UPSTASH_MAX_REQUEST_BYTES = 10 * 1024 * 1024;
export const UPSTASH_MAX_RECORD_BYTES = 100 * 1024 * 1024;

/**
 * Upstash's text, as users received it (e.g. directus/directus#20500,
 * postalsys/emailengine#452: "ERR max request size exceeded. Limit: 1048576
 * bytes, Actual: 5241200 bytes. See https://upstash.com/docs/redis/troubleshooting/max_request_size_exceeded
 * for details"); 10485760 is the limit such errors name on a 10 MB database.
 */
export const requestTooLargeError = (limit: number, actual: number) =>
  `ERR max request size exceeded. Limit: ${limit} bytes, Actual: ${actual} bytes. ` +
  "See https://upstash.com/docs/redis/troubleshooting/max_request_size_exceeded for details";

/**
 * "ERR max single record size exceeded" is the documented text (upstash/docs
 * redis/troubleshooting/max_record_size_exceeded.mdx); the "Limit/Actual"
 * tail follows the request and key size errors and is not confirmed.
 */
export const recordTooLargeError = (limit: number, actual: number) =>
  `ERR max single record size exceeded. Limit: ${limit} bytes, Actual: ${actual} bytes. ` +
  "See https://upstash.com/docs/redis/troubleshooting/max_record_size_exceeded for details";

/** Operational commands Upstash does not charge for. */
const NOT_BILLED = new Set(["auth", "info", "ping", "quit", "command"]);

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
const bytes = (s: string) => Buffer.byteLength(s, "utf8");
const sum = (xs: string[]) => xs.reduce((n, x) => n + bytes(x), 0);

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
  return cmd.map((a) =>
    typeof a === "string" ? a : typeof a === "object" && a !== null ? JSON.stringify(a) : String(a),
  );
}

function toCommands(body: unknown): string[][] {
  if (!Array.isArray(body) || body.length === 0) throw new HttpError(400, "ERR failed to parse pipeline request");
  return body.map(toArgs);
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

/**
 * Reads the whole body, but keeps it only while it is within `limit`: an
 * oversize body is drained and counted (answering before the client has
 * finished sending would make it see a reset connection and retry), then
 * refused with its real size.
 */
function readBody(req: http.IncomingMessage, limit: number): Promise<{ text: string | null; size: number }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size <= limit) chunks.push(c);
      else chunks.length = 0;
    });
    req.on("end", () => resolve({ text: size <= limit ? Buffer.concat(chunks).toString("utf8") : null, size }));
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

const nameOf = (args: string[]) => args[0].toLowerCase();

/**
 * A reply's size as Redis sends it (RESP2), the measure the response limit
 * uses: independent of the JSON escaping and base64 encoding added on top.
 */
function respBytes(value: unknown): number {
  if (value === null || value === undefined) return 5; // $-1\r\n
  if (typeof value === "string") {
    const n = bytes(value);
    return bytes(`$${n}\r\n`) + n + 2;
  }
  if (Array.isArray(value)) return value.reduce((n: number, v) => n + respBytes(v), bytes(`*${value.length}\r\n`));
  return bytes(`:${String(value)}\r\n`);
}

/** The value arguments of a write command (see BridgeStats.writtenBytes). */
function valueArgs(args: string[]): string[] {
  switch (nameOf(args)) {
    case "set":
    case "setnx":
    case "getset":
    case "append":
      return args.slice(2, 3);
    case "setex":
    case "psetex":
    case "setrange":
      return args.slice(3, 4);
    case "mset":
    case "msetnx":
      return args.filter((_, i) => i >= 2 && i % 2 === 0);
    case "sadd":
    case "lpush":
    case "rpush":
    case "lpushx":
    case "rpushx":
      return args.slice(2);
    case "hset":
    case "hmset":
    case "hsetnx":
      return args.filter((_, i) => i >= 3 && i % 2 === 1);
    case "eval":
    case "evalsha":
      // A script's ARGV is what it may write (the engine's fenced batches: values, members and a
      // few short op tokens), counted whole: an upper bound on the values written.
      return args.slice(3 + Number(args[2] ?? 0));
    default:
      return [];
  }
}

/** Whether a write command's (non-error) reply means it wrote nothing. */
function wroteNothing(args: string[], result: unknown): boolean {
  const name = nameOf(args);
  if (name === "set") {
    const flags = args.slice(3).map((a) => a.toUpperCase());
    return result === null && (flags.includes("NX") || flags.includes("XX"));
  }
  if (name === "setnx" || name === "msetnx" || name === "hsetnx") return Number(result) === 0;
  // The fenced batch answers 0 when its guard did not hold (nothing written); other scripts may write and answer anything.
  if ((name === "eval" || name === "evalsha") && args[1]?.includes("KEYS[1]) ~= ARGV[1] then return 0"))
    return Number(result) === 0;
  return false;
}

/**
 * How a command changes record sizes: `to` sets a key's size, `add` grows it,
 * `atLeast` grows it to at least that (SETRANGE). Commands that cannot grow a
 * record past what it already is (reads, SREM, SDIFFSTORE...) have none.
 */
type Effect = { key: string; to?: number; add?: number; atLeast?: number };

function recordEffects(args: string[]): Effect[] {
  const name = nameOf(args);
  switch (name) {
    case "set":
    case "setnx":
    case "getset":
      return args.length > 2 ? [{ key: args[1], to: bytes(args[2]) }] : [];
    case "setex":
    case "psetex":
      return args.length > 3 ? [{ key: args[1], to: bytes(args[3]) }] : [];
    case "mset":
    case "msetnx": {
      const out: Effect[] = [];
      for (let i = 1; i + 1 < args.length; i += 2) out.push({ key: args[i], to: bytes(args[i + 1]) });
      return out;
    }
    case "append":
      return args.length > 2 ? [{ key: args[1], add: bytes(args[2]) }] : [];
    case "setrange":
      return args.length > 3 ? [{ key: args[1], atLeast: Number(args[2]) + bytes(args[3]) }] : [];
    case "sadd":
    case "lpush":
    case "rpush":
    case "lpushx":
    case "rpushx":
      return args.length > 2 ? [{ key: args[1], add: sum(args.slice(2)) }] : [];
    case "hset":
    case "hmset":
    case "hsetnx":
      return args.length > 2 ? [{ key: args[1], add: sum(args.slice(2)) }] : [];
    case "del":
    case "unlink":
      return args.slice(1).map((key) => ({ key, to: 0 }));
    default:
      return [];
  }
}

export async function startUpstashBridge(options: UpstashBridgeOptions): Promise<UpstashBridge> {
  const { redisUrl, token } = options;
  const maxRequest = options.maxRequestBytes ?? UPSTASH_MAX_REQUEST_BYTES;
  const maxResponse = options.maxResponseBytes ?? maxRequest;
  const maxRecord = options.maxRecordBytes ?? UPSTASH_MAX_RECORD_BYTES;
  // RESP2: the REST API answers with RESP2 shapes (arrays, not maps).
  const redis = createClient({ url: redisUrl, RESP: 2 });
  redis.on("error", () => {}); // failures surface per request
  await redis.connect();
  const seen: string[] = [];

  const emptyStats = (): BridgeStats => ({
    commands: 0,
    requestBytes: 0,
    responseBytes: 0,
    writtenBytes: 0,
    largestValueBytes: 0,
    byCommand: {},
  });
  let stats = emptyStats();

  /** Books one executed command and its reply (or error). */
  function meter(args: string[], reply: Reply) {
    const name = nameOf(args);
    stats.byCommand[name] = (stats.byCommand[name] ?? 0) + 1;
    if (!NOT_BILLED.has(name)) stats.commands++;
    if ("error" in reply || wroteNothing(args, reply.result)) return;
    for (const v of valueArgs(args)) {
      const n = bytes(v);
      stats.writtenBytes += n;
      if (n > stats.largestValueBytes) stats.largestValueBytes = n;
    }
  }

  const exec = (args: string[]) => redis.sendCommand(args) as Promise<unknown>;

  /**
   * The record size limit for a batch, before anything runs: the index and
   * error of each command that would make a record too large. A refused
   * command's own effects are not applied to the ones after it.
   */
  async function recordRefusals(cmds: string[][]): Promise<Map<number, string>> {
    const effects = cmds.map(recordEffects);
    const relative = [
      ...new Set(
        effects
          .flat()
          .filter((e) => e.to === undefined)
          .map((e) => e.key),
      ),
    ];
    const refused = new Map<number, string>();
    if (effects.every((es) => es.length === 0)) return refused;
    const current = new Map<string, number>();
    if (relative.length > 0) {
      const sizes = (await redis.eval(RECORD_SIZE_ESTIMATE_LUA, { keys: relative, arguments: [] })) as number[];
      relative.forEach((key, i) => current.set(key, Math.max(0, Number(sizes[i]))));
    }
    effects.forEach((es, i) => {
      const next = new Map<string, number>();
      for (const e of es) {
        const was = next.get(e.key) ?? current.get(e.key) ?? 0;
        next.set(e.key, e.to ?? (e.add !== undefined ? was + e.add : Math.max(was, e.atLeast ?? 0)));
      }
      const over = [...next.values()].find((size) => size > maxRecord);
      if (over !== undefined) refused.set(i, recordTooLargeError(maxRecord, over));
      else for (const [key, size] of next) current.set(key, size);
    });
    return refused;
  }

  /** A reply too large to send is replaced by Upstash's request size error. */
  function limitReply(reply: Reply, encode: (v: unknown) => unknown): Reply {
    if (!("result" in reply)) return reply;
    const size = respBytes(reply.result);
    return size > maxResponse ? { error: requestTooLargeError(maxResponse, size) } : { result: encode(reply.result) };
  }

  async function single(args: string[], encode: (v: unknown) => unknown): Promise<unknown> {
    const refused = (await recordRefusals([args])).get(0);
    if (refused) throw new HttpError(400, refused);
    let reply: Reply;
    try {
      reply = { result: await exec(args) };
    } catch (err) {
      reply = { error: message(err) };
    }
    meter(args, reply);
    const sent = limitReply(reply, encode);
    if ("error" in sent) throw new HttpError(400, sent.error);
    return sent;
  }

  async function pipeline(cmds: string[][], encode: (v: unknown) => unknown): Promise<Reply[]> {
    const refused = await recordRefusals(cmds);
    // Sent back to back on one connection: node-redis pipelines them.
    const settled = await Promise.allSettled(cmds.map((args, i) => (refused.has(i) ? null : exec(args))));
    return settled.map((s, i): Reply => {
      const error = refused.get(i);
      if (error) return { error };
      const reply: Reply = s.status === "fulfilled" ? { result: s.value } : { error: message(s.reason) };
      meter(cmds[i], reply);
      return limitReply(reply, encode);
    });
  }

  async function multiExec(cmds: string[][], encode: (v: unknown) => unknown): Promise<Reply[]> {
    // A size limit discards the whole transaction: nothing runs.
    const [refused] = (await recordRefusals(cmds)).values();
    if (refused) throw new HttpError(400, refused);
    const tx = redis.multi();
    for (const args of cmds) tx.addCommand(args);
    let replies: Reply[];
    try {
      replies = ((await tx.exec()) as unknown[]).map((r) => ({ result: r }));
    } catch (err) {
      // Runtime errors of single elements (WRONGTYPE): the rest was applied.
      const e = err as { replies?: unknown[]; errorIndexes?: number[] };
      if (!Array.isArray(e.replies) || !Array.isArray(e.errorIndexes)) {
        // Queue-time errors (syntax, unknown command) abort the whole EXEC: nothing ran.
        throw new HttpError(400, message(err));
      }
      replies = e.replies.map((r) => (r instanceof Error ? { error: r.message } : { result: r }));
    }
    return replies.map((reply, i) => {
      meter(cmds[i], reply);
      return limitReply(reply, encode);
    });
  }

  async function handle(req: http.IncomingMessage): Promise<{ status: number; body: unknown }> {
    const url = new URL(req.url ?? "/", "http://bridge");
    const hasBody = req.method === "POST" || req.method === "PUT";
    // Read (or drain) the body first, whatever the answer: it is traffic either way.
    const { text, size } = hasBody ? await readBody(req, maxRequest) : { text: "", size: 0 };
    stats.requestBytes += size;
    const auth = req.headers.authorization ?? "";
    if (auth !== `Bearer ${token}` && url.searchParams.get("_token") !== token) {
      return { status: 401, body: { error: "Unauthorized" } };
    }
    if (text === null) throw new HttpError(400, requestTooLargeError(maxRequest, size));
    const base64 = String(req.headers["upstash-encoding"] ?? "").toLowerCase() === "base64";
    const encode = (v: unknown) => (base64 ? encodeResult(v) : v);
    const segments = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);

    if (segments.length === 0) {
      if (req.method !== "POST") throw new HttpError(405, "ERR use POST");
      return { status: 200, body: await single(toArgs(parseJson(text)), encode) };
    }
    if (segments.length === 1 && segments[0] === "pipeline") {
      return { status: 200, body: await pipeline(toCommands(parseJson(text)), encode) };
    }
    if (segments.length === 1 && segments[0] === "multi-exec") {
      return { status: 200, body: await multiExec(toCommands(parseJson(text)), encode) };
    }
    // Path style: /set/key/value, or POST /set/key with the value as body.
    const args = text ? [...segments, text] : segments;
    return { status: 200, body: await single(args, encode) };
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
        const length = bytes(json);
        stats.responseBytes += length;
        res.writeHead(status, { "content-type": "application/json", "content-length": length });
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
    stats: () => ({ ...stats, byCommand: { ...stats.byCommand } }),
    resetStats() {
      stats = emptyStats();
    },
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
