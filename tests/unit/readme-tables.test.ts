/**
 * The measured tables of docs/benchmark.md are the committed results files' (`npm run
 * docs:tables` writes them): this fails when someone edits the table by hand
 * or commits new results without regenerating it.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { generatedReadme } from "../../scripts/bench/readme-tables";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

describe("docs/benchmark.md figures generated from results files", () => {
  it("the scale table, the capped-heap line and the benchmark tables match bench/scale-results.json, bench/scale-capped-results.json and bench/results.json", () => {
    const readme = readFileSync(path.join(ROOT, "docs/benchmark.md"), "utf8");
    expect(readme).toContain("<!-- scale-table:start");
    expect(readme).toContain("<!-- scale-capped:start");
    expect(readme).toContain("<!-- bench-table:start");
    expect(readme).toContain("<!-- bench-webhook-table:start");
    expect(readme, "docs/benchmark.md differs from the results files: run npm run docs:tables").toBe(
      generatedReadme(ROOT, readme),
    );
  });
});
