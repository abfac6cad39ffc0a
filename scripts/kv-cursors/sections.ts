/** Which sections `npm run kv:cursors` shows and acts on. */
import { CHILDREN_SECTION, ENV_SECTIONS, type Section } from "../../lib/core/sections";
import { declaredSectionNames } from "../../lib/workspace/load";

type Env = Record<string, string | undefined>;

/**
 * The workspace's declared sections, even one whose database variable is unset in this
 * shell. A shell that sets neither NOTION_PAGES_DB nor NOTION_POSTS_DB (only the KV
 * variables) and has no config file shows the sections a deployment without a config
 * file can have; so does a config file that does not parse, whose error the KV read then reports.
 */
export function operatorSections(env: Env): Section[] {
  const declared = declaredSectionNames(env);
  return declared && declared.length > 0 ? declared : [...ENV_SECTIONS, CHILDREN_SECTION];
}
