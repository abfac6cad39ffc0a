/**
 * Structured one-line logs. Callers pass facts, never secrets: tokens,
 * signatures and query strings are not logged anywhere.
 */
export function logEvent(event: string, fields: Record<string, unknown>, level: "info" | "warn" = "info"): void {
  if (process.env.SYNC_LOG === "off") return;
  const line = JSON.stringify({ event, level, at: new Date().toISOString(), ...fields });
  if (level === "warn") console.warn(line);
  else console.log(line);
}
