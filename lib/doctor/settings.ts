/** The checks that need no network: each variable present and well formed. */
import { ConfigError, readSyncSettings } from "../config";
import { publicBaseUrl } from "../core/base-url";
import { resolveKvBackend } from "../kv/backend";
import { type QStashConfig, QStashConfigError, readQStashConfig } from "../qstash/config";
import { readWebhookSettings } from "../webhooks/settings";
import { resolveWorkspace } from "../workspace/resolve";
import type { Workspace } from "../workspace/types";
import { type DoctorCheck, type Env, fail, pass } from "./types";

/** No minimum is enforced by the routes; this one is what `openssl rand -base64 32` (44 characters) clears. */
export const MIN_CRON_SECRET_LENGTH = 32;

const set = (env: Env, name: string): string | undefined => env[name]?.trim() || undefined;

/** The variables a ConfigError names, else its config fields, for the check's `variable`. */
const culprit = (error: ConfigError): string | undefined =>
  [...error.variables, ...error.fields].join(", ") || undefined;

export function checkSyncSettings(env: Env): DoctorCheck {
  try {
    const settings = readSyncSettings(env);
    const chain = settings.chain === "qstash" && !set(env, "QSTASH_TOKEN");
    if (chain) return fail("sync settings", "SYNC_CHAIN=qstash but QSTASH_TOKEN is not set", "QSTASH_TOKEN");
    return pass(
      "sync settings",
      `chain ${settings.chain}, content ${settings.content}, KV prefix ${settings.kvPrefix}`,
    );
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return fail("sync settings", error.message, culprit(error));
  }
}

/** Which KV the environment names; the file store only when KV_FILE_DIR asks for it (a deployment needs a shared one). */
export function checkKvVariables(env: Env): DoctorCheck {
  try {
    const config = resolveKvBackend(env);
    if (config.kind === "vercel-kv") return pass("KV variables", `Upstash REST (${config.variables.join(", ")})`);
    if (config.kind === "redis") return pass("KV variables", `a Redis server (${config.variable})`);
    if (set(env, "KV_FILE_DIR"))
      return pass("KV variables", "the local file store (KV_FILE_DIR): fine here, not on Vercel");
    return fail(
      "KV variables",
      "no KV store configured: set KV_REST_API_URL and KV_REST_API_TOKEN (Vercel KV), UPSTASH_REDIS_REST_URL and " +
        "UPSTASH_REDIS_REST_TOKEN (Upstash console) or REDIS_URL (KV_FILE_DIR: the local file store on purpose)",
      "KV_REST_API_URL",
    );
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return fail("KV variables", error.message, culprit(error));
  }
}

