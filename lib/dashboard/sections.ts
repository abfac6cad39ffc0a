/** The sections the dashboard lists and acts on: the workspace's, in config order. */
import type { Section } from "../core/sections";
import { declaredSectionNames } from "../workspace/load";

type Env = Record<string, string | undefined>;

/** The declared section names (a broken section among them reports its own error); none when the config file does not parse. */
export function configuredSections(env: Env): Section[] {
  return declaredSectionNames(env) ?? [];
}
