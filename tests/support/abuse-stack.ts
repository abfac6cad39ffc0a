/**
 * The stack of tests/reliability/abuse.test.ts: like qstash-stack.ts (the
 * real `next start`, the QStash emulator delivering through the recording
 * tap, the Notion emulator, a real redis-server) but with every secret set
 * to a distinct, recognisable value, so a grep of logs and answers can tell
 * whether any of them leaked:
 *
 * - redis-server requires a password (REDIS_URL carries it);
 * - QStash's signing keys have been rotated once: the emulator signs with
 *   the key the app knows as QSTASH_NEXT_SIGNING_KEY, so every delivery of
 *   the whole run is accepted through the next key only;
 * - CRON_SECRET, the Notion token and the QStash token are unique strings.
 *
 * It also reads the database as a whole (every key of every type, and
 * redis' own count of changes), for "nothing was written" checks.
 */
import { createClient } from "redis";
import { createKeys, type KeyBuilder } from "../../lib/kv/keys";
import { createRedisStore } from "../../lib/kv/redis";
import type { KvStore } from "../../lib/kv/store";
import { type Cursor, parseCursor } from "../../lib/sync/cursor";
import type { Section } from "../../lib/core/sections";
import { type GenerateOptions, generateWorkspace } from "../../scripts/emulator/notion/generate";
import { type NotionEmulator, startNotionEmulator } from "../../scripts/emulator/notion/server";
import { compareKvWithWorkspace } from "../../scripts/emulator/notion/verify";
import type { Workspace } from "../../scripts/emulator/notion/workspace";
import { type QStashEmulator, startQStashEmulator } from "../../scripts/emulator/qstash/server";
import { type NextApp, startNextApp } from "../../scripts/lib/next-app";
import { type Tap, startTap } from "./qstash-stack";
import { startRedisServer } from "./redis-server";

/** Every secret the stack configures: none of them may ever appear in a log line or an answer. */
export const ABUSE_SECRETS = {
  cronSecret: "abuse-cron-secret-Q7v2Lx9pR4mT8wKz",
  notionToken: "ntn_abuse_notion_token_5Hs3Jd8Fq1Wc",
  qstashToken: "qstash_abuse_token_9Pb6Ny2Vr7Ke",
  /** The app's QSTASH_CURRENT_SIGNING_KEY: the key QStash signed with before the rotation. */
  oldCurrentSigningKey: "sig_abuse_old_current_3Ft8Gm1Zx6Qa",
  /** The app's QSTASH_NEXT_SIGNING_KEY, which QStash signs with since the rotation. */
  nextSigningKey: "sig_abuse_rotated_next_4Rw9Hc2Yn5Lb",
  /** QStash's new next key (the app does not know it yet). */
  newNextSigningKey: "sig_abuse_new_next_8Kd1Ts6Vp3Jm",
  redisPassword: "abuse-redis-pw-2Xq7Bn4Mc9Te",
} as const;

export interface DbState {
  /** Every key of the database with its type and value (sets sorted). */
  snapshot: Record<string, string>;
  /** INFO persistence rdb_changes_since_last_save: redis' count of writes (the server never saves). */
  changes: number;
}

export interface AbuseStack {
  notion: NotionEmulator;
  workspace: Workspace;
  qstash: QStashEmulator;
  kv: KvStore;
  keys: KeyBuilder;
  tap: Tap;
  app: NextApp;
  /** SYNC_BASE_URL: the tap, which QStash delivers to and signs for. */
  baseUrl: string;
  env: Record<string, string>;
  /** The REDIS_URL the app got (password included). */
  redisUrl: string;
  cursor(section: Section): Promise<Cursor | null>;
  dbState(): Promise<DbState>;
  diffKv(): Promise<string[]>;
  close(): Promise<void>;
}

