/**
 * The dirty set: pages a webhook event named, waiting for a targeted run.
 *
 * Members are `{pageId}|{event timestamp}` (plus `|{parent id}` when a
 * targeted run found a new child page inside a mirrored page), in
 * SET_SHARDS plain sets sharded by the page id, so one page's members all
 * live in one shard and the set stays far under a value's 1 MB bound.
 * Adding is SADD (idempotent: a redelivered event adds nothing new, and
 * nothing is read first, so concurrent deliveries never lose one). A
 * targeted run removes exactly the members it read, in the same atomic
 * commit as the page: an event recorded while the page was being fetched
 * stays and is looked at again. The page's newest timestamp decides whether
 * the event is older than the page's last read (then it is dropped without a
 * Notion request).
 */
import { SET_SHARDS, shardOf } from "../kv/sharded-set";
import type { KvOp, KvStore } from "../kv/store";
import { normalizeId } from "../notion/types";

export interface DirtyPage {
  id: string;
  /** Newest event timestamp among its members (epoch ms). */
  newest: number;
  members: string[];
  /** The parent a targeted run found it in (a new child page). */
  parentHint: string | null;
}

/** Page ids in one form (dashed, lower case) everywhere: Notion sends both. */
export function canonicalId(id: string): string {
  const hex = normalizeId(id);
  if (!/^[0-9a-f]{32}$/.test(hex)) return id.toLowerCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const shardKey = (base: string, pageId: string) => `${base}:${shardOf(normalizeId(pageId))}`;

export function dirtyMember(pageId: string, timestamp: string, parentHint?: string | null): string {
  return [canonicalId(pageId), timestamp, ...(parentHint ? [canonicalId(parentHint)] : [])].join("|");
}

/** One event for one page, as recorded (a webhook event, or a page a targeted run found to look at). */
export interface DirtyEntry {
  pageId: string;
  timestamp: string;
  parentHint?: string | null;
}

export function addDirtyOps(base: string, entries: DirtyEntry[]): KvOp[] {
  const byShard = new Map<string, string[]>();
  for (const e of entries) {
    const key = shardKey(base, e.pageId);
    byShard.set(key, [...(byShard.get(key) ?? []), dirtyMember(e.pageId, e.timestamp, e.parentHint)]);
  }
  return [...byShard].map(([key, members]) => ({ op: "sadd", key, members }));
}

export function removeDirtyOps(base: string, page: Pick<DirtyPage, "id" | "members">): KvOp[] {
  return page.members.length === 0 ? [] : [{ op: "srem", key: shardKey(base, page.id), members: page.members }];
}

function parseMember(member: string): { id: string; at: number; parent: string | null } | null {
  const [id, timestamp, parent] = member.split("|");
  const at = Date.parse(timestamp ?? "");
  if (!id || !Number.isFinite(at)) return null;
  return { id, at, parent: parent || null };
}

/** Every dirty page, oldest event first (one SMEMBERS per shard, sent together). Unparseable members come back as their own page to be removed. */
export async function readDirty(
  kv: KvStore,
  base: string,
): Promise<{ pages: DirtyPage[]; junk: { key: string; members: string[] }[] }> {
  const keys = Array.from({ length: SET_SHARDS }, (_, i) => `${base}:${i}`);
  const shards = await Promise.all(keys.map((key) => kv.smembers(key)));
  const pages = new Map<string, DirtyPage>();
  const junk: { key: string; members: string[] }[] = [];
  shards.forEach((members, i) => {
    const bad: string[] = [];
    for (const member of members) {
      const parsed = parseMember(member);
      if (!parsed) {
        bad.push(member);
        continue;
      }
      const page = pages.get(parsed.id) ?? { id: parsed.id, newest: 0, members: [], parentHint: null };
      page.members.push(member);
      page.newest = Math.max(page.newest, parsed.at);
      page.parentHint = parsed.parent ?? page.parentHint;
      pages.set(parsed.id, page);
    }
    if (bad.length > 0) junk.push({ key: keys[i], members: bad });
  });
  return { pages: [...pages.values()].sort((a, b) => a.newest - b.newest), junk };
}

/** Members in the dirty set (events not yet handled; one page may have several). */
export async function dirtySize(kv: KvStore, base: string): Promise<number> {
  const counts = await Promise.all(Array.from({ length: SET_SHARDS }, (_, i) => kv.scard(`${base}:${i}`)));
  return counts.reduce((a, b) => a + b, 0);
}
