/**
 * Environment, parsed once per invocation with a schema. Two kinds of failure
 * are kept apart: a variable that is missing (the deployment is not set up:
 * 503 naming the variable) and one that is malformed (also 503: a retry will
 * not fix it). Messages name variables, never their values.
 */
import { z } from "zod";
import { DEFAULT_NOTION_VERSION, NOTION_VERSIONS, type NotionVersion } from "./notion/versions";

type Env = Record<string, string | undefined>;

export class ConfigError extends Error {
  readonly code = "config_error";
  constructor(
    message: string,
    /** Names of the variables at fault (never values). */
    readonly variables: string[],
    /** Config file fields at fault, as paths (`sections.blog.filter`). */
    readonly fields: string[] = [],
  ) {
    super(message);
    this.name = "ConfigError";
  }
}

const intInRange = (min: number, max: number, fallback: number) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === "") return fallback;
      const n = Number(v);
      if (!Number.isInteger(n) || n < min || n > max) {
        ctx.addIssue({ code: "custom", message: `must be an integer from ${min} to ${max}` });
        return z.NEVER;
      }
      return n;
    });

const SyncSettingsSchema = z.object({
  /**
   * Work stops being started this long after the request began. At most 25 s:
   * the last commit, the QStash publish (≤ 4 s) and the lease release must
   * still fit in maxDuration (30 s).
   */
  SYNC_BUDGET_MS: intInRange(500, 25_000, 20_000),
  SYNC_CONCURRENCY: intInRange(1, 10, 3),
  SYNC_CHILD_DEPTH: intInRange(0, 20, 5),
  /**
   * Child pages are checked for edits through Notion's search (sorted by last_edited_time),
   * which is incomplete and lags: every this many hours, and whenever a search fails, a run
   * retrieves every child page instead (0: always).
   */
  SYNC_CHILD_FULL_CHECK_HOURS: intInRange(0, 8760, 24),
  /**
   * Database sections list only the rows edited since their last run, which cannot see rows that
   * left without an edit (deleted, unshared, unpublished): every this many hours a run lists every
   * row instead (0: always).
   */
  SYNC_FULL_LIST_HOURS: intInRange(0, 8760, 24),
  /**
   * A run that would remove more than this share of a section's indexed pages
   * deletes nothing and ends "held" (a revoked share or a wrong database id
   * must never wipe a site); a forced run may go ahead.
   */
  SYNC_MAX_DELETE_RATIO: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === "") return 0.5;
      const n = Number(v);
      if (!Number.isFinite(n) || n < 0 || n > 1) {
        ctx.addIssue({ code: "custom", message: "must be a number from 0 to 1" });
        return z.NEVER;
      }
      return n;
    }),
  /** Seconds between two forced-run starts of a section, and between two trigger calls (0: no limit). */
  SYNC_MIN_FORCE_INTERVAL_S: intInRange(0, 86_400, 600),
  /** Invocations in a row that meet errors and make no progress before a run shows as "stalled". */
  SYNC_STALL_AFTER: intInRange(1, 100, 5),
  /**
   * Seconds a stalled run's chain waits before each retry, one invocation each (the last repeats).
   * Tests use short ones; on the self-chain a wait over 5 s is carried by the next invocation of any route.
   */
  SYNC_STALL_BACKOFF_S: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === "") return [60, 300, 900, 3600];
      const list = v.split(",").map((x) => Number(x.trim()));
      if (list.some((n) => !Number.isInteger(n) || n < 1 || n > 86_400)) {
        ctx.addIssue({ code: "custom", message: "must be a comma-separated list of seconds from 1 to 86400" });
        return z.NEVER;
      }
      return list;
    }),
  /**
   * Who carries a run from one invocation to the next: "qstash" (published
   * messages), "self" (each invocation calls its own section URL, answered at
   * once, the batch run in after()), "off" (only crons and manual calls);
   * "auto": qstash when configured, else self.
   */
  SYNC_CHAIN: z
    .enum(["auto", "qstash", "self", "off"])
    .optional()
    .or(z.literal("").transform(() => undefined))
    .transform((v) => v ?? "auto"),
  /** Self-chain links one cron tick (or manual call) may start, so a run never loops forever. */
  SYNC_MAX_CHAIN: intInRange(1, 100_000, 500),
  /**
   * How a page's content is read: "blocks" (the block tree, one request per
   * 100 blocks per level) or "markdown" (GET /pages/{id}/markdown, one request
   * a page; a truncated answer falls back to the block tree for that page).
   */
  SYNC_CONTENT: z
    .enum(["blocks", "markdown"])
    .optional()
    .or(z.literal("").transform(() => undefined))
    .transform((v) => v ?? "blocks"),
  /** Notion requests per minute for the whole integration (Notion allows ~180). */
  NOTION_RATE_PER_MIN: intInRange(1, 100_000, 170),
  KV_PREFIX: z
    .string()
    .optional()
    .transform((v) => (v && v.trim() ? v.trim() : "nks"))
    .refine((v) => /^[A-Za-z0-9_.-]{1,40}$/.test(v), "must be 1-40 characters of A-Z a-z 0-9 _ . -"),
  /** The Notion API version every request sends (Notion-Version header). */
  NOTION_VERSION: z
    .enum(NOTION_VERSIONS)
    .optional()
    .or(z.literal("").transform(() => undefined))
    .transform((v) => v ?? DEFAULT_NOTION_VERSION),
  NOTION_BASE_URL: z
    .url()
    .optional()
    .or(z.literal("").transform(() => undefined)),
});

