/**
 * A local Vercel Blob API for tests, reached by @vercel/blob through VERCEL_BLOB_API_URL:
 * put (`PUT /?pathname=`), head (`GET /?url=`), delete (`POST /delete`), as the client
 * calls them (bearer token, x-api-version, x-* options, JSON errors `{error: {code, message}}`).
 * It stores a blob only once its whole body arrived, serves it at the public URL it answers
 * (`<origin>/public/<pathname>`), and counts requests.
 */
import { createHash, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface BlobObject {
  bytes: Buffer;
  contentType: string;
  cacheControl: string;
  uploadedAt: string;
  etag: string;
}

export type BlobOp = "put" | "delete" | "head" | "get";

export interface BlobServer {
  /** The value for VERCEL_BLOB_API_URL. */
  apiUrl: string;
  /** A read-write token this server accepts (`vercel_blob_rw_<store id>_<secret>`). */
  token: string;
  storeId: string;
  /** Public URLs start with this. */
  publicBaseUrl: string;
  /** By pathname. */
  objects: Map<string, BlobObject>;
  counts: Record<BlobOp, number>;
  log: { method: string; path: string; op: BlobOp | "other"; status: number }[];
  /** The next `times` requests of `op` answer `status` with the API's JSON error for `code`. */
  failNext(op: BlobOp, times: number, status?: number, code?: string): void;
  total(): number;
  reset(): void;
  close(): Promise<void>;
}

interface State {
  token: string;
  storeId: string;
  origin: string;
  objects: Map<string, BlobObject>;
  counts: Record<BlobOp, number>;
  log: BlobServer["log"];
  failures: { op: BlobOp; status: number; code: string }[];
}

class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "ApiFailure";
  }
}

export async function startBlobServer(options: { storeId?: string } = {}): Promise<BlobServer> {
  const storeId = options.storeId ?? "teststore";
  const state: State = {
    token: `vercel_blob_rw_${storeId}_${randomBytes(12).toString("hex")}`,
    storeId,
    origin: "",
    objects: new Map(),
    counts: { put: 0, delete: 0, head: 0, get: 0 },
    log: [],
    failures: [],
  };
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://blob.local");
    const op = operation(req.method ?? "GET", url);
    const entry = { method: req.method ?? "GET", path: url.pathname, op, status: 0 };
    state.log.push(entry);
    if (op !== "other") state.counts[op]++;
    collect(req)
      .then((body) => handle(state, { req, res, url, op, body, entry }))
      .catch(() => res.destroy());
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  state.origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    apiUrl: state.origin,
    token: state.token,
    storeId,
    publicBaseUrl: `${state.origin}/public`,
    objects: state.objects,
    counts: state.counts,
    log: state.log,
    failNext(op, times, status = 500, code = status >= 500 ? "internal_server_error" : "forbidden") {
      for (let i = 0; i < times; i++) state.failures.push({ op, status, code });
    },
    total: () => Object.values(state.counts).reduce((a, b) => a + b, 0),
    reset() {
      for (const op of Object.keys(state.counts) as BlobOp[]) state.counts[op] = 0;
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

function operation(method: string, url: URL): BlobOp | "other" {
  if (url.pathname.startsWith("/public/") && (method === "GET" || method === "HEAD")) return "get";
  if (url.pathname === "/" && method === "PUT" && url.searchParams.has("pathname")) return "put";
  if (url.pathname === "/" && method === "GET" && url.searchParams.has("url")) return "head";
  if (url.pathname === "/delete" && method === "POST") return "delete";
  return "other";
}

function collect(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
    req.on("aborted", () => reject(new Error("aborted")));
  });
}

interface Call {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  op: BlobOp | "other";
  body: Buffer;
  entry: { status: number };
}

function handle(state: State, call: Call): void {
  const { req, res, url, op } = call;
  try {
    if (op === "get") return servePublic(state, call);
    if (op === "other") throw new ApiFailure(404, "not_found", `no route ${req.method} ${url.pathname}`);
    if (req.headers.authorization !== `Bearer ${state.token}`) {
      throw new ApiFailure(403, "forbidden", "Access denied, please provide a valid token for this resource.");
    }
    if (!req.headers["x-api-version"]) throw new ApiFailure(400, "bad_request", "x-api-version missing");
    const i = state.failures.findIndex((f) => f.op === op);
    if (i >= 0) {
      const f = state.failures.splice(i, 1)[0];
      throw new ApiFailure(f.status, f.code, "Injected failure");
    }
    if (op === "put") return json(call, 200, putBlob(state, req, url, call.body));
    if (op === "head") return json(call, 200, headBlob(state, url.searchParams.get("url") ?? ""));
    return json(call, 200, deleteBlobs(state, call.body));
  } catch (err) {
    const failure = err instanceof ApiFailure ? err : new ApiFailure(500, "internal_server_error", String(err));
    json(call, failure.status, { error: { code: failure.code, message: failure.message } });
  }
}

