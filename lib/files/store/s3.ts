/**
 * FileStore on any S3-compatible API (AWS S3, Cloudflare R2, MinIO). Objects are read through
 * FILES_PUBLIC_BASE_URL (a public bucket URL or a CDN), never through ACLs: R2 has none.
 */
import { Readable } from "node:stream";
import { DeleteObjectsCommand, PutObjectCommand, S3Client, S3ServiceException } from "@aws-sdk/client-s3";
import { FileStoreError, type FileStore, type PutMeta, type StoredObject } from "./types";
import { bytesMismatch, guardBody, publicUrl, type BodyGuard } from "./body";

export interface S3StoreOptions {
  /** Absent: AWS S3's own endpoint for the region. */
  endpoint?: string;
  region: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** `https://endpoint/bucket/key` instead of `https://bucket.endpoint/key` (MinIO, most local servers). */
  forcePathStyle: boolean;
  /** The URL prefix readers fetch objects from; an object's URL is this + "/" + its key. */
  publicBaseUrl: string;
}

/** DeleteObjects takes at most 1000 keys a request. */
const DELETE_BATCH = 1000;
/** Objects at a key never change (the key names the Notion file's identity): caches may keep them. */
const CACHE_CONTROL = "public, max-age=31536000, immutable";
const RETRYABLE_CODES = new Set([
  "SlowDown",
  "Throttling",
  "ThrottlingException",
  "RequestTimeout",
  "RequestTimeTooSkewed",
  "InternalError",
  "ServiceUnavailable",
  "TooManyRequests",
]);

export function createS3Store(options: S3StoreOptions): FileStore {
  const base = {
    region: options.region,
    endpoint: options.endpoint,
    forcePathStyle: options.forcePathStyle,
    credentials: { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey },
    // The SDK's default (WHEN_SUPPORTED) adds CRC32 checksums and aws-chunked trailers that R2 and many S3-compatibles refuse.
    requestChecksumCalculation: "WHEN_REQUIRED" as const,
    responseChecksumValidation: "WHEN_REQUIRED" as const,
    // A store that does not answer fails the call instead of holding the invocation (no connection in 5 s, 30 s idle).
    requestHandler: { connectionTimeout: 5_000, socketTimeout: 30_000 },
    // Failures reach the caller as FileStoreError; the SDK's console warnings would only repeat them.
    logger: { debug() {}, info() {}, warn() {}, error() {} },
  };
  // A streamed body cannot be sent twice: the page's failure policy retries a put, not the SDK.
  const putClient = new S3Client({ ...base, maxAttempts: 1 });
  const deleteClient = new S3Client({ ...base, maxAttempts: 3 });

  async function put(key: string, body: ReadableStream<Uint8Array> | Uint8Array, meta: PutMeta): Promise<StoredObject> {
    const guard = guardBody(body, meta);
    try {
      await putClient.send(
        new PutObjectCommand({
          Bucket: options.bucket,
          Key: key,
          Body: guard.body instanceof Uint8Array ? guard.body : nodeReadable(guard.body),
          ContentLength: meta.bytes,
          ContentType: meta.contentType,
          CacheControl: CACHE_CONTROL,
        }),
        { abortSignal: guard.signal },
      );
    } catch (err) {
      guard.cancel();
      throw putError(err, key, guard);
    } finally {
      guard.dispose();
    }
    return { key, url: publicUrl(options.publicBaseUrl, key) };
  }

  async function remove(objects: StoredObject[]): Promise<void> {
    for (let i = 0; i < objects.length; i += DELETE_BATCH) {
      const batch = objects.slice(i, i + DELETE_BATCH);
      const out = await deleteClient
        .send(
          new DeleteObjectsCommand({
            Bucket: options.bucket,
            Delete: { Objects: batch.map((o) => ({ Key: o.key })), Quiet: true },
          }),
        )
        .catch((err: unknown) => {
          throw storeError(err, `S3 DeleteObjects (${batch.length} keys)`);
        });
      const failed = (out.Errors ?? []).filter((e) => e.Code !== "NoSuchKey");
      if (failed.length > 0) {
        const first = failed[0];
        throw new FileStoreError(
          `S3 DeleteObjects: ${failed.length} of ${batch.length} keys not deleted (${first.Code}: ${first.Message ?? ""})`,
          failed.every((e) => RETRYABLE_CODES.has(e.Code ?? "")),
        );
      }
    }
  }

  return { kind: "s3", put, delete: remove };
}

function nodeReadable(body: ReadableStream<Uint8Array>): Readable {
  const readable = Readable.fromWeb(body as never);
  // The guard aborts the request on a bad body; the SDK pipes without listening for the source's error.
  readable.on("error", () => {});
  return readable;
}

function putError(err: unknown, key: string, guard: BodyGuard): FileStoreError {
  if (guard.mismatch) return bytesMismatch(guard.mismatch);
  if (guard.sourceError !== undefined) {
    return new FileStoreError(`S3 PutObject ${key}: reading the body failed`, true, undefined, {
      cause: guard.sourceError,
    });
  }
  return storeError(err, `S3 PutObject ${key}`);
}

function storeError(err: unknown, what: string): FileStoreError {
  if (err instanceof FileStoreError) return err;
  if (err instanceof S3ServiceException) {
    const status = err.$metadata?.httpStatusCode;
    const retryable =
      status === undefined || status >= 500 || status === 429 || RETRYABLE_CODES.has(err.name) || !!err.$retryable;
    const message = `${what}: ${status ?? "no status"} ${err.name}${err.message && err.message !== err.name ? ` (${err.message})` : ""}`;
    return new FileStoreError(message, retryable, status, { cause: err });
  }
  // No answer from the store (refused, reset, timed out, aborted by the caller): the same call may work later.
  const reason = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return new FileStoreError(`${what}: ${reason}`, true, undefined, { cause: err });
}
