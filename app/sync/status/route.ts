/**
 * GET /sync/status: every section's status (lib/operator/status.ts, the same
 * SectionStatus[] as /api/sync/status) for the dashboard's live updates,
 * authenticated by the session cookie instead of the secret.
 */
import { sessionOf } from "@/lib/dashboard/request-guard";
import { jsonError, jsonOk } from "@/lib/http/json";
import { answeringErrors } from "@/lib/http/unavailable";
import { readSectionStatus } from "@/lib/operator/status";
import { loadStoreRuntime } from "@/lib/runtime";

export const runtime = "nodejs";
export const dynamic = "force-dynamic";

export const GET = answeringErrors("dashboard.status", async (request: Request): Promise<Response> => {
  const { secret, session } = sessionOf(request, process.env);
  if (!secret) return jsonError(503, "config_error", "CRON_SECRET is not set: the dashboard stays closed until it is");
  if (!session) return jsonError(401, "unauthorized", "not signed in, or the session expired");
  // A JSON read by our own script only: refuse it to pages of other origins that try to embed it.
  const site = request.headers.get("sec-fetch-site");
  if (site !== null && site !== "same-origin" && site !== "none")
    return jsonError(403, "cross_origin", "the dashboard status is for the dashboard's own page");
  const { kv, keys, workspace } = loadStoreRuntime(process.env);
  const sections = await Promise.all(workspace.names.map((s) => readSectionStatus(kv, keys, s)));
  return jsonOk({
    ok: true,
    at: new Date().toISOString(),
    sessionExpiresAt: new Date(session.exp).toISOString(),
    sections,
  });
});
