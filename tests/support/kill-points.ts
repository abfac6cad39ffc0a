/**
 * Killing an invocation the way a platform kills a function: at one point
 * the process is gone, and nothing it would still do reaches KV or Notion.
 *
 * In process (tests/reliability/kills.test.ts), `killSwitch` wraps the KV
 * store and the fetch an invocation uses; the kill point is one of
 * - "notion-hang": the N-th Notion request is sent and never answered, and
 *   the process dies while it is in flight (between Notion reads);
 * - "batch-dropped": the N-th atomic batch never reaches KV;
 * - "batch-landed": the N-th atomic batch is applied by KV, and the process
 *   dies before it sees the reply;
 * - "before-answer": every write landed; the process dies after its last
 *   commit, before releasing its lease and answering.
 * From the moment of death every KV call rejects and every Notion request
 * hangs (it never reaches the emulator), so the abandoned invocation, which
 * still exists as promises in this process, can change nothing. A KV call
 * already sent when the process died lands or not, as it would.
 *
 * Over HTTP (tests/reliability/qstash-kills.test.ts), scripts/lib/next-app.ts `kill()`
 * is `next start` with a SIGKILL and a restart on the same port.
 */
import { createClient } from "redis";
import { KvTimeoutError } from "../../lib/kv/errors";
import type { KeyBuilder } from "../../lib/kv/keys";
import type { KvOp, KvStore } from "../../lib/kv/store";

export const KILL_KINDS = ["notion-hang", "batch-dropped", "batch-landed", "before-answer"] as const;
export type KillKind = (typeof KILL_KINDS)[number];

export interface KillPlan {
  kind: KillKind;
  /**
   * The N-th Notion request (notion-hang) or atomic batch (batch-*) of the
   * invocation, from 1, counting only those matching `target` when set;
   * unused by before-answer.
   */
  at: number;
  /** Only count batches of this kind (describeBatch), or Notion requests to this route (notionRoute). */
  target?: string;
}

/** What a dead process's leftover calls get. */
export class ProcessKilledError extends Error {
  constructor(what: string) {
    super(`killed: ${what} after the process died`);
    this.name = "ProcessKilledError";
  }
}

export interface KillReport {
  plan: KillPlan;
  /** Atomic batches KV applied for this invocation (the landed one of batch-landed included). */
  batchesLanded: number;
  /** Notion requests that reached the network (the hung one included). */
  notionRequests: number;
  /** What the batch at the kill point was (batch-* kinds), or what the last landed one was. */
  batch: string | null;
  /** The route of the request in flight at death (notion-hang). */
  route: string | null;
  /** KV calls and Notion requests made after death: all refused / never sent. */
  refusedAfterDeath: number;
}

export interface KillSwitch {
  kv: KvStore;
  fetch: typeof fetch;
  /** Resolves when the process dies (never, if the invocation ends before the kill point). */
  died: Promise<KillReport>;
  isDead(): boolean;
  report(): KillReport;
}

/** What an atomic batch of the engine is, from the keys it writes (see lib/kv/keys.ts). */
export function describeBatch(ops: KvOp[], keys: KeyBuilder): string {
  const p = keys.prefix;
  const has = (pred: (op: KvOp) => boolean) => ops.some(pred);
  const writes = (infix: string) => has((o) => o.op !== "require" && o.key.startsWith(`${p}:${infix}`));
  if (has((o) => o.op === "set" && /:index:[a-z]+$/.test(o.key))) return "final swap";
  if (writes("ichunk:")) return "index step";
  if (has((o) => o.op === "srem" && o.key.startsWith(`${p}:removals:`))) return "removals step";
  if (has((o) => o.op === "sadd" && o.key.startsWith(`${p}:done:`))) return "page commit";
  if (has((o) => o.op === "set" && o.key.startsWith(`${p}:partial:`)) || writes("part:partial:"))
    return "partial checkpoint";
  if (has((o) => o.op === "set" && o.key.startsWith(`${p}:work:`))) return "listing step";
  if (has((o) => o.op === "del" && (o.key.startsWith(`${p}:work:`) || o.key.startsWith(`${p}:done:`))))
    return "scratch drop";
  if (has((o) => o.op === "srem" && o.key.startsWith(`${p}:changed:`))) return "changed drain";
  if (has((o) => o.op === "set" && o.key.startsWith(`${p}:cursor:`)))
    return ops.some((o) => o.op === "set" && o.key.startsWith(`${p}:entry:`)) ? "ledger commit" : "cursor commit";
  return "other";
}

/** The Notion API route of a request (as the emulator names them). */
export function notionRoute(url: string, method: string): string {
  const path = new URL(url).pathname;
  if (/\/v1\/data_sources\/[^/]+\/query\/?$/.test(path)) return "dataSources.query";
  if (/\/v1\/blocks\/[^/]+\/children\/?$/.test(path)) return "blocks.children.list";
  if (/\/v1\/pages\/[^/]+\/?$/.test(path)) return "pages.retrieve";
  if (/\/v1\/databases\/[^/]+\/?$/.test(path)) return "databases.retrieve";
  return `${method} ${path}`;
}

/** A fetch that never answers: it rejects only when its caller aborts it (its timeout), as a hung socket would. */
function hangingFetch(init: RequestInit | undefined): Promise<Response> {
  return new Promise<Response>((_, reject) => {
    const signal = init?.signal;
    if (!signal) return;
    const abort = () =>
      reject(signal.reason instanceof Error ? signal.reason : new DOMException("aborted", "AbortError"));
    if (signal.aborted) abort();
    else signal.addEventListener("abort", abort, { once: true });
  });
}

