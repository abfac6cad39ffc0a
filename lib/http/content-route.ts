/**
 * The content API: the mirror over HTTP for sites that are not this app.
 *
 *   GET /api/content                      the sections and their sizes (manifests only)
 *   GET /api/content/<section>            index entries, `?offset=&limit=` (limit 1–100, default 20)
 *   GET /api/content/<section>/<slug>     one page bundle (slug percent-encoded in the URL)
 *
 * Read through lib/read.ts, so every Notion-hosted file URL is a stable
 * `/api/files/<ref>` URL, made absolute here (FILES_BASE_URL, else the
 * deployment's public URL, else the request's origin): the consumer is
 * another site. Files copied to the files store (FILES_MIRROR) keep their
 * store URL, absolute already.
 *
 * Off unless CONTENT_API=public (anyone; `Cache-Control: public, max-age=0,
 * s-maxage=N, stale-while-revalidate=M`, CORS open) or CONTENT_API=token
 * (`Authorization: Bearer $CONTENT_API_TOKEN`, compared in constant time;
 * `Cache-Control: private, no-cache`, `Vary: Authorization`). Off: 404
 * `content_api_off`.
 *
 * ETag: a strong validator, the SHA-256 of the exact body sent (so it changes
 * with the content, the file URLs and the page asked, and with nothing else);
 * `If-None-Match` that matches → 304 with no body. A hash of the body rather
 * than one derived from the manifest's updatedAt and the bundle's synced_at:
 * those say nothing about read-time rewriting (FILES_BASE_URL, a rotated
 * FILES_REF_SECRET), and the read it would save is one chunk or bundle that
 * the CDN's s-maxage already keeps off the origin most of the time.
 *
 * Every answer that is not a 200/304 is JSON `{ok: false, error: {code,
 * message}}` (400 bad_query, 401 unauthorized, 404 content_api_off /
 * unknown_section / unknown_slug / not_found, 405, 503 config_error /
 * kv_unavailable), never a 500, never a secret.
 */
import { slugFromPath } from "../mirror/slug";
import { createHash } from "node:crypto";
import { ConfigError } from "../config";
import { safeEqual } from "../auth/safe-equal";
import { createDeadline } from "../core/deadline";
import type { Section } from "../core/sections";
import { filesBaseUrl, fileRefKey, type FileLinkSettings } from "../files";
import { DEFAULT_KV_BOUNDS, boundedByDeadline } from "../kv/bounded-store";
import { getPageBundle, getSectionIndex, getSectionSize } from "../read";
import { loadStoreRuntime } from "../runtime";
import { bearerToken } from "../auth";
import { publicBaseUrl } from "../core/base-url";
import { configErrorResponse, loadConfig } from "./config-error";
import { jsonError } from "./json";
import { answeringErrors } from "./unavailable";

type Env = Record<string, string | undefined>;

export const CONTENT_PATH = "/api/content";
/** Entries per page when `limit` is not given, and the most one page may hold. */
export const DEFAULT_LIMIT = 20;
export const MAX_LIMIT = 100;
/** Offsets past this are refused (400): no index is that long, and it bounds what a query can ask. */
export const MAX_OFFSET = 10_000_000;
export const DEFAULT_S_MAXAGE_S = 60;
export const DEFAULT_SWR_S = 300;
const MAX_AGE_S = 31_536_000;
/** Time one content request may take, KV included. */
export const CONTENT_BUDGET_MS = 5_000;
/** Bytes of UTF-8 a slug can have (lib/mirror/slug.ts makes at most 120, children add `-{id8}`). */
const MAX_SLUG_BYTES = 200;
/** What a slug is made of (lib/mirror/slug.ts): letters, digits, marks and dashes, nothing else. */
const SLUG_SHAPE = /^[\p{L}\p{N}\p{M}-]+$/u;
const TOKEN_MIN_LENGTH = 16;

export type ContentMode = "off" | "public" | "token";

