/**
 * The common front of the operator endpoints (trigger, status): only a cron
 * bearer or the manual secret gets in (QStash never calls them), and the
 * configuration must load. Returns the runtime or the JSON error to send.
 */
import { authenticate } from "../auth";
import { configErrorResponse, loadConfig } from "./config-error";
import { jsonError } from "./json";

type Env = Record<string, string | undefined>;

export async function operatorRequest<T>(request: Request, env: Env, load: (env: Env) => T): Promise<{ runtime: T } | { error: Response }> {
  if (request.headers.get("upstash-signature") !== null) {
    return { error: jsonError(401, "unauthorized", "this endpoint is not a QStash destination") };
  }
  const auth = await authenticate({ request, env });
  if (!auth.ok) return { error: jsonError(auth.status, auth.code, auth.message) };
  const loaded = loadConfig(() => load(env));
  return loaded.ok ? { runtime: loaded.value } : { error: configErrorResponse(loaded.error) };
}
