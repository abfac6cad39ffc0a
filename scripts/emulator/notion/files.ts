/**
 * Notion-hosted files in the emulator, as Notion serves them: a file object
 * `{type: "file", file: {url, expiry_time}}` whose `url` is an S3 URL signed
 * for one hour from the request (`X-Amz-Date` = the workspace clock,
 * `X-Amz-Expires=3600`) and `expiry_time` = that clock + 1 h, signed anew on
 * every read. The workspace stores only the bucket path (`url` without a
 * query, `expiry_time: ""`); signHostedFiles() signs what a read returns.
 *
 * Also: what the default workspace gets on top of its generated content
 * (addHostedFiles: file, pdf, audio and video blocks, callouts with an
 * uploaded icon, covers and icons of type file, an `Attachments` files
 * property), drawn from a random stream of its own so the rest of the
 * workspace stays exactly as generated; and GET /v1/blocks/{id}.
 */
import { deflateSync } from "node:zlib";
import { Prng } from "./prng.js";
import type { PropertyValue } from "./types.js";

/** Notion's bucket (prod-files-secure), as in the recorded answers. */
export const HOSTED_FILES_ORIGIN = "https://prod-files-secure.s3.us-west-2.amazonaws.com";
const HOUR = 3_600_000;

export interface StoredHostedFile {
  type: "file";
  file: { url: string; expiry_time: string };
}

/** A hosted file as the workspace stores it: its bucket path, signed at every read. */
export function storedHostedFile(workspaceId: string, fileId: string, name: string): StoredHostedFile {
  return {
    type: "file",
    file: { url: `${HOSTED_FILES_ORIGIN}/${workspaceId}/${fileId}/${encodeURIComponent(name)}`, expiry_time: "" },
  };
}

/** The bucket path signed for an hour from `now`: what Notion answers at `now`. */
export function signFileUrl(path: string, now: number): { url: string; expiry_time: string } {
  const amzDate = new Date(now)
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
  const signature = new Prng(`${path}:${now}`).uuid().replace(/-/g, "").repeat(2);
  const url =
    `${path}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Content-Sha256=UNSIGNED-PAYLOAD` +
    `&X-Amz-Credential=ASIAEMULATOR%2F${amzDate.slice(0, 8)}%2Fus-west-2%2Fs3%2Faws4_request` +
    `&X-Amz-Date=${amzDate}&X-Amz-Expires=3600&X-Amz-Signature=${signature}&X-Amz-SignedHeaders=host&x-id=GetObject`;
  return { url, expiry_time: new Date(now + HOUR).toISOString() };
}

