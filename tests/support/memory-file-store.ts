/**
 * An in-memory FileStore for tests that need no server: it reads the whole body, checks its
 * length against meta.bytes like a real store's Content-Length check, and records every call.
 */
import { FileStoreError, type FileStore, type PutMeta, type StoredObject } from "../../lib/files/store/types";

export interface MemoryObject {
  bytes: Uint8Array;
  contentType: string;
}

export interface MemoryPut {
  key: string;
  bytes: number;
  contentType: string;
  /** False when the put failed (injected failure, size mismatch, abort). */
  ok: boolean;
}

export class MemoryFileStore implements FileStore {
  readonly kind = "s3" as const;
  readonly objects = new Map<string, MemoryObject>();
  /** Every put call in order, failed ones included. */
  readonly puts: MemoryPut[] = [];
  /** Every key passed to delete, in order. */
  readonly deletes: string[] = [];
  private failures: { retryable: boolean }[] = [];

  constructor(readonly baseUrl = "https://files.test") {}

  /** The next `count` puts fail with a FileStoreError (after consuming their body). */
  failNextPuts(count: number, retryable = true): void {
    for (let i = 0; i < count; i++) this.failures.push({ retryable });
  }

  urlOf(key: string): string {
    return `${this.baseUrl}/${key.split("/").map(encodeURIComponent).join("/")}`;
  }

  /** The object whose public URL is `url`, if stored. */
  byUrl(url: string): MemoryObject | undefined {
    for (const [key, obj] of this.objects) if (this.urlOf(key) === url) return obj;
    return undefined;
  }

  async put(key: string, body: ReadableStream<Uint8Array> | Uint8Array, meta: PutMeta): Promise<StoredObject> {
    const record: MemoryPut = { key, bytes: meta.bytes, contentType: meta.contentType, ok: false };
    this.puts.push(record);
    const bytes = await readAll(body, meta.signal);
    if (bytes.byteLength !== meta.bytes) {
      throw new FileStoreError(`body had ${bytes.byteLength} bytes, ${meta.bytes} declared`, false, 400);
    }
    const failure = this.failures.shift();
    if (failure) throw new FileStoreError("injected put failure", failure.retryable, 500);
    this.objects.set(key, { bytes, contentType: meta.contentType });
    record.ok = true;
    return { key, url: this.urlOf(key) };
  }

  async delete(objects: StoredObject[]): Promise<void> {
    for (const { key } of objects) {
      this.deletes.push(key);
      this.objects.delete(key);
    }
  }
}

async function readAll(body: ReadableStream<Uint8Array> | Uint8Array, signal?: AbortSignal): Promise<Uint8Array> {
  if (body instanceof Uint8Array) return body.slice();
  const chunks: Uint8Array[] = [];
  const reader = body.getReader();
  try {
    for (;;) {
      if (signal?.aborted) throw new FileStoreError("put aborted", true, undefined, { cause: signal.reason });
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
    }
  } catch (err) {
    if (err instanceof FileStoreError) throw err;
    throw new FileStoreError("reading the body failed", true, undefined, { cause: err });
  } finally {
    reader.releaseLock();
  }
  return Buffer.concat(chunks);
}
