/**
 * Every environment variable the product reads, with what it means: the source of the
 * generated table in docs/configuration.md (`npm run docs:env`). Defaults and accepted
 * values of the variables a schema parses (lib/config.ts, lib/webhooks/settings.ts) are
 * not written here: scripts/docs/env-table.ts asks the schema itself.
 * tests/unit/env-docs.test.ts fails when code reads a variable this list lacks.
 */
import { readSyncSettings, type SyncSettings } from "../../lib/config";
import { NOTION_VERSIONS } from "../../lib/notion/versions";
import { readWebhookSettings } from "../../lib/webhooks/settings";

export type Group =
  | "Notion"
  | "KV store"
  | "Secrets and auth"
  | "Sync engine"
  | "Carrying runs: QStash and the self-chain"
  | "Webhooks and revalidation"
  | "Files"
  | "Files mirror (S3 / Vercel Blob)"
  | "Content API"
  | "Config file and scripts"
  | "Set by the platform";

/** How code answers a variable's value: its default and what it accepts, asked of the parser itself. */
export interface Probe {
  /** The default, read from the parser's answer to an environment without the variable. */
  fallback: () => string;
  /** Parses an environment holding only `name=value`: for a value it refuses, its message says what is accepted. */
  parse: (name: string, value: string) => unknown;
  /** For a choice among words: each must parse (the generator checks it) and is listed as what is accepted. */
  values?: string[];
}

export interface Variable {
  name: string;
  group: Group;
  /** When it must be set (empty: never). */
  required?: string;
  /** The default when no probe asks the code for it. */
  fallback?: string;
  meaning: string;
  probe?: Probe;
  /** Read by a library, not by this repository's code (so no scan finds it). */
  readByLibrary?: boolean;
  /** Part of a contract another branch implements: documented before the code reads it. */
  pending?: string;
}

const sync = <T>(pick: (s: SyncSettings) => T, show: (v: T) => string = String): Probe => ({
  fallback: () => show(pick(readSyncSettings({}))),
  parse: (name, value) => readSyncSettings({ [name]: value }),
});

