/** Errors of the workspace config, apart from ConfigError (lib/config.ts). */

/** A request named a section the workspace does not configure (→ 404 listing the configured ones). */
export class UnknownSectionError extends Error {
  readonly code = "unknown_section";
  constructor(
    readonly section: string,
    readonly configured: readonly string[],
  ) {
    super(
      `unknown section "${section.slice(0, 40)}": ${configured.length ? `use one of ${configured.join(", ")}` : "no section is configured"}`,
    );
    this.name = "UnknownSectionError";
  }
}

export function isUnknownSectionError(error: unknown): error is UnknownSectionError {
  return error instanceof UnknownSectionError;
}
