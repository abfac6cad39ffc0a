/**
 * The last line of every operator and callback handler: whatever is thrown
 * (usually the KV store being unreachable) becomes a JSON 503, never a 500.
 * The raw message goes to the log only (it can name hosts).
 */
import { jsonError } from "./json";
import { logEvent } from "../core/log";

export function answeringErrors<A extends unknown[]>(
  what: string,
  handler: (...args: A) => Promise<Response>,
): (...args: A) => Promise<Response> {
  return async (...args) => {
    try {
      return await handler(...args);
    } catch (error) {
      const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      logEvent(`${what}.error`, { error: message });
      const fromKv = error instanceof Error && /^kv\b/.test(error.message);
      return fromKv
        ? jsonError(
            503,
            "kv_unavailable",
            "the KV store could not be reached or refused the request (see the function log); nothing was changed by this call",
          )
        : jsonError(503, "unavailable", "the request could not be completed (see the function log)");
    }
  };
}
