#!/usr/bin/env node
/**
 * npx notion-kv-sync <command> [options]: the package's bin (built to dist/cli.js).
 *
 *   cursors   where each section's run stands, and the operator's actions (npm run kv:cursors)
 *   url       a signed one-time link to a sync endpoint (npm run sync:url)
 *   crons     vercel.json's crons from the workspace (npm run crons)
 *   typegen   declarations typing the reader's properties by name (npm run typegen)
 *   doctor    checks a setup and says what to fix
 *
 * Works in the site's directory: its .env.local / .env, and its notion-kv-sync.config.ts
 * (or NKS_CONFIG_FILE) when there is one, else the sections the environment names.
 */
import { loadEnvFiles } from "./lib/env-files";
import { readConfigFile } from "./lib/workspace-file";
import { provideWorkspaceConfig } from "../lib/workspace/load";

const HELP = `usage: notion-kv-sync <command> [options]

  cursors   where each section's run stands; --json, --watch, --section NAME, --reset NAME, ...
  url       a signed one-time link: url <section|trigger> [--force] [--ttl 15m] [--base URL]
  crons     writes vercel.json's crons from the workspace [--check] [--at HH:MM] [--every 6h]
  typegen   writes notion-kv-sync-env.d.ts typing the reader's properties [--check] [--out FILE]
  doctor    checks the environment, KV, Notion and QStash and says what to fix

Each command reads .env.local and .env from the working directory, and
notion-kv-sync.config.ts there (or NKS_CONFIG_FILE) when it exists.
\`notion-kv-sync <command> --help\` says more.
`;

/** The site's config file, read before a command loads the workspace. */
async function provideSiteConfig(root: string): Promise<void> {
  const { config } = await readConfigFile(root, process.env);
  if (config !== undefined) provideWorkspaceConfig(config);
}

/** Runs a script that parses process.argv itself (and exits on its own). */
async function runScript(name: string, args: string[], load: () => Promise<unknown>): Promise<void> {
  process.argv = [process.argv[0], `notion-kv-sync ${name}`, ...args];
  await load();
}

async function main(argv: string[]): Promise<number | undefined> {
  const [command, ...args] = argv;
  const root = process.cwd();
  if (command === undefined || command === "help" || command === "--help" || command === "-h") {
    process.stdout.write(HELP);
    return command === undefined ? 2 : 0;
  }
  loadEnvFiles(root);
  switch (command) {
    case "cursors":
      await provideSiteConfig(root);
      return runScript(command, args, () => import("./kv-cursors")).then(() => undefined);
    case "url":
      await provideSiteConfig(root);
      return runScript(command, args, () => import("./sync-url")).then(() => undefined);
    case "crons":
      return (await import("./crons")).main(args, root);
    case "typegen":
      return (await import("./typegen")).main(args, root, "notion-kv-sync");
    case "doctor":
      return runScript(command, args, () => import("./doctor")).then(() => undefined);
    default:
      process.stderr.write(`notion-kv-sync: unknown command "${command}"\n\n${HELP}`);
      return 2;
  }
}

main(process.argv.slice(2)).then((code) => {
  // cursors and url end the process themselves once their work is done.
  if (code !== undefined) process.exit(code);
});
