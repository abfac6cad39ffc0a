/**
 * Dependencies point down (docs/architecture.md, "Code map"): this reads every import of
 * lib/ and fails on one that points up or sideways across a boundary.
 */
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(__dirname, "../..");

/** Folder (or file) under lib/ → the lib/ folders and files it must never import. */
const FORBIDDEN: Record<string, string[]> = {
  "lib/core": [
    "lib/auth",
    "lib/dashboard",
    "lib/files",
    "lib/http",
    "lib/kv",
    "lib/mirror",
    "lib/notion",
    "lib/operator",
    "lib/orchestration",
    "lib/preview",
    "lib/qstash",
    "lib/sync",
    "lib/webhooks",
    "lib/runtime.ts",
    "lib/config.ts",
    "lib/read.ts",
  ],
  "lib/kv": [
    "lib/sync",
    "lib/webhooks",
    "lib/orchestration",
    "lib/http",
    "lib/qstash",
    "lib/operator",
    "lib/runtime.ts",
  ],
  "lib/notion": [
    "lib/sync",
    "lib/webhooks",
    "lib/orchestration",
    "lib/http",
    "lib/qstash",
    "lib/operator",
    "lib/runtime.ts",
  ],
  "lib/mirror": [
    "lib/sync",
    "lib/webhooks",
    "lib/orchestration",
    "lib/http",
    "lib/qstash",
    "lib/operator",
    "lib/runtime.ts",
  ],
  "lib/sync": [
    "lib/http",
    "lib/orchestration",
    "lib/webhooks",
    "lib/qstash",
    "lib/runtime.ts",
    "lib/dashboard",
    "lib/operator",
  ],
  "lib/qstash": ["lib/sync", "lib/webhooks", "lib/http", "lib/runtime.ts"],
  "lib/workspace": [
    "lib/sync",
    "lib/webhooks",
    "lib/orchestration",
    "lib/http",
    "lib/qstash",
    "lib/operator",
    "lib/kv",
    "lib/runtime.ts",
  ],
};

function filesUnder(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((d) => {
    const rel = `${dir}/${d.name}`;
    if (d.isDirectory()) return filesUnder(rel);
    return /\.tsx?$/.test(d.name) ? [rel] : [];
  });
}

/** Repo-relative targets of a file's relative imports (static, re-exports, dynamic). */
export function importsOf(file: string, source: string): string[] {
  const specifiers = [...source.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)["']([^"']+)["']/g)].map((m) => m[1]);
  return specifiers
    .filter((s) => s.startsWith("."))
    .map((s) => path.posix.normalize(path.posix.join(path.posix.dirname(file), s)));
}

function violates(target: string, forbidden: string): boolean {
  const bare = target.replace(/\.tsx?$/, "");
  const rule = forbidden.replace(/\.tsx?$/, "");
  return bare === rule || bare.startsWith(`${rule}/`);
}

describe("import boundaries", () => {
  const files = filesUnder("lib");

  it("finds the imports it checks", () => {
    // A parser that found nothing would pass every rule: make it prove it reads imports.
    const engine = files.find((f) => f === "lib/sync/engine.ts")!;
    expect(importsOf(engine, readFileSync(path.join(ROOT, engine), "utf8"))).toContain("lib/sync/cursor");
    expect(
      importsOf("lib/a/b.ts", `import x from "../c/d";\nexport { y } from "./e";\nconst z = await import("../../f");`),
    ).toEqual(["lib/c/d", "lib/a/e", "f"]);
  });

  it("has a rule for every folder the code map names as lower layers", () => {
    for (const folder of Object.keys(FORBIDDEN)) expect(files.some((f) => f.startsWith(`${folder}/`))).toBe(true);
  });

  it("no lower layer imports a higher one", () => {
    const found: string[] = [];
    for (const file of files) {
      const rules = Object.entries(FORBIDDEN).filter(([from]) => file.startsWith(`${from}/`));
      if (rules.length === 0) continue;
      const targets = importsOf(file, readFileSync(path.join(ROOT, file), "utf8"));
      for (const [, forbidden] of rules) {
        for (const target of targets) if (forbidden.some((f) => violates(target, f))) found.push(`${file} → ${target}`);
      }
    }
    expect(found).toEqual([]);
  });
});
