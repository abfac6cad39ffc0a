/**
 * `npm run doctor` / `notion-kv-sync doctor`: checks a setup and says what
 * to fix, one line per check. Variables first (no network), then KV, Notion
 * and QStash, each bounded by a timeout. No message carries a secret value:
 * they are built from names, and the printer scrubs every secret-looking
 * variable's value besides.
 */
import { ConfigError, readSyncSettings } from "../config";
import { createKvStore } from "../kv/backend";
import { createKeys } from "../kv/keys";
import type { QStashConfig } from "../qstash/config";
import type { Workspace } from "../workspace/types";
import { failureKind } from "./failure";
import { checkWebhookToken, probeKv } from "./kv";
import { checkNotionToken, checkSection, notionClient } from "./notion";
import { checkQStashToken } from "./qstash";
import {
  checkCronSecret,
  checkKvVariables,
  checkQStashVariables,
  checkSections,
  checkSyncSettings,
  checkWebhookSettings,
  notionTokenProblem,
} from "./settings";
import { type DoctorCheck, type DoctorOptions, type DoctorReport, type Env, fail } from "./types";

export type { DoctorCheck, DoctorOptions, DoctorReport } from "./types";
export { MIN_CRON_SECRET_LENGTH } from "./settings";

const DEFAULT_TIMEOUT_MS = 5_000;

export async function runDoctor(env: Env, options: DoctorOptions = {}): Promise<DoctorReport> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const kvVariables = checkKvVariables(env);
  const sections = options.configError
    ? { check: configLoadFailure(options.configError, options.configFile), workspace: null }
    : checkSections(env, options.config, options.configFile);
  const qstash = checkQStashVariables(env);
  const webhookSettings = checkWebhookSettings(env);
  const [kv, notionChecks, qstashChecks] = await Promise.all([
    kvVariables.ok ? kvProbes(env, timeoutMs) : Promise.resolve({ probe: null, webhook: null }),
    notionProbes(env, sections.workspace, timeoutMs),
    qstashProbes(qstash.config, options.fetch ?? fetch, timeoutMs),
  ]);
  const checks = [
    checkSyncSettings(env),
    kvVariables,
    kv.probe,
    sections.check,
    ...notionChecks,
    checkCronSecret(env),
    ...qstash.checks,
    ...qstashChecks,
    webhookSettings,
    kv.webhook,
  ].filter((c): c is DoctorCheck => c !== null);
  return { checks, ok: checks.every((c) => c.ok) };
}

function configLoadFailure(error: unknown, file: string | undefined): DoctorCheck {
  if (error instanceof ConfigError)
    return fail("sections", `${file ? `${file}: ` : ""}${error.message}`, error.variables[0] ?? error.fields[0]);
  const name = error instanceof Error ? error.name : "error";
  const what = file ?? "the config file";
  return fail("sections", `${what} could not be loaded (${name}): \`npx tsx ${what}\` shows why`, file);
}

/** The probe, then (KV answering) the webhook token's state; the store is closed after. */
async function kvProbes(
  env: Env,
  timeoutMs: number,
): Promise<{ probe: DoctorCheck | null; webhook: DoctorCheck | null }> {
  let prefix: string;
  try {
    prefix = readSyncSettings(env).kvPrefix;
  } catch {
    return { probe: null, webhook: null }; // the sync settings check names the variable
  }
  const kv = createKvStore(env);
  const keys = createKeys(prefix);
  try {
    const probe = await probeKv(kv, keys, env, timeoutMs);
    return { probe, webhook: probe.ok ? await checkWebhookToken(kv, keys, env, timeoutMs) : null };
  } finally {
    await kv.close().catch(() => {});
  }
}

async function notionProbes(env: Env, workspace: Workspace | null, timeoutMs: number): Promise<DoctorCheck[]> {
  const problem = notionTokenProblem(env);
  if (problem) return [fail("Notion token", problem, "NOTION_API_KEY")];
  const client = notionClient(env, timeoutMs);
  const token = await checkNotionToken(client, env);
  const specs = workspace?.databaseSections ?? [];
  if (!token.ok)
    return [
      token,
      ...specs.map((s) => fail(`section ${s.name}`, "not checked: Notion did not accept the token", token.variable)),
    ];
  return [token, ...(await Promise.all(specs.map((spec) => checkSection(client, spec, env, workspace!.origin))))];
}

async function qstashProbes(
  config: QStashConfig | null,
  fetchFn: typeof fetch,
  timeoutMs: number,
): Promise<DoctorCheck[]> {
  if (!config) return [];
  try {
    return [await checkQStashToken(config, fetchFn, timeoutMs)];
  } catch (error) {
    return [fail("QStash token", `the check failed: ${failureKind(error)}`, "QSTASH_URL")];
  }
}

const SECRET_NAME = /TOKEN|SECRET|KEY|PASSWORD|CREDENTIAL/i;
const URL_NAME = /(^|_)URL$/;

/** Every value that must never be printed: secret-named variables, and the user and password inside URLs. */
function secretsOf(env: Env): string[] {
  const found = new Set<string>();
  for (const [name, raw] of Object.entries(env)) {
    const value = raw?.trim();
    if (!value) continue;
    if (SECRET_NAME.test(name)) found.add(value);
    if (URL_NAME.test(name)) {
      try {
        const url = new URL(value);
        for (const part of [url.username, url.password, decodeURIComponent(url.password)]) if (part) found.add(part);
      } catch {
        // not a URL: nothing inside to hide
      }
    }
  }
  return [...found].filter((s) => s.length >= 6).sort((a, b) => b.length - a.length);
}

export function scrubSecrets(text: string, env: Env): string {
  let out = text;
  for (const secret of secretsOf(env)) out = out.split(secret).join("…");
  return out;
}

/** One line per check, ✓ or ✗, then a summary; secrets scrubbed. */
export function formatDoctorReport(report: DoctorReport, env: Env): string {
  const width = Math.max(...report.checks.map((c) => c.name.length));
  const lines = report.checks.map((c) => `${c.ok ? "✓" : "✗"} ${c.name.padEnd(width)}  ${c.message}`);
  const failed = report.checks.filter((c) => !c.ok).length;
  lines.push(
    "",
    failed === 0 ? `all ${report.checks.length} checks passed` : `${failed} of ${report.checks.length} checks failed`,
  );
  return scrubSecrets(`${lines.join("\n")}\n`, env);
}
