/**
 * STAND-IN until the emulator part's matcher lands (same path, same signature):
 * decides `checkbox.equals` conditions and and/or of them, "unknown" for anything else.
 */
export type FilterMatch = "match" | "no-match" | "unknown";

type Json = unknown;

function isObject(value: Json): value is Record<string, Json> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function matchesFilter(properties: Record<string, unknown>, filter: unknown, now: Date): FilterMatch {
  if (!isObject(filter)) return "unknown";
  if (Array.isArray(filter.and))
    return combine(
      filter.and.map((f) => matchesFilter(properties, f, now)),
      "and",
    );
  if (Array.isArray(filter.or))
    return combine(
      filter.or.map((f) => matchesFilter(properties, f, now)),
      "or",
    );
  const checkbox = filter.checkbox;
  const property = typeof filter.property === "string" ? properties[filter.property] : undefined;
  if (!isObject(checkbox) || typeof checkbox.equals !== "boolean" || !isObject(property)) return "unknown";
  if (property.type !== "checkbox" || typeof property.checkbox !== "boolean") return "unknown";
  return property.checkbox === checkbox.equals ? "match" : "no-match";
}

function combine(parts: FilterMatch[], how: "and" | "or"): FilterMatch {
  const decisive = how === "and" ? "no-match" : "match";
  if (parts.includes(decisive)) return decisive;
  return parts.includes("unknown") ? "unknown" : how === "and" ? "match" : "no-match";
}
