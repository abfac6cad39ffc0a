/**
 * Configuration problems at the HTTP edge: loading the settings a handler
 * needs, and the 503 that names the variables at fault (never their values).
 */
import { ConfigError } from "../config";
import type { UnknownSectionError } from "../workspace/errors";
import { jsonError } from "./json";

export function configErrorResponse(error: {
  message: string;
  variables: readonly string[];
  fields?: readonly string[];
}): Response {
  const fields = error.fields?.length ? { fields: error.fields } : {};
  return jsonError(503, "config_error", error.message, { variables: error.variables, ...fields });
}

/** 404 for a section the workspace does not configure, listing the ones it does. */
export function unknownSectionResponse(error: UnknownSectionError): Response {
  return jsonError(404, error.code, error.message, { sections: error.configured });
}

/** Runs `load`; a ConfigError is returned, anything else is thrown. */
export function loadConfig<T>(load: () => T): { ok: true; value: T } | { ok: false; error: ConfigError } {
  try {
    return { ok: true, value: load() };
  } catch (error) {
    if (error instanceof ConfigError) return { ok: false, error };
    throw error;
  }
}
