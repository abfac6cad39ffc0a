/**
 * HTTP front of the Notion emulator (node:http only). Serves the read routes
 * a sync needs, and users/me (the doctor's token check), with Notion's wire
 * behaviour (auth, Notion-Version, validation, 404s for unshared pages,
 * token-bucket rate limiting with Retry-After) plus injectable faults, and a
 * small unauthenticated control API under /__emulator/ for driving it from another process:
 *
 *   GET  info, requests, pick?count=N, tree?pageId=, held?holdId=, databases
 *   POST reset-requests, edit {pageId, title}, edit-block {blockId, text}, append {parentId, count?},
 *        trash / restore / unshare / share {pageId}, add {databaseId, title, slug?},
 *        add-child {parentPageId, title}, relation {pageId, count?, name?},
 *        databases {title, properties?, icon?} → {databaseId, dataSourceId, database},
 *        rows {databaseId (or data source id), values?, paragraphs?} → {page},
 *        update-row {pageId, values} → {page},
 *        fault {route, status, times?, retryAfterSeconds?, matchId?}, clear-faults,
 *        rate {ratePerSecond?, burst?}, search-lag {ms}, hold {route, matchId?, times?},
 *        release {holdId}, query-limit {limit?}, clock {now?, advanceMs?, running?},
 *        hosted-files {mode: "notion" | "self"}, file-fail {match, times?, status?}, file-size {fileId, bytes?}
 *
 * Hosted files (files.ts): by default their URLs name Notion's bucket (prod-files-secure), which
 * nothing serves here. With `hostedFiles: "self"` (option, or POST hosted-files) every answer names
 * `<emulator origin>/s3/<workspace>/<file id>/<name>?X-Amz-…` instead, and GET there answers the
 * file's bytes (a PNG for images, an SVG for .svg, deterministic bytes otherwise; Content-Length and
 * Content-Type), or S3's 403 "Request has expired" once the signature is past its hour on the
 * workspace clock. Those GETs are in the request log as route "files.get" (no auth, no rate limit).
 * `file-fail` makes the next `times` (default 1) GETs whose path contains `match` answer `status`
 * (default 500); `file-size` serves a file id at `bytes` bytes (absent: its own size again).
 *
 * Answers are `{ok: true, ...}`, or `{ok: false, error}` with 400 (404 for an unknown id).
 * Database properties and row values: databases.ts.
 */
import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { normalizeId, Prng } from "./prng.js";
import { retrievePageMarkdown } from "./markdown.js";
import { propertyItems, setRelation } from "./property-items.js";
import { searchWorkspace } from "./search.js";
import type { PropertyInput } from "./databases.js";
import { NotionApiError, notFound, type NotionErrorCode } from "./types.js";
import { checkQueryResultLimit, type Workspace } from "./workspace.js";
import { EXPIRED_XML, HOSTED_FILES_ORIGIN, SELF_FILES_PATH, hostedFileBytes, signatureExpiry } from "./files.js";
import {
  checkRequestBody,
  filterDialect,
  forVersion,
  listedProperties,
  requestedNames,
  requestedProperties,
} from "./versions.js";

export type RouteName =
  | "databases.retrieve"
  | "dataSources.retrieve"
  | "dataSources.query"
  | "pages.retrieve"
  | "pages.properties.retrieve"
  | "blocks.children.list"
  | "blocks.retrieve"
  | "search"
  | "pages.retrieveMarkdown"
  | "users.me";

export type RateLimitReason = "public_api_request_rate_limit" | "public_api_space_request_rate_limit";

export interface FaultRule {
  route: RouteName | "*";
  status: 429 | 500 | 502 | 503 | 504 | 529 | 400 | 401 | 403 | 404 | "hang" | "reset";
  /** How many matching requests get the fault (default 1). */
  times?: number;
  retryAfterSeconds?: number;
  /**
   * For a 429: which limit Notion says was hit, in `additional_data.rate_limit_reason`
   * (default the per-connection one; the per-workspace one is shared by every integration).
   */
  rateLimitReason?: RateLimitReason;
  /** Only requests whose path contains this id (dashes are ignored on both sides). */
  matchId?: string;
  /**
   * Each matching request gets the fault with this probability (seeded, so a
   * run is repeatable); `times` then defaults to unlimited. Several such rules
   * split the requests between them.
   */
  probability?: number;
  seed?: number;
}

export interface EmulatorOptions {
  workspace: Workspace;
  token?: string;
  port?: number;
  /** Interface to bind (default 127.0.0.1). */
  host?: string;
  ratePerSecond?: number;
  burst?: number;
  retryAfterSeconds?: number | (() => number);
  latencyMs?: number | Partial<Record<RouteName, number>>;
  /**
   * Rows one data source query serves at most across its pages (Notion: 10,000
   * since 2026-04-20). Default: the workspace's `queryResultLimit` (10,000
   * unless changed); `Infinity` lifts the cap. Tests use small values (250).
   */
  queryResultLimit?: number;
  /** POST /v1/search: objects edited within this many ms of the emulated clock are not in the index yet (search.ts; default 0). */
  searchLagMs?: number;
  /** "self": hosted files' URLs point at this server, which serves their bytes (default "notion": Notion's bucket). */
  hostedFiles?: "notion" | "self";
}

