/**
 * The FileStore contract, run alike against the S3 adapter on the test S3 server and the Vercel
 * Blob adapter on the local Blob API: streamed puts readable at the public URL, byte counts
 * enforced with nothing left behind, deletes tolerant of missing objects, and errors that tell
 * a retry apart from a configuration fault. Then FILES_MIRROR and its variables.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError } from "../lib/config";
import { createBlobStore } from "../lib/files/store/blob";
import { filesMirrorFromEnv } from "../lib/files/store/from-env";
import { createS3Store } from "../lib/files/store/s3";
import { FileStoreError, type FileStore, type StoredObject } from "../lib/files/store/types";
import { startBlobServer, type BlobServer } from "./support/blob-server";
import { MemoryFileStore } from "./support/memory-file-store";
import { startS3Server, type S3Server } from "./support/s3-server";

interface Subject {
  store: FileStore;
  /** A store on the same server whose credential is wrong. */
  wrongCredential: FileStore;
  stored(key: string): boolean;
  seed(key: string): StoredObject;
  counts(): { put: number; delete: number };
  failNext(op: "put" | "delete", times: number, status: number): void;
  /** Fails every attempt of the next delete call: the store's client retries deletes on its own. */
  failNextDelete(): FileStore;
  /** A store whose API is at `origin`; undo() puts things back. */
  at(origin: string): { store: FileStore; undo(): void };
}

let s3: S3Server;
let blob: BlobServer;
const savedApiUrl = process.env.VERCEL_BLOB_API_URL;

beforeAll(async () => {
  // A store without flexible checksums on PutObject, as R2 was: the adapter must not send them.
  [s3, blob] = await Promise.all([
    startS3Server({ bucket: "site-files", region: "auto", putChecksums: "not-implemented" }),
    startBlobServer(),
  ]);
  // @vercel/blob reads it from the process environment on each call.
  process.env.VERCEL_BLOB_API_URL = blob.apiUrl;
});
afterAll(async () => {
  if (savedApiUrl === undefined) delete process.env.VERCEL_BLOB_API_URL;
  else process.env.VERCEL_BLOB_API_URL = savedApiUrl;
  await Promise.all([s3?.close(), blob?.close()]);
});

const s3Options = (secretAccessKey: string) => ({
  endpoint: s3.endpoint,
  region: s3.region,
  bucket: s3.bucket,
  accessKeyId: s3.accessKeyId,
  secretAccessKey,
  forcePathStyle: true,
  publicBaseUrl: `${s3.publicBaseUrl}/`,
});

function s3Subject(): Subject {
  const make = (secretAccessKey: string) => createS3Store(s3Options(secretAccessKey));
  return {
    store: make(s3.secretAccessKey),
    wrongCredential: make("not-the-secret"),
    stored: (key) => s3.objects.has(key),
    seed(key) {
      s3.objects.set(key, { bytes: Buffer.from(key), contentType: "text/plain", etag: '"x"' });
      return { key, url: `${s3.publicBaseUrl}/${key}` };
    },
    counts: () => s3.counts,
    failNext: (op, times, status) => s3.failNext(op, times, status),
    failNextDelete() {
      s3.failNext("delete", 3, 503, "SlowDown");
      return this.store;
    },
    at(origin) {
      const store = createS3Store({ ...s3Options(s3.secretAccessKey), endpoint: origin });
      return { store, undo() {} };
    },
  };
}

function blobSubject(): Subject {
  return {
    store: createBlobStore({ token: blob.token }),
    wrongCredential: createBlobStore({ token: `vercel_blob_rw_${blob.storeId}_wrongsecret` }),
    stored: (key) => blob.objects.has(key),
    seed(key) {
      blob.objects.set(key, {
        bytes: Buffer.from(key),
        contentType: "text/plain",
        cacheControl: "public",
        uploadedAt: new Date().toISOString(),
        etag: '"x"',
      });
      return { key, url: `${blob.publicBaseUrl}/${key}` };
    },
    counts: () => blob.counts,
    failNext: (op, times, status) => blob.failNext(op, times, status),
    failNextDelete() {
      // The client retries for minutes with growing waits; the adapter's bound ends it after the first wait.
      blob.failNext("delete", 1, 503, "service_unavailable");
      return createBlobStore({ token: blob.token, deleteTimeoutMs: 300 });
    },
    at(origin) {
      process.env.VERCEL_BLOB_API_URL = origin;
      const store = createBlobStore({ token: blob.token, connectTimeoutMs: 300, deleteTimeoutMs: 300 });
      return { store, undo: () => void (process.env.VERCEL_BLOB_API_URL = blob.apiUrl) };
    },
  };
}

const pattern = (n: number, seed = 3) => {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 131 + seed) & 0xff;
  return out;
};

