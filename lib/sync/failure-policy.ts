/**
 * What a page's failure means, for the sync phase and the targeted run alike
 * (each keeps its own count of attempts: the cursor, or `{p}:wh:tries:{id}`).
 */
import { BudgetExhaustedError } from "../core/deadline";
import { FileCopyError } from "../files/mirror/copy";
import { errorMessage, isKvSizeLimitError } from "../kv/codec";
import { NotionSyncError } from "../notion/errors";

export type FailureDecision =
  /** Not the page's fault (the budget, or a request cut by the deadline): the page waits, nothing counted. */
  | { kind: "later" }
  /** Notion asked to wait: the run stops starting work until Retry-After. */
  | { kind: "rate_limited"; error: NotionSyncError }
  /** One more failed attempt, with attempts left: tried again later. */
  | { kind: "retry"; code: string; message: string }
  /** Given up for this run (the previous content stays; the next scheduled run tries again). */
  | { kind: "give_up"; code: string; message: string; counted: boolean }
  /** Stops the run (401, 403, other permanent Notion errors). */
  | { kind: "fatal"; error: NotionSyncError };

/**
 * @param attempts the page's failed attempts counting this one.
 * @param stopping the invocation is out of budget (a transient failure then is the deadline's).
 * Anything else than a Notion error or the store refusing a value's size is thrown again.
 */
export function decideFailure(
  error: unknown,
  options: { attempts: number; maxAttempts: number; stopping: boolean },
): FailureDecision {
  if (error instanceof BudgetExhaustedError) return { kind: "later" };
  if (NotionSyncError.is(error, "rate_limited")) return { kind: "rate_limited", error };
  if (NotionSyncError.is(error, "transient")) {
    // A page that keeps failing must not hold the whole run back forever.
    if (options.stopping) return { kind: "later" };
    return counted(options, `notion_${error.details.code ?? error.kind}`, error.message);
  }
  // A file's download or upload (FILES_MIRROR) failed: the page keeps its previous bundle and is tried again.
  if (error instanceof FileCopyError)
    return options.stopping ? { kind: "later" } : counted(options, error.code, error.message);
  // Too large for the store (Upstash's 10 MB request limit): the same write fails every time.
  if (isKvSizeLimitError(error))
    return counted(
      options,
      "kv_size_limit",
      `the page is too large for the KV store: ${errorMessage(error).slice(0, 300)}`,
    );
  // A 400 concerns this page's content (a request Notion will not serve for it), not the run.
  if (NotionSyncError.is(error, "permanent") && error.details.status === 400) {
    return {
      kind: "give_up",
      code: `notion_${error.details.code ?? error.kind}`,
      message: error.message,
      counted: false,
    };
  }
  if (NotionSyncError.is(error)) return { kind: "fatal", error };
  throw error;
}

/** A failed attempt that is the page's own (not the deadline's): retried until maxAttempts, then given up. */
export function counted(
  options: { attempts: number; maxAttempts: number },
  code: string,
  message: string,
): FailureDecision {
  return options.attempts >= options.maxAttempts
    ? { kind: "give_up", code, message, counted: true }
    : { kind: "retry", code, message };
}
