/**
 * GET /api/files/<ref>: 302 to a fresh Notion URL for one file of a mirrored
 * page (lib/files). No auth: a ref is unguessable (HMAC) and names one file of
 * a page the site publishes anyway; a forged, tampered or unknown ref, or a
 * page no longer in the mirror, is a 404 without any Notion request.
 *
 * Answers: 302 + Location, with `Cache-Control: public, max-age=0,
 * s-maxage=N` (N = the URL's remaining life minus 5 minutes, at most 55
 * minutes) so a CDN keeps the redirect less long than the URL lives; JSON
 * errors otherwise (404 file_not_found, 503 config_error / kv_unavailable /
 * notion_unavailable / notion_rate_limited / notion_busy, 502 when Notion
 * refuses the integration), never a 500. Neither the ref's key nor a signed
 * URL is ever logged.
 */
import { ConfigError, readNotionSettings } from "../config";
import { BudgetExhaustedError, createDeadline } from "../core/deadline";
import {
  type FileRef,
  type FileResolver,
  REFRESH_MARGIN_MS,
  createFileResolver,
  decodeFileRef,
  fileRefKey,
} from "../files";
import { DEFAULT_KV_BOUNDS, boundedByDeadline } from "../kv/bounded-store";
import type { KvStore } from "../kv/store";
import { NotionSyncError } from "../notion/errors";
import { createNotionSource } from "../notion/source";
import { loadStoreRuntime } from "../runtime";
import { configErrorResponse, loadConfig } from "./config-error";
import { jsonError } from "./json";
import { logEvent } from "../core/log";
import { answeringErrors } from "./unavailable";

type Env = Record<string, string | undefined>;

/** Time one file request may take (KV and one paced Notion request). */
export const FILE_BUDGET_MS = 8_000;
/** The longest a CDN may keep a redirect (Notion's URLs live an hour, refreshed 5 minutes early). */
export const MAX_SHARED_AGE_S = 55 * 60;

export interface FileRouteOptions {
  /** Default: the process's resolver (its single-flight map is per process). */
  resolver?: FileResolver;
  /** The clock expiry_time is compared with (tests: the emulator's). */
  now?: () => number;
}

const processResolver = createFileResolver();

export function filesRoute() {
  return {
    GET: async (request: Request, context: { params: Promise<{ ref: string }> }) =>
      handleFile(request, (await context.params).ref, process.env),
  };
}

const notFound = () =>
  jsonError(404, "file_not_found", "no such file: the reference is unknown, or its page is no longer in the mirror");

function redirect(url: string, sharedAgeS: number): Response {
  const cacheControl = sharedAgeS > 0 ? `public, max-age=0, s-maxage=${sharedAgeS}` : "no-store";
  return new Response(null, {
    status: 302,
    headers: { location: url, "cache-control": cacheControl, "referrer-policy": "no-referrer" },
  });
}

function notionFailure(error: NotionSyncError | BudgetExhaustedError): Response {
  if (error instanceof BudgetExhaustedError) {
    return jsonError(
      503,
      "notion_busy",
      "Notion's request budget for this integration is taken right now: try again in a moment",
      {},
      { "Retry-After": "2" },
    );
  }
  const seconds = String(Math.max(1, Math.ceil((error.details.retryAfterMs ?? 1000) / 1000)));
  switch (error.kind) {
    case "rate_limited":
      return jsonError(
        503,
        "notion_rate_limited",
        "Notion asked this integration to wait before the file could be refreshed",
        {},
        { "Retry-After": seconds },
      );
    case "transient":
      return jsonError(
        503,
        "notion_unavailable",
        "Notion could not be reached to refresh the file (see the function log)",
        {},
        { "Retry-After": "5" },
      );
    default:
      return jsonError(
        502,
        `notion_${error.details.code ?? "refused"}`,
        "Notion refused the request for the file (see the function log)",
      );
  }
}

export const handleFile = answeringErrors(
  "files",
  async (request: Request, rawRef: string, env: Env, options: FileRouteOptions = {}): Promise<Response> => {
    const key = loadConfig(() => fileRefKey(env));
    if (!key.ok) return configErrorResponse(key.error);
    const ref = decodeFileRef(rawRef, key.value);
    // Forged, tampered, truncated or not ours: nothing is read, nothing is asked.
    if (!ref) return notFound();

    const loaded = loadConfig(() => loadStoreRuntime(env));
    if (!loaded.ok) return configErrorResponse(loaded.error);
    const { kv, keys, settings } = loaded.value;
    const deadline = createDeadline(FILE_BUDGET_MS);
    const now = options.now ?? Date.now;
    const bounded = boundedByDeadline(kv, deadline, DEFAULT_KV_BOUNDS);
    const resolver = options.resolver ?? processResolver;

    let resolved;
    try {
      resolved = await resolver.resolve(ref, {
        kv: bounded,
        keys,
        now,
        notion: () =>
          createNotionSource({
            token: readNotionSettings(env, {}).token,
            baseUrl: settings.notionBaseUrl,
            ratePerMin: settings.notionRatePerMin,
            notionVersion: settings.notionVersion,
            deadline,
          }),
        onRefresh: (r, outcome, ms) => logEvent("files.refresh", { ...describe(r), outcome, ms }),
      });
    } catch (error) {
      if (error instanceof ConfigError) return configErrorResponse(error);
      if (error instanceof NotionSyncError || error instanceof BudgetExhaustedError) {
        logEvent(
          "files.notion_error",
          { ...describe(ref), kind: error instanceof NotionSyncError ? error.kind : "budget", error: error.message },
          "warn",
        );
        if (NotionSyncError.is(error, "rate_limited")) await sharePause(bounded, keys.notionPause(), error);
        return notionFailure(error);
      }
      throw error; // KV: answeringErrors makes it a JSON 503
    }

    switch (resolved.status) {
      case "gone":
        return notFound();
      case "paused":
        return jsonError(
          503,
          "notion_rate_limited",
          "Notion asked this integration to wait before the file could be refreshed",
          {},
          { "Retry-After": String(Math.max(1, Math.ceil(resolved.retryAfterMs / 1000))) },
        );
      case "found": {
        const t = now();
        const lifeS =
          resolved.expiresAt === null
            ? MAX_SHARED_AGE_S
            : Math.floor((resolved.expiresAt - REFRESH_MARGIN_MS - t) / 1000);
        return redirect(resolved.url, Math.max(0, Math.min(MAX_SHARED_AGE_S, lifeS)));
      }
    }
  },
);

/**
 * Notion said 429: every instance (file requests and syncs, lib/sync/engine.ts)
 * honours the pause until Retry-After. Never shortens a longer one; best effort.
 */
async function sharePause(kv: KvStore, key: string, error: NotionSyncError): Promise<void> {
  const ms = error.details.retryAfterMs ?? 1000;
  const until = Date.now() + ms;
  try {
    const current = await kv.get<{ until?: unknown }>(key);
    if (typeof current?.until === "number" && current.until >= until) return;
    await kv.set(key, { until, scope: error.details.rateLimitScope ?? "unknown" }, { pxMs: Math.ceil(ms) });
  } catch {
    // the answer says 503 anyway
  }
}

/** Ids only (not secrets); never the ref, its MAC or a signed URL. */
function describe(ref: FileRef): Record<string, unknown> {
  return {
    section: ref.section,
    pageId: ref.pageId,
    kind: ref.kind,
    ...(ref.kind === "block" || ref.kind === "block_icon" ? { blockId: ref.blockId } : {}),
    ...(ref.kind === "prop" ? { index: ref.index } : {}),
  };
}
