/**
 * A recursive "same keys and value types" comparer for JSON answers, used to
 * hold the Notion emulator (and our bundles) to the shapes of recorded real
 * Notion responses (tests/fixtures/real-notion/).
 *
 * Values are folded into a **shape model**: a map from a *position* to what
 * was seen there. A position is a path where
 * - array indices are dropped (`results[]`): an array's element shape is the
 *   union of its elements' shapes;
 * - an object carries its discriminator, the value of its string `type` key
 *   (`{paragraph}`, `{mention}`, `{}` when it has none), so the variants of
 *   Notion's tagged unions (block types, rich text kinds, file kinds, parents,
 *   property values...) are compared variant by variant;
 * - the keys of name-keyed maps (`properties`: property names are the
 *   user's) are replaced by `*`;
 * - shared vocabularies ("aliases": rich text items, icons, covers,
 *   parents) are rooted at `@name`, whatever their position, because Notion
 *   uses one shape for them everywhere (a caption's rich text is a
 *   paragraph's; a block's parent object is a page's). An aliased value is
 *   compared as a whole at its root, so its null-ness at the original
 *   position is checked only when it is null.
 *
 * At every position the model keeps the value kinds seen (null, string,
 * number, boolean, array, object) and, for objects, how often each key was
 * present. Comparing an actual model (the emulator's) with an expected one
 * (the recordings') then checks, position by position:
 * - every actual kind was seen in the recordings there (so null vs a value is
 *   allowed only where Notion itself shows both);
 * - every actual object key is one the recordings show there, and every key
 *   the recordings always show there is always present (a key the recordings
 *   show only sometimes may be present or not);
 * - every actual position exists in the recordings (nothing invented), and
 *   every recorded position exists in the actual model (everything covered),
 * except where an exception (with its reason) says otherwise.
 */

export type Kind = "null" | "string" | "number" | "boolean" | "array" | "object";

export interface Position {
  kinds: Set<Kind>;
  /** Objects seen at this position (only for object positions, whose path ends with `{…}`). */
  objects: number;
  keyCounts: Map<string, number>;
  /** Where the samples came from (first few), for messages. */
  sources: Set<string>;
}

export type ShapeModel = Map<string, Position>;

export interface Alias {
  name: string;
  /**
   * Whether the value's kind is also recorded at its own position (icons,
   * covers, parents: null there vs an object stays checked); rich text items
   * are compared at their root only (a caption with text where Notion's
   * captions of that block variant happened to be empty is fine).
   */
  keepKind?: boolean;
  /** Whether the value held under `key` belongs to this shared vocabulary. */
  test(value: unknown, key: string | null): boolean;
}

export interface WalkOptions {
  /** Keys whose object values are maps keyed by user-chosen names (default: `properties`). */
  mapKeys?: readonly string[];
  aliases?: readonly Alias[];
}

/** Rich text items anywhere (titles, captions, table cells, property values, descriptions). */
export const RICH_TEXT_ALIAS: Alias = {
  name: "rich_text",
  test: (value) => isObject(value) && typeof value.plain_text === "string" && isObject(value.annotations),
};

/** Page, database, data source and callout icons, and covers: one file-or-emoji object everywhere. */
export const ICON_ALIAS: Alias = {
  name: "icon",
  keepKind: true,
  test: (value, key) => key === "icon" && isObject(value),
};
export const COVER_ALIAS: Alias = {
  name: "cover",
  keepKind: true,
  test: (value, key) => key === "cover" && isObject(value),
};
/** Parents of pages, blocks, databases and data sources (`{type: "page_id", page_id}`...). */
export const PARENT_ALIAS: Alias = {
  name: "parent",
  keepKind: true,
  test: (value, key) => (key === "parent" || key === "database_parent") && isObject(value),
};

export const NOTION_ALIASES: readonly Alias[] = [RICH_TEXT_ALIAS, ICON_ALIAS, COVER_ALIAS, PARENT_ALIAS];

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function kindOf(value: unknown): Kind {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  const kind = typeof value;
  if (kind === "string" || kind === "number" || kind === "boolean") return kind;
  if (kind === "object") return "object";
  throw new Error(`not a JSON value: ${kind}`);
}

function position(model: ShapeModel, path: string): Position {
  let pos = model.get(path);
  if (!pos) {
    pos = { kinds: new Set(), objects: 0, keyCounts: new Map(), sources: new Set() };
    model.set(path, pos);
  }
  return pos;
}

/** Folds `value` into `model` at `root` (a position name such as `block` or `page`). */
export function addSample(
  model: ShapeModel,
  value: unknown,
  root: string,
  source: string,
  options: WalkOptions = {},
): ShapeModel {
  const mapKeys = new Set(options.mapKeys ?? ["properties"]);
  const aliases = options.aliases ?? NOTION_ALIASES;
  const walk = (v: unknown, at: string, key: string | null, isMap: boolean): void => {
    const alias = !isMap && isObject(v) ? aliases.find((a) => a.test(v, key)) : undefined;
    const path = alias ? `@${alias.name}` : at;
    if (alias?.keepKind) {
      const own = position(model, at);
      own.kinds.add("object");
      if (own.sources.size < 4) own.sources.add(source);
    }
    const here = position(model, path);
    here.kinds.add(kindOf(v));
    if (here.sources.size < 4) here.sources.add(source);
    if (Array.isArray(v)) {
      for (const element of v) walk(element, `${path}[]`, null, false);
      return;
    }
    if (!isObject(v)) return;
    if (isMap) {
      for (const entry of Object.values(v)) walk(entry, `${path}.*`, null, false);
      return;
    }
    const objectPath = `${path}{${typeof v.type === "string" ? v.type : ""}}`;
    const obj = position(model, objectPath);
    obj.kinds.add("object");
    obj.objects++;
    if (obj.sources.size < 4) obj.sources.add(source);
    for (const [k, child] of Object.entries(v)) {
      obj.keyCounts.set(k, (obj.keyCounts.get(k) ?? 0) + 1);
      walk(child, `${objectPath}.${k}`, k, mapKeys.has(k));
    }
  };
  walk(value, root, null, false);
  return model;
}

