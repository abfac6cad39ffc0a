/**
 * The test S3 server answers @aws-sdk/client-s3 as S3 does: with the SDK's defaults (CRC32
 * checksums, aws-chunked bodies with trailers) and with the settings the adapter uses, and it
 * refuses what S3 refuses (bad signature, unknown key id, bad checksum, missing key).
 */
import { Readable } from "node:stream";
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startS3Server, type S3Server } from "./support/s3-server";

let s3: S3Server;
beforeAll(async () => {
  s3 = await startS3Server({ bucket: "site-files", region: "auto" });
});
afterAll(() => s3?.close());

function client(config: Partial<S3ClientConfig> = {}): S3Client {
  return new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    maxAttempts: 1,
    ...config,
  });
}

const bytes = (n: number, seed = 7) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) % 256));
const chunksOf = (b: Buffer, size: number) =>
  Readable.from(Array.from({ length: Math.ceil(b.length / size) }, (_, i) => b.subarray(i * size, (i + 1) * size)));

describe("test S3 server against @aws-sdk/client-s3", () => {
  it("SDK defaults: a streamed put is sent aws-chunked with a CRC32 trailer, stored whole, read back", async () => {
    const body = bytes(200_000);
    const seen: Record<string, string>[] = [];
    const c = client();
    c.middlewareStack.add(
      (next) => async (args) => {
        seen.push({ ...(args.request as { headers: Record<string, string> }).headers });
        return next(args);
      },
      { step: "finalizeRequest", priority: "low" },
    );
    await c.send(
      new PutObjectCommand({
        Bucket: "site-files",
        Key: "a b/ü.png",
        Body: chunksOf(body, 65_536),
        ContentLength: body.length,
        ContentType: "image/png",
      }),
    );
    expect(seen[0]["x-amz-content-sha256"]).toBe("STREAMING-UNSIGNED-PAYLOAD-TRAILER");
    expect(seen[0]["x-amz-trailer"]).toBe("x-amz-checksum-crc32");
    expect(Buffer.compare(s3.objects.get("a b/ü.png")!.bytes, body)).toBe(0);
    const got = await c.send(new GetObjectCommand({ Bucket: "site-files", Key: "a b/ü.png" }));
    expect(Buffer.compare(Buffer.from(await got.Body!.transformToByteArray()), body)).toBe(0);
    expect(got.ContentType).toBe("image/png");
    const head = await c.send(new HeadObjectCommand({ Bucket: "site-files", Key: "a b/ü.png" }));
    expect(head.ContentLength).toBe(body.length);
  });

  it("WHEN_REQUIRED: a buffer body is signed with its SHA256, a stream as UNSIGNED-PAYLOAD; both stored", async () => {
    const c = client({ requestChecksumCalculation: "WHEN_REQUIRED", responseChecksumValidation: "WHEN_REQUIRED" });
    await c.send(
      new PutObjectCommand({ Bucket: "site-files", Key: "buf", Body: bytes(1000), ContentType: "text/plain" }),
    );
    await c.send(
      new PutObjectCommand({
        Bucket: "site-files",
        Key: "stream",
        Body: chunksOf(bytes(5000), 999),
        ContentLength: 5000,
      }),
    );
    expect(s3.objects.get("buf")!.bytes.length).toBe(1000);
    expect(Buffer.compare(s3.objects.get("stream")!.bytes, bytes(5000))).toBe(0);
  });

  it("the public path answers GET without credentials; a missing key is S3's NoSuchKey XML", async () => {
    s3.objects.set("pub/x.txt", { bytes: Buffer.from("hello"), contentType: "text/plain", etag: '"e"' });
    const ok = await fetch(`${s3.publicBaseUrl}/pub/x.txt`);
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe("hello");
    const missing = await fetch(`${s3.publicBaseUrl}/pub/none.txt`);
    expect(missing.status).toBe(404);
    expect(await missing.text()).toContain("<Code>NoSuchKey</Code>");
  });

  it("refuses a wrong secret, an unknown key id and a tampered checksum", async () => {
    const wrongSecret = client({ credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: "nope" } });
    await expect(
      wrongSecret.send(new PutObjectCommand({ Bucket: "site-files", Key: "k", Body: "x" })),
    ).rejects.toMatchObject({ name: "SignatureDoesNotMatch", $metadata: { httpStatusCode: 403 } });
    const unknown = client({ credentials: { accessKeyId: "OTHER", secretAccessKey: s3.secretAccessKey } });
    await expect(
      unknown.send(new PutObjectCommand({ Bucket: "site-files", Key: "k", Body: "x" })),
    ).rejects.toMatchObject({ name: "InvalidAccessKeyId" });
    await expect(
      client().send(new PutObjectCommand({ Bucket: "site-files", Key: "k", Body: "x", ChecksumCRC32: "AAAAAA==" })),
    ).rejects.toMatchObject({ name: "BadDigest" });
    await expect(client().send(new PutObjectCommand({ Bucket: "other", Key: "k", Body: "x" }))).rejects.toMatchObject({
      name: "NoSuchBucket",
    });
    expect(s3.objects.has("k")).toBe(false);
  });

  it("DeleteObjects removes present keys, ignores missing ones, and reports them deleted unless quiet", async () => {
    s3.objects.set("d/1", { bytes: Buffer.from("1"), contentType: "text/plain", etag: '"1"' });
    s3.objects.set("d/<&>", { bytes: Buffer.from("2"), contentType: "text/plain", etag: '"2"' });
    const out = await client({ requestChecksumCalculation: "WHEN_REQUIRED" }).send(
      new DeleteObjectsCommand({
        Bucket: "site-files",
        Delete: { Objects: [{ Key: "d/1" }, { Key: "d/<&>" }, { Key: "d/missing" }] },
      }),
    );
    expect(out.Deleted?.map((d) => d.Key).sort()).toEqual(["d/1", "d/<&>", "d/missing"]);
    expect(s3.objects.has("d/1") || s3.objects.has("d/<&>")).toBe(false);
  });

  it("putChecksums: not-implemented refuses the SDK's default checksums and takes WHEN_REQUIRED uploads", async () => {
    const legacy = await startS3Server({ bucket: "site-files", region: "auto", putChecksums: "not-implemented" });
    try {
      const make = (config: Partial<S3ClientConfig>) =>
        new S3Client({
          endpoint: legacy.endpoint,
          region: legacy.region,
          forcePathStyle: true,
          credentials: { accessKeyId: legacy.accessKeyId, secretAccessKey: legacy.secretAccessKey },
          maxAttempts: 1,
          ...config,
        });
      const put = (c: S3Client, key: string) =>
        c.send(
          new PutObjectCommand({
            Bucket: "site-files",
            Key: key,
            Body: chunksOf(bytes(3000), 1000),
            ContentLength: 3000,
          }),
        );
      await expect(put(make({}), "default")).rejects.toMatchObject({
        name: "NotImplemented",
        $metadata: { httpStatusCode: 501 },
      });
      await put(make({ requestChecksumCalculation: "WHEN_REQUIRED" }), "when-required");
      expect([legacy.objects.has("default"), legacy.objects.has("when-required")]).toEqual([false, true]);
    } finally {
      await legacy.close();
    }
  });

  it("an injected 500 comes back as S3's InternalError", async () => {
    s3.failNext("put", 1);
    await expect(
      client().send(new PutObjectCommand({ Bucket: "site-files", Key: "f", Body: "x" })),
    ).rejects.toMatchObject({ name: "InternalError", $metadata: { httpStatusCode: 500 } });
    await client().send(new PutObjectCommand({ Bucket: "site-files", Key: "f", Body: "x" }));
    expect(s3.objects.has("f")).toBe(true);
  });
});
