/**
 * GET /api/sync/status: where every section's run stands, from KV alone
 * (lib/operator/status.ts). `?runId=` narrows it to one run; `?section=` to
 * one section.
 */
import { readSectionStatus, readWebhookStatus } from "../operator/status";
import { loadStoreRuntime } from "../runtime";
import { jsonError, jsonOk } from "./json";
import { answeringErrors } from "./unavailable";
import { operatorRequest } from "./operator";

type Env = Record<string, string | undefined>;

export function statusRoute() {
  return { GET: (request: Request) => handleStatus(request, process.env) };
}

const RUN_ID = /^[A-Za-z0-9-]{1,100}$/;

export const handleStatus = answeringErrors("status", async (request: Request, env: Env): Promise<Response> => {
  const front = await operatorRequest(request, env, loadStoreRuntime);
  if ("error" in front) return front.error;
  const { kv, keys, workspace } = front.runtime;
  const query = new URL(request.url).searchParams;
  const runId = query.get("runId") ?? undefined;
  if (runId !== undefined && !RUN_ID.test(runId))
    return jsonError(400, "bad_query", "runId must be a run id (letters, digits and dashes)");
  const only = query.get("section");
  if (only !== null && !workspace.names.includes(only))
    return jsonError(400, "bad_query", `section must be one of ${workspace.names.join(", ")}`);
  const [sections, webhooks] = await Promise.all([
    Promise.all((only ? [only] : workspace.names).map((s) => readSectionStatus(kv, keys, s, { runId }))),
    readWebhookStatus(kv, keys, workspace.names),
  ]);
  return jsonOk({ ok: true, ...(runId ? { runId } : {}), sections, webhooks });
});