export interface ContentSettings {
  mode: ContentMode;
  /** CONTENT_API_TOKEN, token mode only. */
  token: string | null;
  sMaxAgeS: number;
  staleWhileRevalidateS: number;
}

function seconds(env: Env, name: string, fallback: number): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > MAX_AGE_S)
    throw new ConfigError(`invalid configuration: ${name} must be an integer from 0 to ${MAX_AGE_S} (seconds)`, [name]);
  return n;
}

/** CONTENT_API and its companions; throws ConfigError (→ 503 naming the variable) when malformed. */
export function readContentSettings(env: Env): ContentSettings {
  const raw = (env.CONTENT_API?.trim() ?? "").toLowerCase();
  const mode: ContentMode | null =
    raw === "" || raw === "off" ? "off" : raw === "public" || raw === "token" ? raw : null;
  if (mode === null)
    throw new ConfigError("invalid configuration: CONTENT_API must be off, public or token", ["CONTENT_API"]);
  let token: string | null = null;
  if (mode === "token") {
    token = env.CONTENT_API_TOKEN?.trim() || null;
    if (!token || token.length < TOKEN_MIN_LENGTH) {
      throw new ConfigError(`CONTENT_API=token needs CONTENT_API_TOKEN (at least ${TOKEN_MIN_LENGTH} characters)`, [
        "CONTENT_API_TOKEN",
      ]);
    }
  }
  return {
    mode,
    token,
    sMaxAgeS: seconds(env, "CONTENT_CACHE_S_MAXAGE", DEFAULT_S_MAXAGE_S),
    staleWhileRevalidateS: seconds(env, "CONTENT_CACHE_SWR", DEFAULT_SWR_S),
  };
}

/** The Next.js route: `app/api/content/[[...path]]/route.ts`. */
export function contentRoute() {
  return {
    GET: async (request: Request, context: { params: Promise<{ path?: string[] }> }) =>
      handleContent(request, process.env, (await context.params).path ?? []),
    OPTIONS: (request: Request) => handleContentOptions(request, process.env),
    /** POST, PUT, PATCH, DELETE: 405 once the API is on (the gate answers first). */
    other: (request: Request) => handleContent(request, process.env, []),
  };
}

/** The headers every content answer carries in a mode (errors too: a CDN must know they vary by credentials). */
function modeHeaders(settings: ContentSettings): Record<string, string> {
  return settings.mode === "public"
    ? { "access-control-allow-origin": "*", "access-control-expose-headers": "ETag" }
    : { vary: "Authorization" };
}

function cacheControl(settings: ContentSettings): string {
  if (settings.mode === "token") return "private, no-cache";
  return `public, max-age=0, s-maxage=${settings.sMaxAgeS}, stale-while-revalidate=${settings.staleWhileRevalidateS}`;
}

/** The segments after /api/content in a request URL (what the catch-all route would get). */
export function segmentsOf(request: Request): string[] {
  const path = new URL(request.url).pathname;
  const at = path.indexOf(CONTENT_PATH);
  const rest = at < 0 ? "" : path.slice(at + CONTENT_PATH.length);
  return rest.split("/").filter((s) => s !== "");
}

function isSlug(slug: string): boolean {
  return slug.length > 0 && Buffer.byteLength(slug) <= MAX_SLUG_BYTES && SLUG_SHAPE.test(slug);
}

/** A non-negative integer query parameter, or an error message. */
function intParam(query: URLSearchParams, name: string, fallback: number, min: number, max: number): number | string {
  const all = query.getAll(name);
  if (all.length === 0) return fallback;
  if (all.length > 1) return `${name} is given twice`;
  const raw = all[0].trim();
  if (!/^\d{1,10}$/.test(raw)) return `${name} must be an integer from ${min} to ${max}`;
  const n = Number(raw);
  return n < min || n > max ? `${name} must be an integer from ${min} to ${max}` : n;
}

