/**
 * Request bodies are read with a bound: sync, trigger and failure-callback
 * bodies are tiny JSON documents, so anything over MAX_BODY_BYTES is refused
 * (413) without being read in full or parsed.
 */
export const MAX_BODY_BYTES = 64 * 1024;

export type BodyRead = { ok: true; text: string } | { ok: false; reason: "too_large" };

export async function readBoundedBody(request: Request, maxBytes = MAX_BODY_BYTES): Promise<BodyRead> {
  if (request.method !== "POST" || !request.body) return { ok: true, text: "" };
  const declared = Number(request.headers.get("content-length") ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    await request.body.cancel().catch(() => {});
    return { ok: false, reason: "too_large" };
  }
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) {
        await reader.cancel().catch(() => {});
        return { ok: false, reason: "too_large" };
      }
      chunks.push(value);
    }
  } catch {
    return { ok: true, text: "" }; // a client that went away: what it sent is not a body
  }
  return { ok: true, text: Buffer.concat(chunks).toString("utf8") };
}
