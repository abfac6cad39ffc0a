/**
 * The instant by which the KV call being made must have answered, carried
 * through async context (AsyncLocalStorage). The bounded store sets it for each
 * call from the invocation's deadline; an adapter whose client retries on its
 * own (the Upstash REST client retries network errors five times, with
 * backoff) reads it to abort the request, retries included, at that instant
 * instead of long after the invocation has answered. The store is shared by
 * every invocation of a warm instance, so this cannot be a field of the store.
 */
import { AsyncLocalStorage } from "node:async_hooks";

const scope = new AsyncLocalStorage<number>();

/** Outside any invocation (scripts, reads from a site): no call waits longer than this. */
export const UNSCOPED_CALL_TIMEOUT_MS = 15_000;

export function withCallDeadline<T>(endsAt: number, call: () => Promise<T>): Promise<T> {
  return scope.run(endsAt, call);
}

/** A signal that aborts when the current call's time is up. */
export function callDeadlineSignal(): AbortSignal {
  const endsAt = scope.getStore();
  return AbortSignal.timeout(endsAt === undefined ? UNSCOPED_CALL_TIMEOUT_MS : Math.max(1, endsAt - Date.now()));
}
