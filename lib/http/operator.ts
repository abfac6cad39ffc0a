/**
 * The common front of the operator endpoints (trigger, status): only a cron
 * bearer, the manual secret or (where `linkTarget` says so) a signed link gets
 * in (QStash never calls them), and the configuration must load. Returns the
 * runtime and who called, or the JSON error to send. A link's nonce is not
 * spent here: the route does it (redeemLink) once it knows the force asked.
 */
import { type AuthResult, authenticate } from "../auth";
import type { LinkTarget } from "../auth/manual-link";
import { configErrorResponse, loadConfig } from "./config-error";
import { jsonError } from "./json";

type Env = Record<string, string | undefined>;

type Authenticated = Extract<AuthResult, { ok: true }>;

export async function operatorRequest<T>(
  request: Request,
  env: Env,
  load: (env: Env) => T,
  options: { linkTarget?: LinkTarget } = {},
): Promise<{ runtime: T; auth: Authenticated } | { error: Response }> {
  if (request.headers.get("upstash-signature") !== null) {
    return { error: jsonError(401, "unauthorized", "this endpoint is not a QStash destination") };
  }
  const auth = await authenticate({ request, env, linkTarget: options.linkTarget });
  if (!auth.ok) return { error: jsonError(auth.status, auth.code, auth.message) };
  const loaded = loadConfig(() => load(env));
  return loaded.ok ? { runtime: loaded.value, auth } : { error: configErrorResponse(loaded.error) };
}