/**
 * Wraps `kv` (the raw store, below the invocation's deadline bound) and the
 * global fetch for one invocation killed at `plan`. `leaseKey` is the
 * section's lease: its release is the invocation's last KV call.
 */
export function killSwitch(kv: KvStore, plan: KillPlan, keys: KeyBuilder, leaseKey: string): KillSwitch {
  let dead = false;
  let batchesLanded = 0;
  let batchesSeen = 0;
  let notionRequests = 0;
  let requestsSeen = 0;
  let refusedAfterDeath = 0;
  let batch: string | null = null;
  let hungRoute: string | null = null;
  let resolveDied!: (report: KillReport) => void;
  const died = new Promise<KillReport>((resolve) => (resolveDied = resolve));
  const report = (): KillReport => ({
    plan,
    batchesLanded,
    notionRequests,
    batch,
    route: hungRoute,
    refusedAfterDeath,
  });
  const die = () => {
    if (dead) return;
    dead = true;
    resolveDied(report());
  };
  const refuse = (what: string) => {
    refusedAfterDeath++;
    return Promise.reject(new ProcessKilledError(what));
  };

  const wrapped = new Proxy(kv, {
    get(target, prop, receiver) {
      if (prop === "close" || prop === "kind") return Reflect.get(target, prop, receiver);
      if (prop === "atomic") {
        return async (ops: KvOp[]) => {
          if (dead) return refuse("atomic batch");
          const what = describeBatch(ops, keys);
          const n = !plan.target || plan.target === what ? ++batchesSeen : 0;
          if (plan.kind === "batch-dropped" && n === plan.at) {
            batch = what;
            die();
            throw new ProcessKilledError("atomic batch (dropped: never sent)");
          }
          await target.atomic(ops);
          batchesLanded++;
          batch = what;
          if (plan.kind === "batch-landed" && n === plan.at) {
            die();
            throw new ProcessKilledError("atomic batch (applied by KV, reply lost)");
          }
        };
      }
      if (prop === "deleteIfEquals") {
        return async (key: string, expected: unknown) => {
          if (dead) return refuse("compare-and-delete");
          if (plan.kind === "before-answer" && key === leaseKey) {
            die();
            throw new ProcessKilledError("lease release (the process died after its last commit)");
          }
          return target.deleteIfEquals(key, expected);
        };
      }
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) =>
        dead ? refuse(String(prop)) : (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
    },
  });

  const killableFetch = ((input: RequestInfo | URL, init?: RequestInit) => {
    if (dead) {
      refusedAfterDeath++;
      return hangingFetch(init);
    }
    notionRequests++;
    const route = notionRoute(String(input instanceof Request ? input.url : input), init?.method ?? "GET");
    const n = !plan.target || plan.target === route ? ++requestsSeen : 0;
    if (plan.kind === "notion-hang" && n === plan.at) {
      // Sent, never answered: the process dies with the request in flight.
      hungRoute = route;
      die();
      // The request reaches Notion, which answers; nobody reads the answer.
      fetch(input, init).then(
        (r) => r.body?.cancel(),
        () => {},
      );
      return hangingFetch(init);
    }
    return fetch(input, init);
  }) as typeof fetch;

  return { kv: wrapped, fetch: killableFetch, died, isDead: () => dead, report };
}

/** Ends a dead invocation's lease the way its expiry would (PEXPIRE to 1 ms), and waits until it is gone. */
export async function expireLease(redisUrl: string, leaseKey: string): Promise<void> {
  const admin = createClient({ url: redisUrl });
  admin.on("error", () => {});
  await admin.connect();
  try {
    await admin.pExpire(leaseKey, 1);
    for (let i = 0; i < 200 && (await admin.exists(leaseKey)) > 0; i++) await new Promise((r) => setTimeout(r, 5));
  } finally {
    await admin.quit();
  }
}

/** A store whose chosen atomic batch is applied and then answered by a KvTimeoutError (the write landed, the caller cannot know). */
export interface TimeoutAfterApplying {
  kv: KvStore;
  /** What the timed-out batch was (describeBatch), once it happened. */
  timedOut(): string | null;
  /** Atomic batches the caller sent after the timeout (applied or refused). */
  batchesAfter(): number;
}

/** Times out the `at`-th atomic batch (from 1) described as `target` (describeBatch), after KV applied it. */
export function timeoutAfterApplying(kv: KvStore, keys: KeyBuilder, target: string, at = 1): TimeoutAfterApplying {
  let seen = 0;
  let timedOut: string | null = null;
  let after = 0;
  const wrapped = new Proxy(kv, {
    get(store, prop, receiver) {
      const value = Reflect.get(store, prop, receiver);
      if (prop !== "atomic") return typeof value === "function" ? value.bind(store) : value;
      return async (ops: KvOp[]) => {
        if (timedOut) after++;
        const what = describeBatch(ops, keys);
        await store.atomic(ops);
        if (!timedOut && what === target && ++seen === at) {
          timedOut = what;
          throw new KvTimeoutError("atomic batch", 0);
        }
      };
    },
  });
  return { kv: wrapped, timedOut: () => timedOut, batchesAfter: () => after };
}
