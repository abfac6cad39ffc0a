/**
 * Values larger than one KV value may be (MAX_VALUE_BYTES) are stored in
 * parts: the key itself holds a small stub `{"$parts": n, "$generation": g,
 * "$bytes": b}` and the JSON text is cut into n string pieces under
 * keys.part(key, g, i). Writing returns the ops of one atomic batch, so a
 * value and its parts always land together; every write uses a new
 * generation, so a reader that read an old stub finds its parts gone (never a
 * mix of two versions) and reads the stub again.
 *
 * Deleting or replacing a stored value needs to know its shape (how many
 * parts, which generation): callers keep it next to the value's owner (the
 * page's ledger entry holds its bundle's shape).
 */
import { randomBytes } from "node:crypto";
import type { KeyBuilder } from "./keys";
import type { KvOp, KvStore } from "./store";

/** The largest value this project ever writes, in UTF-8 bytes of its stored JSON (1 MB). */
export const MAX_VALUE_BYTES = 1_000_000;

/** How a value is stored: parts = 0 is a plain value at its key. */
export interface StoredShape {
  parts: number;
  generation: string | null;
}

export const PLAIN: StoredShape = { parts: 0, generation: null };

interface Stub {
  $parts: number;
  $generation: string;
  $bytes: number;
}

function isStub(value: unknown): value is Stub {
  const v = value as Partial<Stub> | null;
  return typeof v === "object" && v !== null && typeof v.$parts === "number" && typeof v.$generation === "string";
}

const utf8 = (text: string) => Buffer.byteLength(text, "utf8");

/**
 * Cuts `text` into pieces whose stored form (a JSON string: quotes and
 * backslashes escaped) stays under `maxBytes`. Never splits a surrogate pair.
 */
export function splitText(text: string, maxBytes: number): string[] {
  const pieces: string[] = [];
  let start = 0;
  // Most text grows little when escaped: start at half the bound, halve on overflow.
  while (start < text.length) {
    let length = Math.min(text.length - start, Math.floor(maxBytes / 2));
    for (;;) {
      let end = start + length;
      const code = text.charCodeAt(end - 1);
      if (end < text.length && code >= 0xd800 && code <= 0xdbff) end--; // keep the pair whole
      const piece = text.slice(start, end);
      if (utf8(JSON.stringify(piece)) <= maxBytes || length <= 1) {
        pieces.push(piece);
        start = end;
        break;
      }
      length = Math.floor(length / 2);
    }
  }
  return pieces;
}

export interface LargeWrite {
  ops: KvOp[];
  shape: StoredShape;
  /** UTF-8 bytes of the value's JSON. */
  bytes: number;
}

/**
 * The ops that store `value` at `key` (plain, or a stub and its parts), and
 * remove the parts of the `previous` version of the same key.
 */
export function writeLarge(
  keys: KeyBuilder,
  key: string,
  value: unknown,
  previous: StoredShape = PLAIN,
  maxBytes = MAX_VALUE_BYTES,
): LargeWrite {
  const json = JSON.stringify(value);
  const bytes = utf8(json);
  const ops: KvOp[] = partKeys(keys, key, previous).map((k): KvOp => ({ op: "del", key: k }));
  if (bytes <= maxBytes) {
    ops.push({ op: "set", key, value });
    return { ops, shape: PLAIN, bytes };
  }
  const generation = randomBytes(4).toString("hex");
  const pieces = splitText(json, maxBytes);
  pieces.forEach((piece, i) => ops.push({ op: "set", key: keys.part(key, generation, i), value: piece }));
  const stub: Stub = { $parts: pieces.length, $generation: generation, $bytes: bytes };
  ops.push({ op: "set", key, value: stub });
  return { ops, shape: { parts: pieces.length, generation }, bytes };
}

/** The ops that delete a value stored with `shape` (its key and its parts). */
export function deleteLarge(keys: KeyBuilder, key: string, shape: StoredShape = PLAIN): KvOp[] {
  return [{ op: "del", key }, ...partKeys(keys, key, shape).map((k): KvOp => ({ op: "del", key: k }))];
}

function partKeys(keys: KeyBuilder, key: string, shape: StoredShape): string[] {
  if (!shape.generation || shape.parts === 0) return [];
  return Array.from({ length: shape.parts }, (_, i) => keys.part(key, shape.generation!, i));
}

/** Reads a value written by writeLarge, whole; null when missing. */
export async function readLarge<T>(
  kv: KvStore,
  keys: KeyBuilder,
  key: string,
): Promise<{ value: T; shape: StoredShape } | null> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const head = await kv.get<unknown>(key);
    if (head === null) return null;
    if (!isStub(head)) return { value: head as T, shape: PLAIN };
    const shape = { parts: head.$parts, generation: head.$generation };
    const pieces = await kv.mget<string>(partKeys(keys, key, shape));
    // A newer version replaced this one between the two reads: read the stub again.
    if (pieces.some((p) => typeof p !== "string")) continue;
    return { value: JSON.parse(pieces.join("")) as T, shape };
  }
  throw new Error(`kv: ${key} kept changing while it was read in parts`);
}
