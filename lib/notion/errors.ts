/**
 * Every Notion failure becomes a NotionSyncError with one of four kinds, and
 * the engine decides per kind: wait or checkpoint (rate_limited), retry while
 * the budget allows (transient), stop the run (permanent), drop the page
 * (gone).
 */
import { APIResponseError, RequestTimeoutError, UnknownHTTPResponseError, isHTTPResponseError } from "@notionhq/client";

/** The SDK keeps the fetch Headers (or a plain record, with a custom fetch). */
function headerOf(headers: unknown, name: string): string | undefined {
  if (headers && typeof (headers as Headers).get === "function") return (headers as Headers).get(name) ?? undefined;
  if (headers && typeof headers === "object") {
    const hit = Object.entries(headers as Record<string, unknown>).find(([k]) => k.toLowerCase() === name);
    return hit ? String(hit[1]) : undefined;
  }
  return undefined;
}

export type NotionFailureKind = "rate_limited" | "transient" | "permanent" | "gone";

/**
 * Which of Notion's limits a 429 is about (`additional_data.rate_limit_reason`):
 * this connection's own 3 requests a second (lower NOTION_RATE_PER_MIN), or the
 * workspace's plan-scaled limit, shared with every other integration of the
 * workspace (since 2026-06-16), which no pacing of ours can avoid.
 */
export type RateLimitScope = "connection" | "workspace" | "unknown";

const RATE_LIMIT_REASONS: Record<string, RateLimitScope> = {
  public_api_request_rate_limit: "connection",
  public_api_space_request_rate_limit: "workspace",
};

export function rateLimitScopeOf(reason: unknown): RateLimitScope {
  return (typeof reason === "string" && RATE_LIMIT_REASONS[reason]) || "unknown";
}

export class NotionSyncError extends Error {
  constructor(
    readonly kind: NotionFailureKind,
    message: string,
    readonly details: {
      status?: number;
      code?: string;
      retryAfterMs?: number;
      requestId?: string;
      rateLimitScope?: RateLimitScope;
    } = {},
  ) {
    super(message);
    this.name = "NotionSyncError";
  }

  static is(error: unknown, kind?: NotionFailureKind): error is NotionSyncError {
    return error instanceof NotionSyncError && (kind === undefined || error.kind === kind);
  }
}

/** Retry-After is whole seconds in Notion's answers; an HTTP date is accepted too. */
export function parseRetryAfterMs(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.round(seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

const RATE_LIMIT_MESSAGES: Record<RateLimitScope, string> = {
  connection:
    "Notion rate limit reached for this integration (per connection: about 3 requests a second; lower NOTION_RATE_PER_MIN)",
  workspace:
    "Notion rate limit reached for the workspace (per workspace, shared with its other integrations and scaled to its plan)",
  unknown: "Notion rate limit reached",
};

const TRANSIENT_STATUS = new Set([409, 500, 502, 503, 504, 529]);

export function classifyNotionError(error: unknown): NotionSyncError {
  if (error instanceof NotionSyncError) return error;
  if (isHTTPResponseError(error)) {
    const e = error as APIResponseError | UnknownHTTPResponseError;
    const details = { status: e.status, code: e.code, requestId: e.request_id };
    if (e.status === 429) {
      const retryAfterMs = parseRetryAfterMs(headerOf(e.headers, "retry-after"));
      const rateLimitScope = rateLimitScopeOf(e.additional_data?.rate_limit_reason);
      return new NotionSyncError("rate_limited", RATE_LIMIT_MESSAGES[rateLimitScope], {
        ...details,
        retryAfterMs,
        rateLimitScope,
      });
    }
    if (e.status === 404) return new NotionSyncError("gone", `Notion object not found (${e.code})`, details);
    if (TRANSIENT_STATUS.has(e.status) || e.status >= 500) {
      return new NotionSyncError("transient", `Notion answered ${e.status} ${e.code}`, details);
    }
    return new NotionSyncError("permanent", `Notion refused the request: ${e.status} ${e.code}: ${e.message}`, details);
  }
  if (RequestTimeoutError.isRequestTimeoutError(error)) {
    return new NotionSyncError("transient", "Notion request timed out");
  }
  if (error instanceof Error && (error.name === "AbortError" || error.name === "TimeoutError")) {
    return new NotionSyncError("transient", "Notion request aborted at its deadline");
  }
  // fetch() rejects with TypeError("fetch failed") on DNS, reset and refused connections.
  if (error instanceof TypeError) {
    return new NotionSyncError("transient", `network error calling Notion: ${error.message}`);
  }
  return new NotionSyncError(
    "permanent",
    `unexpected error calling Notion: ${error instanceof Error ? error.message : String(error)}`,
  );
}
