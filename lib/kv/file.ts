/**
 * Embedded KvStore for the zero-config demo: an append-only log in one file,
 * `${dir}/kv.log` (format and damage rules: lib/kv/file-log.ts). Each write
 * call or atomic batch is one record, so a write costs the size of the batch,
 * not the size of the store.
 *
 * Two processes may share the directory (the Next server and a CLI script), so:
 * - writers take a cross-process lock (a lock directory: mkdir is atomic on
 *   every local filesystem), catch up on records other processes appended,
 *   check the batch against the data (NX, WRONGTYPE...), append one record,
 *   fdatasync, release. A batch is one record: all of it or none of it;
 * - readers never take the lock: before each read they stat the file and
 *   apply only the bytes appended since their last offset (complete records
 *   only: a record still being appended looks like a torn tail and waits);
 * - when the log is much larger than the live data a writer compacts it under
 *   the lock: the live keys are written to a temp file (fsync) that is renamed
 *   over the log. Other instances see a new inode and read the file again.
 *   Each instance keeps its file open: while a descriptor holds an inode, no
 *   later file can be given the same inode number, so "same inode" really
 *   means "same file".
 *
 * Not meant for large data or serverless hosts (read-only filesystems).
 */
import { randomUUID } from "node:crypto";
import { promises as fs } from "node:fs";
import path from "node:path";
import type { KvOp, KvStore, SetOptions } from "./store";
import { checkDiffKeys, checkRandomCount, decodeValue, encodeValue, errorMessage, sortedUnique } from "./codec";
import { KvClosedError, KvPreconditionError, LogCorruptError } from "./errors";
import { encodeRecord, logHeader, parseLog, type LogOp } from "./file-log";

export interface FileStoreOptions {
  /** Directory holding kv.log (created on first write). */
  dir: string;
  /**
   * Compaction: the log is rewritten with only the live keys once it is
   * larger than `compactMinBytes` (default 8 MiB) and more than
   * `compactRatio` (default 3) times the size of the live data.
   */
  compactMinBytes?: number;
  compactRatio?: number;
}

export const FILE_STORE_NAME = "kv.log";
/** A lock older than this is left over from a crashed process and is broken. */
const STALE_LOCK_MS = 10_000;
/** Give up waiting for the lock after this long (a live holder needs milliseconds). */
const LOCK_TIMEOUT_MS = 30_000;
const DEFAULT_COMPACT_MIN_BYTES = 8 * 1024 * 1024;
const DEFAULT_COMPACT_RATIO = 3;
/** Rough per-entry overhead in the log (framing, op, key quoting), for the compaction estimate. */
const ENTRY_OVERHEAD = 64;
const WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value";

/**
 * In memory a value is kept as its JSON text: reads hand out a fresh parse (a
 * caller mutating a result cannot corrupt the cache) and deleteIfEquals
 * compares JSON text exactly as the Redis adapters do.
 */
type Entry = { json: string; expiresAt?: number } | { set: Set<string> };
type Data = Map<string, Entry>;

interface LogState {
  /** Open on the log (see the pin note above); null while there is no file. */
  fh: fs.FileHandle | null;
  writable: boolean;
  ino: bigint;
  /** Bytes of the file applied to `data`: the end of the last complete record (0: not even the magic line). */
  offset: number;
  data: Data;
  /** Estimated size of the entries in `data` as log records: compaction compares the log with it. */
  liveBytes: number;
}

const emptyState = (): LogState => ({ fh: null, writable: false, ino: -1n, offset: 0, data: new Map(), liveBytes: 0 });

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const isCode = (err: unknown, code: string) => (err as NodeJS.ErrnoException | null)?.code === code;
const isLive = (entry: Entry | undefined, now: number): entry is Entry =>
  entry !== undefined && !("json" in entry && entry.expiresAt !== undefined && entry.expiresAt <= now);
const entryBytes = (key: string, entry: Entry) => {
  if ("json" in entry) return ENTRY_OVERHEAD + key.length + entry.json.length;
  let n = ENTRY_OVERHEAD + key.length;
  for (const m of entry.set) n += m.length + 3;
  return n;
};

