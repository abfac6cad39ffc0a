/** The sections the dashboard lists and acts on: the workspace's, in config order. */
import { ConfigError } from "../config";
import type { Section } from "../core/sections";
import { loadWorkspace } from "../workspace/load";

type Env = Record<string, string | undefined>;

/** The configured section names; none when the config is broken (the status read reports why). */
export function configuredSections(env: Env): Section[] {
  try {
    return loadWorkspace(env).names;
  } catch (error) {
    if (error instanceof ConfigError) return [];
    throw error;
  }
}
