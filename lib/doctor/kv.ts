/** KV reachable and writable (a probe key set, read back and deleted), then the webhook token's state held there. */
import { randomUUID } from "node:crypto";
import { resolveKvBackend } from "../kv/backend";
import type { KeyBuilder } from "../kv/keys";
import type { KvStore } from "../kv/store";
import { webhookKeys } from "../webhooks/keys";
import { readTokenRecord } from "../webhooks/token";
import { failureKind, withTimeout } from "./failure";
import { type DoctorCheck, type Env, fail, pass } from "./types";

/** The variables to check when the store does not answer. */
function kvVariables(env: Env): string {
  const config = resolveKvBackend(env);
  if (config.kind === "vercel-kv") return config.variables.join(", ");
  return config.kind === "redis" ? config.variable : "KV_FILE_DIR";
}

export async function probeKv(kv: KvStore, keys: KeyBuilder, env: Env, timeoutMs: number): Promise<DoctorCheck> {
  // Under the deployment's prefix, expiring on its own should the delete never arrive.
  const key = `${keys.prefix}:doctor:${randomUUID()}`;
  const nonce = randomUUID();
  try {
    await withTimeout(
      (async () => {
        await kv.set(key, { nonce }, { pxMs: 60_000 });
        const back = await kv.get<{ nonce?: string }>(key);
        if (back?.nonce !== nonce) throw new Error("the probe key read back another value");
        await kv.del([key]);
      })(),
      timeoutMs,
    );
    return pass("KV reachable", `a probe key was written, read back and deleted (${kv.kind})`);
  } catch (error) {
    const variables = kvVariables(env);
    return fail("KV reachable", `cannot use the KV store: ${failureKind(error)}; check ${variables}`, variables);
  }
}

/** Where webhook verification stands (lib/webhooks/token.ts); never the token itself. */
export async function checkWebhookToken(
  kv: KvStore,
  keys: KeyBuilder,
  env: Env,
  timeoutMs: number,
): Promise<DoctorCheck> {
  const name = "webhook token";
  if (env.NOTION_WEBHOOK_SECRET?.trim())
    return pass(name, "NOTION_WEBHOOK_SECRET is set: deliveries are verified with it, whatever KV holds");
  let record;
  try {
    record = await withTimeout(readTokenRecord(kv, webhookKeys(keys)), timeoutMs);
  } catch (error) {
    return fail(name, `cannot read it from KV: ${failureKind(error)}`);
  }
  if (!record) return pass(name, "no subscription handshake yet (webhooks are optional)");
  const reveal = "npm run kv:cursors -- --webhook-token";
  if (record.pending)
    return fail(
      name,
      `another verification token arrived ${record.pending.receivedAt} and waits: ${reveal} shows it, --accept makes it the active one if the subscription is yours`,
    );
  if (!record.shownAt)
    return fail(name, `received ${record.receivedAt}, never shown: ${reveal} shows it to paste into Notion`);
  if (!record.verifiedAt) return pass(name, `stored (received ${record.receivedAt}); no verified delivery yet`);
  return pass(name, `stored; deliveries verify with it (first ${record.verifiedAt})`);
}