function putBlob(state: State, req: IncomingMessage, url: URL, body: Buffer) {
  const pathname = url.searchParams.get("pathname") ?? "";
  if (!pathname || pathname.includes("//")) throw new ApiFailure(400, "bad_request", "invalid pathname");
  if (req.headers["x-vercel-blob-access"] !== "public") {
    throw new ApiFailure(400, "bad_request", "this test store is public: access must be public");
  }
  if (req.headers["x-add-random-suffix"] !== "0") {
    throw new ApiFailure(400, "bad_request", "the test store only takes addRandomSuffix: false");
  }
  if (state.objects.has(pathname) && req.headers["x-allow-overwrite"] !== "1") {
    throw new ApiFailure(
      400,
      "bad_request",
      "This blob already exists, use `allowOverwrite: true` if you want to overwrite it.",
    );
  }
  const declared = req.headers["x-content-length"];
  if (declared !== undefined && Number(declared) !== body.byteLength) {
    throw new ApiFailure(400, "bad_request", "x-content-length does not match the body");
  }
  const maxAge = Number(req.headers["x-cache-control-max-age"] ?? 2_592_000);
  const obj: BlobObject = {
    bytes: body,
    contentType: String(req.headers["x-content-type"] ?? "application/octet-stream"),
    cacheControl: `public, max-age=${maxAge}`,
    uploadedAt: new Date().toISOString(),
    etag: `"${createHash("md5").update(body).digest("hex")}"`,
  };
  state.objects.set(pathname, obj);
  return describe(state, pathname, obj);
}

function headBlob(state: State, urlOrPathname: string) {
  const pathname = pathnameOf(state, urlOrPathname);
  const obj = state.objects.get(pathname);
  if (!obj) throw new ApiFailure(404, "not_found", "The requested blob does not exist");
  return {
    ...describe(state, pathname, obj),
    size: obj.bytes.byteLength,
    cacheControl: obj.cacheControl,
    uploadedAt: obj.uploadedAt,
  };
}

function deleteBlobs(state: State, body: Buffer) {
  let urls: unknown;
  try {
    urls = (JSON.parse(body.toString("utf8")) as { urls?: unknown }).urls;
  } catch {
    throw new ApiFailure(400, "bad_request", "body must be JSON");
  }
  if (!Array.isArray(urls) || urls.some((u) => typeof u !== "string"))
    throw new ApiFailure(400, "bad_request", "urls must be strings");
  for (const u of urls as string[]) state.objects.delete(pathnameOf(state, u));
  return {};
}

function servePublic(state: State, { req, res, url, entry }: Call): void {
  const pathname = url.pathname.slice("/public/".length).split("/").map(decodeURIComponent).join("/");
  const obj = state.objects.get(pathname);
  if (!obj) {
    entry.status = 404;
    res.writeHead(404, { "content-type": "text/plain" });
    return void res.end(req.method === "HEAD" ? undefined : "The page could not be found");
  }
  entry.status = 200;
  res.writeHead(200, {
    "content-type": obj.contentType,
    "content-length": obj.bytes.byteLength,
    "cache-control": obj.cacheControl,
    etag: obj.etag,
  });
  res.end(req.method === "HEAD" ? undefined : obj.bytes);
}

function describe(state: State, pathname: string, obj: BlobObject) {
  const url = `${state.origin}/public/${pathname.split("/").map(encodeURIComponent).join("/")}`;
  return {
    url,
    downloadUrl: `${url}?download=1`,
    pathname,
    contentType: obj.contentType,
    contentDisposition: `inline; filename="${pathname.split("/").pop()}"`,
    etag: obj.etag,
  };
}

function pathnameOf(state: State, urlOrPathname: string): string {
  const prefix = `${state.origin}/public/`;
  if (!urlOrPathname.startsWith("http")) return urlOrPathname;
  if (!urlOrPathname.startsWith(prefix)) return "";
  return new URL(urlOrPathname).pathname.slice("/public/".length).split("/").map(decodeURIComponent).join("/");
}

function json(call: Call, status: number, value: unknown): void {
  call.entry.status = status;
  const text = JSON.stringify(value);
  call.res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  call.res.end(text);
}
