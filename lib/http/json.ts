/** The JSON answers of the API: one shape for errors, everywhere. */
export interface ErrorBody {
  ok: false;
  error: { code: string; message: string };
  [extra: string]: unknown;
}

export function jsonError(
  status: number,
  code: string,
  message: string,
  extra: Record<string, unknown> = {},
  headers?: HeadersInit,
): Response {
  // ok and error last: extra facts never mask the failure.
  const body: ErrorBody = { ...extra, ok: false, error: { code, message } };
  return Response.json(body, {
    status,
    headers: { "cache-control": "no-store", ...(headers ? Object.fromEntries(new Headers(headers)) : {}) },
  });
}

export function jsonOk(body: Record<string, unknown>, status = 200): Response {
  return Response.json(body, { status, headers: { "cache-control": "no-store" } });
}

/** QStash's "do not retry" answer: the message goes to the DLQ instead of burning retries. */
export function nonRetryable(code: string, message: string): Response {
  return jsonError(489, code, message, {}, { "Upstash-NonRetryable-Error": "true" });
}
