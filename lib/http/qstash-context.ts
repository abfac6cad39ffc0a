/**
 * QStash settings for a request, or the JSON error that explains why they are
 * unusable. Shared by every route that publishes or verifies.
 */
import { type QStashConfig, QStashConfigError, readQStashConfig } from "../qstash/config";
import { verifyDelivery } from "../qstash/verify";
import { configErrorResponse } from "./config-error";

type Env = Record<string, string | undefined>;

export function qstashConfigOrError(env: Env): { config: QStashConfig | null } | { error: Response } {
  try {
    return { config: readQStashConfig(env) };
  } catch (error) {
    if (error instanceof QStashConfigError) return { error: configErrorResponse(error) };
    throw error;
  }
}

/** A verifier for `authenticate`, bound to the URL QStash was asked to deliver to. */
export function signatureVerifier(config: QStashConfig | null, url: string, rawBody: string) {
  return config ? (signature: string) => verifyDelivery({ signature, rawBody, url, config }) : undefined;
}
