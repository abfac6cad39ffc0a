/** What the doctor reports: one line per check, each naming the variable (or config field) to fix when it fails. */

export type Env = Record<string, string | undefined>;

export interface DoctorCheck {
  name: string;
  ok: boolean;
  /** What was found and, when failing, what to do; never a secret value. */
  message: string;
  /** The variable (or config file field, `sections.blog.filter`) at fault; set when `ok` is false and one is. */
  variable?: string;
}

export interface DoctorReport {
  checks: DoctorCheck[];
  /** Every check passed. */
  ok: boolean;
}

export interface DoctorOptions {
  /** The config file's default export; undefined: none (sections from NOTION_PAGES_DB / NOTION_POSTS_DB). */
  config?: unknown;
  /** The config file's path, for messages. */
  configFile?: string;
  /** Why the config file could not be loaded (it failed to import); reported as the sections check. */
  configError?: unknown;
  /** Each network check gives up after this long (default 5 s). */
  timeoutMs?: number;
  /** For the QStash check (default the global fetch). */
  fetch?: typeof fetch;
}

export const pass = (name: string, message: string): DoctorCheck => ({ name, ok: true, message });

export const fail = (name: string, message: string, variable?: string): DoctorCheck => ({
  name,
  ok: false,
  message,
  ...(variable ? { variable } : {}),
});
