/**
 * The files mirror (FILES_MIRROR): its variables as the engine reads them
 * (lib/files/store/from-env.ts), then a probe object stored, read back at its
 * public URL (what a site's readers get) and deleted.
 */
import { randomUUID } from "node:crypto";
import { ConfigError } from "../config";
import { filesMirrorFromEnv } from "../files/store/from-env";
import type { FileStore, StoredObject } from "../files/store/types";
import { failureKind, withTimeout } from "./failure";
import { type DoctorCheck, type Env, fail, pass } from "./types";

const NAME = "files mirror";
const PROBE = new TextEncoder().encode("notion-kv-sync doctor probe\n");

/** Nothing when FILES_MIRROR is off. */
export async function checkFilesMirror(env: Env, prefix: string, timeoutMs: number): Promise<DoctorCheck | null> {
  let store: FileStore;
  try {
    const settings = filesMirrorFromEnv(env);
    if (!settings) return null;
    store = settings.store;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return fail(NAME, error.message, error.variables.join(", ") || "FILES_MIRROR");
  }
  const credentials =
    store.kind === "s3" ? "S3_ENDPOINT, S3_BUCKET, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY" : "BLOB_READ_WRITE_TOKEN";
  let object: StoredObject;
  try {
    const meta = { bytes: PROBE.length, contentType: "text/plain", signal: AbortSignal.timeout(timeoutMs) };
    object = await withTimeout(store.put(`${prefix}/doctor/${randomUUID()}.txt`, PROBE, meta), timeoutMs);
  } catch (error) {
    return fail(
      NAME,
      `cannot store a probe object (${store.kind}): ${failureKind(error)}; check ${credentials}`,
      credentials,
    );
  }
  try {
    return await readBack(store, object, timeoutMs);
  } finally {
    await withTimeout(store.delete([object]), timeoutMs).catch(() => {});
  }
}

/** Readers fetch the object's URL with no credentials: it must answer the probe's bytes. */
async function readBack(store: FileStore, object: StoredObject, timeoutMs: number): Promise<DoctorCheck> {
  const where = store.kind === "s3" ? "FILES_PUBLIC_BASE_URL" : "BLOB_READ_WRITE_TOKEN";
  let status: number;
  try {
    const response = await fetch(object.url, { signal: AbortSignal.timeout(timeoutMs) });
    status = response.status;
    const same = response.ok && Buffer.from(await response.arrayBuffer()).equals(Buffer.from(PROBE));
    if (same) return pass(NAME, `${store.kind}: a probe object was stored, read at its public URL and deleted`);
  } catch (error) {
    return fail(NAME, `a stored object cannot be read at its public URL: ${failureKind(error)}; check ${where}`, where);
  }
  const fix = store.kind === "s3" ? " and that the bucket is publicly readable" : "";
  return fail(NAME, `a stored object is not readable at its public URL (HTTP ${status}); check ${where}${fix}`, where);
}