export interface HoldRule {
  route: RouteName | "*";
  /** Only requests whose path holds this id (dashes ignored). */
  matchId?: string;
  times?: number;
}

export interface RequestLogEntry {
  /** files.get: a hosted file's bytes (hostedFiles "self"). */
  route: RouteName | "files.get" | "unknown";
  path: string;
  /** 0 when no answer was sent (hang, reset). */
  status: number;
  at: number;
  /** The request's Notion-Version and Notion-Beta headers (null: not sent). */
  version: string | null;
  beta: string | null;
}

export interface NotionEmulator {
  url: string;
  token: string;
  workspace: Workspace;
  injectFault(rule: FaultRule): void;
  clearFaults(): void;
  setRate(ratePerSecond: number, burst?: number): void;
  /** Changes the per-query result cap (`Infinity`: none); `undefined` goes back to the workspace's own limit. */
  setQueryResultLimit(limit: number | undefined): void;
  /** How far the search index lags behind edits, in ms of the emulated clock (0: none). */
  setSearchLag(ms: number): void;
  /** The per-query result cap in force. */
  queryResultLimit(): number;
  /** Pauses the next `times` (default 1) requests matching the rule until release(): answered then, from the state then. Returns the hold's id. */
  hold(rule: HoldRule): string;
  /** Lets the hold's paused requests go on and drops the hold; returns how many were paused. */
  release(holdId: string): number;
  /** Requests the hold is pausing now. */
  held(holdId: string): number;
  requests(): RequestLogEntry[];
  resetRequestLog(): void;
  /** Where hosted files' URLs point: Notion's bucket, or this server serving their bytes. */
  setHostedFiles(mode: "notion" | "self"): void;
  hostedFiles(): "notion" | "self";
  /** The next `times` GETs of hosted files whose path contains `match` answer `status` (default 500). */
  failFileGets(match: string, times?: number, status?: number): void;
  /** Serves the file `fileId` at `bytes` bytes (undefined: its own size again). */
  setFileSize(fileId: string, bytes: number | undefined): void;
  close(): Promise<void>;
}

export const DEFAULT_TOKEN = "secret_emulator_token";
/** Oldest version with data sources; older versions would need other response shapes, so they are refused. */
const MIN_NOTION_VERSION = "2025-09-03";

const ROUTES: { method: string; pattern: RegExp; route: RouteName }[] = [
  { method: "GET", pattern: /^\/v1\/databases\/([^/]+)\/?$/, route: "databases.retrieve" },
  { method: "GET", pattern: /^\/v1\/data_sources\/([^/]+)\/?$/, route: "dataSources.retrieve" },
  { method: "POST", pattern: /^\/v1\/data_sources\/([^/]+)\/query\/?$/, route: "dataSources.query" },
  { method: "GET", pattern: /^\/v1\/pages\/([^/]+)\/?$/, route: "pages.retrieve" },
  { method: "GET", pattern: /^\/v1\/pages\/([^/]+)\/properties\/([^/]+)\/?$/, route: "pages.properties.retrieve" },
  { method: "GET", pattern: /^\/v1\/pages\/([^/]+)\/markdown\/?$/, route: "pages.retrieveMarkdown" },
  { method: "GET", pattern: /^\/v1\/blocks\/([^/]+)\/children\/?$/, route: "blocks.children.list" },
  { method: "GET", pattern: /^\/v1\/blocks\/([^/]+)\/?$/, route: "blocks.retrieve" },
  { method: "POST", pattern: /^\/v1\/search\/?$/, route: "search" },
  { method: "GET", pattern: /^\/v1\/users\/me\/?$/, route: "users.me" },
];

const FAULT_ERRORS: Record<Exclude<FaultRule["status"], "hang" | "reset">, [NotionErrorCode, string]> = {
  400: ["invalid_request", "This request is not supported (injected fault)."],
  401: ["unauthorized", "API token is invalid."],
  403: ["restricted_resource", "Insufficient permissions for this endpoint."],
  404: ["object_not_found", "Could not find object (injected fault)."],
  429: ["rate_limited", "You have been rate limited. Please try again in a few minutes."],
  500: ["internal_server_error", "Unexpected error occurred."],
  502: ["bad_gateway", "Bad gateway."],
  503: ["service_unavailable", "Notion is unavailable, please try again later."],
  504: ["gateway_timeout", "Notion timed out while processing the request."],
  529: ["service_overload", "Notion is overloaded, please try again later."],
};

