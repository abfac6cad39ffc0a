/**
 * A small S3-compatible HTTP server for tests (path-style, one bucket): PutObject (plain,
 * aws-chunked with or without trailers), public GetObject/HeadObject, DeleteObjects, S3's
 * error XML. It verifies SigV4 Authorization headers and payload hashes and checksums as
 * S3 does, stores an object only once its whole body arrived, and counts requests.
 * Checked against @aws-sdk/client-s3 in tests/s3-server.test.ts.
 */
import { createHash, createHmac, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface S3Object {
  bytes: Buffer;
  contentType: string;
  cacheControl?: string;
  etag: string;
}

export type S3Op = "put" | "delete" | "get" | "head";

export interface S3ServerOptions {
  bucket?: string;
  region?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  /**
   * "not-implemented": PutObject refuses flexible checksums (x-amz-checksum-*, aws-chunked trailers)
   * with 501 NotImplemented, as R2 did in January 2025 and some S3-compatible stores still do.
   */
  putChecksums?: "supported" | "not-implemented";
}

export interface S3Server {
  endpoint: string;
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Where the bucket's objects are read publicly: `<endpoint>/<bucket>`. */
  publicBaseUrl: string;
  objects: Map<string, S3Object>;
  /** Requests received per operation (failed ones included). */
  counts: Record<S3Op, number>;
  /** Every request's method and path, in order. */
  log: { method: string; path: string; op: S3Op | "other"; status: number }[];
  /** The next `times` requests of `op` answer `status` with S3's error XML for `code`. */
  failNext(op: S3Op, times: number, status?: number, code?: string): void;
  /** Requests of every kind received. */
  total(): number;
  reset(): void;
  close(): Promise<void>;
}

export async function startS3Server(options: S3ServerOptions = {}): Promise<S3Server> {
  const state = {
    bucket: options.bucket ?? "files",
    region: options.region ?? "us-east-1",
    accessKeyId: options.accessKeyId ?? "TESTACCESSKEY",
    secretAccessKey: options.secretAccessKey ?? "test-secret-access-key",
    objects: new Map<string, S3Object>(),
    counts: { put: 0, delete: 0, get: 0, head: 0 } as Record<S3Op, number>,
    log: [] as S3Server["log"],
    failures: [] as { op: S3Op; status: number; code: string }[],
    putChecksums: options.putChecksums ?? "supported",
  };
  const server = createServer((req, res) => serve(state, req, res, false));
  // As S3 does, a request sent with `Expect: 100-continue` is refused before its body when its headers fail.
  server.on("checkContinue", (req, res) => serve(state, req, res, true));
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    endpoint,
    get bucket() {
      return state.bucket;
    },
    region: state.region,
    accessKeyId: state.accessKeyId,
    secretAccessKey: state.secretAccessKey,
    publicBaseUrl: `${endpoint}/${state.bucket}`,
    objects: state.objects,
    counts: state.counts,
    log: state.log,
    failNext(op, times, status = 500, code = status >= 500 ? "InternalError" : "AccessDenied") {
      for (let i = 0; i < times; i++) state.failures.push({ op, status, code });
    },
    total: () => Object.values(state.counts).reduce((a, b) => a + b, 0),
    reset() {
      for (const op of Object.keys(state.counts) as S3Op[]) state.counts[op] = 0;
      state.log.length = 0;
      state.failures.length = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

type State = {
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  objects: Map<string, S3Object>;
  counts: Record<S3Op, number>;
  log: S3Server["log"];
  failures: { op: S3Op; status: number; code: string }[];
  putChecksums: "supported" | "not-implemented";
};

class S3Failure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "S3Failure";
  }
}

/** Resolves with the whole body, or never when the client drops the request midway (nothing is stored). */
function collect(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
    req.on("aborted", () => reject(new Error("aborted")));
  });
}

interface Classified {
  url: URL;
  rawPath: string;
  bucket: string;
  key: string;
  op: S3Op | "other";
  entry: S3Server["log"][number];
}

/** Counted when the request arrives: a put dropped midway by its client was still a request. */
function classify(state: State, req: IncomingMessage): Classified {
  const url = new URL(req.url ?? "/", "http://s3.local");
  const rawPath = (req.url ?? "/").split("?")[0];
  const segments = rawPath.split("/").slice(1);
  const key = segments.slice(1).map(decodeURIComponent).join("/");
  const op = operation(req.method ?? "GET", url, key);
  const entry = { method: req.method ?? "GET", path: rawPath, op, status: 0 };
  state.log.push(entry);
  if (op !== "other") state.counts[op]++;
  return { url, rawPath, bucket: decodeURIComponent(segments[0] ?? ""), key, op, entry };
}