/** Integration tokens start with ntn_ (secret_ before September 2024) and hold no blank or quote. */
export function notionTokenProblem(env: Env): string | null {
  const token = set(env, "NOTION_API_KEY");
  if (!token) return "NOTION_API_KEY is not set: the integration's token (Notion → Settings → Integrations)";
  if (/[\s"']/.test(token)) return "NOTION_API_KEY holds a blank or a quote: paste the token alone";
  if (!/^(ntn_|secret_)/.test(token))
    return "NOTION_API_KEY does not look like an integration token (ntn_… or secret_…)";
  return null;
}

export function checkCronSecret(env: Env): DoctorCheck {
  const secret = set(env, "CRON_SECRET");
  if (!secret)
    return fail(
      "CRON_SECRET",
      "CRON_SECRET is not set: the sync endpoints and the dashboard stay closed (openssl rand -base64 32)",
      "CRON_SECRET",
    );
  if (secret.length < MIN_CRON_SECRET_LENGTH)
    return fail(
      "CRON_SECRET",
      `CRON_SECRET has ${secret.length} characters, fewer than ${MIN_CRON_SECRET_LENGTH}: it signs links and opens the dashboard (openssl rand -base64 32)`,
      "CRON_SECRET",
    );
  return pass("CRON_SECRET", `set, ${secret.length} characters`);
}

export type SectionsOutcome = { check: DoctorCheck; workspace: Workspace | null };

const ENV_ID = /^(?:[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i;

/** The workspace the app would build (config file, else NOTION_PAGES_DB / NOTION_POSTS_DB). */
export function checkSections(env: Env, config: unknown, configFile: string | undefined): SectionsOutcome {
  const source = configFile ?? "NOTION_PAGES_DB / NOTION_POSTS_DB";
  let workspace: Workspace;
  try {
    workspace = resolveWorkspace(config, env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return { check: fail("sections", `${source}: ${error.message}`, culprit(error)), workspace: null };
  }
  if (workspace.sections.length === 0)
    return {
      check: fail(
        "sections",
        "no section configured: set NOTION_POSTS_DB and/or NOTION_PAGES_DB (database ids), or add notion-kv-sync.config.ts",
        "NOTION_POSTS_DB",
      ),
      workspace: null,
    };
  // Without a config file the ids are used as they are: a pasted URL would reach Notion as a bad id.
  for (const spec of workspace.databaseSections) {
    const id = "databaseId" in spec.source ? spec.source.databaseId : spec.source.dataSourceId;
    if (workspace.origin === "env" && !ENV_ID.test(id))
      return {
        check: fail(
          "sections",
          `${spec.sourceOrigin} must be a database id (32 hex digits, dashes allowed)`,
          spec.sourceOrigin,
        ),
        workspace: null,
      };
  }
  return { check: pass("sections", `${workspace.names.join(", ")} (from ${source})`), workspace };
}

export type QStashOutcome = { checks: DoctorCheck[]; config: QStashConfig | null };

/** QStash variables; without QSTASH_TOKEN QStash is off and the self-chain carries runs. */
export function checkQStashVariables(env: Env): QStashOutcome {
  let config: QStashConfig | null;
  try {
    config = readQStashConfig(env);
  } catch (error) {
    if (!(error instanceof QStashConfigError)) throw error;
    return { checks: [fail("QStash variables", error.message, error.variables.join(", "))], config: null };
  }
  if (!config)
    return {
      checks: [pass("QStash variables", "QStash not configured (QSTASH_TOKEN unset): runs self-chain")],
      config,
    };
  return { checks: [pass("QStash variables", "QSTASH_TOKEN and both signing keys set"), checkBaseUrl(env)], config };
}

/** Where QStash delivers: on Vercel it must be known before any request (never VERCEL_URL). */
function checkBaseUrl(env: Env): DoctorCheck {
  const base = publicBaseUrl(env);
  if (base) {
    try {
      const url = new URL(base);
      if (url.protocol !== "https:" && url.protocol !== "http:") throw new Error("protocol");
      return pass("public URL", `QStash delivers to ${url.origin}`);
    } catch {
      return fail("public URL", "SYNC_BASE_URL is not an http(s) URL", "SYNC_BASE_URL");
    }
  }
  if (set(env, "VERCEL") || set(env, "VERCEL_ENV"))
    return fail(
      "public URL",
      "on Vercel, QStash needs the deployment's public URL: set SYNC_BASE_URL",
      "SYNC_BASE_URL",
    );
  return pass("public URL", "SYNC_BASE_URL unset: locally QStash delivers to the origin each request came in on");
}

const WEBHOOK_VARIABLES = [
  "NOTION_WEBHOOK_SECRET",
  "WEBHOOK_DEBOUNCE_S",
  "SITE_REVALIDATE_URL",
  "SITE_REVALIDATE_SECRET",
];

/** Only when one of the webhook or revalidation variables is set. */
export function checkWebhookSettings(env: Env): DoctorCheck | null {
  if (!WEBHOOK_VARIABLES.some((name) => set(env, name))) return null;
  try {
    const settings = readWebhookSettings(env);
    const site = settings.siteRevalidateUrl ? "; revalidates the site at SITE_REVALIDATE_URL" : "";
    return pass("webhook settings", `debounce ${settings.debounceS} s${site}`);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return fail("webhook settings", error.message, culprit(error));
  }
}