/** A stream of `bytes` in chunks of `chunk` bytes, as a download hands it over. */
function streamOf(bytes: Uint8Array, chunk = 16_384): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(ctrl) {
      if (at >= bytes.length) return ctrl.close();
      ctrl.enqueue(bytes.slice(at, at + chunk));
      at += chunk;
    },
  });
}

function failingStream(after: Uint8Array): ReadableStream<Uint8Array> {
  let sent = false;
  return new ReadableStream({
    pull(ctrl) {
      if (sent) return ctrl.error(new Error("socket hang up"));
      sent = true;
      ctrl.enqueue(after);
    },
  });
}

async function rejection(p: Promise<unknown>): Promise<FileStoreError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FileStoreError);
  expect((err as Error).name).toBe("FileStoreError");
  return err as FileStoreError;
}

const KEY = (name: string) => `nks/blog/0123456789abcdef0123456789abcdef/${name}`;

describe.each([
  ["s3", s3Subject],
  ["blob", blobSubject],
] as const)("FileStore contract: %s", (kind, subject) => {
  let t: Subject;
  beforeAll(() => {
    t = subject();
  });

  it("a streamed put of N bytes is read back whole at its public URL with its content type, in one request", async () => {
    const body = pattern(3_000_000);
    const before = t.counts().put;
    const out = await t.store.put(KEY("photo.png"), streamOf(body), { bytes: body.length, contentType: "image/png" });
    expect(t.store.kind).toBe(kind);
    expect(out.key).toBe(KEY("photo.png"));
    expect(t.counts().put - before).toBe(1);
    const res = await fetch(out.url);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("image/png");
    expect(Buffer.compare(Buffer.from(await res.arrayBuffer()), Buffer.from(body))).toBe(0);
  });

  it("a bytes body and an empty file are stored too; putting the same key again overwrites it", async () => {
    const first = await t.store.put(KEY("a.txt"), new TextEncoder().encode("first"), {
      bytes: 5,
      contentType: "text/plain",
    });
    const again = await t.store.put(KEY("a.txt"), new TextEncoder().encode("again!"), {
      bytes: 6,
      contentType: "text/plain",
    });
    expect(again.url).toBe(first.url);
    expect(await (await fetch(again.url)).text()).toBe("again!");
    const empty = await t.store.put(KEY("empty.bin"), streamOf(new Uint8Array(0)), {
      bytes: 0,
      contentType: "application/octet-stream",
    });
    const res = await fetch(empty.url);
    expect(res.status).toBe(200);
    expect((await res.arrayBuffer()).byteLength).toBe(0);
  });

  it("a stream shorter or longer than declared fails, not retryable, and stores nothing", async () => {
    const short = await rejection(
      t.store.put(KEY("short.bin"), streamOf(pattern(1000)), { bytes: 2000, contentType: "application/pdf" }),
    );
    expect(short.retryable).toBe(false);
    expect(short.message).toMatch(/1000 bytes, 2000 declared/);
    const long = await rejection(
      t.store.put(KEY("long.bin"), streamOf(pattern(5000), 1000), { bytes: 2500, contentType: "application/pdf" }),
    );
    expect(long.retryable).toBe(false);
    expect(long.message).toMatch(/more than 2500 bytes/);
    const bytes = await rejection(
      t.store.put(KEY("bytes.bin"), pattern(10), { bytes: 11, contentType: "application/pdf" }),
    );
    expect(bytes.retryable).toBe(false);
    for (const name of ["short.bin", "long.bin", "bytes.bin"]) expect(t.stored(KEY(name))).toBe(false);
  });

  it("a body that fails midway, or the caller's abort, fails retryable and stores nothing", async () => {
    const broken = await rejection(
      t.store.put(KEY("broken.bin"), failingStream(pattern(100)), { bytes: 1000, contentType: "image/jpeg" }),
    );
    expect(broken.retryable).toBe(true);
    const controller = new AbortController();
    let pulls = 0;
    const slow = new ReadableStream<Uint8Array>({
      pull(ctrl) {
        if (++pulls === 2) controller.abort(new Error("budget spent"));
        ctrl.enqueue(pattern(100));
      },
    });
    const aborted = await rejection(
      t.store.put(KEY("aborted.bin"), slow, { bytes: 100_000, contentType: "image/jpeg", signal: controller.signal }),
    );
    expect(aborted.retryable).toBe(true);
    expect(t.stored(KEY("broken.bin")) || t.stored(KEY("aborted.bin"))).toBe(false);
  });

  it("delete removes present objects and ignores missing ones, in batches", async () => {
    const present = await t.store.put(KEY("gone.txt"), new TextEncoder().encode("bye"), {
      bytes: 3,
      contentType: "text/plain",
    });
    await t.store.delete([present, { key: KEY("never.txt"), url: present.url.replace("gone.txt", "never.txt") }]);
    expect(t.stored(present.key)).toBe(false);
    expect((await fetch(present.url)).status).toBe(404);
    await t.store.delete([]);
    const batch = kind === "s3" ? 1000 : 100;
    const many = Array.from({ length: batch + 1 }, (_, i) => t.seed(`nks/gc/${i}/f.bin`));
    const before = t.counts().delete;
    await t.store.delete(many);
    expect(t.counts().delete - before).toBe(2);
    expect(many.some((o) => t.stored(o.key))).toBe(false);
  });

  it("a wrong credential fails, not retryable, and stores nothing", async () => {
    const err = await rejection(
      t.wrongCredential.put(KEY("denied.txt"), new TextEncoder().encode("x"), { bytes: 1, contentType: "text/plain" }),
    );
    expect(err.retryable).toBe(false);
    expect(err.message).not.toMatch(/wrongsecret|not-the-secret/);
    expect(t.stored(KEY("denied.txt"))).toBe(false);
    const del = await rejection(t.wrongCredential.delete([{ key: KEY("a.txt"), url: "x" }]));
    expect(del.retryable).toBe(false);
  });

  it("a server error is retryable; the next put succeeds", async () => {
    t.failNext("put", 1, 500);
    const before = t.counts().put;
    const err = await rejection(
      t.store.put(KEY("later.txt"), new TextEncoder().encode("ok"), { bytes: 2, contentType: "text/plain" }),
    );
    expect(err.retryable).toBe(true);
    expect(t.stored(KEY("later.txt"))).toBe(false);
    // The body is one-shot: neither client sends it a second time on its own.
    expect(t.counts().put - before).toBe(1);
    const ok = await t.store.put(KEY("later.txt"), new TextEncoder().encode("ok"), {
      bytes: 2,
      contentType: "text/plain",
    });
    expect(await (await fetch(ok.url)).text()).toBe("ok");
  });
});