function serve(state: State, req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): void {
  const request = classify(state, req);
  if (expectsContinue) {
    if (!attempt(request, req, res, () => precheck(state, request, req))) return;
    res.writeContinue();
  }
  collect(req)
    .then((body) => {
      if (!expectsContinue && !attempt(request, req, res, () => precheck(state, request, req))) return;
      attempt(request, req, res, () => complete(state, request, req, res, body));
    })
    .catch(() => res.destroy());
}

/** Runs a step; a failure is answered with S3's error XML. */
function attempt(request: Classified, req: IncomingMessage, res: ServerResponse, step: () => void): boolean {
  try {
    step();
    return true;
  } catch (err) {
    const failure = err instanceof S3Failure ? err : new S3Failure(500, "InternalError", String(err));
    request.entry.status = failure.status;
    sendError(req, res, failure, request.key);
    return false;
  }
}

/** What S3 checks from the headers alone. */
function precheck(state: State, request: Classified, req: IncomingMessage): void {
  const { url, rawPath, bucket, op } = request;
  request.entry.status = 200;
  if (bucket !== state.bucket) throw new S3Failure(404, "NoSuchBucket", "The specified bucket does not exist");
  const failure = op === "other" ? undefined : takeFailure(state, op);
  if (failure) throw new S3Failure(failure.status, failure.code, "Injected failure");
  if (op === "get" || op === "head") return;
  if (op === "other") throw new S3Failure(501, "NotImplemented", "Not implemented by the test server");
  verifySignature(state, req, rawPath, url);
  if (op === "put" && state.putChecksums === "not-implemented") refuseFlexibleChecksums(req);
}

function complete(state: State, request: Classified, req: IncomingMessage, res: ServerResponse, body: Buffer): void {
  const { key, op, entry } = request;
  if (op === "get" || op === "head") return serveObject(state, res, key, op === "head", entry);
  const payload = decodePayload(req, body);
  if (op === "put") return putObject(state, req, res, key, payload);
  return deleteObjects(state, req, res, payload);
}

function operation(method: string, url: URL, key: string): S3Op | "other" {
  if (method === "PUT" && key && !url.searchParams.has("uploadId") && !url.searchParams.has("partNumber")) return "put";
  if (method === "POST" && url.searchParams.has("delete")) return "delete";
  if (method === "GET" && key) return "get";
  if (method === "HEAD" && key) return "head";
  return "other";
}

function takeFailure(state: State, op: S3Op) {
  const i = state.failures.findIndex((f) => f.op === op);
  return i < 0 ? undefined : state.failures.splice(i, 1)[0];
}

function serveObject(state: State, res: ServerResponse, key: string, head: boolean, entry: { status: number }): void {
  const obj = state.objects.get(key);
  if (!obj) throw new S3Failure(404, "NoSuchKey", "The specified key does not exist.");
  entry.status = 200;
  res.writeHead(200, {
    "content-type": obj.contentType,
    "content-length": obj.bytes.byteLength,
    etag: obj.etag,
    ...(obj.cacheControl ? { "cache-control": obj.cacheControl } : {}),
  });
  res.end(head ? undefined : obj.bytes);
}

function putObject(state: State, req: IncomingMessage, res: ServerResponse, key: string, payload: Buffer): void {
  const etag = `"${createHash("md5").update(payload).digest("hex")}"`;
  state.objects.set(key, {
    bytes: payload,
    contentType: header(req, "content-type") ?? "binary/octet-stream",
    cacheControl: header(req, "cache-control"),
    etag,
  });
  res.writeHead(200, { etag, "x-amz-request-id": randomUUID() });
  res.end();
}

function refuseFlexibleChecksums(req: IncomingMessage): void {
  for (const name of ["x-amz-sdk-checksum-algorithm", "x-amz-trailer", ...Object.keys(pickChecksums(req.headers))]) {
    const value = header(req, name);
    if (value) throw new S3Failure(501, "NotImplemented", `Header '${name}' with value '${value}' not implemented`);
  }
}

