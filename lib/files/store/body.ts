/**
 * What both adapters do to a put's body: hold it to exactly the declared byte count (a short
 * or long body aborts the request before it completes, so the store keeps nothing), and
 * tie the request to the caller's signal.
 */
import { FileStoreError, type PutMeta } from "./types";

export interface BytesMismatch {
  declared: number;
  /** Bytes seen before the mismatch was found (a long body stops at the first chunk past the count). */
  seen: number;
}

export interface BodyGuard {
  body: ReadableStream<Uint8Array> | Uint8Array;
  /** Aborted by the caller's signal, or by the guard on a mismatch or a failing source. */
  signal: AbortSignal;
  mismatch?: BytesMismatch;
  sourceError?: unknown;
  /** True once the HTTP client first asked for the body (a stream body only). */
  started: boolean;
  /** Aborts the request (a plain abort, as the caller's signal does). */
  abort(): void;
  /** Releases the source (a download still open) after a failed put. */
  cancel(): void;
  dispose(): void;
}

export function guardBody(body: ReadableStream<Uint8Array> | Uint8Array, meta: PutMeta): BodyGuard {
  const refuse = (error: FileStoreError) => {
    if (!(body instanceof Uint8Array)) body.cancel(error).catch(() => {});
    return error;
  };
  if (!Number.isSafeInteger(meta.bytes) || meta.bytes < 0) {
    throw refuse(new FileStoreError(`invalid byte count ${meta.bytes}`, false));
  }
  if (meta.signal?.aborted) throw refuse(new FileStoreError("put aborted before it started", true));
  if (body instanceof Uint8Array && body.byteLength !== meta.bytes) {
    throw bytesMismatch({ declared: meta.bytes, seen: body.byteLength });
  }
  const controller = new AbortController();
  // No reason given: fetch then rejects with a plain AbortError, which @vercel/blob does not retry.
  const onAbort = () => controller.abort();
  meta.signal?.addEventListener("abort", onAbort, { once: true });
  const guard: BodyGuard = {
    body,
    signal: controller.signal,
    started: false,
    abort: () => controller.abort(),
    cancel: () => {},
    dispose: () => meta.signal?.removeEventListener("abort", onAbort),
  };
  if (!(body instanceof Uint8Array)) guard.body = counted(body, meta.bytes, guard, controller);
  return guard;
}

function counted(
  source: ReadableStream<Uint8Array>,
  declared: number,
  guard: BodyGuard,
  controller: AbortController,
): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  guard.cancel = () => void reader.cancel().catch(() => {});
  let seen = 0;
  // Abort first: the HTTP client then drops the request instead of ending it short or sending extra bytes.
  const fail = (ctrl: ReadableStreamDefaultController<Uint8Array>, error: unknown) => {
    controller.abort();
    ctrl.error(error);
    reader.cancel(error).catch(() => {});
  };
  return new ReadableStream<Uint8Array>({
    async pull(ctrl) {
      guard.started = true;
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (err) {
        guard.sourceError = err;
        controller.abort();
        ctrl.error(err);
        return;
      }
      if (chunk.done ? seen !== declared : seen + chunk.value.byteLength > declared) {
        guard.mismatch = { declared, seen: chunk.done ? seen : seen + chunk.value.byteLength };
        return fail(ctrl, bytesMismatch(guard.mismatch));
      }
      if (chunk.done) return ctrl.close();
      seen += chunk.value.byteLength;
      ctrl.enqueue(chunk.value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

export function bytesMismatch({ declared, seen }: BytesMismatch): FileStoreError {
  const found = seen > declared ? `more than ${declared}` : String(seen);
  return new FileStoreError(`body had ${found} bytes, ${declared} declared`, false);
}

/** The object's URL under a public base: each key segment percent-encoded, the slashes kept. */
export function publicUrl(baseUrl: string, key: string): string {
  return `${baseUrl.replace(/\/+$/, "")}/${key.split("/").map(encodeURIComponent).join("/")}`;
}
