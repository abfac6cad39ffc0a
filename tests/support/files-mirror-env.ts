/** The variables that point FILES_MIRROR at the test stores (tests/support/s3-server.ts, blob-server.ts). */
import type { BlobServer } from "./blob-server";
import type { S3Server } from "./s3-server";

/** What FILES_MIRROR=s3 needs of a server: a test server, or the bench's child's answer. */
export type S3Endpoint = Pick<
  S3Server,
  "endpoint" | "bucket" | "region" | "accessKeyId" | "secretAccessKey" | "publicBaseUrl"
>;

export function s3MirrorEnv(s3: S3Endpoint): Record<string, string> {
  return {
    FILES_MIRROR: "s3",
    S3_ENDPOINT: s3.endpoint,
    S3_BUCKET: s3.bucket,
    S3_REGION: s3.region,
    S3_ACCESS_KEY_ID: s3.accessKeyId,
    S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
    S3_FORCE_PATH_STYLE: "true",
    FILES_PUBLIC_BASE_URL: s3.publicBaseUrl,
  };
}

/** @vercel/blob reads VERCEL_BLOB_API_URL from process.env: a process syncing in-process must set it there too. */
export function blobMirrorEnv(blob: BlobServer): Record<string, string> {
  return { FILES_MIRROR: "blob", BLOB_READ_WRITE_TOKEN: blob.token, VERCEL_BLOB_API_URL: blob.apiUrl };
}
