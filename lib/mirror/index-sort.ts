/**
 * A section's index order (its `sort` option). The default, created_time
 * descending, is the stored order (created_time ascending, as Notion lists
 * rows) read backwards: "newest_first", as every index always was. Any other
 * sort is stored in public order ("sorted"), the manifest naming it.
 */
import type { SectionSort } from "../workspace/schema";
import { dateStart } from "./properties";
import type { IndexEntry, SimpleValue } from "./shapes";

export type { SectionSort } from "../workspace/schema";

export function isDefaultSort(sort: SectionSort | undefined): boolean {
  return !sort || ("timestamp" in sort && sort.timestamp === "created_time" && sort.direction === "descending");
}

type Key = string | number | null;

/** A flattened value as something to compare: text, a number, a date's start; null sorts last. */
function keyOf(value: SimpleValue | undefined): Key {
  if (value === null || value === undefined) return null;
  if (typeof value === "number") return value;
  if (typeof value === "boolean") return value ? 1 : 0;
  if (typeof value === "string") return value;
  if (Array.isArray(value)) {
    const first = value[0] as SimpleValue | undefined;
    if (first === undefined) return null;
    return typeof first === "object" && first !== null && "name" in first ? String(first.name) : keyOf(first);
  }
  return dateStart(value);
}

function entryKey(entry: IndexEntry, sort: SectionSort): Key {
  return "timestamp" in sort ? entry[sort.timestamp] : keyOf(entry.properties[sort.property]);
}

function compareKeys(a: Key, b: Key): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  if (typeof a === "number" && typeof b === "number") return a - b;
  return String(a) < String(b) ? -1 : 1;
}

interface Keyed {
  entry: IndexEntry;
  key: Key;
}

function compareKeyed(x: Keyed, y: Keyed, sign: number): number {
  const empty = Number(x.key === null) - Number(y.key === null);
  if (empty !== 0) return empty;
  return (
    sign * compareKeys(x.key, y.key) ||
    compareKeys(x.entry.created_time, y.entry.created_time) ||
    compareKeys(x.entry.id, y.entry.id)
  );
}

/** `sort`'s order of two entries: empty values last whatever the direction, ties by creation then id. */
export function entryComparator(sort: SectionSort): (a: IndexEntry, b: IndexEntry) => number {
  const sign = sort.direction === "descending" ? -1 : 1;
  return (a, b) => compareKeyed({ entry: a, key: entryKey(a, sort) }, { entry: b, key: entryKey(b, sort) }, sign);
}

/** The entries in `sort`'s order (see entryComparator). */
export function sortEntries(entries: IndexEntry[], sort: SectionSort): IndexEntry[] {
  const sign = sort.direction === "descending" ? -1 : 1;
  const keyed = entries.map((entry) => ({ entry, key: entryKey(entry, sort) }));
  keyed.sort((x, y) => compareKeyed(x, y, sign));
  return keyed.map((k) => k.entry);
}
