/**
 * What a sync call may say: `force` in the query (`?force=1`) or body, and,
 * from a verified QStash delivery only, which run and step it continues.
 */
import { z } from "zod";

const FORCE_VALUES: Record<string, boolean> = { "1": true, true: true, "0": false, false: false };

export const SyncBodySchema = z
  .object({
    runId: z.string().min(1).max(100).optional(),
    seq: z.number().int().nonnegative().optional(),
    force: z.boolean().optional(),
    /** Step 0 of a run started by a trigger (or a children kick): the trigger's id. */
    trigger: z.string().min(1).max(100).optional(),
  })
  .strict();

export type SyncBody = z.infer<typeof SyncBodySchema>;

export type ParsedSyncRequest =
  { ok: true; force: boolean; body: SyncBody } | { ok: false; code: "bad_query" | "bad_body"; message: string };

export function parseSyncRequest(url: URL, rawBody: string): ParsedSyncRequest {
  const forceParam = url.searchParams.get("force");
  // Own keys only: `in` would also accept "toString", "constructor" or "__proto__" (inherited from
  // Object.prototype), and make force a function or an object (a 503, or a forced run whose
  // cursor fails validation on the next call).
  if (forceParam !== null && !Object.hasOwn(FORCE_VALUES, forceParam)) {
    return { ok: false, code: "bad_query", message: "force must be 1, 0, true or false" };
  }
  let body: SyncBody = {};
  if (rawBody.trim() !== "") {
    let json: unknown;
    try {
      json = JSON.parse(rawBody);
    } catch {
      return { ok: false, code: "bad_body", message: "the body is not valid JSON" };
    }
    const parsed = SyncBodySchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return {
        ok: false,
        code: "bad_body",
        message: `invalid body: ${issue.path.join(".") || "(root)"} ${issue.message}`,
      };
    }
    body = parsed.data;
    if ((body.runId === undefined) !== (body.seq === undefined)) {
      return { ok: false, code: "bad_body", message: "runId and seq go together" };
    }
  }
  const force = body.force ?? (forceParam !== null ? FORCE_VALUES[forceParam] : false);
  return { ok: true, force, body };
}
