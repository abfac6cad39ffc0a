/**
 * Reading a publish request (POST /v2/publish or one /v2/batch entry) into
 * what the emulator enqueues, rejecting what QStash would reject with 400.
 */
import { createHash } from "node:crypto";
import { parseDurationMs } from "./durations";
import type { EmulatedFlowControl } from "./types";

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface CallbackSettings {
  url: string;
  retries?: number;
  method?: string;
  delayMs?: number;
  forward: Record<string, string>;
}

export interface ParsedPublish {
  destination: string;
  headers: Map<string, string>;
  body: Buffer;
  method: string;
  maxRetries: number;
  requestedDelayMs: number;
  notBefore?: number;
  timeoutMs: number;
  deduplicationId?: string;
  flowControl?: EmulatedFlowControl;
  forwardedHeaders: Record<string, string>;
  callback?: CallbackSettings;
  failureCallback?: CallbackSettings;
  label?: string;
}

export interface PublishLimits {
  maxBodyBytes: number;
  defaultRetries: number;
  deliveryTimeoutMs: number;
}

const METHODS = new Set(["GET", "POST", "PUT", "DELETE", "PATCH"]);

export function isHttpUrl(value: string): boolean {
  if (!/^https?:\/\//i.test(value)) return false;
  try {
    new URL(value);
    return true;
  } catch {
    return false;
  }
}

function parseFlowControlValue(key: string, value: string): EmulatedFlowControl {
  const fc: EmulatedFlowControl = { key, periodMs: 1000 };
  for (const part of value.split(",")) {
    const [rawName, rawValue] = part.split("=").map((s) => s.trim());
    if (!rawName) continue;
    const name = rawName.toLowerCase();
    if (rawValue === undefined || rawValue === "") throw new HttpError(400, `invalid flow control value: ${value}`);
    if (name === "parallelism" || name === "rate" || name === "ratepersecond") {
      const n = Number(rawValue);
      if (!Number.isInteger(n) || n < 1) throw new HttpError(400, `invalid flow control ${rawName}: ${rawValue}`);
      if (name === "parallelism") fc.parallelism = n;
      else fc.rate = n;
    } else if (name === "period") {
      const ms = parseDurationMs(rawValue);
      if (ms === undefined || ms <= 0) throw new HttpError(400, `invalid flow control period: ${rawValue}`);
      fc.periodMs = ms;
    } else {
      throw new HttpError(400, `unknown flow control setting: ${rawName}`);
    }
  }
  if (fc.parallelism === undefined && fc.rate === undefined) {
    throw new HttpError(400, "flow control needs parallelism or rate");
  }
  return fc;
}

function parseNonNegativeInt(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value.trim())) throw new HttpError(400, `invalid ${name}: ${value}`);
  return Number(value.trim());
}

/** Validates a publish completely before anything is enqueued (a bad batch enqueues nothing). */
export function parsePublish(
  rawDestination: string,
  headers: Map<string, string>,
  body: Buffer,
  limits: PublishLimits,
): ParsedPublish {
  let destination = rawDestination;
  if (/^https?%3A/i.test(destination)) destination = decodeURIComponent(destination);
  if (!isHttpUrl(destination)) throw new HttpError(400, `invalid destination url: ${destination}`);
  if (body.length > limits.maxBodyBytes)
    throw new HttpError(413, `message size exceeds the limit of ${limits.maxBodyBytes} bytes`);

  const get = (name: string) => headers.get(name);
  const method = (get("upstash-method") ?? "POST").toUpperCase();
  if (!METHODS.has(method)) throw new HttpError(400, `invalid Upstash-Method: ${method}`);
  const maxRetries = parseNonNegativeInt("Upstash-Retries", get("upstash-retries")) ?? limits.defaultRetries;

  const delayHeader = get("upstash-delay");
  const delayMs = parseDurationMs(delayHeader);
  if (delayHeader !== undefined && delayMs === undefined)
    throw new HttpError(400, `invalid Upstash-Delay: ${delayHeader}`);
  const notBeforeSec = parseNonNegativeInt("Upstash-Not-Before", get("upstash-not-before"));
  const notBefore = notBeforeSec === undefined ? undefined : notBeforeSec * 1000;
  // Not-Before wins over Delay when both are sent.
  const requestedDelayMs = notBefore !== undefined ? Math.max(0, notBefore - Date.now()) : (delayMs ?? 0);

  const timeoutHeader = get("upstash-timeout");
  const timeoutMs = parseDurationMs(timeoutHeader) ?? limits.deliveryTimeoutMs;

  const forwardedHeaders: Record<string, string> = {};
  const contentType = get("content-type");
  if (contentType) forwardedHeaders["content-type"] = contentType;
  for (const [key, value] of headers) {
    if (key.startsWith("upstash-forward-")) forwardedHeaders[key.slice("upstash-forward-".length)] = value;
  }

  let deduplicationId = get("upstash-deduplication-id");
  if (deduplicationId !== undefined) {
    // Real QStash refuses colons: 400 {"error":"DeduplicationId cannot contain ':'"}.
    if (deduplicationId.includes(":")) throw new HttpError(400, "DeduplicationId cannot contain ':'");
  } else if (get("upstash-content-based-deduplication") === "true") {
    const hash = createHash("sha256").update(destination).update("\n").update(body);
    for (const [key, value] of Object.entries(forwardedHeaders).sort(([a], [b]) => a.localeCompare(b))) {
      hash.update(`\n${key}:${value}`);
    }
    deduplicationId = `content-${hash.digest("hex")}`;
  }

  const fcKey = get("upstash-flow-control-key");
  const fcValue = get("upstash-flow-control-value");
  let flowControl: EmulatedFlowControl | undefined;
  if (fcKey) {
    if (!fcValue) throw new HttpError(400, "Upstash-Flow-Control-Value is required with Upstash-Flow-Control-Key");
    flowControl = parseFlowControlValue(fcKey, fcValue);
  }

  const callback = callbackSettings(headers, "upstash-callback");
  const failureCallback = callbackSettings(headers, "upstash-failure-callback");
  const label = get("upstash-label");

  return {
    destination,
    headers,
    body,
    method,
    maxRetries,
    requestedDelayMs,
    ...(notBefore === undefined ? {} : { notBefore }),
    timeoutMs,
    ...(deduplicationId === undefined ? {} : { deduplicationId }),
    ...(flowControl ? { flowControl } : {}),
    forwardedHeaders,
    ...(callback ? { callback } : {}),
    ...(failureCallback ? { failureCallback } : {}),
    ...(label ? { label } : {}),
  };
}

/** Upstash-Callback / Upstash-Failure-Callback and their -Retries, -Method, -Delay, -Forward-* headers. */
function callbackSettings(headers: Map<string, string>, prefix: string): CallbackSettings | undefined {
  const url = headers.get(prefix);
  if (!url) return undefined;
  if (!isHttpUrl(url)) throw new HttpError(400, `invalid ${prefix} url: ${url}`);
  const forward: Record<string, string> = {};
  for (const [key, value] of headers) {
    if (key.startsWith(`${prefix}-forward-`)) forward[key.slice(`${prefix}-forward-`.length)] = value;
  }
  const retries = parseNonNegativeInt(`${prefix}-retries`, headers.get(`${prefix}-retries`));
  const method = headers.get(`${prefix}-method`)?.toUpperCase();
  const delayMs = parseDurationMs(headers.get(`${prefix}-delay`));
  return {
    url,
    forward,
    ...(retries === undefined ? {} : { retries }),
    ...(method ? { method } : {}),
    ...(delayMs === undefined ? {} : { delayMs }),
  };
}
