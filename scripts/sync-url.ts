/**
 * npm run sync:url -- <section|trigger> [--force] [--ttl 15m] [--base URL]
 *
 * Prints a manual URL that opens one sync endpoint once, for a short time: a
 * `?token=` signed with CRON_SECRET (lib/auth/manual-link.ts) instead of the
 * secret itself, which would stay valid forever in whatever logs and browser
 * history the URL reaches. Only the URL goes to stdout (so `$(npm run -s
 * sync:url -- pages)` works); what it opens and until when go to stderr.
 * CRON_SECRET itself is never printed. Exits 2 on bad arguments or without
 * CRON_SECRET.
 */
import { parseArgs } from "node:util";
import { DEFAULT_LINK_TTL_MS, MAX_LINK_TTL_MS, isLinkTarget, manualLinkUrl } from "../lib/auth/manual-link";
import { publicBaseUrl } from "../lib/core/base-url";
import { declaredSectionNames } from "../lib/workspace/load";
import { loadEnvFiles } from "./lib/env-files";

const LOCAL_BASE = "http://localhost:3000";

// The env files first: the sections below may come from NOTION_PAGES_DB / NOTION_POSTS_DB in .env.local.
loadEnvFiles();

// The sections declared here (the config file, else NOTION_PAGES_DB / NOTION_POSTS_DB); null when the file does not parse.
const configured = declaredSectionNames(process.env);
const sectionList = configured?.length ? configured.join(", ") : "pages, posts, children or a configured name";

const HELP = `usage: npm run sync:url -- <section|trigger> [--force] [--ttl 15m] [--base URL]

Prints a one-time manual URL for a sync endpoint, signed with CRON_SECRET
(read from the environment; the secret itself is never printed).

  <target>       a section (${sectionList}): one batch of it,
                 or trigger (starts a run of every section)
  --force        the link asks force=1 (re-fetch everything); it cannot be
                 used without it, nor can an unforced link be forced
  --ttl DURATION how long the link works: 30s, 15m, 2h (default 15m, max 24h)
  --base URL     the deployment's URL; default SYNC_BASE_URL, NEXT_PUBLIC_SITE_URL,
                 https://$VERCEL_PROJECT_PRODUCTION_URL, else ${LOCAL_BASE}
  -h, --help     this text

The link works once: its nonce is recorded in KV when it is used.
Only the URL goes to stdout; details go to stderr.
`;

function usage(message: string): never {
  process.stderr.write(`sync:url: ${message}\n\n${HELP}`);
  process.exit(2);
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000 };

/** "30s", "15m", "2h" → milliseconds; null when not one of those or not within (0, 24 h]. */
function parseTtl(text: string): number | null {
  const match = /^(\d{1,6})([smh])$/.exec(text.trim());
  if (!match) return null;
  const ms = Number(match[1]) * UNIT_MS[match[2]];
  return ms > 0 && ms <= MAX_LINK_TTL_MS ? ms : null;
}

function parse() {
  try {
    return parseArgs({
      options: {
        force: { type: "boolean", default: false },
        ttl: { type: "string" },
        base: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
      allowPositionals: true,
    });
  } catch (error) {
    usage(error instanceof Error ? error.message : String(error));
  }
}

const { values, positionals } = parse();
if (values.help) {
  process.stdout.write(HELP);
  process.exit(0);
}
if (positionals.length !== 1)
  usage(positionals.length === 0 ? "which endpoint? give a target" : `one target only, got ${positionals.length}`);
const target = positionals[0];
if (!isLinkTarget(target)) usage(`unknown target "${target}": expected trigger or a section (${sectionList})`);
// The deployment may configure more than this shell knows of (its env differs): said, not refused.
if (target !== "trigger" && configured?.length && !configured.includes(target))
  process.stderr.write(`sync:url: "${target}" is not among the sections configured here (${configured.join(", ")})\n`);

const ttlMs = values.ttl === undefined ? DEFAULT_LINK_TTL_MS : parseTtl(values.ttl);
if (ttlMs === null)
  usage(`--ttl must be a number of s, m or h (30s, 15m, 2h), more than 0 and at most 24h; got "${values.ttl}"`);

const baseUrl = values.base?.trim() || publicBaseUrl(process.env) || LOCAL_BASE;
if (!/^https?:\/\/[^/]/i.test(baseUrl) || !URL.canParse(baseUrl))
  usage(`the base URL must be an http(s) URL; got "${baseUrl}"`);

const secret = process.env.CRON_SECRET?.trim();
if (!secret) {
  process.stderr.write(
    "sync:url: CRON_SECRET is not set: export the deployment's CRON_SECRET (the links are signed with it)\n",
  );
  process.exit(2);
}

const now = Date.now();
const url = manualLinkUrl(baseUrl, target, { force: values.force, ttlMs, secret, now });
process.stdout.write(`${url}\n`);
process.stderr.write(
  `sync:url: ${target}${values.force ? " (force=1)" : ""}, works once, until ${new Date(now + ttlMs).toISOString()}\n`,
);
