/**
 * The QStash token against QSTASH_URL: GET /v2/keys answers the signing keys
 * of the token's region, so it proves the token, that its region is the URL's
 * (another region answers 401 "user … not found in this region"), and that
 * the signing keys set here are that region's.
 */
import type { QStashConfig } from "../qstash/config";
import { failureKind } from "./failure";
import { type DoctorCheck, fail, pass } from "./types";

const DEFAULT_URL = "https://qstash.upstash.io";
const US_URL = "https://qstash-us-east-1.upstash.io";

/** The region a QStash URL names, for messages. */
export function qstashRegion(url: string): string {
  const host = new URL(url).hostname;
  if (host === "qstash.upstash.io" || host === "qstash-eu-central-1.upstash.io") return "EU (eu-central-1)";
  const regional = /^qstash-([a-z0-9-]+)\.upstash\.io$/.exec(host);
  return regional ? regional[1] : `the endpoint at ${new URL(url).origin}`;
}

export async function checkQStashToken(
  config: QStashConfig,
  fetchFn: typeof fetch,
  timeoutMs: number,
): Promise<DoctorCheck> {
  const name = "QStash token";
  const base = config.url ?? DEFAULT_URL;
  const region = qstashRegion(base);
  let response: Response;
  try {
    response = await fetchFn(`${base}/v2/keys`, {
      headers: { Authorization: `Bearer ${config.token}` },
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    return fail(name, `cannot reach QStash at ${region}: ${failureKind(error)}; check QSTASH_URL`, "QSTASH_URL");
  }
  const text = await response.text().catch(() => "");
  if (response.status === 401 || response.status === 403) {
    if (/not found in this region/i.test(text)) {
      const hint = config.url ? "" : ` (US: ${US_URL})`;
      return fail(
        name,
        `the token belongs to another region than ${region}: set QSTASH_URL to the URL the QStash console shows with it${hint}`,
        "QSTASH_URL",
      );
    }
    return fail(
      name,
      `QStash refused QSTASH_TOKEN (${response.status}) at ${region}: copy it again from the console`,
      "QSTASH_TOKEN",
    );
  }
  if (!response.ok)
    return fail(name, `QStash at ${region} answered HTTP ${response.status}; check QSTASH_URL`, "QSTASH_URL");
  return compareKeys(name, region, text, config);
}

/** Deliveries are verified with the keys set here: the one QStash signs with must be one of them. */
function compareKeys(name: string, region: string, text: string, config: QStashConfig): DoctorCheck {
  let keys: { current?: unknown; next?: unknown };
  try {
    keys = JSON.parse(text) as typeof keys;
  } catch {
    return fail(name, `QStash at ${region} answered something that is not its keys; check QSTASH_URL`, "QSTASH_URL");
  }
  const mine = [config.currentSigningKey, config.nextSigningKey];
  if (!mine.includes(keys.current as string))
    return fail(
      name,
      `QSTASH_CURRENT_SIGNING_KEY is not the signing key of this token's region (${region}): every delivery would be refused`,
      "QSTASH_CURRENT_SIGNING_KEY",
    );
  // Deliveries still verify after one rotation, but not after the next.
  if (keys.current !== config.currentSigningKey || keys.next !== config.nextSigningKey)
    return fail(
      name,
      "the signing keys were rotated: copy QSTASH_CURRENT_SIGNING_KEY and QSTASH_NEXT_SIGNING_KEY again from the console",
      "QSTASH_CURRENT_SIGNING_KEY",
    );
  return pass(name, `valid in ${region}; the signing keys match`);
}
