/**
 * A set of page ids spread over SET_SHARDS Redis sets (`{base}:0` …
 * `{base}:15`), so that no single record grows with the database: 50,000 ids
 * are about 110 KB a shard, and a shard reaches 1 MB only past 400,000 ids.
 * A member always lives in the shard its text hashes to, so membership,
 * difference and count work shard by shard.
 */
import type { KvOp, KvStore } from "./store";

export const SET_SHARDS = 16;

/** FNV-1a over the member's text: spreads ids evenly, stable across processes. */
export function shardOf(member: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < member.length; i++) {
    hash ^= member.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % SET_SHARDS;
}

export function shardKeys(base: string): string[] {
  return Array.from({ length: SET_SHARDS }, (_, i) => `${base}:${i}`);
}

function byShard(members: string[]): Map<number, { member: string; at: number }[]> {
  const groups = new Map<number, { member: string; at: number }[]>();
  members.forEach((member, at) => {
    const shard = shardOf(member);
    const group = groups.get(shard) ?? [];
    group.push({ member, at });
    groups.set(shard, group);
  });
  return groups;
}

function ops(op: "sadd" | "srem", base: string, members: string[]): KvOp[] {
  return [...byShard(members)].map(([shard, group]) => ({
    op,
    key: `${base}:${shard}`,
    members: group.map((g) => g.member),
  }));
}

export const saddOps = (base: string, members: string[]): KvOp[] => ops("sadd", base, members);
export const sremOps = (base: string, members: string[]): KvOp[] => ops("srem", base, members);
export const delOps = (base: string): KvOp[] => shardKeys(base).map((key) => ({ op: "del", key }));

/** Membership of each member, in order (one SMISMEMBER per shard touched, sent together). */
export async function smismember(kv: KvStore, base: string, members: string[]): Promise<boolean[]> {
  const answer: boolean[] = members.map(() => false);
  await Promise.all(
    [...byShard(members)].map(async ([shard, group]) => {
      const found = await kv.smismember(
        `${base}:${shard}`,
        group.map((g) => g.member),
      );
      group.forEach((g, i) => (answer[g.at] = found[i]));
    }),
  );
  return answer;
}

export async function scard(kv: KvStore, base: string): Promise<number> {
  const counts = await Promise.all(shardKeys(base).map((key) => kv.scard(key)));
  return counts.reduce((a, b) => a + b, 0);
}

/** destination = members of `from` not in `minus`, shard by shard; returns its size. */
export async function sdiffstore(kv: KvStore, destination: string, from: string, minus: string): Promise<number> {
  const counts = await Promise.all(
    Array.from({ length: SET_SHARDS }, (_, i) =>
      kv.sdiffstore(`${destination}:${i}`, [`${from}:${i}`, `${minus}:${i}`]),
    ),
  );
  return counts.reduce((a, b) => a + b, 0);
}

/** Up to `count` distinct members, from the first shards that have any. */
export async function srandmember(kv: KvStore, base: string, count: number): Promise<string[]> {
  const out: string[] = [];
  for (const key of shardKeys(base)) {
    if (out.length >= count) break;
    out.push(...(await kv.srandmember(key, count - out.length)));
  }
  return out;
}
