/**
 * Structured one-line logs. Callers pass facts, never secrets: tokens,
 * signatures and query strings are not logged anywhere.
 */
export function logEvent(event: string, fields: Record<string, unknown>): void {
  if (process.env.SYNC_LOG === "off") return;
  console.log(JSON.stringify({ event, at: new Date().toISOString(), ...fields }));
}