export async function startAbuseStack(
  options: { workspace?: GenerateOptions; env?: Record<string, string> } = {},
): Promise<AbuseStack> {
  const cleanups: Array<() => Promise<void>> = [];
  const closeAll = async () => {
    while (cleanups.length > 0) await cleanups.pop()!().catch(() => {});
  };
  try {
    const workspace = generateWorkspace(options.workspace ?? { pages: 30, posts: 20, hugePages: 1 });
    const notion = await startNotionEmulator({ workspace, ratePerSecond: 100, token: ABUSE_SECRETS.notionToken });
    cleanups.push(() => notion.close());
    const redis = await startRedisServer();
    cleanups.push(() => redis.stop());
    const redisUrl = `redis://:${ABUSE_SECRETS.redisPassword}@127.0.0.1:${redis.port}`;
    const admin = createClient({ url: redis.url, RESP: 2 });
    admin.on("error", () => {});
    await admin.connect();
    await admin.configSet("requirepass", ABUSE_SECRETS.redisPassword);
    await admin.disconnect().catch(() => {});
    const raw = createClient({ url: redisUrl, RESP: 2 });
    raw.on("error", () => {});
    await raw.connect();
    cleanups.push(async () => void (await raw.disconnect()));
    const kv = createRedisStore({ url: redisUrl });
    cleanups.push(() => kv.close());
    const qstash = await startQStashEmulator({
      token: ABUSE_SECRETS.qstashToken,
      currentSigningKey: ABUSE_SECRETS.nextSigningKey,
      nextSigningKey: ABUSE_SECRETS.newNextSigningKey,
      delayScale: 0.02,
      retryBackoffMs: (n) => 100 * 2 ** n,
    });
    cleanups.push(() => qstash.close());
    const tap = await startTap();
    cleanups.push(() => tap.close());

    const prefix = "abuse";
    const env: Record<string, string> = {
      CRON_SECRET: ABUSE_SECRETS.cronSecret,
      NOTION_API_KEY: ABUSE_SECRETS.notionToken,
      NOTION_PAGES_DB: workspace.pagesDatabaseId,
      NOTION_POSTS_DB: workspace.postsDatabaseId,
      NOTION_BASE_URL: notion.url,
      NOTION_RATE_PER_MIN: "1800",
      REDIS_URL: redisUrl,
      KV_PREFIX: prefix,
      SYNC_BUDGET_MS: "2000",
      QSTASH_URL: qstash.url,
      QSTASH_TOKEN: ABUSE_SECRETS.qstashToken,
      QSTASH_CURRENT_SIGNING_KEY: ABUSE_SECRETS.oldCurrentSigningKey,
      QSTASH_NEXT_SIGNING_KEY: ABUSE_SECRETS.nextSigningKey,
      SYNC_BASE_URL: tap.url,
      ...options.env,
    };
    const app = await startNextApp(env);
    cleanups.push(() => app.stop());
    tap.setUpstream(app.url);
    const keys = createKeys(prefix);

    return {
      notion,
      workspace,
      qstash,
      kv,
      keys,
      tap,
      app,
      baseUrl: tap.url,
      env,
      redisUrl,
      async cursor(section) {
        const loaded = parseCursor(await kv.get(keys.cursor(section)));
        return loaded.kind === "ok" ? loaded.cursor : null;
      },
      async dbState() {
        const info = await raw.info("persistence");
        const changes = Number(/rdb_changes_since_last_save:(\d+)/.exec(info)?.[1] ?? NaN);
        const read = async (key: string, type: string): Promise<unknown> => {
          if (type === "string") return raw.get(key);
          if (type === "set") return (await raw.sMembers(key)).map(String).sort();
          if (type === "hash") return raw.hGetAll(key);
          if (type === "list") return raw.lRange(key, 0, -1);
          if (type === "zset") return raw.zRangeWithScores(key, 0, -1);
          return `(${type})`;
        };
        // Every key's reads sent at once (one pipeline), not one round trip after another.
        const names = (await raw.keys("*")).map(String).sort();
        const types = (await Promise.all(names.map((key) => raw.type(key)))).map(String);
        const values = await Promise.all(names.map((key, i) => read(key, types[i])));
        const snapshot: Record<string, string> = {};
        names.forEach((key, i) => (snapshot[key] = `${types[i]}:${JSON.stringify(values[i])}`));
        return { snapshot, changes };
      },
      diffKv: () => compareKvWithWorkspace(kv, keys, workspace, Number(env.SYNC_CHILD_DEPTH ?? 5)),
      close: closeAll,
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}
