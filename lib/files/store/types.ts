/**
 * Where mirrored Notion-hosted files live (FILES_MIRROR): an object store that serves
 * each object publicly at a stable URL, so a site reads its files without Notion.
 */

export interface StoredObject {
  /** The object's key in the store (`<kv prefix>/<section>/<identity>/<file name>`). */
  key: string;
  /** The public URL readers get. */
  url: string;
}

export interface PutMeta {
  /** The exact byte count of the body: fewer or more bytes fail the put and store nothing visible. */
  bytes: number;
  contentType: string;
  signal?: AbortSignal;
}

export interface FileStore {
  readonly kind: "s3" | "blob";
  /** Stores exactly `bytes` bytes read from `body` at `key`, publicly readable; the URL readers get. */
  put(key: string, body: ReadableStream<Uint8Array> | Uint8Array, meta: PutMeta): Promise<StoredObject>;
  /** Deletes the objects; a missing one is not an error. */
  delete(objects: StoredObject[]): Promise<void>;
}

export class FileStoreError extends Error {
  constructor(
    message: string,
    /** True when the same call may succeed later (5xx, throttling, network, timeout); false for auth, bad request, size mismatch. */
    readonly retryable: boolean,
    /** The store's HTTP status when it answered one. */
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "FileStoreError";
  }
}

export interface FilesMirrorSettings {
  store: FileStore;
  /** Files larger than this keep Notion's URL (read through the file route). */
  maxBytes: number;
  /** Days an object no page references stays in the store before finalize deletes it. */
  gcDays: number;
}
