/**
 * npm run doctor [-- --json] [--timeout SECONDS]
 *
 * Checks this setup and says what to fix (lib/doctor): each variable present
 * and well formed, KV reachable and writable, the Notion token valid, each
 * section's database shared (and the properties the config names present),
 * the QStash token valid in QSTASH_URL's region, CRON_SECRET long enough, the
 * webhook token's state. One line per check, ✓ or ✗; exit 0 when all pass,
 * 1 when one fails, 2 on a usage error. Reads .env.local / .env like Next
 * (shell variables win) and the config file like the other scripts. Never
 * prints a secret.
 */
import path from "node:path";
import { ConfigError } from "../lib/config";
import { type DoctorOptions, type DoctorReport, formatDoctorReport, runDoctor, scrubSecrets } from "../lib/doctor";
import { configFilePath } from "../lib/workspace/config-path";
import { loadEnvFiles } from "./lib/env-files";
import { readConfigFile } from "./lib/workspace-file";

const HELP = `usage: npm run doctor [-- --json] [--timeout SECONDS]

Checks the setup in the environment (and .env.local / .env, and
notion-kv-sync.config.ts or NKS_CONFIG_FILE) and says what to fix:
one line per check, ✓ or ✗. Exit 0 when every check passes, else 1.

  --json             the checks as JSON ({checks: [{name, ok, message, variable?}], ok})
  --timeout SECONDS  how long each network check waits (default 5)
  -h, --help         this text
`;

interface Args {
  json: boolean;
  timeoutMs: number | undefined;
}

function parseArgs(argv: string[]): Args | string {
  const args: Args = { json: false, timeoutMs: undefined };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--json") args.json = true;
    else if (argv[i] === "--timeout") {
      const seconds = Number(argv[++i]);
      if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 300)
        return "--timeout needs a number of seconds (0 to 300)";
      args.timeoutMs = seconds * 1000;
    } else return `unknown option ${argv[i]}`;
  }
  return args;
}

/** The config file as the other scripts read it; a file that does not load is the doctor's to report. */
async function loadConfig(root: string): Promise<DoctorOptions> {
  let file: string;
  try {
    file = path.relative(root, configFilePath(root, process.env));
  } catch (error) {
    return {
      configError: new ConfigError(error instanceof Error ? error.message : String(error), ["NKS_CONFIG_FILE"]),
    };
  }
  return readConfigFile(root, process.env).then(
    (read) => ({ config: read.config, configFile: read.file }),
    (error: unknown) => ({ configError: error, configFile: file }),
  );
}

async function main(argv: string[]): Promise<number> {
  if (argv.includes("-h") || argv.includes("--help")) {
    process.stdout.write(HELP);
    return 0;
  }
  const args = parseArgs(argv);
  if (typeof args === "string") {
    process.stderr.write(`doctor: ${args}\n\n${HELP}`);
    return 2;
  }
  const root = process.cwd();
  const files = loadEnvFiles(root);
  const config = await loadConfig(root);
  const report: DoctorReport = await runDoctor(process.env, { ...config, timeoutMs: args.timeoutMs });
  if (args.json) {
    process.stdout.write(scrubSecrets(`${JSON.stringify(report, null, 2)}\n`, process.env));
  } else {
    const read = files.length > 0 ? `read ${files.map((f) => f.split("/").pop()).join(", ")}` : "no .env file read";
    process.stdout.write(`notion-kv-sync doctor (${read})\n\n${formatDoctorReport(report, process.env)}`);
  }
  return report.ok ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
    process.stderr.write(`doctor: unexpected error: ${scrubSecrets(text, process.env)}\n`);
    process.exit(4);
  },
);