/** GET /v1/users/me: the integration's bot user, shaped as Notion answers it (the token's own check). */
const BOT_USER = {
  object: "user",
  id: "5e1b0c6a-7d3f-4e2a-9c1b-0e6d5a4b3c2d",
  name: "Emulated integration",
  avatar_url: null,
  type: "bot",
  bot: {
    owner: { type: "workspace", workspace: true },
    workspace_id: "0d6c2f3e-1a4b-4c5d-8e9f-a0b1c2d3e4f5",
    workspace_limits: { max_file_upload_size_in_bytes: 5_242_880 },
    workspace_name: "Emulated workspace",
  },
};

interface Reply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

/** Notion allows bursts above the average rate: a bucket of `burst` tokens refilled at `rate` per second. */
class TokenBucket {
  private tokens: number;
  private last = performance.now();

  constructor(
    private rate: number,
    private burst: number,
  ) {
    this.tokens = burst;
  }

  /** Resets the bucket to full. */
  set(rate: number, burst: number): void {
    this.rate = rate;
    this.burst = burst;
    this.tokens = burst;
    this.last = performance.now();
  }

  take(): boolean {
    if (this.rate === Infinity) return true;
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

function errorReply(
  status: number,
  code: NotionErrorCode,
  message: string,
  headers?: Record<string, string>,
  additionalData?: Record<string, string>,
): Reply {
  return {
    status,
    body: { object: "error", status, code, message, ...(additionalData ? { additional_data: additionalData } : {}) },
    headers,
  };
}

function matchRoute(method: string, pathname: string): { route: RouteName; id: string; sub?: string } | undefined {
  for (const candidate of ROUTES) {
    const match = candidate.method === method ? candidate.pattern.exec(pathname) : null;
    // `sub`: the property id of pages.properties.retrieve, still URL-encoded as Notion sends it.
    if (match)
      return { route: candidate.route, id: safeDecode(match[1] ?? ""), ...(match[2] ? { sub: match[2] } : {}) };
  }
  return undefined;
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment; // malformed %-escape: left as is, then refused as an invalid uuid
  }
}

/** A request body as JSON, or null when it is none (the route reports a malformed one). */
function parsedOrNull(bodyText: string): unknown {
  try {
    return bodyText.trim() === "" ? null : JSON.parse(bodyText);
  } catch {
    return null;
  }
}

/** The markdown format asked for: `markdown_version`, else the version's default; v1 is refused from 2026-12-01. */
function markdownVersionOf(url: URL, version: string): "v1" | "v2" {
  const asked = url.searchParams.get("markdown_version");
  const current = version >= "2026-12-01";
  if (asked === null || asked === "") return current ? "v2" : "v1";
  if (asked === "v2" || (asked === "v1" && !current)) return asked;
  throw new NotionApiError(
    400,
    "validation_error",
    current && asked === "v1"
      ? "markdown_version v1 is not supported by this Notion-Version: use v2."
      : `query failed validation: markdown_version should be "v1" or "v2", instead was \`"${asked}"\`.`,
  );
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

export async function startNotionEmulator(options: EmulatorOptions): Promise<NotionEmulator> {
  const workspace = options.workspace;
  const token = options.token ?? DEFAULT_TOKEN;
  const bucket = new TokenBucket(options.ratePerSecond ?? 3, options.burst ?? 10);
  let faults: (FaultRule & { remaining: number; draw?: () => number })[] = [];
  let log: RequestLogEntry[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let queryLimit = options.queryResultLimit === undefined ? undefined : checkQueryResultLimit(options.queryResultLimit);
  let searchLag = options.searchLagMs ?? 0;
  let hostedMode = options.hostedFiles ?? "notion";
  let fileFaults: { match: string; remaining: number; status: number }[] = [];
  const fileSizes = new Map<string, number>();

  const retryAfter = (rule?: FaultRule): string => {
    const configured = options.retryAfterSeconds ?? 1;
    const seconds = rule?.retryAfterSeconds ?? (typeof configured === "function" ? configured() : configured);
    return String(Math.max(0, Math.ceil(seconds)));
  };

  const latencyFor = (route: RouteName | "unknown"): number => {
    const latency = options.latencyMs ?? 0;
    if (typeof latency === "number") return latency;
    return route === "unknown" ? 0 : (latency[route] ?? 0);
  };

  const takeFault = (route: RouteName | "unknown", pathname: string): FaultRule | undefined => {
    const path = pathname.replace(/-/g, "");
    const rule = faults.find(
      (f) =>
        (f.route === "*" || f.route === route) &&
        (!f.matchId || path.includes(f.matchId.replace(/-/g, ""))) &&
        (f.draw === undefined || f.draw() < f.probability!),
    );
    if (!rule) return undefined;
    rule.remaining -= 1;
    if (rule.remaining <= 0) faults = faults.filter((f) => f !== rule);
    return rule;
  };

  /** A 200 answer in the shapes of the request's Notion-Version (versions.ts). */
  const answer = (req: http.IncomingMessage, url: URL, bodyText: string): Reply => {
    const reply = answerLatest(req, url, bodyText);
    const version = req.headers["notion-version"];
    return reply.status === 200 && typeof version === "string"
      ? { ...reply, body: forVersion(reply.body, version) }
      : reply;
  };

  /** Normal handling of an API request, in the order Notion checks things. */
  const answerLatest = (req: http.IncomingMessage, url: URL, bodyText: string): Reply => {
    const auth = req.headers.authorization ?? "";
    if (auth !== `Bearer ${token}`) return errorReply(401, "unauthorized", "API token is invalid.");

    const version = req.headers["notion-version"];
    if (typeof version !== "string" || version === "") {
      return errorReply(
        400,
        "missing_version",
        "Notion-Version header failed validation: Notion-Version header should be defined, instead was `undefined`.",
      );
    }
    if (!/^\d{4}-\d{2}-\d{2}$/.test(version) || version < MIN_NOTION_VERSION) {
      return errorReply(
        400,
        "validation_error",
        `Notion-Version header failed validation: this emulator speaks ${MIN_NOTION_VERSION} and later, instead was \`${version}\`.`,
      );
    }

    // Rate limits are per integration, so only authenticated requests count.
    if (!bucket.take()) {
      return errorReply(
        429,
        "rate_limited",
        "You have been rate limited. Please try again in a few minutes.",
        { "Retry-After": retryAfter() },
        { rate_limit_reason: "public_api_request_rate_limit" },
      );
    }

    const match = matchRoute(req.method ?? "GET", url.pathname);
    if (!match) return errorReply(400, "invalid_request_url", "Invalid request URL.");
    if (match.route === "users.me") return { status: 200, body: BOT_USER };
    const requested = requestedProperties(url);
    if (match.route === "search") {
      try {
        checkRequestBody(parsedOrNull(bodyText), version);
        const found = searchWorkspace(workspace, bodyText, { lagMs: searchLag });
        const results = found.results.map((r) =>
          r.object === "page" ? listedProperties(r, requested, { version, list: true }) : r,
        );
        return { status: 200, body: { ...found, results } };
      } catch (error) {
        if (error instanceof NotionApiError) return errorReply(error.status, error.code, error.message);
        throw error;
      }
    }
    const id = normalizeId(match.id);
    if (!id) {
      const param = {
        "databases.retrieve": "database_id",
        "dataSources.retrieve": "data_source_id",
        "dataSources.query": "data_source_id",
        "pages.retrieve": "page_id",
        "pages.properties.retrieve": "page_id",
        "blocks.children.list": "block_id",
        "blocks.retrieve": "block_id",
        "pages.retrieveMarkdown": "page_id",
      }[match.route];
      return errorReply(
        400,
        "validation_error",
        `path failed validation: path.${param} should be a valid uuid, instead was \`"${match.id}"\`.`,
      );
    }

    try {
      switch (match.route) {
        case "databases.retrieve": {
          const db = workspace.database(id);
          if (!db) throw notFound(id, "database");
          return { status: 200, body: db };
        }
        case "dataSources.retrieve": {
          const dataSource = workspace.dataSource(id);
          if (!dataSource) throw notFound(id, "data_source");
          return { status: 200, body: dataSource };
        }
        case "pages.retrieve": {
          const page = workspace.page(id);
          if (!page) throw notFound(id, "page");
          return { status: 200, body: listedProperties(page, requested, { version, list: false }) };
        }
        case "pages.properties.retrieve":
          return { status: 200, body: propertyItems(workspace, id, match.sub ?? "", url) };
        case "pages.retrieveMarkdown":
          return { status: 200, body: retrievePageMarkdown(workspace, id, markdownVersionOf(url, version)) };
        case "dataSources.query": {
          let body: unknown = {};
          if (bodyText.trim() !== "") {
            try {
              body = JSON.parse(bodyText);
            } catch {
              return errorReply(400, "invalid_json", "Error parsing JSON body.");
            }
          }
          if (typeof body !== "object" || body === null || Array.isArray(body)) {
            return errorReply(400, "validation_error", "body failed validation: body should be an object.");
          }
          checkRequestBody(body, version);
          const beta = req.headers["notion-beta"];
          const list = workspace.queryDataSource(id, body as Record<string, unknown>, {
            limit: queryLimit,
            dialect: filterDialect(version, typeof beta === "string" ? beta : undefined),
          });
          // Key order of the recorded answers; request_status only when the cap cut the query short.
          const { next_cursor, has_more, request_status } = list;
          const names = requestedNames(workspace.dataSource(id)?.properties, requested);
          const results = list.results.map((r) => listedProperties(r, requested, { version, list: true, names }));
          return {
            status: 200,
            body: {
              object: "list",
              results,
              next_cursor,
              has_more,
              type: "page_or_data_source",
              page_or_data_source: {},
              ...(request_status ? { request_status } : {}),
            },
          };
        }
        case "blocks.retrieve": {
          // The block with its hosted files signed for an hour (files.ts): what the file route refreshes with.
          const block = workspace.block(id);
          if (!block) throw notFound(id, "block");
          return { status: 200, body: block };
        }
        case "blocks.children.list": {
          const rawSize = url.searchParams.get("page_size");
          const pageSize = rawSize === null || rawSize === "" ? undefined : Number(rawSize);
          if (pageSize !== undefined && !Number.isInteger(pageSize)) {
            return errorReply(
              400,
              "validation_error",
              `query failed validation: page_size should be a number, instead was \`"${rawSize}"\`.`,
            );
          }
          const list = workspace.blockChildren(id, url.searchParams.get("start_cursor") ?? undefined, pageSize);
          if (!list) throw notFound(id, "block");
          const { results, next_cursor, has_more } = list;
          return { status: 200, body: { object: "list", results, next_cursor, has_more, type: "block", block: {} } };
        }
      }
    } catch (error) {
      if (error instanceof NotionApiError)
        return errorReply(error.status, error.code, error.message, undefined, error.additionalData);
      throw error;
    }
  };

  const send = (res: http.ServerResponse, reply: Reply, fromNotion = true): void => {
    const requestId = randomUUID();
    // Notion puts request_id in every JSON body (errors and objects alike); control answers don't.
    const body =
      fromNotion && typeof reply.body === "object" && reply.body !== null
        ? { ...reply.body, request_id: requestId }
        : reply.body;
    let text = JSON.stringify(body);
    // Hosted files served here: every URL naming Notion's bucket names this server (files.ts).
    if (fromNotion && hostedMode === "self")
      text = text.replaceAll(`${HOSTED_FILES_ORIGIN}/`, `${emulator.url}${SELF_FILES_PATH}`);
    res.writeHead(reply.status, {
      "Content-Type": "application/json; charset=utf-8",
      "Content-Length": Buffer.byteLength(text),
      "x-notion-request-id": requestId,
      ...reply.headers,
    });
    res.end(text);
  };

  const holds = new Map<string, HoldRule & { remaining: number; paused: (() => void)[] }>();
  let holdCounter = 0;
  const takeHold = (route: RouteName | "unknown", pathname: string) => {
    const path = pathname.replace(/-/g, "");
    const hold = [...holds.values()].find(
      (h) =>
        h.remaining > 0 &&
        (h.route === "*" || h.route === route) &&
        (!h.matchId || path.includes(h.matchId.replace(/-/g, ""))),
    );
    if (hold) hold.remaining -= 1;
    return hold;
  };

  const handleApi = (req: http.IncomingMessage, res: http.ServerResponse, url: URL, bodyText: string): void => {
    const route = matchRoute(req.method ?? "GET", url.pathname)?.route ?? "unknown";
    const hold = takeHold(route, url.pathname);
    if (hold) hold.paused.push(() => respond(req, res, url, bodyText, route));
    else respond(req, res, url, bodyText, route);
  };

  const respond = (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    url: URL,
    bodyText: string,
    route: RouteName | "unknown",
  ): void => {
    const header = (name: string) => (typeof req.headers[name] === "string" ? (req.headers[name] as string) : null);
    const entry: RequestLogEntry = {
      route,
      path: url.pathname + url.search,
      status: 0,
      at: Date.now(),
      version: header("notion-version"),
      beta: header("notion-beta"),
    };
    log.push(entry);

    // Faults come before any normal handling (even auth), like an outage would.
    const fault = takeFault(route, url.pathname);
    if (fault?.status === "hang") return; // closed by close()
    if (fault?.status === "reset") {
      req.socket.destroy();
      return;
    }
    let reply: Reply;
    if (fault) {
      const [code, message] = FAULT_ERRORS[fault.status];
      reply = errorReply(
        fault.status,
        code,
        message,
        fault.status === 429 || fault.status === 529 ? { "Retry-After": retryAfter(fault) } : undefined,
        fault.status === 429
          ? { rate_limit_reason: fault.rateLimitReason ?? "public_api_request_rate_limit" }
          : undefined,
      );
    } else {
      reply = answer(req, url, bodyText);
    }
    entry.status = reply.status;

    const delay = latencyFor(route);
    if (delay <= 0) return send(res, reply);
    const timer = setTimeout(() => {
      timers.delete(timer);
      send(res, reply);
    }, delay);
    timers.add(timer);
  };

  /** GET /s3/<workspace>/<file id>/<name>: a hosted file's bytes, as S3 would answer its signed URL. */
  const serveFile = (res: http.ServerResponse, url: URL): void => {
    const entry: RequestLogEntry = {
      route: "files.get",
      path: url.pathname + url.search,
      status: 0,
      at: Date.now(),
      version: null,
      beta: null,
    };
    log.push(entry);
    const reply = (status: number, body: Buffer | string, contentType: string): void => {
      entry.status = status;
      res.writeHead(status, { "Content-Type": contentType, "Content-Length": Buffer.byteLength(body) });
      res.end(body);
    };
    const fault = fileFaults.find((f) => url.pathname.includes(f.match));
    if (fault) {
      fault.remaining -= 1;
      if (fault.remaining <= 0) fileFaults = fileFaults.filter((f) => f !== fault);
      return reply(fault.status, "injected fault", "text/plain");
    }
    const expiry = signatureExpiry(url);
    if (expiry === null || expiry <= workspace.now().getTime()) return reply(403, EXPIRED_XML, "application/xml");
    const [, , fileId = "", rawName = ""] = url.pathname.slice(SELF_FILES_PATH.length - 1).split("/");
    const name = safeDecode(rawName);
    if (!fileId || !name) return reply(404, "no such file", "text/plain");
    const { bytes, contentType } = hostedFileBytes(fileId, name, fileSizes.get(fileId));
    reply(200, bytes, contentType);
  };

  const emulator: NotionEmulator = {
    url: "",
    token,
    workspace,
    injectFault(rule) {
      const prng = rule.probability === undefined ? undefined : new Prng(rule.seed ?? 1);
      const random = prng ? () => prng.next() : undefined;
      faults.push({ ...rule, remaining: rule.times ?? (random ? Infinity : 1), draw: random });
    },
    clearFaults() {
      faults = [];
    },
    setRate(ratePerSecond, burst) {
      bucket.set(ratePerSecond, burst ?? options.burst ?? 10);
    },
    setQueryResultLimit(limit) {
      queryLimit = limit === undefined ? undefined : checkQueryResultLimit(limit);
    },
    setSearchLag(ms) {
      searchLag = Math.max(0, ms);
    },
    queryResultLimit() {
      return queryLimit ?? workspace.queryResultLimit;
    },
    hold(rule) {
      const id = `hold-${++holdCounter}`;
      holds.set(id, { ...rule, remaining: rule.times ?? 1, paused: [] });
      return id;
    },
    release(holdId) {
      const hold = holds.get(holdId);
      holds.delete(holdId);
      for (const go of hold?.paused ?? []) go();
      return hold?.paused.length ?? 0;
    },
    held(holdId) {
      return holds.get(holdId)?.paused.length ?? 0;
    },
    requests() {
      return log.map((entry) => ({ ...entry }));
    },
    resetRequestLog() {
      log = [];
    },
    setHostedFiles(mode) {
      hostedMode = mode;
    },
    hostedFiles: () => hostedMode,
    failFileGets(match, times = 1, status = 500) {
      if (times >= 1) fileFaults.push({ match, remaining: times, status });
    },
    setFileSize(fileId, bytes) {
      if (bytes === undefined) fileSizes.delete(fileId);
      else fileSizes.set(fileId, bytes);
    },
    async close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Also drops keep-alive and hanging connections, which would keep close() waiting.
        server.closeAllConnections();
      });
    },
  };