function putEntry(state: LogState, key: string, entry: Entry) {
  const old = state.data.get(key);
  if (old) state.liveBytes -= entryBytes(key, old);
  state.data.set(key, entry);
  state.liveBytes += entryBytes(key, entry);
}

function dropEntry(state: LogState, key: string) {
  const old = state.data.get(key);
  if (!old) return;
  state.liveBytes -= entryBytes(key, old);
  state.data.delete(key);
}

/**
 * Applies one logged op. Never throws and never looks at the clock: the
 * writer checked the op against the data before logging it, so e.g. an sadd
 * onto a string entry means that entry had expired.
 */
function applyOp(state: LogState, op: LogOp) {
  switch (op.op) {
    case "set":
      putEntry(
        state,
        op.key,
        op.expiresAt !== undefined ? { json: op.json, expiresAt: op.expiresAt } : { json: op.json },
      );
      return;
    case "del":
      dropEntry(state, op.key);
      return;
    case "sadd": {
      const entry = state.data.get(op.key);
      if (entry && "set" in entry) {
        for (const m of op.members) {
          if (entry.set.has(m)) continue;
          entry.set.add(m);
          state.liveBytes += m.length + 3;
        }
      } else if (op.members.length > 0) {
        putEntry(state, op.key, { set: new Set(op.members) });
      }
      return;
    }
    case "srem": {
      const entry = state.data.get(op.key);
      if (!entry || !("set" in entry)) return;
      for (const m of op.members) {
        if (entry.set.delete(m)) state.liveBytes -= m.length + 3;
      }
      // Like Redis: a set that becomes empty no longer exists.
      if (entry.set.size === 0) dropEntry(state, op.key);
      return;
    }
  }
}

/** Up to `count` distinct members in random order (partial Fisher-Yates); [] for a missing set. */
function pickDistinct(set: Set<string> | null, count: number): string[] {
  if (!set || count === 0) return [];
  const all = [...set];
  const n = Math.min(count, all.length);
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(Math.random() * (all.length - i));
    [all[i], all[j]] = [all[j], all[i]];
  }
  return all.slice(0, n);
}

/** Reads [position, position + length) of a file; shorter if the file is. */
async function readAt(fh: fs.FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await fh.read(buf, filled, length - filled, position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled === length ? buf : buf.subarray(0, filled);
}

async function writeAt(fh: fs.FileHandle, buf: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, position + done);
    done += bytesWritten;
  }
}