function deleteObjects(state: State, req: IncomingMessage, res: ServerResponse, payload: Buffer): void {
  if (!header(req, "content-md5") && !Object.keys(req.headers).some((h) => h.startsWith("x-amz-checksum-"))) {
    throw new S3Failure(400, "InvalidRequest", "Missing required header for this request: Content-MD5");
  }
  const xml = payload.toString("utf8");
  if (!/^\s*(<\?xml[^>]*\?>)?\s*<Delete[\s>]/.test(xml)) throw new S3Failure(400, "MalformedXML", "Malformed XML");
  const keys = [...xml.matchAll(/<Key>([\s\S]*?)<\/Key>/g)].map((m) => unescapeXml(m[1]));
  if (keys.length === 0 || keys.length > 1000) throw new S3Failure(400, "MalformedXML", "1 to 1000 keys");
  const quiet = /<Quiet>\s*true\s*<\/Quiet>/.test(xml);
  for (const key of keys) state.objects.delete(key);
  const deleted = quiet ? "" : keys.map((k) => `<Deleted><Key>${escapeXml(k)}</Key></Deleted>`).join("");
  res.writeHead(200, { "content-type": "application/xml" });
  res.end(
    `<?xml version="1.0" encoding="UTF-8"?>\n<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${deleted}</DeleteResult>`,
  );
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(",") : v;
}

// ---- SigV4 ----

const AUTH_RE =
  /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/;

function verifySignature(state: State, req: IncomingMessage, rawPath: string, url: URL): void {
  const auth = header(req, "authorization");
  if (!auth) throw new S3Failure(403, "AccessDenied", "Access Denied");
  const m = AUTH_RE.exec(auth);
  if (!m) throw new S3Failure(400, "AuthorizationHeaderMalformed", "The authorization header is malformed");
  const [, accessKeyId, day, region, signedHeaders, signature] = m;
  if (accessKeyId !== state.accessKeyId) {
    throw new S3Failure(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.");
  }
  if (region !== state.region) {
    throw new S3Failure(
      400,
      "AuthorizationHeaderMalformed",
      `the region '${region}' is wrong; expecting '${state.region}'`,
    );
  }
  const amzDate = header(req, "x-amz-date") ?? "";
  const signedAt = Date.parse(amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, "$1-$2-$3T$4:$5:$6Z"));
  if (!Number.isFinite(signedAt) || !amzDate.startsWith(day))
    throw new S3Failure(403, "AccessDenied", "Bad x-amz-date");
  if (Math.abs(Date.now() - signedAt) > 15 * 60_000) {
    throw new S3Failure(
      403,
      "RequestTimeTooSkewed",
      "The difference between the request time and the current time is too large.",
    );
  }
  const names = signedHeaders.split(";");
  if (!names.includes("host") || !names.includes("x-amz-content-sha256")) {
    throw new S3Failure(403, "AccessDenied", "host and x-amz-content-sha256 must be signed");
  }
  const canonical = [
    req.method,
    rawPath,
    canonicalQuery(url),
    names.map((n) => `${n}:${(header(req, n) ?? "").trim().replace(/\s+/g, " ")}\n`).join(""),
    signedHeaders,
    header(req, "x-amz-content-sha256"),
  ].join("\n");
  const scope = `${day}/${region}/s3/aws4_request`;
  const toSign = ["AWS4-HMAC-SHA256", amzDate, scope, sha256Hex(canonical)].join("\n");
  let key: Buffer = hmac(`AWS4${state.secretAccessKey}`, day);
  for (const part of [region, "s3", "aws4_request"]) key = hmac(key, part);
  if (hmac(key, toSign).toString("hex") !== signature) {
    throw new S3Failure(
      403,
      "SignatureDoesNotMatch",
      "The request signature we calculated does not match the signature you provided.",
    );
  }
}

function canonicalQuery(url: URL): string {
  const pairs = [...url.searchParams].map(([k, v]) => [rfc3986(k), rfc3986(v)]);
  pairs.sort((a, b) => (a[0] === b[0] ? (a[1] < b[1] ? -1 : 1) : a[0] < b[0] ? -1 : 1));
  return pairs.map(([k, v]) => `${k}=${v}`).join("&");
}

