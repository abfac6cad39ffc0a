/**
 * On-disk format of the file store (lib/kv/file.ts): an append-only log.
 *
 *   nks-kv-log 1\n                      ← magic line: refuses any other file
 *   <len> <crc32> <payload>\n           ← one record per write call / atomic batch
 *   ...
 *
 * `len` is the payload's length in bytes (decimal), `crc32` its CRC-32 as 8
 * lowercase hex digits, and the payload one line of JSON (JSON.stringify never
 * emits a raw newline):
 *
 *   {"ops":[{"op":"set","key":"k","json":"{\"a\":1}","expiresAt":1700000000000},
 *           {"op":"del","key":"k"},
 *           {"op":"sadd","key":"s","members":["m"]},
 *           {"op":"srem","key":"s","members":["m"]}]}
 *
 * A value is kept as its JSON text (`json`), exactly the string a Redis
 * backend stores; expiries are absolute epoch milliseconds. Replaying a record
 * never depends on the clock: a writer only logs an op after checking it
 * (WRONGTYPE, NX...), so replay just applies it.
 *
 * Damage:
 * - an incomplete or invalid *last* line is a torn tail (a writer crashed mid
 *   append; records are appended and fsynced one at a time, so only the last
 *   one can be torn): it is ignored, and the next writer truncates it;
 * - an invalid line with anything after it, a record whose checksum is right
 *   but whose content is not a batch, or a missing magic line: the file is
 *   refused (LogCorruptError) rather than silently losing data.
 */
import zlib from "node:zlib";
import { LogCorruptError } from "./errors";

export const LOG_MAGIC = "nks-kv-log 1\n";
const MAGIC = Buffer.from(LOG_MAGIC, "utf8");
const NL = 0x0a;
const SPACE = 0x20;

export type LogOp =
  | { op: "set"; key: string; json: string; expiresAt?: number }
  | { op: "del"; key: string }
  | { op: "sadd"; key: string; members: string[] }
  | { op: "srem"; key: string; members: string[] };

// zlib.crc32 exists from Node 20.15 / 22.2; engines allow 20.9, hence the fallback.
const nativeCrc32 = (zlib as unknown as { crc32?: (data: Uint8Array) => number }).crc32;
let table: Uint32Array | undefined;
function jsCrc32(data: Uint8Array): number {
  if (!table) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) crc = table[(crc ^ data[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
export const crc32 = (data: Uint8Array): number => (nativeCrc32 ? nativeCrc32(data) : jsCrc32(data));
const hex8 = (n: number) => n.toString(16).padStart(8, "0");

/** One record, ready to append: `<len> <crc32> <payload>\n`. */
export function encodeRecord(ops: LogOp[]): Buffer {
  const payload = Buffer.from(JSON.stringify({ ops }), "utf8");
  const head = Buffer.from(`${payload.length} ${hex8(crc32(payload))} `, "latin1");
  return Buffer.concat([head, payload, Buffer.from([NL])]);
}

/** The magic line that starts every log. */
export function logHeader(): Buffer {
  return Buffer.from(MAGIC);
}

export interface ParsedLog {
  /** One entry per complete, valid record, in file order. */
  batches: LogOp[][];
  /** Bytes of `buf` consumed (the end of the last valid record); the rest, if any, is a torn tail. */
  end: number;
}

/**
 * Parses `buf`, the bytes of `file` from offset `base` (a record boundary, or
 * 0 for the start of the file) to what was its end when read.
 */
export function parseLog(buf: Buffer, base: number, file: string): ParsedLog {
  const batches: LogOp[][] = [];
  let pos = 0;
  if (base === 0) {
    if (buf.length < MAGIC.length) {
      // A writer that crashed while creating the file: treat as empty.
      if (MAGIC.subarray(0, buf.length).equals(buf)) return { batches, end: 0 };
      throw notALog(file);
    }
    if (!buf.subarray(0, MAGIC.length).equals(MAGIC)) throw notALog(file);
    pos = MAGIC.length;
  }
  while (pos < buf.length) {
    const nl = buf.indexOf(NL, pos);
    if (nl === -1) break; // incomplete last record: torn (or still being appended)
    const ops = parseLine(buf, pos, nl, base + pos, file);
    if (ops === null) {
      if (nl + 1 === buf.length) break; // an invalid last line is a torn tail too
      throw new LogCorruptError(
        `kv (file): ${file} is damaged: the record at byte ${base + pos} is unreadable and more records follow it; ` +
          "refusing to drop data: move the file aside to start with an empty store",
      );
    }
    batches.push(ops);
    pos = nl + 1;
  }
  return { batches, end: pos };
}

function notALog(file: string) {
  return new LogCorruptError(
    `kv (file): ${file} is not a log written by this store (unexpected first line); move it aside to start with an empty store`,
  );
}

/**
 * The ops of the line [start, nl), or null when its framing or checksum is
 * wrong (possibly torn). Throws when the framing and checksum are right but
 * the content is not a batch: those bytes were written like that.
 */
function parseLine(buf: Buffer, start: number, nl: number, at: number, file: string): LogOp[] | null {
  const sp1 = buf.indexOf(SPACE, start);
  if (sp1 <= start || sp1 > start + 10 || sp1 >= nl) return null;
  const lenText = buf.toString("latin1", start, sp1);
  if (!/^[0-9]+$/.test(lenText)) return null;
  const crcText = buf.toString("latin1", sp1 + 1, sp1 + 9);
  if (!/^[0-9a-f]{8}$/.test(crcText) || buf[sp1 + 9] !== SPACE) return null;
  const payloadStart = sp1 + 10;
  if (payloadStart + Number(lenText) !== nl) return null;
  const payload = buf.subarray(payloadStart, nl);
  if (hex8(crc32(payload)) !== crcText) return null;
  const bad = (why: string) =>
    new LogCorruptError(
      `kv (file): ${file} is damaged: the record at byte ${at} ${why}; move the file aside to start with an empty store`,
    );
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload.toString("utf8"));
  } catch {
    throw bad("is not JSON");
  }
  const ops = (parsed as { ops?: unknown } | null)?.ops;
  if (!Array.isArray(ops)) throw bad("holds no batch");
  for (const op of ops as Record<string, unknown>[]) {
    if (!isLogOp(op)) throw bad("holds a malformed operation");
  }
  return ops as LogOp[];
}

function isLogOp(op: Record<string, unknown> | null): op is LogOp {
  if (op === null || typeof op !== "object" || typeof op.key !== "string") return false;
  switch (op.op) {
    case "set":
      return typeof op.json === "string" && (op.expiresAt === undefined || typeof op.expiresAt === "number");
    case "del":
      return true;
    case "sadd":
    case "srem":
      return Array.isArray(op.members) && op.members.every((m) => typeof m === "string");
    default:
      return false;
  }
}
