/**
 * Embedded KvStore for the zero-config demo: everything lives in one JSON file,
 * `${dir}/kv.json`:
 *
 *   { "<key>": { "value": <json>, "expiresAt"?: <epoch ms> } | { "set": ["member", ...] } }
 *
 * Two processes may share the directory (the Next server and a CLI script), so:
 * - every write is a read-modify-write under a cross-process lock (a lock
 *   directory: mkdir is atomic on every local filesystem);
 * - the file is replaced atomically (temp file in the same dir, fsync, rename),
 *   so readers never need the lock and never see a torn file;
 * - the in-memory copy is only trusted while the file's identity (inode, size,
 *   mtime) is unchanged, otherwise it is read again.
 *
 * Not meant for large data or serverless hosts (read-only filesystems).
 */
import { randomUUID } from "node:crypto";
import { promises as fs, type BigIntStats } from "node:fs";
import path from "node:path";
import type { KvOp, KvStore, SetOptions } from "./store";
import { KvClosedError, decodeValue, encodeValue, errorMessage, sortedUnique } from "./codec";

export interface FileStoreOptions {
  /** Directory holding kv.json (created on first write). */
  dir: string;
}

export const FILE_STORE_NAME = "kv.json";
/** A lock older than this is left over from a crashed process and is broken. */
const STALE_LOCK_MS = 10_000;
/** Give up waiting for the lock after this long (a live holder needs milliseconds). */
const LOCK_TIMEOUT_MS = 30_000;
const WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value";

/**
 * In memory a value is kept as its JSON text: reads hand out a fresh parse (a
 * caller mutating a result cannot corrupt the cache) and deleteIfEquals
 * compares JSON text exactly as the Redis adapters do.
 */
type Entry = { json: string; expiresAt?: number } | { set: string[] };
type Data = Map<string, Entry>;

interface Snapshot {
  /** inode:size:mtimeNs of the file the data came from; "missing" when there is none. */
  sig: string;
  data: Data;
  /**
   * Kept open on purpose: while a descriptor holds the inode, no later
   * version of kv.json can be given the same inode number, so an unchanged
   * signature really means an unchanged file. (mtime alone is too coarse: two
   * same-size writes within one kernel clock tick would look identical.)
   */
  pin: fs.FileHandle | null;
}

const sigOf = (st: BigIntStats) => `${st.ino}:${st.size}:${st.mtimeNs}`;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const isCode = (err: unknown, code: string) => (err as NodeJS.ErrnoException | null)?.code === code;
const isLive = (entry: Entry | undefined, now: number): entry is Entry =>
  entry !== undefined && !("json" in entry && entry.expiresAt !== undefined && entry.expiresAt <= now);

function parseFile(file: string, text: string): Data {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`kv (file): ${file} is not valid JSON; move it aside to start with an empty store`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new Error(`kv (file): ${file} does not hold a JSON object`);
  }
  const data: Data = new Map();
  for (const [key, raw] of Object.entries(parsed as Record<string, unknown>)) {
    const e = raw as { value?: unknown; expiresAt?: unknown; set?: unknown } | null;
    if (e && Array.isArray(e.set)) {
      data.set(key, { set: e.set.map(String) });
    } else if (e && "value" in e) {
      const expiresAt = typeof e.expiresAt === "number" ? e.expiresAt : undefined;
      data.set(key, { json: JSON.stringify(e.value), ...(expiresAt !== undefined ? { expiresAt } : {}) });
    } else {
      throw new Error(`kv (file): ${file} has a malformed entry for key ${JSON.stringify(key)}`);
    }
  }
  return data;
}

/** Serialises without re-parsing values: their JSON text is spliced in as is. */
function serialise(data: Data, now: number): string {
  const lines: string[] = [];
  for (const [key, entry] of data) {
    if (!isLive(entry, now)) continue; // expired entries are dropped on write
    const body =
      "set" in entry
        ? `{"set":${JSON.stringify(entry.set)}}`
        : `{"value":${entry.json}${entry.expiresAt !== undefined ? `,"expiresAt":${entry.expiresAt}` : ""}}`;
    lines.push(`${JSON.stringify(key)}:${body}`);
  }
  return `{\n${lines.join(",\n")}\n}\n`;
}