function rfc3986(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

const hmac = (key: string | Buffer, data: string) => createHmac("sha256", key).update(data, "utf8").digest();
const sha256Hex = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");

// ---- payloads ----

function decodePayload(req: IncomingMessage, body: Buffer): Buffer {
  const declared = Number(header(req, "content-length") ?? body.byteLength);
  if (declared !== body.byteLength)
    throw new S3Failure(
      400,
      "IncompleteBody",
      "You did not provide the number of bytes specified by the Content-Length HTTP header.",
    );
  const contentSha = header(req, "x-amz-content-sha256") ?? "";
  const chunked = contentSha.startsWith("STREAMING-");
  const trailers: Record<string, string> = {};
  const payload = chunked ? decodeChunked(body, trailers) : body;
  if (chunked) {
    const decoded = Number(header(req, "x-amz-decoded-content-length"));
    if (decoded !== payload.byteLength)
      throw new S3Failure(400, "IncompleteBody", "x-amz-decoded-content-length does not match the body");
    const announced = (header(req, "x-amz-trailer") ?? "")
      .split(",")
      .map((t) => t.trim())
      .filter(Boolean);
    for (const t of announced)
      if (!(t in trailers)) throw new S3Failure(400, "MalformedTrailerError", `trailer ${t} missing`);
  } else if (/^[0-9a-f]{64}$/.test(contentSha) && sha256Hex(payload) !== contentSha) {
    throw new S3Failure(
      400,
      "XAmzContentSHA256Mismatch",
      "The provided 'x-amz-content-sha256' header does not match what was computed.",
    );
  } else if (!/^[0-9a-f]{64}$/.test(contentSha) && contentSha !== "UNSIGNED-PAYLOAD") {
    throw new S3Failure(
      400,
      "InvalidArgument",
      "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-… or a SHA256 value",
    );
  }
  const md5 = header(req, "content-md5");
  if (md5 && createHash("md5").update(payload).digest("base64") !== md5)
    throw new S3Failure(400, "BadDigest", "The Content-MD5 you specified did not match what we received.");
  const checksums = { ...pickChecksums(req.headers), ...trailers };
  for (const [name, value] of Object.entries(checksums)) {
    const computed = checksum(name.slice("x-amz-checksum-".length), payload);
    if (computed !== undefined && computed !== value)
      throw new S3Failure(400, "BadDigest", `The ${name} you specified did not match the calculated checksum.`);
  }
  return payload;
}

/** aws-chunked: `<hex size>[;chunk-signature=…]\r\n<data>\r\n` … `0\r\n` then trailer lines and `\r\n`. */
function decodeChunked(body: Buffer, trailers: Record<string, string>): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = body.indexOf("\r\n", at);
    if (eol < 0) throw new S3Failure(400, "IncompleteBody", "aws-chunked body ends inside a chunk header");
    const size = parseInt(body.subarray(at, eol).toString("latin1").split(";")[0], 16);
    if (!Number.isFinite(size)) throw new S3Failure(400, "InvalidChunkSizeError", "bad chunk size");
    at = eol + 2;
    if (size === 0) break;
    if (at + size + 2 > body.byteLength || body.subarray(at + size, at + size + 2).toString("latin1") !== "\r\n") {
      throw new S3Failure(400, "IncompleteBody", "aws-chunked chunk shorter than its size");
    }
    parts.push(body.subarray(at, at + size));
    at += size + 2;
  }
  for (const line of body.subarray(at).toString("latin1").split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon > 0) trailers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return Buffer.concat(parts);
}

function pickChecksums(headers: IncomingMessage["headers"]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith("x-amz-checksum-") && name !== "x-amz-checksum-type" && typeof value === "string")
      out[name] = value;
  }
  return out;
}

function checksum(algorithm: string, payload: Buffer): string | undefined {
  if (algorithm === "sha256" || algorithm === "sha1") return createHash(algorithm).update(payload).digest("base64");
  if (algorithm === "crc32") {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(crc32(payload));
    return b.toString("base64");
  }
  return undefined;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (let i = 0; i < buf.length; i++) c = CRC_TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// ---- XML ----

function sendError(req: IncomingMessage, res: ServerResponse, failure: S3Failure, key: string): void {
  const head = req.method === "HEAD";
  if (res.headersSent) return void res.destroy();
  const xml =
    `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${failure.code}</Code><Message>${escapeXml(failure.message)}</Message>` +
    (key ? `<Key>${escapeXml(key)}</Key>` : "") +
    `<RequestId>${randomUUID()}</RequestId></Error>`;
  // An unread body cannot be skipped on a kept-alive connection.
  const close = req.readableEnded ? {} : { connection: "close" };
  res.writeHead(failure.status, {
    "content-type": "application/xml",
    "content-length": Buffer.byteLength(xml),
    ...close,
  });
  res.end(head ? undefined : xml);
}

function escapeXml(s: string): string {
  return s.replace(
    /[<>&'"]/g,
    (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", "'": "&apos;", '"': "&quot;" })[c] ?? c,
  );
}

function unescapeXml(s: string): string {
  return s
    .replace(/&#x([0-9a-f]+);/gi, (_, h: string) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&#(\d+);/g, (_, d: string) => String.fromCodePoint(Number(d)))
    .replace(
      /&(lt|gt|quot|apos|amp);/g,
      (_, e: string) => ({ lt: "<", gt: ">", quot: '"', apos: "'", amp: "&" })[e] ?? "",
    );
}
