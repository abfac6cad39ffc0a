/**
 * What a real redis-server has done, measured on the server itself (no proxy
 * in between): the counterpart of the Upstash bridge's stats() for the
 * `redis` backend, and for the redis-server behind the bridge.
 *
 *   const before = await readRedisStats(url);
 *   ... run something ...
 *   const used = diffRedisStats(before, await readRedisStats(url));
 *   used.commands, used.byCommand.set, used.netInputBytes ...
 *
 *   await largestValue(url, "nks:")  → the biggest record under a prefix
 *
 * Counters are server-wide: every client of that server is in them (the
 * bridge's own size checks too, see upstash-bridge.ts).
 */
import { createClient } from "redis";

export interface RedisStats {
  /** INFO stats total_net_input_bytes: bytes the server read from all its clients (RESP requests). */
  netInputBytes: number;
  /** INFO stats total_net_output_bytes: bytes the server wrote to all its clients (RESP replies). */
  netOutputBytes: number;
  /** INFO stats total_commands_processed. */
  commands: number;
  /**
   * INFO commandstats: calls per command, lower case as Redis names them,
   * subcommands as "client|setinfo". Commands never called are absent.
   */
  byCommand: Record<string, number>;
}

/** One reading, plus what taking it cost the server (so diffRedisStats can leave it out). */
export interface RedisStatsReading extends RedisStats {
  /** RESP bytes of the INFO request this reading sent, and of the reply it got. */
  readonly probe: { requestBytes: number; replyBytes: number };
}

/** One INFO call fetches both sections (several sections per INFO: Redis >= 7.0). */
const INFO_ARGS = ["INFO", "stats", "commandstats"];

/** Size of a command as the server reads it: a RESP array of bulk strings. */
function respCommandBytes(args: string[]): number {
  let n = Buffer.byteLength(`*${args.length}\r\n`);
  for (const a of args) {
    const len = Buffer.byteLength(a);
    n += Buffer.byteLength(`$${len}\r\n`) + len + 2;
  }
  return n;
}

/** A bare connection: RESP2 and no CLIENT SETINFO, so it adds no command of its own but INFO. */
async function connect(url: string) {
  const client = createClient({ url, RESP: 2, disableClientInfo: true });
  client.on("error", () => {});
  await client.connect();
  return client;
}

function parseInfo(text: string): { fields: Map<string, string>; byCommand: Record<string, number> } {
  const fields = new Map<string, string>();
  const byCommand: Record<string, number> = {};
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon <= 0 || line.startsWith("#")) continue;
    const name = line.slice(0, colon);
    const value = line.slice(colon + 1);
    if (name.startsWith("cmdstat_")) {
      const calls = /(?:^|,)calls=(\d+)/.exec(value);
      if (calls) byCommand[name.slice("cmdstat_".length)] = Number(calls[1]);
    } else {
      fields.set(name, value);
    }
  }
  return { fields, byCommand };
}

/**
 * The server's traffic counters now, read through a fresh connection (one
 * INFO command, nothing else: RESP2, no client-info handshake). A URL with a
 * password or a database adds its AUTH / SELECT, which diffRedisStats does
 * not leave out.
 */
export async function readRedisStats(url: string): Promise<RedisStatsReading> {
  const client = await connect(url);
  try {
    const text = String(await client.sendCommand(INFO_ARGS));
    const { fields, byCommand } = parseInfo(text);
    const num = (name: string) => {
      const v = fields.get(name);
      if (v === undefined) throw new Error(`redis-meter: INFO has no ${name} (is this a Redis server >= 7.0?)`);
      return Number(v);
    };
    const bodyBytes = Buffer.byteLength(text);
    return {
      netInputBytes: num("total_net_input_bytes"),
      netOutputBytes: num("total_net_output_bytes"),
      commands: num("total_commands_processed"),
      byCommand,
      // The reply is one RESP2 bulk string: $<len>\r\n<text>\r\n
      probe: {
        requestBytes: respCommandBytes(INFO_ARGS),
        replyBytes: Buffer.byteLength(`$${bodyBytes}\r\n`) + bodyBytes + 2,
      },
    };
  } finally {
    await client.close().catch(() => client.destroy());
  }
}

/**
 * What the server did between two readings, without the readings' own
 * traffic. Redis counts a command's request bytes when it reads it, but the
 * command itself and its reply bytes only after it ran; so between `before`
 * and `after` lie: before's INFO (its call and its reply) and after's INFO
 * request. Those are subtracted; everything else is other clients' work.
 */
