/**
 * npm run kv:cursors [-- --json | --watch | --section NAME | --reset NAME [--yes]
 *                     | --retry-failed NAME | --release-lease NAME [--force]]
 *
 * The operator's view of a sync from KV alone: where each section's run
 * stands (lib/operator/status.ts, the shape /api/sync/status answers), and the
 * operator actions (lib/operator/actions.ts, recorded with by: "script").
 * Same environment (the env files too: .env.local, .env), KV adapters and key builder as the app (lib/runtime.ts);
 * no KV logic lives here. Secrets are never printed: a KV failure names the
 * variable to check. Exit codes: 0 ok, 1 a section failed or stalled, 2 usage
 * (or an action refused), 3 KV unreachable or not configured, 4 unexpected.
 * `--help` says it all. The KV code is loaded only once the arguments are
 * good, so --help and usage errors answer at once.
 */
import { type Command, EXIT, UsageError, checkSection, help, parseCommand } from "./kv-cursors/args";
import { scrub } from "./kv-cursors/scrub";
import { loadEnvFiles } from "./lib/env-files";

const err = (text: string) => process.stderr.write(`kv:cursors: ${text}\n`);

async function main(): Promise<number> {
  let command: Command;
  let sections: string[] = [];
  try {
    command = parseCommand(process.argv.slice(2));
    // The env files before the workspace: its sections may come from NOTION_PAGES_DB / NOTION_POSTS_DB there.
    loadEnvFiles();
    // The workspace (the config module, zod and all) is loaded once the flags parse: a usage error answers at once.
    if (command.kind !== "webhook-token")
      sections = (await import("./kv-cursors/sections")).operatorSections(process.env);
    checkSection(command, sections);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    err(`${error.message}\n(npm run kv:cursors -- --help lists the options)`);
    return EXIT.usage;
  }
  if (command.kind === "help") {
    process.stdout.write(help(sections));
    return EXIT.ok;
  }
  const { runCommand } = await import("./kv-cursors/run");
  return runCommand(command, sections);
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    // Not a KV failure: a bug. Its message is shown scrubbed of every configured value.
    const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
    err(`unexpected error: ${scrub(text, process.env)}`);
    process.exit(EXIT.unexpected);
  },
);