/** If-None-Match (a list of entity tags, or *) against our strong tag, weak comparison as RFC 9110 says for it. */
export function matchesIfNoneMatch(header: string | null, etag: string): boolean {
  if (header === null) return false;
  const value = header.trim();
  if (value === "*") return true;
  const ours = etag.replace(/^W\//, "");
  return value.split(",").some((tag) => tag.trim().replace(/^W\//, "") === ours);
}

function etagOf(body: string): string {
  return `"${createHash("sha256").update(body).digest("base64url").slice(0, 32)}"`;
}

/** 200 with the body, or 304 when the client already holds it. */
function cacheable(request: Request, settings: ContentSettings, payload: Record<string, unknown>): Response {
  const body = JSON.stringify(payload);
  const etag = etagOf(body);
  const headers: Record<string, string> = {
    ...modeHeaders(settings),
    etag,
    "cache-control": cacheControl(settings),
    "x-content-type-options": "nosniff",
  };
  if (matchesIfNoneMatch(request.headers.get("if-none-match"), etag))
    return new Response(null, { status: 304, headers });
  return new Response(body, {
    status: 200,
    headers: { ...headers, "content-type": "application/json; charset=utf-8" },
  });
}

/**
 * The origin the request arrived on, as the client addressed it (Host, or a
 * proxy's X-Forwarded-Host/-Proto): `request.url` may name the server's own
 * bind address instead. Used only without SYNC_BASE_URL / NEXT_PUBLIC_SITE_URL /
 * VERCEL_PROJECT_PRODUCTION_URL (a local run); a malformed host is ignored.
 */
function requestOrigin(request: Request): string {
  const url = new URL(request.url);
  const host = request.headers.get("x-forwarded-host")?.split(",")[0]?.trim() || request.headers.get("host")?.trim();
  const proto =
    request.headers.get("x-forwarded-proto")?.split(",")[0]?.trim().toLowerCase() || url.protocol.replace(":", "");
  if (!host || !/^[A-Za-z0-9.:[\]-]{1,255}$/.test(host) || (proto !== "http" && proto !== "https")) return url.origin;
  return `${proto}://${host.toLowerCase()}`;
}

/** Where `/api/files/<ref>` lives for a consumer on another origin, and the ref key, from `env`. */
function fileSettings(request: Request, env: Env): FileLinkSettings {
  const configured = filesBaseUrl(env);
  const base = /^https?:\/\//.test(configured)
    ? configured
    : `${publicBaseUrl(env) ?? requestOrigin(request)}${configured}`;
  fileRefKey(env); // no key at all: a ConfigError now (503 naming the variable), not one per file later
  return { base, secret: env.FILES_REF_SECRET?.trim() || env.CRON_SECRET?.trim() };
}

function gate(request: Request, env: Env): { ok: true; settings: ContentSettings } | { ok: false; response: Response } {
  const loaded = loadConfig(() => readContentSettings(env));
  if (!loaded.ok) {
    // A malformed CONTENT_API is not "off": say what is wrong, as every endpoint does.
    return { ok: false, response: configErrorResponse(loaded.error) };
  }
  const settings = loaded.value;
  if (settings.mode === "off") {
    return {
      ok: false,
      response: jsonError(404, "content_api_off", "the content API is off on this deployment (CONTENT_API)"),
    };
  }
  if (settings.mode === "token") {
    const given = bearerToken(request);
    if (given === null || !safeEqual(given, settings.token!)) {
      return {
        ok: false,
        response: jsonError(
          401,
          "unauthorized",
          given === null ? "missing credentials: send Authorization: Bearer <CONTENT_API_TOKEN>" : "wrong bearer token",
          {},
          {
            ...modeHeaders(settings),
            "www-authenticate": 'Bearer realm="content"',
          },
        ),
      };
    }
  }
  return { ok: true, settings };
}

/** OPTIONS: the CORS preflight of a conditional GET from a browser (public mode only). */
export function handleContentOptions(request: Request, env: Env): Response {
  const loaded = loadConfig(() => readContentSettings(env));
  if (!loaded.ok || loaded.value.mode !== "public")
    return new Response(null, { status: 404, headers: { "cache-control": "no-store" } });
  return new Response(null, {
    status: 204,
    headers: {
      ...modeHeaders(loaded.value),
      "access-control-allow-methods": "GET, HEAD, OPTIONS",
      "access-control-allow-headers": "If-None-Match",
      "access-control-max-age": "86400",
      "cache-control": `public, max-age=86400`,
    },
  });
}

export const handleContent = answeringErrors(
  "content",
  async (request: Request, env: Env, rawSegments?: string[]): Promise<Response> => {
    const gated = gate(request, env);
    if (!gated.ok) return gated.response;
    const { settings } = gated;
    const errorHeaders = modeHeaders(settings);
    const fail = (status: number, code: string, message: string) => jsonError(status, code, message, {}, errorHeaders);
    if (request.method !== "GET" && request.method !== "HEAD") {
      return jsonError(
        405,
        "method_not_allowed",
        `${request.method} is not allowed here: use GET`,
        {},
        { ...errorHeaders, Allow: "GET, HEAD, OPTIONS" },
      );
    }

    const segments = (rawSegments ?? segmentsOf(request)).map(slugFromPath);
    if (segments.some((s) => s === null) || segments.length > 2)
      return fail(404, "not_found", "no such resource: use /api/content/<section> or /api/content/<section>/<slug>");
    const [sectionName, slug] = segments as string[];

    const loaded = loadConfig(() => ({ store: loadStoreRuntime(env), files: fileSettings(request, env) }));
    if (!loaded.ok) return configErrorResponse(loaded.error);
    const { store, files } = loaded.value;
    const kv = boundedByDeadline(store.kv, createDeadline(CONTENT_BUDGET_MS), DEFAULT_KV_BOUNDS);
    const read = { kv, prefix: store.keys.prefix, files };

    if (sectionName === undefined) {
      const names = store.workspace.names;
      const sizes = await Promise.all(names.map((s) => getSectionSize(s, read)));
      return cacheable(request, settings, {
        ok: true,
        sections: names.map((section, i) => ({ section, total: sizes[i], path: `${CONTENT_PATH}/${section}` })),
      });
    }
    if (!store.workspace.names.includes(sectionName))
      return fail(404, "unknown_section", `no such section: use one of ${store.workspace.names.join(", ")}`);
    const section: Section = sectionName;

    if (slug === undefined) {
      const query = new URL(request.url).searchParams;
      const offset = intParam(query, "offset", 0, 0, MAX_OFFSET);
      if (typeof offset === "string") return fail(400, "bad_query", offset);
      const limit = intParam(query, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT);
      if (typeof limit === "string") return fail(400, "bad_query", limit);
      const page = await getSectionIndex(section, { ...read, offset, limit });
      // A section never synced has no index yet: an empty list, not an error (a site's listing still renders).
      const total = page?.total ?? 0;
      const entries = page?.entries ?? [];
      const nextOffset = offset + entries.length;
      const link = (o: number) => `${CONTENT_PATH}/${section}?offset=${o}&limit=${limit}`;
      return cacheable(request, settings, {
        ok: true,
        section,
        // No manifest updatedAt or runId: a run that changed nothing must leave the body, so the ETag, as it was.
        total,
        offset,
        limit,
        entries,
        next: entries.length > 0 && nextOffset < total ? link(nextOffset) : null,
        prev: offset > 0 ? link(Math.max(0, offset - limit)) : null,
      });
    }

    if (!isSlug(slug)) return fail(404, "unknown_slug", `no page with that slug in ${section}`);
    const bundle = await getPageBundle(section, slug, read);
    if (!bundle) return fail(404, "unknown_slug", `no page with that slug in ${section}`);
    return cacheable(request, settings, { ok: true, section, slug, bundle });
  },
);
