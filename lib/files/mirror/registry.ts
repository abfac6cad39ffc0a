/**
 * The registry of a section's stored objects (KV): one record per identity
 * (keys.fileObject) and the set of identities (keys.fileObjects). A record is
 * written right after its upload, so a page killed mid-copy resumes without
 * uploading again; a page write referencing an orphaned object clears its
 * orphanSince in the page's batch (keys.fileOrphans holds the orphaned ones).
 */
import type { KeyBuilder } from "../../kv/keys";
import type { KvOp, KvStore } from "../../kv/store";

export interface FileRecord {
  v: 1;
  /** The object's key in the store. */
  key: string;
  /** What readers get. */
  url: string;
  bytes: number;
  contentType: string;
  uploadedAt: string;
  /** When finalize first found no page of the section referencing it (deleted FILES_GC_DAYS later). */
  orphanSince?: string;
}

export function isFileRecord(value: unknown): value is FileRecord {
  const r = value as FileRecord | null;
  return typeof r === "object" && r !== null && r.v === 1 && typeof r.key === "string" && typeof r.url === "string";
}

/** The records of `identities` (null where there is none), in order. */
export async function readRecords(
  kv: KvStore,
  keys: KeyBuilder,
  section: string,
  identities: string[],
): Promise<(FileRecord | null)[]> {
  if (identities.length === 0) return [];
  const values = await kv.mget<unknown>(identities.map((id) => keys.fileObject(section, id)));
  return values.map((v) => (isFileRecord(v) ? v : null));
}

/** Writes a record (without orphanSince) and its identity in the section's set. */
export function recordOps(keys: KeyBuilder, section: string, identity: string, record: FileRecord): KvOp[] {
  const { orphanSince: _orphaned, ...live } = record;
  return [
    { op: "set", key: keys.fileObject(section, identity), value: live },
    { op: "sadd", key: keys.fileObjects(section), members: [identity] },
  ];
}

/** A page write referencing these records: those marked orphaned are live again. */
export function reviveOps(keys: KeyBuilder, section: string, records: Record<string, FileRecord>): KvOp[] {
  const orphaned = Object.entries(records).filter(([, r]) => r.orphanSince !== undefined);
  if (orphaned.length === 0) return [];
  return [
    ...orphaned.flatMap(([identity, record]) => recordOps(keys, section, identity, record)),
    { op: "srem", key: keys.fileOrphans(section), members: orphaned.map(([identity]) => identity) },
  ];
}

/** Forgets an object deleted from the store. */
export function forgetOps(keys: KeyBuilder, section: string, identities: string[]): KvOp[] {
  if (identities.length === 0) return [];
  return [
    ...identities.map((id): KvOp => ({ op: "del", key: keys.fileObject(section, id) })),
    { op: "srem", key: keys.fileObjects(section), members: identities },
    { op: "srem", key: keys.fileOrphans(section), members: identities },
  ];
}