export type SyncSettings = {
  budgetMs: number;
  concurrency: number;
  childDepth: number;
  childFullCheckHours: number;
  fullListHours: number;
  maxDeleteRatio: number;
  stallAfter: number;
  /** SYNC_STALL_BACKOFF_S in milliseconds. */
  stallBackoffMs: number[];
  minForceIntervalS: number;
  chain: "auto" | "qstash" | "self" | "off";
  maxChain: number;
  content: "blocks" | "markdown";
  notionRatePerMin: number;
  kvPrefix: string;
  notionBaseUrl: string | undefined;
  notionVersion: NotionVersion;
};

export function readSyncSettings(env: Env = process.env): SyncSettings {
  const parsed = SyncSettingsSchema.safeParse(env);
  if (!parsed.success) {
    const variables = [...new Set(parsed.error.issues.map((i) => String(i.path[0])))];
    const detail = parsed.error.issues.map((i) => `${String(i.path[0])} ${i.message}`).join("; ");
    throw new ConfigError(`invalid configuration: ${detail}`, variables);
  }
  const s = parsed.data;
  return {
    budgetMs: s.SYNC_BUDGET_MS,
    concurrency: s.SYNC_CONCURRENCY,
    childDepth: s.SYNC_CHILD_DEPTH,
    childFullCheckHours: s.SYNC_CHILD_FULL_CHECK_HOURS,
    fullListHours: s.SYNC_FULL_LIST_HOURS,
    maxDeleteRatio: s.SYNC_MAX_DELETE_RATIO,
    stallAfter: s.SYNC_STALL_AFTER,
    stallBackoffMs: s.SYNC_STALL_BACKOFF_S.map((n) => n * 1000),
    minForceIntervalS: s.SYNC_MIN_FORCE_INTERVAL_S,
    chain: s.SYNC_CHAIN,
    maxChain: s.SYNC_MAX_CHAIN,
    content: s.SYNC_CONTENT,
    notionRatePerMin: s.NOTION_RATE_PER_MIN,
    kvPrefix: s.KV_PREFIX,
    notionBaseUrl: s.NOTION_BASE_URL,
    notionVersion: s.NOTION_VERSION,
  };
}

export interface NotionSettings {
  token: string;
  pagesDatabaseId: string | undefined;
  postsDatabaseId: string | undefined;
}

/** The Notion variables a section needs; throws ConfigError naming the missing ones. */
export function readNotionSettings(
  env: Env,
  needs: { database?: "NOTION_PAGES_DB" | "NOTION_POSTS_DB" },
): NotionSettings {
  const missing: string[] = [];
  const token = env.NOTION_API_KEY?.trim();
  if (!token) missing.push("NOTION_API_KEY");
  if (needs.database && !env[needs.database]?.trim()) missing.push(needs.database);
  if (missing.length > 0) {
    throw new ConfigError(
      `missing environment variable${missing.length > 1 ? "s" : ""}: ${missing.join(", ")}`,
      missing,
    );
  }
  return {
    token: token!,
    pagesDatabaseId: env.NOTION_PAGES_DB?.trim() || undefined,
    postsDatabaseId: env.NOTION_POSTS_DB?.trim() || undefined,
  };
}
