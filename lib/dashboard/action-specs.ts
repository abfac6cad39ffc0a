/**
 * The dashboard's actions: names, labels and which ones ask for confirmation
 * (and what they say). Pure, so pages can import it without the engine.
 */
import type { Section } from "../core/sections";

export const ACTION_NAMES = ["start", "run", "force", "reset", "retry", "release", "accept-token"] as const;
export type ActionName = (typeof ACTION_NAMES)[number];

export interface ActionSpec {
  label: string;
  /** Acts on one section (the form names it). */
  perSection: boolean;
  /** Destructive or costly: asks for confirmation first; the text says what will happen. */
  confirm: ((section: Section | null) => string) | null;
}

export const ACTIONS: Record<ActionName, ActionSpec> = {
  start: { label: "Start", perSection: true, confirm: null },
  run: { label: "Start a full run", perSection: false, confirm: null },
  force: {
    label: "Force a full run",
    perSection: false,
    confirm: () =>
      "Starts new forced runs of every database section (then children) that re-fetch every page, whatever its timestamp, even over runs still going: their scratch state is dropped. It costs a full run's Notion requests and QStash messages.",
  },
  reset: {
    label: "Reset cursor",
    perSection: true,
    confirm: (section) =>
      `Clears the ${section} cursor, its lease and the run's scratch keys. The published index and the pages stay; the next call of ${section} starts a new run from the beginning. An invocation still running has its later writes refused.`,
  },
  retry: { label: "Retry failed pages", perSection: true, confirm: null },
  release: {
    label: "Release lease",
    perSection: true,
    confirm: (section) =>
      `Frees the ${section} lease left by an invocation that has ended (it is refused while its holder may still be working), so the next call can run.`,
  },
  "accept-token": {
    label: "Accept the pending webhook token",
    perSection: false,
    confirm: () =>
      "Makes the pending webhook token the one Notion's deliveries are verified with, and drops the active one: deliveries signed with it get 401 from now on. Accept it only if Notion accepted that token (Webhooks → Verify). Only a pending token printed by `npm run kv:cursors -- --webhook-token` can be accepted; NOTION_WEBHOOK_SECRET, when set, overrides both.",
  },
};

export function isActionName(value: unknown): value is ActionName {
  return typeof value === "string" && (ACTION_NAMES as readonly string[]).includes(value);
}

export type ActionRequest = { action: ActionName; section: Section | null };

/** The action a form asks for, checked against the configured sections; a message saying what is wrong otherwise. */
export function parseAction(form: URLSearchParams, sections: readonly Section[]): ActionRequest | { error: string } {
  const action = form.get("action");
  if (!isActionName(action)) return { error: `unknown action: use one of ${ACTION_NAMES.join(", ")}` };
  const section = form.get("section");
  if (!ACTIONS[action].perSection) return { action, section: null };
  if (section === null || !sections.includes(section))
    return { error: `${action} needs a section: one of ${sections.join(", ")}` };
  return { action, section };
}