export const VARIABLES: Variable[] = [
  // Notion
  {
    name: "NOTION_API_KEY",
    group: "Notion",
    required: "yes",
    meaning: "the integration's token (`secret_…` / `ntn_…`)",
  },
  {
    name: "NOTION_PAGES_DB",
    group: "Notion",
    required: "without a config file",
    meaning: "database id of the pages database (its section exists only when set)",
  },
  {
    name: "NOTION_POSTS_DB",
    group: "Notion",
    required: "without a config file",
    meaning: "database id of the posts database (its section exists only when set)",
  },
  {
    name: "NOTION_BASE_URL",
    group: "Notion",
    fallback: "Notion's API",
    meaning: "API base URL (the emulator, a proxy)",
    probe: sync(
      (s) => s.notionBaseUrl,
      (v) => v ?? "Notion's API",
    ),
  },
  {
    name: "NOTION_VERSION",
    group: "Notion",
    meaning:
      "the Notion API version every request sends (`Notion-Version`): what each changes is in [architecture.md](architecture.md#api-versions)",
    probe: {
      ...sync(
        (s) => s.notionVersion,
        (v) => `\`${v}\``,
      ),
      values: [...NOTION_VERSIONS],
    },
  },
  {
    name: "NOTION_RATE_PER_MIN",
    group: "Notion",
    meaning: "Notion requests per minute for the integration, all sections together (Notion allows about 180)",
    probe: sync((s) => s.notionRatePerMin),
  },
  // KV store
  {
    name: "KV_REST_API_URL",
    group: "KV store",
    required: "one KV store",
    meaning:
      "Upstash / Vercel KV over REST (`@vercel/kv`), as Vercel's KV integration names it; with `KV_REST_API_TOKEN`",
  },
  { name: "KV_REST_API_TOKEN", group: "KV store", required: "with `KV_REST_API_URL`", meaning: "its token" },
  {
    name: "UPSTASH_REDIS_REST_URL",
    group: "KV store",
    required: "one KV store",
    meaning:
      "the same, as the Upstash console names it; with `UPSTASH_REDIS_REST_TOKEN` (the `KV_REST_API_*` pair wins when both are set)",
  },
  {
    name: "UPSTASH_REDIS_REST_TOKEN",
    group: "KV store",
    required: "with `UPSTASH_REDIS_REST_URL`",
    meaning: "its token",
  },
  { name: "REDIS_URL", group: "KV store", required: "one KV store", meaning: "a Redis server (`redis` client)" },
  {
    name: "KV_URL",
    group: "KV store",
    meaning: "a Redis URL as Vercel's KV integration also sets it; used when neither REST pair nor `REDIS_URL` is set",
  },
  {
    name: "KV_FILE_DIR",
    group: "KV store",
    fallback: "`.data`",
    meaning:
      "the embedded file store when no other store is set; refused on Vercel (`VERCEL=1` or `VERCEL_ENV=production`), and under `NODE_ENV=production` (`next start`) unless set explicitly (a misspelled `REDIS_URL` must not fall back to a per-instance file)",
  },
  {
    name: "KV_PREFIX",
    group: "KV store",
    meaning: "prefix of every key",
    probe: sync(
      (s) => s.kvPrefix,
      (v) => `\`${v}\``,
    ),
  },
  // Secrets and auth
  {
    name: "CRON_SECRET",
    group: "Secrets and auth",
    required: "yes",
    meaning:
      "bearer of Vercel's crons and of `?secret=` manual URLs; keys signed links, chain links, dashboard sessions and (by default) file refs; unset → every sync route answers 503",
  },
  // Sync engine
  {
    name: "SYNC_BUDGET_MS",
    group: "Sync engine",
    meaning:
      "work per invocation, from the request's start (the rest of the 30 s is for the last commit, the publish and the lease release)",
    probe: sync((s) => s.budgetMs),
  },
  {
    name: "SYNC_CONCURRENCY",
    group: "Sync engine",
    meaning: "pages fetched at once",
    probe: sync((s) => s.concurrency),
  },
  {
    name: "SYNC_CHILD_DEPTH",
    group: "Sync engine",
    meaning: "how deep child pages are followed (a section's `childDepth` overrides it)",
    probe: sync((s) => s.childDepth),
  },
  {
    name: "SYNC_CHILD_FULL_CHECK_HOURS",
    group: "Sync engine",
    meaning:
      "hours between two full checks of the child pages (0: always full); in between, search finds the edited ones",
    probe: sync((s) => s.childFullCheckHours),
  },
  {
    name: "SYNC_FULL_LIST_HOURS",
    group: "Sync engine",
    meaning:
      "hours between two full listings of a database section (0: always full); in between, a run lists only the rows edited since the last one, and deletions, unshares and unpublished rows wait for the next full listing (or a webhook)",
    probe: sync((s) => s.fullListHours),
  },
  {
    name: "SYNC_MAX_DELETE_RATIO",
    group: "Sync engine",
    meaning: "largest share of a section's indexed pages one unforced run may remove; more ends the run `held`",
    probe: sync((s) => s.maxDeleteRatio),
  },
  {
    name: "SYNC_MIN_FORCE_INTERVAL_S",
    group: "Sync engine",
    meaning:
      "seconds between two forced-run starts of a section, and between two trigger calls (0: no limit); sooner answers 429 with `Retry-After`",
    probe: sync((s) => s.minForceIntervalS),
  },
  {
    name: "SYNC_STALL_AFTER",
    group: "Sync engine",
    meaning: "invocations in a row that meet errors and make no progress before the run shows as `stalled`",
    probe: sync((s) => s.stallAfter),
  },
  {
    name: "SYNC_STALL_BACKOFF_S",
    group: "Sync engine",
    meaning:
      "seconds a stalled run's chain waits before each retry, one invocation each, the last repeating (tests use `1`)",
    probe: sync(
      (s) => s.stallBackoffMs,
      (v) => `\`${v.map((ms) => ms / 1000).join(",")}\``,
    ),
  },
  {
    name: "SYNC_CONTENT",
    group: "Sync engine",
    meaning:
      "how page content is read: `blocks` (the block tree) or `markdown` (one request a page); a section's `content` overrides it ([content.md](content.md#content-modes))",
    probe: {
      ...sync(
        (s) => s.content,
        (v) => `\`${v}\``,
      ),
      values: ["blocks", "markdown"],
    },
  },
  {
    name: "SYNC_LOG",
    group: "Sync engine",
    fallback: "on",
    meaning: "`off` silences the one-line JSON logs",
  },
  // Carrying runs
  {
    name: "SYNC_CHAIN",
    group: "Carrying runs: QStash and the self-chain",
    meaning:
      "who carries a run to its next step: `auto` (QStash when configured, else `self`), `self`, `qstash`, `off`",
    probe: {
      ...sync(
        (s) => s.chain,
        (v) => `\`${v}\``,
      ),
      values: ["auto", "qstash", "self", "off"],
    },
  },
  {
    name: "SYNC_MAX_CHAIN",
    group: "Carrying runs: QStash and the self-chain",
    meaning: "self-chain links one cron tick or call may start",
    probe: sync((s) => s.maxChain),
  },
  {
    name: "QSTASH_TOKEN",
    group: "Carrying runs: QStash and the self-chain",
    required: "for QStash",
    meaning: "publishing token; with it both signing keys are required",
  },
  {
    name: "QSTASH_CURRENT_SIGNING_KEY",
    group: "Carrying runs: QStash and the self-chain",
    required: "with `QSTASH_TOKEN`",
    meaning: "verifies deliveries",
  },
  {
    name: "QSTASH_NEXT_SIGNING_KEY",
    group: "Carrying runs: QStash and the self-chain",
    required: "with `QSTASH_TOKEN`",
    meaning: "verifies deliveries after a key rotation",
  },
  {
    name: "QSTASH_URL",
    group: "Carrying runs: QStash and the self-chain",
    required: "outside QStash's default region",
    fallback: "`https://qstash.upstash.io`",
    meaning:
      "the QStash endpoint of your region (the console shows it beside the token, e.g. `https://qstash-us-east-1.upstash.io`; each region has its own keys), or the local test server",
  },
  {
    name: "SYNC_BASE_URL",
    group: "Carrying runs: QStash and the self-chain",
    required: "with QStash off Vercel",
    fallback: "`NEXT_PUBLIC_SITE_URL`, then `https://$VERCEL_PROJECT_PRODUCTION_URL` (never `VERCEL_URL`)",
    meaning: "the public URL QStash and the self-chain deliver to and sign",
  },
  {
    name: "NEXT_PUBLIC_SITE_URL",
    group: "Carrying runs: QStash and the self-chain",
    meaning: "the site's public URL: used as the base URL when `SYNC_BASE_URL` is unset",
  },
  {
    name: "VERCEL_AUTOMATION_BYPASS_SECRET",
    group: "Carrying runs: QStash and the self-chain",
    required: "behind Deployment Protection",
    meaning: "sent by self-chain links as `x-vercel-protection-bypass`",
  },
  {
    name: "SYNC_INLINE_FALLBACK",
    group: "Carrying runs: QStash and the self-chain",
    meaning:
      "`1`: `/api/sync/trigger` without QStash runs one batch of each section inline (else 503 `qstash_not_configured`)",
  },
  {
    name: "QSTASH_DEV",
    group: "Carrying runs: QStash and the self-chain",
    readByLibrary: true,
    meaning: "never set it: it makes the QStash SDK download a dev server and ignore your keys",
  },
  // Webhooks
  {
    name: "NOTION_WEBHOOK_SECRET",
    group: "Webhooks and revalidation",
    fallback: "the stored token",
    meaning: "the webhook subscription's verification token; overrides the one the handshake stored in KV",
  },
  {
    name: "WEBHOOK_DEBOUNCE_S",
    group: "Webhooks and revalidation",
    meaning:
      "one targeted run per window of this many seconds; without QStash the `after()` debounce is the smaller of this and half of `SYNC_BUDGET_MS`",
    probe: {
      fallback: () => String(readWebhookSettings({}).debounceS),
      parse: (name, value) => readWebhookSettings({ [name]: value }),
    },
  },
  {
    name: "SITE_REVALIDATE_URL",
    group: "Webhooks and revalidation",
    meaning: "revalidate a site in another deployment (signed POST) instead of this app's `revalidateTag`",
  },
  {
    name: "SITE_REVALIDATE_SECRET",
    group: "Webhooks and revalidation",
    required: "with `SITE_REVALIDATE_URL`",
    meaning: "HMAC key of those POSTs (16+ characters)",
  },
  // Files
  {
    name: "FILES_REF_SECRET",
    group: "Files",
    fallback: "derived from `CRON_SECRET`",
    meaning:
      "key of the HMAC in file refs (`/api/files/<ref>`); set it to rotate refs apart from `CRON_SECRET` (rotating the key in use makes every ref already handed out 404)",
  },
  {
    name: "FILES_BASE_URL",
    group: "Files",
    fallback: "empty: origin-relative `/api/files/…`",
    meaning:
      "what the read API puts before `/api/files/<ref>`: this app's origin (`https://…`) when the site is served from another one",
  },
  // Files mirror (lib/files/store/from-env.ts).
  ...(
    [
      [
        "FILES_MIRROR",
        "",
        "`off`",
        "`s3`, `blob` or `off`: copy Notion-hosted files to a store of yours ([files-mirror.md](files-mirror.md))",
      ],
      ["S3_ENDPOINT", "", "AWS S3", "the S3-compatible endpoint (R2, MinIO, …)"],
      ["S3_BUCKET", "with `FILES_MIRROR=s3`", "", "the bucket the files are copied to"],
      ["S3_REGION", "without `S3_ENDPOINT`", "`auto` with `S3_ENDPOINT`", "the bucket's region"],
      ["S3_ACCESS_KEY_ID", "with `FILES_MIRROR=s3`", "", "access key"],
      ["S3_SECRET_ACCESS_KEY", "with `FILES_MIRROR=s3`", "", "its secret"],
      ["S3_FORCE_PATH_STYLE", "", "false", "path-style URLs (MinIO and most local servers)"],
      [
        "FILES_PUBLIC_BASE_URL",
        "with `FILES_MIRROR=s3`",
        "",
        "the public URL readers get objects from (a CDN or the bucket's public domain)",
      ],
      ["BLOB_READ_WRITE_TOKEN", "with `FILES_MIRROR=blob`", "", "the Vercel Blob store's token"],
      ["FILES_MAX_BYTES", "", "52428800 (50 MB)", "a larger file keeps Notion's URL (served by the file route)"],
      ["FILES_GC_DAYS", "", "7", "days an object no page references is kept before it is deleted"],
    ] as const
  ).map(([name, required, fallback, meaning]): Variable => ({
    name,
    group: "Files mirror (S3 / Vercel Blob)",
    ...(required ? { required } : {}),
    ...(fallback ? { fallback } : {}),
    meaning,
  })),
  {
    name: "VERCEL_BLOB_API_URL",
    group: "Files mirror (S3 / Vercel Blob)",
    readByLibrary: true,
    meaning: "read by `@vercel/blob` itself: another Blob API endpoint (tests)",
  },
  ...["NOTION_TOKEN", "NOTION_KEY", "NOTION_SECRET"].map((name): Variable => ({
    name,
    group: "Notion",
    meaning:
      "not read: a token set under this name is reported by `npm run doctor`, which points it at `NOTION_API_KEY`",
  })),
  // Content API
  {
    name: "CONTENT_API",
    group: "Content API",
    fallback: "`off`",
    meaning: "the content API (`/api/content`): `off` (404), `public`, `token`",
  },
  {
    name: "CONTENT_API_TOKEN",
    group: "Content API",
    required: "with `CONTENT_API=token`",
    meaning: "bearer the content API requires (at least 16 characters)",
  },
  {
    name: "CONTENT_CACHE_S_MAXAGE",
    group: "Content API",
    fallback: "60",
    meaning: "seconds a CDN keeps a public content answer (`s-maxage`, 0–31536000)",
  },
  {
    name: "CONTENT_CACHE_SWR",
    group: "Content API",
    fallback: "300",
    meaning: "seconds a CDN may serve it stale while refreshing (`stale-while-revalidate`, 0–31536000)",
  },
  // Config file and scripts
  {
    name: "NKS_CONFIG_FILE",
    group: "Config file and scripts",
    fallback: "`notion-kv-sync.config.ts`",
    meaning: "the config file bundled at build time (set it for `next build` and `next start` alike)",
  },
  {
    name: "NO_COLOR",
    group: "Config file and scripts",
    meaning: "any value: `kv:cursors` prints no colours (nor does it on a `TERM=dumb` or non-terminal output)",
  },
  // Set by the platform
  {
    name: "VERCEL",
    group: "Set by the platform",
    meaning: "`1` on Vercel: the file store is refused, and the base URL never falls back to the request's origin",
  },
  { name: "VERCEL_ENV", group: "Set by the platform", meaning: "as `VERCEL`" },
  {
    name: "VERCEL_PROJECT_PRODUCTION_URL",
    group: "Set by the platform",
    meaning: "the production domain: the base URL's last fallback",
  },
  {
    name: "NODE_ENV",
    group: "Set by the platform",
    meaning: "`production` (`next start`): the file store only with `KV_FILE_DIR` set explicitly",
  },
];

/** Names the scan finds that configure nothing, and why. */
export const NOT_CONFIGURATION: Record<string, string> = {
  TERM: "the terminal's own (`kv:cursors` prints no colours on `TERM=dumb`)",
  PATH: "passed on to child processes",
  HOME: "passed on to child processes",
  KV_REST_API_READ_ONLY_TOKEN: "set by Vercel's KV integration; never used, only scrubbed from `kv:cursors` output",
};
