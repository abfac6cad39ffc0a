/**
 * File references: what `/api/files/<ref>` takes instead of a Notion-hosted
 * URL. A ref names one file of one mirrored page (a block's file, a block's
 * icon, the page's cover or icon, item `i` of a `files` property) and carries
 * an HMAC, so nobody can make the route fetch anything it did not hand out.
 *
 * Stateless on purpose: refs are minted at read time from the bundle (no
 * write at sync time, nothing to clean up when a page goes), and checked with
 * one MAC; whether the page is still in the mirror is a KV read the route
 * makes anyway (its ledger entry, fetched with the cached URL in one MGET).
 *
 * Binary layout, base64url-encoded (a block ref of "posts" is 83 characters):
 *   version (1) · kind (1) · section: name length (1) + name (ASCII) · page id (16)
 *   · target: block id (16) | key length (1) + key (UTF-8) + index (2)
 *   · tag (6): a hash of the file's URL without its query (a replaced file gets a new ref)
 *   · MAC (16): HMAC-SHA256(key, context ‖ everything before), truncated
 * Version 1 refs (minted before sections came from the config) carry the
 * section as one byte, an index into pages/posts/children; they still decode.
 * Readable by whoever holds one (it is not encrypted): page and block ids are
 * not secrets, and nothing else is in it.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { ConfigError } from "../config";
import { type Section, isSectionName } from "../core/sections";

export type FileRefTarget =
  /** The file of an image/file/video/audio/pdf block. */
  | { kind: "block"; blockId: string }
  /** The icon of a block (a callout's uploaded icon). */
  | { kind: "block_icon"; blockId: string }
  | { kind: "cover" }
  | { kind: "icon" }
  /** Item `index` of a `files` property, by property id (bundles) or by name (flattened index entries). */
  | { kind: "prop"; by: "id" | "name"; key: string; index: number };

export type FileRef = FileRefTarget & {
  section: Section;
  pageId: string;
  /** 12 hex digits naming the file version the ref was minted for (part of the cache key). */
  tag: string;
};

const VERSION = 2;
/** Version 1's section byte: an index into the sections every deployment had then. */
const V1_SECTIONS = ["pages", "posts", "children"] as const;
const KINDS = ["block", "block_icon", "cover", "icon", "prop_id", "prop_name"] as const;
const MAC_BYTES = 16;
const TAG_BYTES = 6;
const MAX_KEY_BYTES = 200;
/** Longest ref we would ever mint (a 200-byte property key); anything longer is not parsed. */
export const MAX_REF_LENGTH = 400;
const REF_SHAPE = /^[A-Za-z0-9_-]+$/;
const MAC_CONTEXT = "notion-kv-sync.file-ref.v1.";

/**
 * The MAC key: FILES_REF_SECRET when set (rotate it alone to invalidate every
 * ref), else derived from CRON_SECRET. Derived either way, so the raw secret
 * never keys anything else.
 */
export function fileRefKey(env: Record<string, string | undefined>): Buffer {
  const secret = env.FILES_REF_SECRET?.trim() || env.CRON_SECRET?.trim();
  if (!secret) {
    throw new ConfigError("file refs need a key: set FILES_REF_SECRET (or CRON_SECRET)", [
      "FILES_REF_SECRET",
      "CRON_SECRET",
    ]);
  }
  return createHmac("sha256", secret).update("notion-kv-sync.files-ref-key.v1").digest();
}

/** The tag of a file URL: its origin and path (the S3 object), not its signature. */
export function fileTag(url: string): string {
  let stable = url;
  try {
    const u = new URL(url);
    stable = `${u.origin}${u.pathname}`;
  } catch {
    // not a URL: hash it as it is
  }
  return createHash("sha256")
    .update(stable)
    .digest("hex")
    .slice(0, TAG_BYTES * 2);
}

const idBytes = (id: string): Buffer => {
  const hex = id.replace(/-/g, "").toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(hex)) throw new RangeError("a Notion id is 32 hex digits");
  return Buffer.from(hex, "hex");
};

const dashed = (bytes: Buffer): string => {
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
};

function mac(key: Buffer, body: Buffer): Buffer {
  return createHmac("sha256", key).update(MAC_CONTEXT).update(body).digest().subarray(0, MAC_BYTES);
}