export function createFileStore({ dir }: FileStoreOptions): KvStore {
  const root = path.resolve(dir);
  const file = path.join(root, FILE_STORE_NAME);
  const lockDir = `${file}.lock`;
  let snapshot: Snapshot | null = null;
  let closed = false;
  let sweptTempFiles = false;
  /** Serialises this instance's writes so they queue here instead of spinning on the lock. */
  let writeTail: Promise<unknown> = Promise.resolve();
  let pending = 0;

  function ensureOpen() {
    if (closed) throw new KvClosedError("file");
  }

  function replaceSnapshot(next: Snapshot) {
    const prev = snapshot;
    snapshot = next;
    if (prev?.pin && prev.pin !== next.pin) void prev.pin.close().catch(() => {});
  }

  /** Current data: the cached snapshot if the file is unchanged, else a fresh read. */
  async function load(): Promise<Data> {
    let fh: fs.FileHandle;
    try {
      const st = await fs.stat(file, { bigint: true });
      if (snapshot && snapshot.sig === sigOf(st)) return snapshot.data;
      fh = await fs.open(file, "r");
    } catch (err) {
      if (!isCode(err, "ENOENT")) throw err;
      replaceSnapshot({ sig: "missing", data: new Map(), pin: null });
      return snapshot!.data;
    }
    try {
      // fstat and read on the same descriptor: the signature matches the bytes
      // read even if the file is replaced meanwhile.
      const st = (await fh.stat({ bigint: true }));
      const data = parseFile(file, await fh.readFile("utf8"));
      replaceSnapshot({ sig: sigOf(st), data, pin: fh });
      return data;
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  async function save(data: Data, now: number): Promise<void> {
    const tmp = path.join(root, `.${FILE_STORE_NAME}.${process.pid}.${randomUUID()}.tmp`);
    const fh = await fs.open(tmp, "wx", 0o600);
    try {
      await fh.writeFile(serialise(data, now), "utf8");
      await fh.sync(); // the bytes must be on disk before the rename publishes them
      await fs.rename(tmp, file);
    } catch (err) {
      await fh.close();
      await fs.rm(tmp, { force: true });
      throw err;
    }
    await syncDir();
    // The descriptor now refers to kv.json itself: it becomes the new pin.
    replaceSnapshot({ sig: sigOf(await fh.stat({ bigint: true })), data, pin: fh });
  }

  /** Makes the rename itself durable; not supported everywhere, hence best effort. */
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

  /** Temp files of writers that crashed between open and rename. */
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
   * Read-modify-write under the lock. `fn` works on a copy of the data (the
   * snapshot is shared with readers) and says whether anything changed; if it
   * throws nothing is written, which is what makes `atomic` all-or-nothing.
   */
  function mutate<T>(fn: (data: Data, now: number) => { result: T; changed: boolean }): Promise<T> {
    ensureOpen();
    pending++;
    const run = writeTail.then(async () => {
      const ino = await acquireLock();
      try {
        await sweepTempFiles();
        const data = new Map(await load());
        const now = Date.now();
        const { result, changed } = fn(data, now);
        if (changed) await save(data, now);
        return result;
      } finally {
        await releaseLock(ino);
      }
    });
    writeTail = run.catch(() => {}).finally(() => pending--);
    return run;
  }

  async function read<T>(fn: (data: Data, now: number) => T): Promise<T> {
    ensureOpen();
    return fn(await load(), Date.now());
  }

  function stringEntry(data: Data, key: string, now: number): { json: string; expiresAt?: number } | null {
    const entry = data.get(key);
    if (!isLive(entry, now)) return null;
    if ("set" in entry) throw new Error(`kv (file): ${WRONGTYPE} (key ${JSON.stringify(key)})`);
    return entry;
  }

  function setEntry(data: Data, key: string, now: number): string[] | null {
    const entry = data.get(key);
    if (!isLive(entry, now)) return null;
    if (!("set" in entry)) throw new Error(`kv (file): ${WRONGTYPE} (key ${JSON.stringify(key)})`);
    return entry.set;
  }

  /** Applies one op to `data`; throws (before touching data) on a type clash. */
  function apply(data: Data, op: KvOp, now: number) {
    switch (op.op) {
      case "set": {
        const json = encodeValue(op.key, op.value);
        data.set(op.key, op.pxMs !== undefined ? { json, expiresAt: now + op.pxMs } : { json });
        return;
      }
      case "del":
        data.delete(op.key);
        return;
      case "sadd": {
        const members = new Set(setEntry(data, op.key, now) ?? []);
        for (const m of op.members) members.add(m);
        if (members.size > 0) data.set(op.key, { set: [...members] });
        return;
      }
      case "srem": {
        const current = setEntry(data, op.key, now);
        if (!current) return;
        const remove = new Set(op.members);
        const left = current.filter((m) => !remove.has(m));
        // Like Redis: a set that becomes empty no longer exists.
        if (left.length > 0) data.set(op.key, { set: left });
        else data.delete(op.key);
        return;
      }
    }
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
          if (options.nx && isLive(data.get(key), now)) return { result: false, changed: false };
          data.set(key, options.pxMs !== undefined ? { json, expiresAt: now + options.pxMs } : { json });
          return { result: true, changed: true };
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
          for (const key of new Set(keys)) {
            if (isLive(data.get(key), now)) count++;
            data.delete(key);
          }
          return { result: count, changed: count > 0 };
        }),
      );
    },

    deleteIfEquals(key: string, expected: unknown) {
      return wrap("deleteIfEquals", () => {
        const json = encodeValue(key, expected);
        return mutate((data, now) => {
          const matches = stringEntry(data, key, now)?.json === json;
          if (matches) data.delete(key);
          return { result: matches, changed: matches };
        });
      });
    },

    smembers(key: string) {
      return wrap("smembers", () => read((data, now) => [...(setEntry(data, key, now) ?? [])]));
    },

    atomic(ops: KvOp[]) {
      if (ops.length === 0) return wrap("atomic", async () => ensureOpen());
      return wrap("atomic", () =>
        mutate((data, now) => {
          // `data` is a private copy: if any op throws, nothing is saved.
          for (const op of ops) apply(data, op, now);
          return { result: undefined, changed: true };
        }),
      );
    },

    scanKeys(prefix: string) {
      return wrap("scanKeys", () =>
        read((data, now) => sortedUnique([...data.keys()].filter((k) => k.startsWith(prefix) && isLive(data.get(k), now)))),
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
      replaceSnapshot({ sig: "closed", data: new Map(), pin: null });
    },
  };
}