export function diffRedisStats(before: RedisStatsReading, after: RedisStatsReading): RedisStats {
  const byCommand: Record<string, number> = {};
  for (const [name, calls] of Object.entries(after.byCommand)) {
    const n = calls - (before.byCommand[name] ?? 0) - (name === "info" ? 1 : 0);
    if (n > 0) byCommand[name] = n;
  }
  return {
    netInputBytes: after.netInputBytes - before.netInputBytes - after.probe.requestBytes,
    netOutputBytes: after.netOutputBytes - before.netOutputBytes - before.probe.replyBytes,
    commands: after.commands - before.commands - 1,
    byCommand,
  };
}

/** CONFIG RESETSTAT: zeroes the server's INFO stats and commandstats (for every client of the server). */
export async function resetRedisStats(url: string): Promise<void> {
  const client = await connect(url);
  try {
    await client.sendCommand(["CONFIG", "RESETSTAT"]);
  } finally {
    await client.close().catch(() => client.destroy());
  }
}

/**
 * The size of records, in bytes, computed in the server (nothing but the
 * numbers crosses the wire): a string's STRLEN; for a set, list or sorted set
 * the sum of its members' lengths; for a hash the sum of its fields' and
 * values' lengths; 0 for a missing key; -1 for another type (stream...).
 * One number per key in KEYS, in order. Used by the Upstash bridge's record
 * size limit too.
 */
export const RECORD_SIZE_LUA = `
local out = {}
for i, key in ipairs(KEYS) do
  local t = redis.call('TYPE', key)['ok']
  local n = 0
  local function sum(items) for _, m in ipairs(items) do n = n + #m end end
  if t == 'string' then n = redis.call('STRLEN', key)
  elseif t == 'set' then sum(redis.call('SMEMBERS', key))
  elseif t == 'list' then sum(redis.call('LRANGE', key, 0, -1))
  elseif t == 'zset' then sum(redis.call('ZRANGE', key, 0, -1))
  elseif t == 'hash' then sum(redis.call('HGETALL', key))
  elseif t ~= 'none' then n = -1
  end
  out[i] = n
end
return out
`;

/**
 * RECORD_SIZE_LUA for checking every write: the same for strings and small
 * collections, but a large set is estimated from a sample of 32 members
 * (SCARD × their mean length) instead of read whole, so a test server that
 * checks each SADD against the record limit does not slow down with the set.
 */
export const RECORD_SIZE_ESTIMATE_LUA = RECORD_SIZE_LUA.replace(
  "elseif t == 'set' then sum(redis.call('SMEMBERS', key))",
  `elseif t == 'set' then
    local c = redis.call('SCARD', key)
    if c <= 1000 then sum(redis.call('SMEMBERS', key))
    else
      local sample = redis.call('SRANDMEMBER', key, 32)
      local total = 0
      for _, m in ipairs(sample) do total = total + #m end
      n = math.floor(c * total / #sample)
    end`,
);

export interface LargestValue {
  /** The key holding the largest record (the first in key order on a tie). */
  key: string;
  /** Its size as RECORD_SIZE_LUA measures it: STRLEN, or the sum of the members' lengths. */
  bytes: number;
  /** Keys under the prefix that were measured, and the sum of their sizes. */
  keys: number;
  totalBytes: number;
}

const escapeGlob = (prefix: string) => prefix.replace(/[*?[\]\\]/g, "\\$&");

/**
 * The largest record among the keys `prefix*` (SCAN MATCH, the prefix taken
 * literally), or null when there is none. Keys of unmeasured types are skipped.
 */
export async function largestValue(url: string, prefix: string): Promise<LargestValue | null> {
  const client = await connect(url);
  try {
    const keys = new Set<string>();
    let cursor = "0";
    do {
      const reply = await client.scan(cursor, { MATCH: `${escapeGlob(prefix)}*`, COUNT: 1000 });
      for (const k of reply.keys) keys.add(String(k));
      cursor = String(reply.cursor);
    } while (cursor !== "0");
    const sorted = [...keys].sort();
    let best: LargestValue | null = null;
    let measured = 0;
    let total = 0;
    for (let i = 0; i < sorted.length; i += 200) {
      const batch = sorted.slice(i, i + 200);
      const sizes = (await client.eval(RECORD_SIZE_LUA, { keys: batch, arguments: [] })) as number[];
      sizes.forEach((raw, j) => {
        const bytes = Number(raw);
        if (bytes < 0) return;
        measured++;
        total += bytes;
        // Deleted between SCAN and EVAL: 0, and still not the largest unless all are empty.
        if (!best || bytes > best.bytes) best = { key: batch[j], bytes, keys: 0, totalBytes: 0 };
      });
    }
    if (!best) return null;
    return { ...(best as LargestValue), keys: measured, totalBytes: total };
  } finally {
    await client.close().catch(() => client.destroy());
  }
}