export function encodeFileRef(ref: FileRef, key: Buffer): string {
  const kind = ref.kind === "prop" ? (ref.by === "id" ? "prop_id" : "prop_name") : ref.kind;
  if (!isSectionName(ref.section)) throw new RangeError(`not a section name: ${String(ref.section).slice(0, 40)}`);
  const name = Buffer.from(ref.section, "ascii");
  const parts: Buffer[] = [Buffer.from([VERSION, KINDS.indexOf(kind), name.length]), name, idBytes(ref.pageId)];
  if (ref.kind === "block" || ref.kind === "block_icon") parts.push(idBytes(ref.blockId));
  if (ref.kind === "prop") {
    const name = Buffer.from(ref.key, "utf8");
    if (name.length === 0 || name.length > MAX_KEY_BYTES)
      throw new RangeError(`a property key is 1 to ${MAX_KEY_BYTES} bytes`);
    if (!Number.isInteger(ref.index) || ref.index < 0 || ref.index > 0xffff)
      throw new RangeError("a file index is 0 to 65535");
    const index = Buffer.alloc(2);
    index.writeUInt16BE(ref.index);
    parts.push(Buffer.from([name.length]), name, index);
  }
  if (!/^[0-9a-f]{12}$/.test(ref.tag)) throw new RangeError("a tag is 12 hex digits");
  parts.push(Buffer.from(ref.tag, "hex"));
  const body = Buffer.concat(parts);
  return Buffer.concat([body, mac(key, body)]).toString("base64url");
}

/** The ref, or null when it is malformed, forged or tampered with (the route answers 404 for all three). */
export function decodeFileRef(text: string, key: Buffer): FileRef | null {
  if (typeof text !== "string" || text.length === 0 || text.length > MAX_REF_LENGTH || !REF_SHAPE.test(text))
    return null;
  const raw = Buffer.from(text, "base64url");
  if (raw.length <= MAC_BYTES || raw.toString("base64url") !== text) return null; // non-canonical: not one we minted
  const body = raw.subarray(0, raw.length - MAC_BYTES);
  if (!timingSafeEqual(raw.subarray(raw.length - MAC_BYTES), mac(key, body))) return null;
  // Signed by us: the layout is ours, but it is still read defensively.
  const head = sectionOf(body);
  if (!head) return null;
  const { section, at: pageAt } = head;
  const kind = KINDS[body[1]];
  if (!kind || body.length < pageAt + 16 + TAG_BYTES) return null;
  const pageId = dashed(body.subarray(pageAt, pageAt + 16));
  let at = pageAt + 16;
  let target: FileRefTarget;
  if (kind === "block" || kind === "block_icon") {
    if (body.length !== at + 16 + TAG_BYTES) return null;
    target = { kind, blockId: dashed(body.subarray(at, at + 16)) };
    at += 16;
  } else if (kind === "prop_id" || kind === "prop_name") {
    const length = body[at];
    if (body.length !== at + 1 + length + 2 + TAG_BYTES) return null;
    const propKey = body.subarray(at + 1, at + 1 + length).toString("utf8");
    target = {
      kind: "prop",
      by: kind === "prop_id" ? "id" : "name",
      key: propKey,
      index: body.readUInt16BE(at + 1 + length),
    };
    at += 1 + length + 2;
  } else {
    if (body.length !== at + TAG_BYTES) return null;
    target = { kind };
  }
  return { ...target, section, pageId, tag: body.subarray(at, at + TAG_BYTES).toString("hex") };
}

/** The section a ref names and where its page id starts: version 2 spells the name, version 1 indexes V1_SECTIONS. */
function sectionOf(body: Buffer): { section: Section; at: number } | null {
  if (body.length < 3) return null;
  if (body[0] === 1) {
    const section = V1_SECTIONS[body[2]];
    return section ? { section, at: 3 } : null;
  }
  if (body[0] !== VERSION || body.length < 3 + body[2]) return null;
  const section = body.subarray(3, 3 + body[2]).toString("ascii");
  return isSectionName(section) ? { section, at: 3 + body[2] } : null;
}

/** A stable, KV-safe name for what a ref points at (its cache and lock keys). */
export function fileRefSlot(ref: FileRef): string {
  const target =
    ref.kind === "block" || ref.kind === "block_icon"
      ? `${ref.kind}.${ref.blockId.replace(/-/g, "")}`
      : ref.kind === "prop"
        ? `prop.${ref.by}.${createHash("sha256").update(ref.key).digest("hex").slice(0, 16)}.${ref.index}`
        : ref.kind;
  return `${ref.section}:${ref.pageId.replace(/-/g, "")}:${target}:${ref.tag}`;
}
