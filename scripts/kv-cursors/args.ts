/**
 * Command line of `npm run kv:cursors` (node's util.parseArgs, strict): what
 * to show or which action to take. Every mistake is a UsageError (exit 2).
 */
import { parseArgs } from "node:util";
import type { Section } from "../../lib/core/sections";

export const ACTIONS = ["reset", "retry-failed", "release-lease"] as const;
export type ActionName = (typeof ACTIONS)[number];

export type Command =
  | { kind: "help" }
  | { kind: "show"; json: boolean; watch: boolean; section: Section | null }
  | { kind: "action"; action: ActionName; section: Section; yes: boolean; force: boolean }
  /** Shows the webhook verification tokens, each once (lib/webhooks/token.ts); `accept` promotes a pending one. */
  | { kind: "webhook-token"; accept: boolean };

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

export const EXIT = { ok: 0, attention: 1, usage: 2, kv: 3, unexpected: 4 } as const;

const OPTIONS = {
  json: { type: "boolean" },
  watch: { type: "boolean", short: "w" },
  section: { type: "string", short: "s" },
  reset: { type: "string" },
  "retry-failed": { type: "string" },
  "release-lease": { type: "string" },
  yes: { type: "boolean", short: "y" },
  force: { type: "boolean" },
  help: { type: "boolean", short: "h" },
  "webhook-token": { type: "boolean" },
  accept: { type: "boolean" },
} as const;

export const help = (sections: readonly Section[]) => `usage: npm run kv:cursors -- [--json | --watch] [--section NAME]
       npm run kv:cursors -- --reset NAME [--yes]
       npm run kv:cursors -- --retry-failed NAME
       npm run kv:cursors -- --release-lease NAME [--force]
       npm run kv:cursors -- --webhook-token [--accept]

Shows where each sync section (${sections.join(", ")}) stands, read from the KV
store the app uses (same environment: KV_REST_API_URL + KV_REST_API_TOKEN,
REDIS_URL or KV_URL, else the file store in KV_FILE_DIR or .data/; KV_PREFIX),
and takes the operator actions. Nothing here calls Notion.

Show
  (no flag)              one table row per section: run, status, phase, progress,
                         invocations, pages given up, last error, lease, retryAt,
                         watermark (since), last finished run
  --json                 one JSON document instead:
                         {"version": 1, "generatedAt", "sections": [...], "attention": [...]}
  -w, --watch            redraw every second until Ctrl-C
  -s, --section NAME     one section in detail: the stored cursor, the run
                         history, the failed pages (with Notion links), the
                         action history (combines with --json or --watch)

Actions (one at a time; each is recorded in the section's action history)
  --reset NAME           clear the section's cursor, lease and scratch keys; the
                         next call starts a new run (index and bundles are kept).
                         Asks on a terminal; refused without --yes otherwise
  --retry-failed NAME    queue the section's given-up pages for its next run
  --release-lease NAME   free a lease left by an invocation that has ended;
                         refused while its holder may still be working
  -y, --yes              do not ask before --reset
  --force                with --release-lease: free a live lease too (the
                         holder's later writes are then refused)
  --webhook-token        print, once, the verification token Notion's webhook
                         handshake stored, to paste into Notion (Webhooks → Verify).
                         A handshake with another token (anybody can send one) is
                         pending: printed on the next line, never used to verify
                         until accepted; stderr says which line is which
  --accept               with --webhook-token: make the pending token the active
                         one (only after it was printed)
  -h, --help             this text

Colours only on a terminal, never when NO_COLOR is set.
Secrets are never printed: errors name the variable, not its value.

Exit codes
  0  ok (an action done, or nothing to do)
  1  a section needs attention: its run is failed or stalled
  2  usage error: unknown flag or section, conflicting flags, an action
     refused (--reset without --yes off a terminal, a live lease without --force)
  3  the KV store is unreachable (connection refused, no answer within a few
     seconds, credentials refused) or not configured
  4  an unexpected error (a bug: its message is printed)
`;

/** "Unknown option '--x'. To specify a positional…" → "Unknown option '--x'". */
function firstSentence(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split(/\.\s/)[0].replace(/\.$/, "");
}

/** The section a command names must be one of `sections` (checked once they are loaded, after parsing). */
export function checkSection(command: Command, sections: readonly Section[]): void {
  if (command.kind === "help" || command.kind === "webhook-token" || command.section === null) return;
  if (sections.includes(command.section)) return;
  const flag = command.kind === "action" ? `--${command.action}` : "--section";
  throw new UsageError(
    `${flag}: unknown section ${JSON.stringify(command.section)}; expected one of ${sections.join(", ")}`,
  );
}

export function parseCommand(argv: string[]): Command {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false, tokens: true });
  } catch (error) {
    throw new UsageError(firstSentence(error));
  }
  const { values, tokens } = parsed;
  const counts = new Map<string, number>();
  for (const token of tokens) if (token.kind === "option") counts.set(token.name, (counts.get(token.name) ?? 0) + 1);
  for (const [name, n] of counts) if (n > 1) throw new UsageError(`--${name} given ${n} times`);
  if (values.help) return { kind: "help" };

  if (values["webhook-token"]) {
    for (const flag of ["json", "watch", "section", "yes", "force", ...ACTIONS] as const) {
      if (values[flag] !== undefined) throw new UsageError(`--webhook-token cannot be combined with --${flag}`);
    }
    return { kind: "webhook-token", accept: values.accept === true };
  }
  if (values.accept) throw new UsageError("--accept only goes with --webhook-token");
  const actions = ACTIONS.filter((a) => values[a] !== undefined);
  if (actions.length > 1)
    throw new UsageError(`one action at a time: got ${actions.map((a) => `--${a}`).join(" and ")}`);
  if (actions.length === 1) {
    const action = actions[0];
    for (const flag of ["json", "watch", "section"] as const) {
      if (values[flag] !== undefined) throw new UsageError(`--${action} cannot be combined with --${flag}`);
    }
    if (values.force && action !== "release-lease") throw new UsageError("--force only goes with --release-lease");
    return {
      kind: "action",
      action,
      section: values[action]!,
      yes: values.yes === true,
      force: values.force === true,
    };
  }
  if (values.yes) throw new UsageError("--yes only goes with an action (--reset, --retry-failed, --release-lease)");
  if (values.force) throw new UsageError("--force only goes with --release-lease");
  if (values.json && values.watch)
    throw new UsageError("--json prints one document; it cannot be combined with --watch");
  return {
    kind: "show",
    json: values.json === true,
    watch: values.watch === true,
    section: values.section === undefined ? null : values.section,
  };
}