  const server = http.createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? "/", "http://emulator");
      const bodyText = await readBody(req);
      if (url.pathname.startsWith("/__emulator/")) {
        send(res, control(emulator, req.method ?? "GET", url, bodyText), false);
      } else if (url.pathname.startsWith(SELF_FILES_PATH) && req.method === "GET") {
        serveFile(res, url);
      } else {
        handleApi(req, res, url, bodyText);
      }
    })().catch((error: unknown) => {
      // A bug in the emulator must not look like a Notion answer: plain 500 without a Notion error code.
      if (!res.headersSent) res.writeHead(500, { "Content-Type": "text/plain" });
      res.end(`emulator error: ${error instanceof Error ? error.stack : String(error)}`);
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  emulator.url = `http://${host}:${address.port}`;
  return emulator;
}

// ------------------------------------------------------------------ control API

function requireString(body: Record<string, unknown>, key: string): string {
  const value = body[key];
  if (typeof value !== "string" || value === "") throw new ControlError(400, `${key} (string) is required`);
  return value;
}

class ControlError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** N visible rows, deterministic for a given workspace state, alternating between the two databases. */
export function pickPages(
  workspace: Workspace,
  count: number,
): { id: string; databaseId: string; title: string; slug: string }[] {
  const rng = new Prng(`${workspace.seed}:pick`);
  const pools = [workspace.pagesDatabaseId, workspace.postsDatabaseId].map((dbId) =>
    rng.shuffle(workspace.visibleRows(dbId)),
  );
  const picked: { id: string; databaseId: string; title: string; slug: string }[] = [];
  for (let i = 0; picked.length < count && (pools[0].length > 0 || pools[1].length > 0); i++) {
    const page = pools[i % 2].shift();
    if (!page) continue;
    const text = (name: string): string => {
      const prop = page.properties[name];
      const parts = prop?.type === "title" ? prop.title : prop?.type === "rich_text" ? prop.rich_text : [];
      return parts.map((part) => part.plain_text).join("");
    };
    picked.push({
      id: page.id,
      databaseId: page.parent.type === "data_source_id" ? page.parent.database_id : "",
      title: text("Name"),
      slug: text("Slug"),
    });
  }
  return picked;
}

function info(emulator: NotionEmulator): Record<string, unknown> {
  const ws = emulator.workspace;
  return {
    url: emulator.url,
    token: emulator.token,
    pagesDatabaseId: ws.pagesDatabaseId,
    postsDatabaseId: ws.postsDatabaseId,
    pagesDataSourceId: ws.pagesDataSourceId,
    postsDataSourceId: ws.postsDataSourceId,
    databases: databaseList(ws),
    now: ws.now().toISOString(),
    // JSON has no Infinity: null means no cap.
    queryResultLimit: Number.isFinite(emulator.queryResultLimit()) ? emulator.queryResultLimit() : null,
    hostedFiles: emulator.hostedFiles(),
    stats: ws.stats(),
  };
}

/** Every database: the default two first, then those POST /__emulator/databases made. */
function databaseList(ws: Workspace): { id: string; dataSourceId: string; title: string }[] {
  return ws.databaseIds().map((id) => {
    const db = ws.database(id)!;
    return { id, dataSourceId: db.data_sources[0].id, title: db.data_sources[0].name };
  });
}

function requireObject(body: Record<string, unknown>, key: string): Record<string, unknown> {
  const value = body[key];
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new ControlError(400, `${key} (object) is required`);
  return value as Record<string, unknown>;
}

function control(emulator: NotionEmulator, method: string, url: URL, bodyText: string): Reply {
  const ws = emulator.workspace;
  try {
    let body: Record<string, unknown> = {};
    if (method === "POST" && bodyText.trim() !== "") {
      const parsed: unknown = JSON.parse(bodyText);
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
        throw new ControlError(400, "body must be a JSON object");
      body = parsed as Record<string, unknown>;
    }
    const action = `${method} ${url.pathname.slice("/__emulator/".length)}`;
    const ok = (extra: Record<string, unknown> = {}): Reply => ({ status: 200, body: { ok: true, ...extra } });
    switch (action) {
      case "GET info":
        return { status: 200, body: info(emulator) };
      case "GET requests": {
        const entries = emulator.requests();
        const byRoute: Record<string, number> = {};
        const byStatus: Record<string, number> = {};
        for (const entry of entries) {
          byRoute[entry.route] = (byRoute[entry.route] ?? 0) + 1;
          byStatus[entry.status] = (byStatus[entry.status] ?? 0) + 1;
        }
        return { status: 200, body: { total: entries.length, byRoute, byStatus } };
      }
      case "POST reset-requests":
        emulator.resetRequestLog();
        return ok();
      case "GET pick": {
        const count = Number(url.searchParams.get("count") ?? "1");
        if (!Number.isInteger(count) || count < 0) throw new ControlError(400, "count must be a non-negative integer");
        const pages = pickPages(ws, count);
        return { status: 200, body: { ids: pages.map((p) => p.id), pages } };
      }
      case "GET tree":
        return {
          status: 200,
          body: { pageId: requireParam(url, "pageId"), tree: ws.contentTree(requireParam(url, "pageId")) },
        };
      case "POST edit":
        ws.editPageTitle(requireString(body, "pageId"), requireString(body, "title"));
        return ok({ page: ws.page(requireString(body, "pageId")) ?? null });
      case "POST edit-block":
        ws.editBlockText(requireString(body, "blockId"), requireString(body, "text"));
        return ok();
      case "POST append":
        ws.appendBlocks(requireString(body, "parentId"), typeof body.count === "number" ? body.count : 1);
        return ok();
      case "POST trash":
        ws.trashPage(requireString(body, "pageId"));
        return ok();
      case "POST restore":
        ws.restorePage(requireString(body, "pageId"));
        return ok();
      case "POST unshare":
        ws.unsharePage(requireString(body, "pageId"));
        return ok();
      case "POST share":
        ws.sharePage(requireString(body, "pageId"));
        return ok();
      case "POST add": {
        const slug = typeof body.slug === "string" ? body.slug : undefined;
        return ok({
          page: ws.addPage(requireString(body, "databaseId"), { title: requireString(body, "title"), slug }),
        });
      }
      case "GET databases":
        return { status: 200, body: { databases: databaseList(ws) } };
      case "POST databases": {
        const properties = body.properties === undefined ? undefined : requireObject(body, "properties");
        const icon = typeof body.icon === "string" ? body.icon : undefined;
        const database = ws.createDatabase({
          title: requireString(body, "title"),
          properties: properties as Record<string, PropertyInput> | undefined,
          icon,
        });
        return ok({ databaseId: database.id, dataSourceId: database.data_sources[0].id, database });
      }
      case "POST rows": {
        const values = body.values === undefined ? undefined : requireObject(body, "values");
        const paragraphs = body.paragraphs;
        if (paragraphs !== undefined && !(Array.isArray(paragraphs) && paragraphs.every((p) => typeof p === "string")))
          throw new ControlError(400, "paragraphs must be a list of strings");
        return ok({
          page: ws.addRow(requireString(body, "databaseId"), {
            values,
            paragraphs: paragraphs as string[] | undefined,
          }),
        });
      }
      case "POST update-row":
        return ok({ page: ws.updateRow(requireString(body, "pageId"), requireObject(body, "values")) });
      case "POST add-child":
        return ok({ page: ws.addChildPage(requireString(body, "parentPageId"), requireString(body, "title")) });
      case "POST relation": {
        const count = typeof body.count === "number" ? body.count : undefined;
        const name = typeof body.name === "string" ? body.name : undefined;
        return ok({ relation: setRelation(ws, requireString(body, "pageId"), { count, name }) });
      }
      case "POST fault":
        emulator.injectFault(parseFaultRule(body));
        return ok();
      case "POST clear-faults":
        emulator.clearFaults();
        return ok();
      case "POST rate": {
        // JSON has no Infinity: null (or a missing rate) disables the limit.
        const rate = typeof body.ratePerSecond === "number" ? body.ratePerSecond : Infinity;
        emulator.setRate(rate, typeof body.burst === "number" ? body.burst : undefined);
        return ok();
      }
      case "POST search-lag": {
        if (typeof body.ms !== "number" || !(body.ms >= 0)) throw new ControlError(400, "ms must be a number >= 0");
        emulator.setSearchLag(body.ms);
        return ok();
      }
      case "POST hold": {
        const rule = parseFaultRule({ ...body, status: 500 });
        return ok({
          holdId: emulator.hold({ route: rule.route as HoldRule["route"], matchId: rule.matchId, times: rule.times }),
        });
      }
      case "POST release":
        return ok({ released: emulator.release(requireString(body, "holdId")) });
      case "GET held":
        return ok({ held: emulator.held(requireParam(url, "holdId")) });
      case "POST query-limit": {
        // {limit: N} sets the per-query cap, {limit: null} lifts it, {} goes back to the workspace's limit.
        const limit = body.limit;
        if (
          limit !== undefined &&
          limit !== null &&
          (typeof limit !== "number" || !Number.isInteger(limit) || limit < 1)
        ) {
          throw new ControlError(400, "limit must be a positive integer or null");
        }
        emulator.setQueryResultLimit(limit === undefined ? undefined : limit === null ? Infinity : limit);
        return ok({
          queryResultLimit: Number.isFinite(emulator.queryResultLimit()) ? emulator.queryResultLimit() : null,
        });
      }
      case "POST hosted-files": {
        if (body.mode !== "notion" && body.mode !== "self")
          throw new ControlError(400, 'mode must be "notion" or "self"');
        emulator.setHostedFiles(body.mode);
        return ok();
      }
      case "POST file-fail": {
        const times = body.times === undefined ? 1 : body.times;
        const status = body.status === undefined ? 500 : body.status;
        if (typeof times !== "number" || !Number.isInteger(times) || times < 1)
          throw new ControlError(400, "times must be a positive integer");
        if (typeof status !== "number" || !Number.isInteger(status) || status < 400 || status > 599)
          throw new ControlError(400, "status must be an HTTP error status (400-599)");
        emulator.failFileGets(requireString(body, "match"), times, status);
        return ok();
      }
      case "POST file-size": {
        const bytes = body.bytes;
        if (bytes !== undefined && (typeof bytes !== "number" || !Number.isInteger(bytes) || bytes < 0))
          throw new ControlError(400, "bytes must be a non-negative integer");
        emulator.setFileSize(requireString(body, "fileId"), bytes);
        return ok();
      }
      case "POST clock":
        if (typeof body.now === "string") ws.setNow(new Date(body.now));
        if (typeof body.advanceMs === "number") ws.advanceClock(body.advanceMs);
        if (typeof body.running === "boolean") ws.setClockRunning(body.running);
        return ok({ now: ws.now().toISOString() });
      default:
        throw new ControlError(404, `unknown control route ${action}`);
    }
  } catch (error) {
    // Workspace mutations throw "unknown page/block/database ..." for ids they don't know.
    const status =
      error instanceof ControlError
        ? error.status
        : error instanceof Error && error.message.startsWith("unknown ")
          ? 404
          : 400;
    return { status, body: { ok: false, error: error instanceof Error ? error.message : String(error) } };
  }
}

function requireParam(url: URL, key: string): string {
  const value = url.searchParams.get(key);
  if (!value) throw new ControlError(400, `${key} query parameter is required`);
  return value;
}

const FAULT_ROUTES: readonly string[] = ["*", ...ROUTES.map((r) => r.route)];

function parseFaultRule(body: Record<string, unknown>): FaultRule {
  const { route, status, times, retryAfterSeconds, matchId } = body;
  if (typeof route !== "string" || !FAULT_ROUTES.includes(route))
    throw new ControlError(400, `route must be one of ${FAULT_ROUTES.join(", ")}`);
  const known = status === "hang" || status === "reset" || (typeof status === "number" && status in FAULT_ERRORS);
  if (!known) throw new ControlError(400, `unsupported fault status ${JSON.stringify(status)}`);
  if (times !== undefined && typeof times !== "number") throw new ControlError(400, "times must be a number");
  if (retryAfterSeconds !== undefined && typeof retryAfterSeconds !== "number")
    throw new ControlError(400, "retryAfterSeconds must be a number");
  if (matchId !== undefined && typeof matchId !== "string") throw new ControlError(400, "matchId must be a string");
  return { route, status, times, retryAfterSeconds, matchId } as FaultRule;
}
