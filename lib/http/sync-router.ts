/**
 * Every /api/sync endpoint from one catch-all route (`app/api/sync/[...path]/route.ts`):
 * no segment is the trigger (its alias /api/sync), then trigger, status, failed
 * and dirty, and any other single name a section. Each keeps the methods its
 * own route file had; the others get the same JSON 405 with its Allow header.
 */
import { handleDirty } from "./dirty-route";
import { handleFailed } from "./failed-route";
import { jsonError } from "./json";
import { methodNotAllowed } from "./method-not-allowed";
import { handleStatus } from "./status-route";
import { handleSync } from "./sync-route";
import { handleTrigger } from "./trigger-route";

type Env = Record<string, string | undefined>;
type Handler = (request: Request, env: Env) => Promise<Response>;

/** What a Next.js catch-all route receives (an optional one gives no `path` at its root). */
export interface SyncRouteContext {
  params: Promise<{ path?: string | string[] }>;
}

interface Target {
  allow: string;
  GET?: Handler;
  POST?: Handler;
}

const fixed: Record<string, Target> = {
  trigger: { allow: "GET, POST", GET: handleTrigger, POST: handleTrigger },
  status: { allow: "GET", GET: handleStatus },
  failed: { allow: "POST", POST: handleFailed },
  dirty: { allow: "GET, POST", GET: handleDirty, POST: handleDirty },
};

function targetOf(segments: string[]): Target | null {
  if (segments.length === 0) return fixed.trigger;
  if (segments.length > 1) return null;
  const [name] = segments;
  if (Object.hasOwn(fixed, name)) return fixed[name];
  const section: Handler = (request, env) => handleSync(name, request, env);
  return { allow: "GET, POST", GET: section, POST: section };
}

async function segmentsOf(context: SyncRouteContext | undefined): Promise<string[]> {
  const path = (await context?.params)?.path;
  return path === undefined ? [] : Array.isArray(path) ? path : [path];
}

const notFound = (segments: string[]) =>
  jsonError(404, "not_found", `no sync endpoint at /api/sync/${segments.join("/")}: use /api/sync/<section>`);

/** One method of the catch-all. HEAD runs a read (status) without its body, and nothing else. */
function method(name: "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD") {
  return async (request: Request, context?: SyncRouteContext): Promise<Response> => {
    const segments = await segmentsOf(context);
    const target = targetOf(segments);
    if (!target) return notFound(segments);
    // Next.js answers HEAD with GET when a route exports no HEAD: a sync must never start that way.
    const verb = request.method === "HEAD" ? "HEAD" : name;
    const readOnly = target === fixed.status;
    const handler =
      verb === "GET" || verb === "POST" ? target[verb] : verb === "HEAD" && readOnly ? target.GET : undefined;
    return handler ? handler(request, process.env) : methodNotAllowed(target.allow)(request);
  };
}

/** The route's exports: `export const { GET, POST } = syncRouter()` (PUT, PATCH, DELETE, HEAD give JSON 405s). */
export function syncRouter() {
  return {
    GET: method("GET"),
    POST: method("POST"),
    PUT: method("PUT"),
    PATCH: method("PATCH"),
    DELETE: method("DELETE"),
    HEAD: method("HEAD"),
  };
}
