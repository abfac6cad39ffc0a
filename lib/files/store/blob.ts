/**
 * FileStore on Vercel Blob (@vercel/blob, which reaches VERCEL_BLOB_API_URL when set). Objects
 * are public at the URL the API answers; keys are used as given (no random suffix).
 */
import {
  BlobAccessError,
  BlobError,
  BlobRequestAbortedError,
  BlobServiceNotAvailable,
  BlobServiceRateLimited,
  BlobUnknownError,
  del,
  put as blobPut,
} from "@vercel/blob";
import { bytesMismatch, guardBody, type BodyGuard } from "./body";
import { FileStoreError, type FileStore, type PutMeta, type StoredObject } from "./types";

export interface BlobStoreOptions {
  /** BLOB_READ_WRITE_TOKEN. */
  token: string;
  /**
   * The client retries a call that found no connection, with waits growing from a second, for
   * minutes: a put whose body has not started flowing by then, and a delete call, are abandoned.
   */
  connectTimeoutMs?: number;
  deleteTimeoutMs?: number;
}

/** Objects at a key never change (the key names the Notion file's identity): caches may keep them a year. */
const CACHE_MAX_AGE_S = 31_536_000;
const DELETE_BATCH = 100;

export function createBlobStore(options: BlobStoreOptions): FileStore {
  async function put(key: string, body: ReadableStream<Uint8Array> | Uint8Array, meta: PutMeta): Promise<StoredObject> {
    // Always a one-shot stream: the client's own retries (10, with waits of seconds) cannot send it again.
    const guard = guardBody(body instanceof Uint8Array ? oneChunk(body) : body, meta);
    let unreachable = false;
    const timer = setTimeout(() => {
      unreachable = !guard.started;
      if (unreachable) guard.abort();
    }, options.connectTimeoutMs ?? 5_000);
    try {
      const out = await blobPut(key, guard.body as ReadableStream<Uint8Array>, {
        access: "public",
        addRandomSuffix: false,
        allowOverwrite: true,
        contentType: meta.contentType,
        cacheControlMaxAge: CACHE_MAX_AGE_S,
        token: options.token,
        abortSignal: guard.signal,
      });
      return { key, url: out.url };
    } catch (err) {
      guard.cancel();
      if (unreachable) {
        throw new FileStoreError(`Vercel Blob put ${key}: the API could not be reached`, true, undefined, {
          cause: err,
        });
      }
      throw putError(err, key, guard, meta);
    } finally {
      clearTimeout(timer);
      guard.dispose();
    }
  }

  async function remove(objects: StoredObject[]): Promise<void> {
    for (let i = 0; i < objects.length; i += DELETE_BATCH) {
      const batch = objects.slice(i, i + DELETE_BATCH);
      // A plain abort (AbortSignal.timeout's TimeoutError is retried by the client, this is not).
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), options.deleteTimeoutMs ?? 10_000);
      try {
        await del(
          batch.map((o) => o.url),
          { token: options.token, abortSignal: controller.signal },
        );
      } catch (err) {
        throw storeError(err, `Vercel Blob delete (${batch.length} objects)`);
      } finally {
        clearTimeout(timer);
      }
    }
  }

  return { kind: "blob", put, delete: remove };
}

function oneChunk(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(ctrl) {
      if (bytes.byteLength > 0) ctrl.enqueue(bytes);
      ctrl.close();
    },
  });
}

function putError(err: unknown, key: string, guard: BodyGuard, meta: PutMeta): FileStoreError {
  if (guard.mismatch) return bytesMismatch(guard.mismatch);
  if (guard.sourceError !== undefined) {
    return new FileStoreError(`Vercel Blob put ${key}: reading the body failed`, true, undefined, {
      cause: guard.sourceError,
    });
  }
  if (meta.signal?.aborted) {
    return new FileStoreError(`Vercel Blob put ${key}: aborted`, true, undefined, { cause: err });
  }
  if (err instanceof TypeError && /disturbed|locked/.test(err.message)) {
    // The first attempt failed (a 5xx or a broken connection); the client's retry found the one-shot body spent.
    return new FileStoreError(`Vercel Blob put ${key}: the API failed or the connection broke`, true, undefined, {
      cause: err,
    });
  }
  return storeError(err, `Vercel Blob put ${key}`);
}

function storeError(err: unknown, what: string): FileStoreError {
  if (err instanceof FileStoreError) return err;
  const message = err instanceof Error ? err.message.replace(/^Vercel Blob: /, "") : String(err);
  if (err instanceof BlobAccessError) return new FileStoreError(`${what}: ${message}`, false, 403, { cause: err });
  const retryable =
    err instanceof BlobServiceNotAvailable ||
    err instanceof BlobServiceRateLimited ||
    err instanceof BlobUnknownError ||
    err instanceof BlobRequestAbortedError ||
    // No answer at all (refused, reset), or a retry the one-shot body could not make.
    !(err instanceof BlobError);
  return new FileStoreError(`${what}: ${message}`, retryable, undefined, { cause: err });
}