/** When a URL signed here stops working (X-Amz-Date + X-Amz-Expires), or null for any other URL. */
export function signedUrlExpiry(url: string): number | null {
  try {
    const u = new URL(url);
    const date = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(u.searchParams.get("X-Amz-Date") ?? "");
    const expires = Number(u.searchParams.get("X-Amz-Expires"));
    if (u.origin !== HOSTED_FILES_ORIGIN || !date || !Number.isFinite(expires)) return null;
    return Date.parse(`${date[1]}-${date[2]}-${date[3]}T${date[4]}:${date[5]}:${date[6]}Z`) + expires * 1000;
  } catch {
    return null;
  }
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * `value` with every hosted file in it signed for an hour from `now`
 * (copy on write: what holds no hosted file is returned as it is).
 */
export function signHostedFiles<T>(value: T, now: number): T {
  if (Array.isArray(value)) {
    let changed = false;
    const out = value.map((item) => {
      const next = signHostedFiles(item, now);
      if (next !== item) changed = true;
      return next;
    });
    return (changed ? out : value) as T;
  }
  if (!isObject(value)) return value;
  if (
    value.type === "file" &&
    isObject(value.file) &&
    typeof value.file.url === "string" &&
    value.file.url.startsWith(`${HOSTED_FILES_ORIGIN}/`)
  ) {
    return { ...value, file: signFileUrl(value.file.url.split("?")[0], now) } as T;
  }
  let out: Record<string, unknown> | null = null;
  for (const [key, child] of Object.entries(value)) {
    if (typeof child !== "object" || child === null) continue;
    const next = signHostedFiles(child, now);
    if (next !== child) (out ??= { ...value })[key] = next;
  }
  return (out ?? value) as T;
}

// ------------------------------------------------------------ the default workspace

/** Property id of the `Attachments` files property (Notion's ids are short and url-encoded). */
export const ATTACHMENTS_PROPERTY_ID = "fL%3Ds";

export type FilesPropertyItem = { name: string } & (StoredHostedFile | { type: "external"; external: { url: string } });

/** The `Attachments` property of a row that has the property. */
export function attachmentsProperty(items: FilesPropertyItem[]): PropertyValue {
  return { id: ATTACHMENTS_PROPERTY_ID, type: "files", files: structuredClone(items) };
}

/** What addHostedFiles needs of the generator's records (kept structural: the records are the generator's). */
interface PageLike {
  id: string;
  databaseId: string | null;
  icon: unknown;
  cover: unknown;
  attachments?: FilesPropertyItem[];
}

interface BlockLike {
  pageId: string;
  type: string;
  payload: Record<string, unknown>;
  childIds: string[];
}

const DOCS = ["handbook.pdf", "q3-report.pdf", "diagram.png", "notes.txt", "budget.xlsx", "screenshot.png"] as const;
const MEDIA = {
  file: ["spec.docx", "export.csv", "archive.zip"],
  pdf: ["invoice.pdf", "slides.pdf"],
  audio: ["standup.m4a", "interview.mp3"],
  video: ["demo.mp4", "walkthrough.mov"],
} as const;

/**
 * Gives a generated workspace the Notion-hosted files real workspaces have,
 * without touching the generator's random stream: every database row gets
 * the `Attachments` files property (empty for most, one to three files for
 * about one in six, an external link now and then); about one row in eight a
 * cover of type file and one in ten an icon of type file; a child page or two
 * a hosted icon and cover; about one leaf paragraph in forty becomes a hosted
 * file, pdf, audio or video block; about one callout in four gets an
 * uploaded icon. The first rows of each database always get one of each, so
 * every kind is there whatever the sizes.
 */
export function addHostedFiles(
  pages: PageLike[],
  blocks: BlockLike[],
  workspaceId: string,
  seed: number,
  skipPageIds: ReadonlySet<string> = new Set(),
): void {
  const rng = new Prng(`${seed}:hosted-files`);
  const hosted = (name: string) => storedHostedFile(workspaceId, rng.uuid(), name);
  const firstOf = new Map<string, number>();
  for (const page of pages) {
    if (page.databaseId === null) continue;
    const n = firstOf.get(page.databaseId) ?? 0;
    firstOf.set(page.databaseId, n + 1);
    const early = n < 3;
    page.attachments = [];
    if (early || rng.chance(1 / 6)) {
      const count = early ? 2 : rng.int(1, 3);
      for (let i = 0; i < count; i++) page.attachments.push({ name: rng.pick(DOCS), ...hosted(rng.pick(DOCS)) });
      if (early || rng.chance(0.3))
        page.attachments.push({
          name: "Spec (link)",
          type: "external",
          external: { url: `https://docs.example.com/${rng.uuid()}` },
        });
    }
    if (n === 0 || rng.chance(1 / 8)) page.cover = hosted("cover.jpg");
    if (n === 1 || rng.chance(1 / 10)) page.icon = hosted("icon.png");
  }
  const children = pages.filter((page) => page.databaseId === null);
  for (const child of children.slice(0, 2)) {
    child.icon = hosted("icon.png");
    child.cover = hosted("cover.jpg");
  }

  // The first few pages with a leaf paragraph get one media block each, then about one paragraph in forty.
  const withMedia = new Set<string>();
  let iconed = 0;
  for (const block of blocks) {
    if (skipPageIds.has(block.pageId)) continue;
    if (block.type === "callout") {
      if (iconed === 0 || rng.chance(0.25)) {
        iconed++;
        block.payload = { ...block.payload, icon: hosted("icon.svg") };
      }
      continue;
    }
    if (block.type !== "paragraph" || block.childIds.length > 0) continue;
    const guaranteed = !withMedia.has(block.pageId) && withMedia.size < 8;
    if (!guaranteed && !rng.chance(1 / 40)) continue;
    withMedia.add(block.pageId);
    const type = rng.pick(["file", "pdf", "audio", "video"] as const);
    const name = rng.pick(MEDIA[type]);
    const caption = rng.chance(0.3) ? block.payload.rich_text : [];
    block.type = type;
    block.payload = { caption, ...hosted(name), ...(type === "file" ? { name } : {}) };
  }
}

// ------------------------------------------------------------ serving the bytes ("self")

/** Where the emulator serves hosted files itself (`hostedFiles: "self"`): `<origin>/s3/<workspace>/<file id>/<name>`. */
export const SELF_FILES_PATH = "/s3/";

const IMAGE_EXTENSIONS = new Set(["png", "jpg", "jpeg", "gif", "webp"]);
const CONTENT_TYPES: Record<string, string> = {
  pdf: "application/pdf",
  txt: "text/plain",
  csv: "text/csv",
  svg: "image/svg+xml",
  mp3: "audio/mpeg",
  m4a: "audio/mp4",
  mp4: "video/mp4",
  mov: "video/quicktime",
  zip: "application/zip",
};

/**
 * A hosted file's bytes, the same for the same file id: a PNG (any image
 * name: browsers decode it whatever the extension), an SVG for .svg, and
 * for other kinds a deterministic stream of bytes. `size` pads or cuts to
 * that many bytes (a PNG is padded after its end, where decoders stop).
 */
export function hostedFileBytes(fileId: string, name: string, size?: number): { bytes: Buffer; contentType: string } {
  const ext = (name.split(".").pop() ?? "").toLowerCase();
  let bytes: Buffer;
  let contentType: string;
  if (IMAGE_EXTENSIONS.has(ext)) {
    bytes = pngBytes(fileId);
    contentType = "image/png";
  } else if (ext === "svg") {
    const hue = parseInt(fileId.replace(/-/g, "").slice(0, 4), 16) % 360;
    bytes = Buffer.from(
      `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16"><rect width="16" height="16" fill="hsl(${hue},60%,50%)"/></svg>`,
    );
    contentType = "image/svg+xml";
  } else {
    const rng = new Prng(`file:${fileId}`);
    bytes = Buffer.from(Array.from({ length: 512 + rng.int(0, 1536) }, () => rng.int(0, 255)));
    contentType = CONTENT_TYPES[ext] ?? "application/octet-stream";
  }
  if (size === undefined) return { bytes, contentType };
  const sized = Buffer.alloc(size);
  bytes.copy(sized, 0, 0, Math.min(size, bytes.length));
  return { bytes: sized, contentType };
}

/** An 8 × 8 PNG of one colour drawn from the file id. */
function pngBytes(fileId: string): Buffer {
  const hex = fileId.replace(/-/g, "").padEnd(6, "0");
  const rgb = [0, 2, 4].map((i) => parseInt(hex.slice(i, i + 2), 16) || 0) as [number, number, number];
  return encodePng(8, 8, () => rgb);
}

/** A width × height 8-bit RGB PNG, each pixel's colour from `pixel`. */
export function encodePng(
  width: number,
  height: number,
  pixel: (x: number, y: number) => [number, number, number],
): Buffer {
  const rows: Buffer[] = [];
  for (let y = 0; y < height; y++) {
    const row = Buffer.alloc(1 + width * 3);
    for (let x = 0; x < width; x++) row.set(pixel(x, y), 1 + x * 3);
    rows.push(row);
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk("IHDR", header),
    pngChunk("IDAT", deflateSync(Buffer.concat(rows))),
    pngChunk("IEND", Buffer.alloc(0)),
  ]);
}

function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Buffer): number {
  let c = 0xffffffff;
  for (const byte of bytes) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** S3's answer to a signature past its expiry. */
export const EXPIRED_XML =
  '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>';

/** When a URL signed here stops working, whatever its origin (X-Amz-Date + X-Amz-Expires), or null. */
export function signatureExpiry(url: URL): number | null {
  const date = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(url.searchParams.get("X-Amz-Date") ?? "");
  const expires = Number(url.searchParams.get("X-Amz-Expires"));
  if (!date || !Number.isFinite(expires)) return null;
  return Date.parse(`${date[1]}-${date[2]}-${date[3]}T${date[4]}:${date[5]}:${date[6]}Z`) + expires * 1000;
}