export function modelOf(
  samples: { value: unknown; root: string; source: string }[],
  options?: WalkOptions,
): ShapeModel {
  const model: ShapeModel = new Map();
  for (const s of samples) addSample(model, s.value, s.root, s.source, options);
  return model;
}

/** Copies the positions of `from` accepted by `keep` into `into` (merging counts). */
export function mergeModel(
  into: ShapeModel,
  from: ShapeModel,
  keep: (path: string) => boolean = () => true,
): ShapeModel {
  for (const [path, pos] of from) {
    if (!keep(path)) continue;
    const target = position(into, path);
    for (const kind of pos.kinds) target.kinds.add(kind);
    target.objects += pos.objects;
    for (const [k, n] of pos.keyCounts) target.keyCounts.set(k, (target.keyCounts.get(k) ?? 0) + n);
    for (const s of pos.sources) if (target.sources.size < 4) target.sources.add(s);
  }
  return into;
}

/**
 * Documented departures from the recordings. Every entry is a path prefix (a
 * position and everything under it) mapped to the reason.
 * - `extraPositions`: positions the actual model may have that no recording shows;
 * - `uncovered`: recorded positions the actual model need not produce;
 * - `optionalKeys`: `"<object position>#<key>"` keys that may be present or absent
 *   whatever the recordings say;
 * - `extraKinds`: `"<position>#<kind>"` value kinds allowed beyond the recorded ones.
 */
export interface Exceptions {
  extraPositions?: Record<string, string>;
  uncovered?: Record<string, string>;
  optionalKeys?: Record<string, string>;
  extraKinds?: Record<string, string>;
}

function covered(rules: Record<string, string> | undefined, path: string): boolean {
  if (!rules) return false;
  return Object.keys(rules).some((prefix) => path === prefix || path.startsWith(prefix));
}

export interface Comparison {
  /** Differences not covered by an exception: the test expects none. */
  problems: string[];
  /** Keys the recordings show at a position only sometimes ("Notion shows both"), `"<position>#<key>"`. */
  varyingKeys: string[];
}

/**
 * Compares an actual model with an expected (recorded) one. `scope` limits
 * the coverage check to recorded positions under these prefixes (default: all).
 */
export function compareModels(
  actual: ShapeModel,
  expected: ShapeModel,
  exceptions: Exceptions = {},
  scope?: readonly string[],
): Comparison {
  const problems: string[] = [];
  const varyingKeys: string[] = [];
  const from = (pos: Position) => [...pos.sources].join(", ");
  for (const [path, got] of actual) {
    const want = expected.get(path);
    if (!want) {
      if (!covered(exceptions.extraPositions, path))
        problems.push(`emulator-only position ${path} (${[...got.kinds].join("|")}; from ${from(got)})`);
      continue;
    }
    for (const kind of got.kinds) {
      if (!want.kinds.has(kind) && !covered(exceptions.extraKinds, `${path}#${kind}`)) {
        problems.push(`${path}: ${kind} where Notion shows only ${[...want.kinds].join("|")} (from ${from(got)})`);
      }
    }
    if (got.objects === 0) continue;
    for (const [key, n] of got.keyCounts) {
      const optional = covered(exceptions.optionalKeys, `${path}#${key}`);
      if (!want.keyCounts.has(key) && !optional)
        problems.push(
          `${path}: key "${key}" that Notion never sends there (in ${n} of ${got.objects}; from ${from(got)})`,
        );
    }
    for (const [key, n] of want.keyCounts) {
      if (n < want.objects) continue; // Notion itself sends it only sometimes
      if (covered(exceptions.optionalKeys, `${path}#${key}`)) continue;
      const have = got.keyCounts.get(key) ?? 0;
      if (have < got.objects)
        problems.push(
          `${path}: key "${key}" missing in ${got.objects - have} of ${got.objects} (Notion always sends it; from ${from(got)})`,
        );
    }
  }
  for (const [path, want] of expected) {
    for (const [key, n] of want.keyCounts) if (n < want.objects) varyingKeys.push(`${path}#${key}`);
    if (scope && !scope.some((prefix) => path === prefix || path.startsWith(prefix))) continue;
    if (!actual.has(path) && !covered(exceptions.uncovered, path))
      problems.push(`not covered by the emulator: ${path} (recorded in ${from(want)})`);
  }
  return { problems, varyingKeys };
}

/** Pairwise convenience: the differences between one actual and one expected JSON value. */
export function shapeDiff(
  actual: unknown,
  expected: unknown,
  exceptions: Exceptions = {},
  options?: WalkOptions,
): string[] {
  const a = modelOf([{ value: actual, root: "$", source: "actual" }], options);
  const e = modelOf([{ value: expected, root: "$", source: "expected" }], options);
  return compareModels(a, e, exceptions).problems;
}
