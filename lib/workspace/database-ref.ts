/** Reads the id out of what a user pastes for a database: an id, a dashed id or a Notion URL. */

const HEX32 = /([0-9a-f]{32})/i;
const DASHED = /([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/i;

/** The 32-hex id in `value` (the one before any `?` in a URL), dashed; null when there is none. */
export function parseNotionId(value: string): string | null {
  const path = value.trim().split(/[?#]/)[0];
  const dashed = DASHED.exec(path);
  const hex = dashed ? dashed[1].replace(/-/g, "") : lastHex(path);
  if (!hex) return null;
  const h = hex.toLowerCase();
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function lastHex(path: string): string | null {
  const segment = path.split("/").pop() ?? "";
  return HEX32.exec(segment.slice(-32))?.[1] ?? HEX32.exec(segment)?.[1] ?? null;
}
