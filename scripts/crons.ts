/**
 * npm run crons [-- --check] [--at HH:MM] [--every 6h] [--root DIR]
 *
 * Writes vercel.json's `crons` from the workspace (notion-kv-sync.config.ts,
 * or NKS_CONFIG_FILE, else NOTION_PAGES_DB / NOTION_POSTS_DB): one
 * `/api/sync/<name>` per section, 5 minutes apart in config order, children
 * last, daily; the first at the time vercel.json's first cron has (02:00 UTC
 * by default) unless --at says otherwise; --every (Pro plans only) repeats
 * each through the day. The rest of vercel.json, other crons included, is kept.
 * --check writes nothing and exits 1 with a diff when vercel.json disagrees.
 * Reads .env.local / .env like Next (shell variables win).
 * Exit codes: 0 ok, 1 out of date (--check), 2 usage or config error.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ConfigError } from "../lib/config";
import { loadEnvFiles } from "./lib/env-files";
import { loadSectionLayout } from "./lib/workspace-file";
import {
  CronUsageError,
  type CronOptions,
  DEFAULT_CRON_OPTIONS,
  cronDiff,
  cronSections,
  existingOptions,
  isSyncCron,
  parseAt,
  parseEvery,
  planCrons,
} from "./crons/plan";
import { readVercelJson, withCrons, writeVercelJson } from "./crons/vercel-json";

type Env = Record<string, string | undefined>;

export interface CronsCommand {
  check: boolean;
  root: string;
  /** What --at / --every asked for; the rest is kept from vercel.json, else the default. */
  options: Partial<CronOptions>;
}

export interface CronsOutcome {
  code: 0 | 1 | 2;
  lines: string[];
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

export function parseCronsArgs(argv: readonly string[], root: string = ROOT): CronsCommand {
  const command: CronsCommand = { check: false, root, options: {} };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new CronUsageError(`${arg} needs a value`);
      return v;
    };
    if (arg === "--check") command.check = true;
    else if (arg === "--at") command.options.startMinute = parseAt(value());
    else if (arg === "--every") command.options.everyHours = parseEvery(value());
    else if (arg === "--root") command.root = path.resolve(value());
    else throw new CronUsageError(`unknown option ${arg} (options: --check, --at HH:MM, --every 6h, --root DIR)`);
  }
  return command;
}

/** What `npm run crons` does, for the CLI and the tests. */
export async function runCrons(command: CronsCommand, env: Env): Promise<CronsOutcome> {
  const workspace = await loadSectionLayout(command.root, env);
  const sections = cronSections(workspace);
  const file = path.join(command.root, "vercel.json");
  const current = readVercelJson(file);
  const ours = current.crons.filter(isSyncCron);
  const options = { ...DEFAULT_CRON_OPTIONS, ...existingOptions(ours), ...command.options };
  const wanted = planCrons(sections, options);
  const diff = cronDiff(ours, wanted);
  const source = workspace.file ?? "the environment (no config file)";
  if (command.check) {
    if (diff.length === 0) return { code: 0, lines: [`vercel.json's crons match ${source}`] };
    return {
      code: 1,
      lines: [`vercel.json's crons disagree with ${source} (npm run crons rewrites them):`, ...diff],
    };
  }
  const others = current.crons.filter((c) => !isSyncCron(c));
  if (diff.length > 0) writeVercelJson(file, withCrons(current.text, [...others, ...wanted]));
  const verb = diff.length > 0 ? "wrote" : "kept";
  return { code: 0, lines: [`${verb} ${wanted.length} crons from ${source}:`, ...wanted.map(describe)] };
}

const describe = (c: { path: string; schedule: string }) => `  ${c.path}  "${c.schedule}"`;

/** `root`: this repository for `npm run crons`, the working directory for `npx notion-kv-sync crons`. */
export async function main(argv: readonly string[] = process.argv.slice(2), root: string = ROOT): Promise<number> {
  loadEnvFiles(root);
  try {
    const outcome = await runCrons(parseCronsArgs(argv, root), process.env);
    (outcome.code === 0 ? process.stdout : process.stderr).write(outcome.lines.join("\n") + "\n");
    return outcome.code;
  } catch (error) {
    if (!(error instanceof CronUsageError || error instanceof ConfigError)) throw error;
    process.stderr.write(`crons: ${error.message}\n`);
    return 2;
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then((code) => process.exit(code));
}
