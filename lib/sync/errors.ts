/**
 * Every error class of lib/sync, each setting `name` (logs and tests match on
 * it), with the guards callers branch on.
 */
import type { NotionSyncError } from "../notion/errors";

/** A commit found the lease held by another token (it expired and was taken): nothing was written. */
export class LeaseLostError extends Error {
  constructor(key: string) {
    super(`the lease ${key} expired or was taken over before this invocation finished; its later writes were refused`);
    this.name = "LeaseLostError";
  }
}

/**
 * A batch sent whose outcome is unknown (it may have landed, or may still land): this invocation
 * writes nothing more, since its cursor in memory may be behind KV's; the next one resumes from KV.
 */
export class WritesEndedError extends Error {
  constructor(readonly after: string) {
    super(
      `an earlier batch's outcome is unknown (${after}): this invocation writes nothing more; the next resumes from what KV holds`,
    );
    this.name = "WritesEndedError";
  }
}

/** The run's work list is gone (evicted, or deleted by hand): the engine lists again. */
export class MissingWorkError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MissingWorkError";
  }
}

/** Ends the sync phase early: every worker stops starting new items; `cause` is what stopped it. */
export class RunStoppedError extends Error {
  constructor(readonly cause: NotionSyncError) {
    super(cause.message);
    this.name = "RunStoppedError";
  }
}

/** True when this invocation may write nothing more (its lease is lost, or a batch's outcome is unknown). */
export function isWritesRefused(error: unknown): error is LeaseLostError | WritesEndedError {
  return error instanceof LeaseLostError || error instanceof WritesEndedError;
}
