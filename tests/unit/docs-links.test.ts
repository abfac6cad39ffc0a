/**
 * README.md is a front door (at most 250 lines) and the reference lives in docs/: every
 * relative link and anchor of README.md and docs/*.md resolves, and no prose line of either
 * is over 600 characters.
 */
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const PAGES = [
  "README.md",
  ...readdirSync(path.join(ROOT, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => `docs/${f}`),
];

/** The page's lines outside fenced code blocks, with their numbers. */
function proseLines(text: string): { n: number; line: string }[] {
  const out: { n: number; line: string }[] = [];
  let fenced = false;
  text.split("\n").forEach((line, i) => {
    if (/^\s*```/.test(line)) fenced = !fenced;
    else if (!fenced) out.push({ n: i + 1, line });
  });
  return out;
}

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens; repeats get -1, -2… */
export function anchorsOf(text: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const { line } of proseLines(text)) {
    for (const m of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(m[1]);
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!heading) continue;
    const base = heading[1]
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\p{M} _-]/gu, "")
      .replace(/ /g, "-");
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

/** Every markdown link and image target of the page, outside code. */
export function linksOf(text: string): { n: number; target: string }[] {
  const out: { n: number; target: string }[] = [];
  for (const { n, line } of proseLines(text)) {
    const withoutCode = line.replace(/`[^`]*`/g, "");
    for (const m of withoutCode.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g))
      out.push({ n, target: m[1] });
  }
  return out;
}

const read = (rel: string) => readFileSync(path.join(ROOT, rel), "utf8");

describe("README and docs/", () => {
  it("the link checker finds headings' anchors as GitHub makes them, and links outside code only", () => {
    const anchors = anchorsOf(
      '# Operating a sync: `npm run kv:cursors`\n## Files: `/api/files/<ref>`\n## Tests\n## Tests\n<a id="status-api"></a>',
    );
    expect([...anchors]).toEqual([
      "operating-a-sync-npm-run-kvcursors",
      "files-apifilesref",
      "tests",
      "tests-1",
      "status-api",
    ]);
    expect(
      linksOf("see [a](docs/a.md#x) and `[b](nope.md)`\n```\n[c](code.md)\n```\n![img](docs/p.png)").map(
        (l) => l.target,
      ),
    ).toEqual(["docs/a.md#x", "docs/p.png"]);
  });

  it("every relative link and anchor resolves", () => {
    const broken: string[] = [];
    for (const page of PAGES) {
      for (const { n, target } of linksOf(read(page))) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
        const [file, anchor] = target.split("#", 2);
        const resolved = file ? path.join(path.dirname(page), decodeURIComponent(file)) : page;
        if (!existsSync(path.join(ROOT, resolved))) {
          broken.push(`${page}:${n}: ${target} (no file ${resolved})`);
          continue;
        }
        if (anchor === undefined || statSync(path.join(ROOT, resolved)).isDirectory()) continue;
        if (!resolved.endsWith(".md") || !anchorsOf(read(resolved)).has(decodeURIComponent(anchor)))
          broken.push(`${page}:${n}: ${target} (no anchor #${anchor} in ${resolved})`);
      }
    }
    expect(broken).toEqual([]);
  });

  it("README.md is at most 250 lines", () => {
    expect(read("README.md").replace(/\n$/, "").split("\n").length).toBeLessThanOrEqual(250);
  });

  it("no prose line is over 600 characters (tables and code aside)", () => {
    const long: string[] = [];
    for (const page of PAGES)
      for (const { n, line } of proseLines(read(page)))
        if (!line.trimStart().startsWith("|") && [...line].length > 600)
          long.push(`${page}:${n} (${[...line].length})`);
    expect(long).toEqual([]);
  });
});