describe.each([
  ["s3", s3Subject],
  ["blob", blobSubject],
] as const)("FileStore contract: %s, store failing", (_kind, subject) => {
  it("a server error on delete is retryable and deletes nothing", async () => {
    const t = subject();
    const obj = t.seed("nks/keep/1/f.bin");
    const err = await rejection(t.failNextDelete().delete([obj]));
    expect(err.retryable).toBe(true);
    expect(t.stored(obj.key)).toBe(true);
  });

  it("a store that cannot be reached fails put and delete retryable, promptly", async () => {
    const t = subject();
    const closed = await closedOrigin();
    const { store, undo } = t.at(closed);
    try {
      const put = await rejection(
        store.put(KEY("nowhere.bin"), streamOf(pattern(10)), { bytes: 10, contentType: "image/png" }),
      );
      expect(put.retryable).toBe(true);
      const del = await rejection(store.delete([{ key: KEY("nowhere.bin"), url: `${closed}/public/x` }]));
      expect(del.retryable).toBe(true);
    } finally {
      undo();
    }
  });
});

describe("MemoryFileStore (tests/support)", () => {
  it("reads the whole body, holds it to the declared count, records every call and fails on demand", async () => {
    const store = new MemoryFileStore();
    const out = await store.put(KEY("m.bin"), streamOf(pattern(40_000)), { bytes: 40_000, contentType: "image/png" });
    expect(store.byUrl(out.url)?.bytes.byteLength).toBe(40_000);
    expect(
      (await rejection(store.put(KEY("short.bin"), streamOf(pattern(10)), { bytes: 11, contentType: "x/y" })))
        .retryable,
    ).toBe(false);
    store.failNextPuts(1);
    expect((await rejection(store.put(KEY("f.bin"), pattern(1), { bytes: 1, contentType: "x/y" }))).retryable).toBe(
      true,
    );
    await store.delete([out]);
    expect(store.puts.map((p) => p.ok)).toEqual([true, false, false]);
    expect([store.objects.size, store.deletes]).toEqual([0, [KEY("m.bin")]]);
  });
});

describe("S3 adapter", () => {
  it("a put refused on its headers (Expect: 100-continue) sends no body and releases the source", async () => {
    const t = s3Subject();
    let cancelled = false;
    let pulled = 0;
    const source = new ReadableStream<Uint8Array>({
      pull(ctrl) {
        pulled++;
        ctrl.enqueue(pattern(65_536));
      },
      cancel() {
        cancelled = true;
      },
    });
    const err = await rejection(
      t.wrongCredential.put(KEY("big.bin"), source, { bytes: 8_000_000, contentType: "video/mp4" }),
    );
    expect(err.retryable).toBe(false);
    expect(err.status).toBe(403);
    expect(cancelled).toBe(true);
    expect(pulled).toBeLessThan(10);
    expect(t.stored(KEY("big.bin"))).toBe(false);
  });
});