export function createFileStore({ dir, compactMinBytes, compactRatio }: FileStoreOptions): KvStore {
  const root = path.resolve(dir);
  const file = path.join(root, FILE_STORE_NAME);
  const lockDir = `${file}.lock`;
  const minBytes = compactMinBytes ?? DEFAULT_COMPACT_MIN_BYTES;
  const ratio = compactRatio ?? DEFAULT_COMPACT_RATIO;
  let state: LogState = emptyState();
  let closed = false;
  let sweptTempFiles = false;
  /** After a failed compaction, do not try again before the log reaches this size. */
  let compactRetryAt = 0;
  /** Serialises this instance's writes so they queue here instead of spinning on the lock. */
  let writeTail: Promise<unknown> = Promise.resolve();
  let pending = 0;
  /**
   * Serialises everything that reads the file into `state` or replaces it
   * (catch-up, reload, applying our own record, compaction's swap): each
   * catch-up starts from the offset the previous one left.
   */
  let stateTail: Promise<unknown> = Promise.resolve();
  let queuedRefresh: Promise<void> | null = null;

  function ensureOpen() {
    if (closed) throw new KvClosedError("file");
  }

  function serial<T>(fn: () => Promise<T> | T): Promise<T> {
    const run = stateTail.then(fn);
    stateTail = run.catch(() => {});
    return run;
  }

  function replaceState(next: LogState) {
    const prev = state;
    state = next;
    if (prev.fh && prev.fh !== next.fh) void prev.fh.close().catch(() => {});
  }

  async function openLog(): Promise<{ fh: fs.FileHandle; writable: boolean }> {
    try {
      return { fh: await fs.open(file, "r+"), writable: true };
    } catch (err) {
      // A store we may only read (read-only mount, another user's file) can still be read.
      if (!["EACCES", "EPERM", "EROFS"].some((code) => isCode(err, code))) throw err;
      return { fh: await fs.open(file, "r"), writable: false };
    }
  }

  /**
   * Brings `state` up to date with the file (call inside `serial`): applies
   * newly appended records, or reads the whole file when it was replaced.
   */
  async function refresh(): Promise<void> {
    let st;
    try {
      st = await fs.stat(file, { bigint: true });
    } catch (err) {
      if (!isCode(err, "ENOENT")) throw err;
      if (state.fh || state.data.size > 0) replaceState(emptyState());
      return;
    }
    if (state.fh && st.ino === state.ino) {
      const size = Number(st.size);
      if (size === state.offset) return;
      // Appends only ever grow the file past our offset (a torn tail is cut
      // back to a record boundary, never below what anyone applied).
      if (size > state.offset) return catchUp(size);
    }
    await reload();
  }

  async function catchUp(size: number) {
    const s = state;
    const buf = await readAt(s.fh!, s.offset, size - s.offset);
    const { batches, end } = parseLog(buf, s.offset, file);
    if (state !== s) return; // cannot happen inside serial; belt and braces
    for (const ops of batches) for (const op of ops) applyOp(s, op);
    s.offset += end;
  }

  async function reload() {
    let opened;
    try {
      opened = await openLog();
    } catch (err) {
      if (!isCode(err, "ENOENT")) throw err;
      replaceState(emptyState());
      return;
    }
    const { fh, writable } = opened;
    try {
      // fstat and read on the same descriptor: the inode matches the bytes
      // read even if the file is replaced meanwhile.
      const st = await fh.stat({ bigint: true });
      const buf = await readAt(fh, 0, Number(st.size));
      const { batches, end } = parseLog(buf, 0, file);
      const next: LogState = { fh, writable, ino: st.ino, offset: end, data: new Map(), liveBytes: 0 };
      for (const ops of batches) for (const op of ops) applyOp(next, op);
      replaceState(next);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  /** Makes a create or rename durable; not supported everywhere, hence best effort. */
  async function syncDir() {
    try {
      const d = await fs.open(root, "r");
      try {
        await d.sync();
      } finally {
        await d.close();
      }
    } catch {
      /* best effort */
    }
  }

  /** Temp files of compactions that crashed between open and rename. */
  async function sweepTempFiles() {
    if (sweptTempFiles) return;
    sweptTempFiles = true;
    const prefix = `.${FILE_STORE_NAME}.`;
    for (const name of await fs.readdir(root).catch(() => [] as string[])) {
      if (!name.startsWith(prefix) || !name.endsWith(".tmp")) continue;
      const p = path.join(root, name);
      const st = await fs.stat(p).catch(() => null);
      // Only old ones: a live writer in another process never holds a temp
      // file this long, and it can only exist while that writer has the lock.
      if (st && Date.now() - st.mtimeMs > STALE_LOCK_MS) await fs.rm(p, { force: true });
    }
  }

  async function acquireLock(): Promise<bigint> {
    const started = Date.now();
    for (let attempt = 0; ; attempt++) {
      try {
        await fs.mkdir(lockDir);
        return (await fs.stat(lockDir, { bigint: true })).ino;
      } catch (err) {
        if (isCode(err, "ENOENT")) {
          await fs.mkdir(root, { recursive: true });
          continue;
        }
        if (!isCode(err, "EEXIST")) throw err;
      }
      const st = await fs.stat(lockDir, { bigint: true }).catch(() => null);
      if (st && Date.now() - Number(st.mtimeMs) > STALE_LOCK_MS) {
        await breakStaleLock(st.ino);
        continue;
      }
      if (Date.now() - started > LOCK_TIMEOUT_MS) {
        throw new Error(`kv (file): timed out waiting for the lock ${lockDir}`);
      }
      await sleep(Math.min(2 + attempt * 2, 50) * (0.5 + Math.random()));
    }
  }

  /**
   * Moves the stale lock aside with one rename, so when several waiters see
   * it stale only one of them removes it. If what got moved is not the lock
   * that was judged stale (someone took the lock in between), it is put back.
   */
  async function breakStaleLock(staleIno: bigint) {
    const grave = `${lockDir}.stale-${process.pid}-${randomUUID()}`;
    try {
      await fs.rename(lockDir, grave);
    } catch {
      return; // somebody else broke or released it
    }
    const moved = await fs.stat(grave, { bigint: true }).catch(() => null);
    if (moved && moved.ino !== staleIno) {
      await fs.mkdir(lockDir).catch(() => {});
    }
    await fs.rmdir(grave).catch(() => {});
  }

  async function releaseLock(ino: bigint) {
    // Only remove our own lock: if we were (wrongly) judged stale, the
    // directory may now belong to another process.
    const st = await fs.stat(lockDir, { bigint: true }).catch(() => null);
    if (st?.ino === ino) await fs.rmdir(lockDir).catch(() => {});
  }

  /**
   * A write, under the lock. `decide` sees the caught-up data and returns the
   * result and the ops to log (none: nothing is written); if it throws,
   * nothing is written, which is what makes `atomic` all-or-nothing.
   */
  function mutate<T>(decide: (data: Data, now: number) => { result: T; ops: LogOp[] }): Promise<T> {
    ensureOpen();
    pending++;
    const run = writeTail.then(async () => {
      const lockIno = await acquireLock();
      try {
        await sweepTempFiles();
        const plan = await serial(async () => {
          await refresh();
          let decided = decide(state.data, Date.now());
          if (decided.ops.length > 0 && !(state.fh && state.writable)) {
            await openForWriting();
            decided = decide(state.data, Date.now()); // on what was just read
          }
          return { ...decided, s: state, at: state.offset };
        });
        if (plan.ops.length === 0) return plan.result;
        const { s, at } = plan;
        const record = encodeRecord(plan.ops);
        const bytes = at === 0 ? Buffer.concat([logHeader(), record]) : record;
        await append(s.fh!, bytes, at);
        // Readers of this instance may already have applied the record from
        // the file (it is complete before the fsync); otherwise apply it now.
        await serial(() => {
          if (state !== s || s.offset !== at) return;
          for (const op of plan.ops) applyOp(s, op);
          s.offset = at + bytes.length;
        });
        if (state === s && s.offset >= Math.max(minBytes, compactRetryAt) && s.offset > ratio * s.liveBytes) {
          await compact().catch(() => {
            // The write itself is durable; a log that cannot be rewritten
            // (disk full...) keeps working and is retried after it grows.
            compactRetryAt = s.offset + minBytes;
          });
        }
        return plan.result;
      } finally {
        await releaseLock(lockIno);
      }
    });
    writeTail = run.catch(() => {}).finally(() => pending--);
    return run;
  }

  /**
   * Under the lock, inside serial: makes `state.fh` a read-write descriptor,
   * creating the file on the first write into an empty directory.
   */
  async function openForWriting() {
    if (!state.fh) {
      try {
        const fh = await fs.open(file, "wx+", 0o600);
        await syncDir();
        const st = await fh.stat({ bigint: true });
        replaceState({ fh, writable: true, ino: st.ino, offset: 0, data: state.data, liveBytes: state.liveBytes });
        return;
      } catch (err) {
        if (!isCode(err, "EEXIST")) throw err; // there is a file after all: read it below
      }
    } else {
      // Opened read-only earlier: this throws the reason (EACCES, EROFS) if it still is.
      await (await fs.open(file, "r+")).close();
    }
    await reload();
    if (!state.fh || !state.writable) throw new Error(`kv (file): cannot open ${file} for writing`);
  }

  /** Appends at `at` (the end of the last valid record) and makes it durable. */
  async function append(fh: fs.FileHandle, bytes: Buffer, at: number) {
    const size = (await fh.stat()).size;
    if (size < at) {
      throw new Error(`kv (file): ${file} shrank underneath this store (another program truncated it?)`);
    }
    // Anything past the last valid record is a torn tail: cut it off first.
    if (size > at) await fh.truncate(at);
    try {
      await writeAt(fh, bytes, at);
      await fh.datasync();
    } catch (err) {
      await fh.truncate(at).catch(() => {}); // best effort; a torn tail is cut by the next writer anyway
      throw err;
    }
  }

  /**
   * Rewrites the log with the live keys only (under the lock): temp file,
   * fsync, rename over the log. Expired keys are dropped.
   */
  async function compact() {
    const s = state;
    const now = Date.now();
    const chunks: Buffer[] = [logHeader()];
    const next: LogState = { fh: null, writable: true, ino: -1n, offset: 0, data: new Map(), liveBytes: 0 };
    for (const [key, entry] of s.data) {
      if (!isLive(entry, now)) continue;
      const op: LogOp =
        "set" in entry
          ? { op: "sadd", key, members: [...entry.set] }
          : {
              op: "set",
              key,
              json: entry.json,
              ...(entry.expiresAt !== undefined ? { expiresAt: entry.expiresAt } : {}),
            };
      chunks.push(encodeRecord([op]));
      applyOp(next, op);
    }
    const tmp = path.join(root, `.${FILE_STORE_NAME}.${process.pid}.${randomUUID()}.tmp`);
    const fh = await fs.open(tmp, "wx+", 0o600);
    let published = false;
    try {
      let at = 0;
      for (let i = 0; i < chunks.length;) {
        // Write in slices of a few MB rather than one buffer the size of the store.
        let n = 0;
        const slice: Buffer[] = [];
        while (i < chunks.length && (n === 0 || n + chunks[i].length <= 4 << 20)) {
          n += chunks[i].length;
          slice.push(chunks[i++]);
        }
        await writeAt(fh, slice.length === 1 ? slice[0] : Buffer.concat(slice, n), at);
        at += n;
      }
      await fh.sync(); // the bytes must be on disk before the rename publishes them
      const st = await fh.stat({ bigint: true });
      await serial(async () => {
        if (state !== s) return; // the file went away meanwhile: drop the snapshot
        await fs.rename(tmp, file);
        published = true;
        replaceState({ ...next, fh, ino: st.ino, offset: at });
      });
    } finally {
      if (!published) {
        await fh.close();
        await fs.rm(tmp, { force: true });
      }
    }
    await syncDir();
  }

  /**
   * A read: catch up with the file, then look. Readers do not take the lock,
   * so damage they see could in principle be a writer cutting a torn tail
   * under them: it is confirmed under the lock before it is reported.
   */
  async function read<T>(fn: (data: Data, now: number) => T): Promise<T> {
    ensureOpen();
    try {
      await refreshSoon();
    } catch (err) {
      if (!(err instanceof LogCorruptError)) throw err;
      await mutate(() => ({ result: undefined, ops: [] })); // throws if the damage is real
      await refreshSoon();
    }
    // `state` only ever changes by whole records, synchronously: whatever
    // happened since the refresh, this sees whole batches.
    return fn(state.data, Date.now());
  }

  /**
   * A refresh that starts after this call. Concurrent readers share one that
   * is queued but has not started yet: its stat still comes after each of
   * them, so none of them can miss a write that finished before it asked.
   */
  function refreshSoon(): Promise<void> {
    if (queuedRefresh) return queuedRefresh;
    const queued: Promise<void> = serial(() => {
      if (queuedRefresh === queued) queuedRefresh = null;
      return refresh();
    });
    queuedRefresh = queued;
    return queued;
  }

  function stringEntry(data: Data, key: string, now: number): { json: string; expiresAt?: number } | null {
    const entry = data.get(key);
    if (!isLive(entry, now)) return null;
    if ("set" in entry) throw new Error(`kv (file): ${WRONGTYPE} (key ${JSON.stringify(key)})`);
    return entry;
  }

  function setEntry(data: Data, key: string, now: number): Set<string> | null {
    const entry = data.get(key);
    if (!isLive(entry, now)) return null;
    if (!("set" in entry)) throw new Error(`kv (file): ${WRONGTYPE} (key ${JSON.stringify(key)})`);
    return entry.set;
  }

  /**
   * Checks a batch against the data without touching it and turns it into log
   * ops; throws (WRONGTYPE, a value that is not JSON) before anything is
   * written. Only the kind of each key matters for the checks, tracked here
   * as the batch goes: true = a live string value.
   */
  function planBatch(data: Data, ops: KvOp[], now: number): LogOp[] {
    const isString = new Map<string, boolean>();
    const out: LogOp[] = [];
    for (const op of ops) {
      switch (op.op) {
        case "set": {
          const json = encodeValue(op.key, op.value);
          isString.set(op.key, op.pxMs === undefined || op.pxMs > 0);
          out.push(
            op.pxMs !== undefined
              ? { op: "set", key: op.key, json, expiresAt: now + op.pxMs }
              : { op: "set", key: op.key, json },
          );
          break;
        }
        case "del":
          isString.set(op.key, false);
          out.push({ op: "del", key: op.key });
          break;
        case "expire": {
          // Logged as the value set again with its end, so a replay needs no clock. Strings only,
          // and not after a write of the same batch (nothing needs either).
          if (isString.has(op.key))
            throw new Error(
              `kv (file): expire after a write of the same key in one batch (key ${JSON.stringify(op.key)})`,
            );
          const entry = stringEntry(data, op.key, now);
          if (entry) out.push({ op: "set", key: op.key, json: entry.json, expiresAt: now + op.pxMs });
          break;
        }
        case "require": {
          // Checked against the data as it is under the writer's lock (earlier ops of the batch included).
          const entry = data.get(op.key);
          const holds =
            !isString.has(op.key) &&
            isLive(entry, now) &&
            "json" in entry &&
            entry.json === encodeValue(op.key, op.equals);
          if (!holds) throw new KvPreconditionError(op.key);
          break;
        }
        case "sadd":
        case "srem": {
          const known = isString.get(op.key);
          if (known === undefined)
            setEntry(data, op.key, now); // throws on a live string
          else if (known) throw new Error(`kv (file): ${WRONGTYPE} (key ${JSON.stringify(op.key)})`);
          isString.set(op.key, false);
          out.push({ op: op.op, key: op.key, members: op.members.map(String) });
          break;
        }
      }
    }
    return out;
  }

  /** Async on purpose: a synchronous throw (closed store, bad value) becomes a rejection. */
  async function wrap<T>(what: string, p: () => Promise<T>): Promise<T> {
    try {
      return await p();
    } catch (err) {
      if (err instanceof KvClosedError || errorMessage(err).startsWith("kv")) throw err;
      throw new Error(`kv (file at ${file}): ${what} failed: ${errorMessage(err)}`, { cause: err });
    }
  }

  return {
    kind: "file",

    get<T>(key: string) {
      return wrap("get", () => read((data, now) => decodeValue<T>(key, stringEntry(data, key, now)?.json)));
    },

    mget<T>(keys: string[]) {
      return wrap("mget", () =>
        read((data, now) =>
          keys.map((key) => {
            const entry = data.get(key);
            // Like Redis MGET: a key of another type reads as missing.
            return isLive(entry, now) && "json" in entry ? decodeValue<T>(key, entry.json) : null;
          }),
        ),
      );
    },

    set(key: string, value: unknown, options: SetOptions = {}) {
      return wrap("set", () => {
        const json = encodeValue(key, value);
        return mutate((data, now) => {
          if (options.nx && isLive(data.get(key), now)) return { result: false, ops: [] };
          const op: LogOp =
            options.pxMs !== undefined
              ? { op: "set", key, json, expiresAt: now + options.pxMs }
              : { op: "set", key, json };
          return { result: true, ops: [op] };
        });
      });
    },

    del(keys: string[]) {
      if (keys.length === 0) {
        return wrap("del", async () => {
          ensureOpen();
          return 0;
        });
      }
      return wrap("del", () =>
        mutate((data, now) => {
          let count = 0;
          const ops: LogOp[] = [];
          for (const key of new Set(keys)) {
            if (isLive(data.get(key), now)) count++;
            if (data.has(key)) ops.push({ op: "del", key });
          }
          return { result: count, ops: count > 0 ? ops : [] };
        }),
      );
    },

    deleteIfEquals(key: string, expected: unknown) {
      return wrap("deleteIfEquals", () => {
        const json = encodeValue(key, expected);
        return mutate((data, now) => {
          const matches = stringEntry(data, key, now)?.json === json;
          return { result: matches, ops: matches ? [{ op: "del", key }] : [] };
        });
      });
    },

    smembers(key: string) {
      return wrap("smembers", () => read((data, now) => [...(setEntry(data, key, now) ?? [])]));
    },

    scard(key: string) {
      return wrap("scard", () => read((data, now) => setEntry(data, key, now)?.size ?? 0));
    },

    smismember(key: string, members: string[]) {
      // Like the Redis adapters: empty input is answered without looking.
      if (members.length === 0) {
        return wrap("smismember", async () => {
          ensureOpen();
          return [];
        });
      }
      return wrap("smismember", () =>
        read((data, now) => {
          const set = setEntry(data, key, now);
          return members.map((m) => set?.has(String(m)) ?? false);
        }),
      );
    },

    srandmember(key: string, count: number) {
      return wrap("srandmember", () => {
        checkRandomCount(count);
        return read((data, now) => pickDistinct(setEntry(data, key, now), count));
      });
    },

    sdiffstore(destination: string, keys: string[]) {
      return wrap("sdiffstore", () => {
        checkDiffKeys(keys);
        return mutate((data, now) => {
          // Every source is type-checked first, as Redis does, so a WRONGTYPE
          // leaves the destination untouched.
          const [first, ...rest] = keys.map((k) => setEntry(data, k, now));
          const result: string[] = [];
          for (const m of first ?? []) if (!rest.some((s) => s?.has(m))) result.push(m);
          const ops: LogOp[] = [];
          // Whatever the destination held (any type, even expired) is replaced.
          if (data.has(destination)) ops.push({ op: "del", key: destination });
          if (result.length > 0) ops.push({ op: "sadd", key: destination, members: result });
          return { result: result.length, ops };
        });
      });
    },

    exists(keys: string[]) {
      if (keys.length === 0) {
        return wrap("exists", async () => {
          ensureOpen();
          return 0;
        });
      }
      // Like EXISTS: a key named twice counts twice.
      return wrap("exists", () => read((data, now) => keys.filter((k) => isLive(data.get(k), now)).length));
    },

    atomic(ops: KvOp[]) {
      if (ops.length === 0) return wrap("atomic", async () => ensureOpen());
      return wrap("atomic", () => mutate((data, now) => ({ result: undefined, ops: planBatch(data, ops, now) })));
    },

    scanKeys(prefix: string) {
      return wrap("scanKeys", () =>
        read((data, now) =>
          sortedUnique([...data.keys()].filter((k) => k.startsWith(prefix) && isLive(data.get(k), now))),
        ),
      );
    },

    pttl(key: string) {
      return wrap("pttl", () =>
        read((data, now) => {
          const entry = data.get(key);
          if (!isLive(entry, now) || !("json" in entry) || entry.expiresAt === undefined) return null;
          return entry.expiresAt - now;
        }),
      );
    },

    async close() {
      closed = true;
      // Let queued writes finish: they were accepted before close.
      while (pending > 0) await writeTail;
      await serial(() => replaceState(emptyState()));
    },
  };
}
