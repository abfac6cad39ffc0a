/** Which sections `npm run kv:cursors` shows and acts on. */
import { ConfigError } from "../../lib/config";
import { CHILDREN_SECTION, ENV_SECTIONS, type Section } from "../../lib/core/sections";
import { loadWorkspace } from "../../lib/workspace/load";

type Env = Record<string, string | undefined>;

/**
 * The workspace's sections. A shell that sets neither NOTION_PAGES_DB nor
 * NOTION_POSTS_DB (only the KV variables) and has no config file shows the
 * sections a deployment without a config file can have; so does a broken
 * config file, whose error the KV read then reports.
 */
export function operatorSections(env: Env): Section[] {
  try {
    const workspace = loadWorkspace(env);
    if (workspace.origin === "file" || workspace.names.length > 0) return workspace.names;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
  }
  return [...ENV_SECTIONS, CHILDREN_SECTION];
}