/** An origin where nothing listens (connections refused). */
async function closedOrigin(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}`;
}

describe("filesMirrorFromEnv", () => {
  const S3 = {
    FILES_MIRROR: "s3",
    S3_ENDPOINT: "https://acct.r2.cloudflarestorage.com",
    S3_BUCKET: "site-files",
    S3_ACCESS_KEY_ID: "AKIDEXAMPLE",
    S3_SECRET_ACCESS_KEY: "very-secret-value",
    FILES_PUBLIC_BASE_URL: "https://files.example.com/",
  };
  const BLOB = { FILES_MIRROR: "blob", BLOB_READ_WRITE_TOKEN: "vercel_blob_rw_store123_verysecretvalue" };

  function configError(env: Record<string, string>): ConfigError {
    let caught: unknown;
    try {
      filesMirrorFromEnv(env);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const err = caught as ConfigError;
    expect(err.message).not.toMatch(/very-secret-value|verysecretvalue|AKIDEXAMPLE/);
    return err;
  }

  it("off by default; s3 and blob with their defaults", () => {
    expect(filesMirrorFromEnv({})).toBeNull();
    expect(filesMirrorFromEnv({ FILES_MIRROR: "off", S3_BUCKET: "ignored" })).toBeNull();
    const s3Settings = filesMirrorFromEnv(S3)!;
    expect(s3Settings.store.kind).toBe("s3");
    expect(s3Settings.maxBytes).toBe(52_428_800);
    expect(s3Settings.gcDays).toBe(7);
    const blobSettings = filesMirrorFromEnv({ ...BLOB, FILES_MAX_BYTES: "1000", FILES_GC_DAYS: "0" })!;
    expect(blobSettings.store.kind).toBe("blob");
    expect([blobSettings.maxBytes, blobSettings.gcDays]).toEqual([1000, 0]);
  });

  it("a missing or malformed variable is a ConfigError naming it, never echoing a value", () => {
    expect(configError({ FILES_MIRROR: "gcs" }).variables).toEqual(["FILES_MIRROR"]);
    expect(configError({ FILES_MIRROR: "s3" }).variables).toEqual([
      "S3_BUCKET",
      "S3_ACCESS_KEY_ID",
      "S3_SECRET_ACCESS_KEY",
      "FILES_PUBLIC_BASE_URL",
      "S3_REGION",
    ]);
    const { S3_ENDPOINT: _endpoint, ...aws } = S3;
    expect(configError(aws).variables).toEqual(["S3_REGION"]);
    expect(filesMirrorFromEnv({ ...aws, S3_REGION: "eu-west-3" })!.store.kind).toBe("s3");
    expect(configError({ ...S3, S3_ENDPOINT: "ftp://x" }).variables).toEqual(["S3_ENDPOINT"]);
    expect(configError({ ...S3, S3_ENDPOINT: "https://key:very-secret-value@x" }).variables).toEqual(["S3_ENDPOINT"]);
    expect(configError({ ...S3, FILES_PUBLIC_BASE_URL: "files.example.com" }).variables).toEqual([
      "FILES_PUBLIC_BASE_URL",
    ]);
    expect(configError({ ...S3, S3_FORCE_PATH_STYLE: "yes" }).variables).toEqual(["S3_FORCE_PATH_STYLE"]);
    expect(configError({ ...S3, S3_REGION: "Europe West" }).variables).toEqual(["S3_REGION"]);
    expect(configError({ ...S3, S3_BUCKET: "a/b" }).variables).toEqual(["S3_BUCKET"]);
    expect(configError({ ...S3, S3_SECRET_ACCESS_KEY: "very-secret-value more" }).variables).toEqual([
      "S3_SECRET_ACCESS_KEY",
    ]);
    expect(configError({ ...S3, FILES_MAX_BYTES: "50MB" }).variables).toEqual(["FILES_MAX_BYTES"]);
    expect(configError({ ...S3, FILES_MAX_BYTES: "0" }).variables).toEqual(["FILES_MAX_BYTES"]);
    expect(configError({ ...S3, FILES_GC_DAYS: "-1" }).variables).toEqual(["FILES_GC_DAYS"]);
    expect(configError({ FILES_MIRROR: "blob" }).variables).toEqual(["BLOB_READ_WRITE_TOKEN"]);
    expect(configError({ ...BLOB, BLOB_READ_WRITE_TOKEN: "verysecretvalue" }).variables).toEqual([
      "BLOB_READ_WRITE_TOKEN",
    ]);
    expect(configError({ ...BLOB, VERCEL_BLOB_API_URL: "localhost:3000" }).variables).toEqual(["VERCEL_BLOB_API_URL"]);
  });
});
