/**
 * Every error class the KV layer throws. Callers branch on them with
 * `instanceof` (one realm: the server bundle); generic failures are plain
 * Errors whose message starts with "kv".
 */
import { ConfigError } from "../config";

/** A call on a store after close(). */
export class KvClosedError extends Error {
  constructor(kind: string) {
    super(`kv (${kind}): store is closed`);
    this.name = "KvClosedError";
  }
}

/** A batch whose `require` op did not hold (the guard key has another value): nothing was written. */
export class KvPreconditionError extends Error {
  constructor(readonly key: string) {
    super(`kv: precondition failed: ${key} no longer holds the expected value; nothing was written`);
    this.name = "KvPreconditionError";
  }
}

/** A call still unanswered when the invocation's budget and tail are spent (lib/kv/bounded-store.ts). */
export class KvTimeoutError extends Error {
  constructor(what: string, ms: number) {
    super(`kv: ${what} did not answer within ${ms} ms (what was left of the invocation's time)`);
    this.name = "KvTimeoutError";
  }
}

/** The file store's log cannot be read as a log; names the path and byte offset, never contents. */
export class LogCorruptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LogCorruptError";
  }
}

/** Missing or half-set KV configuration. Extends ConfigError so HTTP layers map it to 503. */
export class KvConfigError extends ConfigError {
  constructor(message: string, variables: string[]) {
    super(message, variables);
    this.name = "KvConfigError";
  }
}
