/**
 * The copy of one hosted file: a GET of its signed URL (streamed, bounded by
 * FILES_MAX_BYTES and by the invocation's signal) put to the store. A file
 * over the bound is not copied (it keeps Notion's URL); a failed download or
 * upload is a FileCopyError, which the failure policy counts against the page.
 */
import { BudgetExhaustedError } from "../../core/deadline";
import { FileStoreError, type FileStore } from "../store/types";
import type { HostedRef } from "./apply";
import type { FileRecord } from "./registry";

export class FileCopyError extends Error {
  constructor(
    message: string,
    /** file_download_<status>, file_download_failed, file_url_expired, file_upload_failed. */
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "FileCopyError";
  }
}

export type CopyOutcome = { kind: "stored"; record: FileRecord } | { kind: "too_large"; bytes: number | null };

export interface CopyOptions {
  store: FileStore;
  /** The object's key (identity.ts objectKey). */
  key: string;
  maxBytes: number;
  /** Aborts the download and upload when the invocation's budget is spent. */
  signal: AbortSignal;
  now: Date;
  fetch?: typeof fetch;
}

export async function copyFile(ref: HostedRef, options: CopyOptions): Promise<CopyOutcome> {
  const response = await download(ref, options);
  const contentType = response.headers.get("content-type") ?? "application/octet-stream";
  const declared = Number(response.headers.get("content-length") ?? NaN);
  if (Number.isFinite(declared) && declared > options.maxBytes) {
    await response.body?.cancel().catch(() => {});
    return { kind: "too_large", bytes: declared };
  }
  let body: ReadableStream<Uint8Array> | Uint8Array;
  let bytes: number;
  if (Number.isFinite(declared) && response.body) {
    body = response.body.pipeThrough(limitTo(declared));
    bytes = declared;
  } else {
    const read = await readBounded(response, options.maxBytes, options.signal);
    if (read === null) return { kind: "too_large", bytes: null };
    body = read;
    bytes = read.byteLength;
  }
  const stored = await upload(ref, body, { ...options, bytes, contentType });
  const record: FileRecord = {
    v: 1,
    key: stored.key,
    url: stored.url,
    bytes,
    contentType,
    uploadedAt: options.now.toISOString(),
  };
  return { kind: "stored", record };
}

async function download(ref: HostedRef, options: CopyOptions): Promise<Response> {
  let response: Response;
  try {
    response = await (options.fetch ?? fetch)(ref.url, { signal: options.signal, redirect: "follow" });
  } catch (error) {
    throw (
      stopped(options.signal) ??
      new FileCopyError(`download failed: ${describe(error)}`, "file_download_failed", { cause: error })
    );
  }
  if (response.ok) return response;
  const text = await response.text().catch(() => "");
  // Notion's S3 answers 403 "Request has expired" once the signature is past its hour.
  if (response.status === 403 && /expired/i.test(text))
    throw new FileCopyError("the file's signed URL has expired", "file_url_expired");
  throw new FileCopyError(`download answered ${response.status}`, `file_download_${response.status}`);
}

async function upload(
  ref: HostedRef,
  body: ReadableStream<Uint8Array> | Uint8Array,
  options: CopyOptions & { bytes: number; contentType: string },
): Promise<{ key: string; url: string }> {
  try {
    return await options.store.put(options.key, body, {
      bytes: options.bytes,
      contentType: options.contentType,
      signal: options.signal,
    });
  } catch (error) {
    const cut = stopped(options.signal);
    if (cut) throw cut;
    const detail = error instanceof FileStoreError ? error.message : describe(error);
    throw new FileCopyError(`upload of ${options.key} failed: ${detail}`, "file_upload_failed", { cause: error });
  }
}

/** The whole body, or null once it passes `max` bytes (a response without Content-Length). */
async function readBounded(response: Response, max: number, signal: AbortSignal): Promise<Uint8Array | null> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = response.body?.getReader();
  if (!reader) return new Uint8Array(0);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > max) {
        await reader.cancel().catch(() => {});
        return null;
      }
      chunks.push(value);
    }
  } catch (error) {
    throw (
      stopped(signal) ??
      new FileCopyError(`download failed: ${describe(error)}`, "file_download_failed", { cause: error })
    );
  }
  return Buffer.concat(chunks);
}

/** Passes the body on, failing it when it brings more bytes than declared. */
function limitTo(declared: number): TransformStream<Uint8Array, Uint8Array> {
  let seen = 0;
  return new TransformStream({
    transform(chunk, controller) {
      seen += chunk.byteLength;
      if (seen > declared)
        controller.error(new FileCopyError("the download is longer than declared", "file_download_failed"));
      else controller.enqueue(chunk);
    },
  });
}

/** The invocation's budget ran out: the page waits for the next invocation, nothing counted. */
function stopped(signal: AbortSignal): BudgetExhaustedError | null {
  return signal.aborted ? new BudgetExhaustedError("the budget ran out during a file copy") : null;
}

function describe(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).slice(0, 200);
}
