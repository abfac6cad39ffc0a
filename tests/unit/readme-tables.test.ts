/**
 * The measured tables of docs/benchmark.md are the committed results files' (`npm run
 * docs:tables` writes them): this fails when someone edits the table by hand
 * or commits new results without regenerating it.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { Result } from "../../scripts/bench";
import { filesBlock, generatedReadme } from "../../scripts/bench/readme-tables";
import { renderFilesTable } from "../../scripts/bench/table";

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

describe("the files-mirror table", () => {
  const row = (contender: string, run: "full" | "no-change", wallMs: number, total: number, files?: object) =>
    ({
      size: 100,
      contender,
      run,
      speed: 10,
      ok: true,
      wallMs,
      pages: 164,
      notion: { total },
      kv: { commands: 328 },
      ...(files ? { files } : {}),
    }) as unknown as Result;
  const figures = (uploaded: number, bytes: number, fileRequests: number) => ({
    uploaded,
    bytes,
    fileRequests,
    storePuts: uploaded,
    storeBytes: bytes,
    objects: 40,
    hostedFiles: 40,
  });

  it("puts each qstash-files run beside the same qstash-blocks run, as ratios", () => {
    const table = renderFilesTable([
      row("qstash-blocks", "full", 19_000, 530),
      { ...row("qstash-files", "full", 20_900, 530, figures(40, 2 * 1024 * 1024, 40)), notionVersion: "2026-12-01" },
      row("qstash-files", "no-change", 1_000, 4, figures(0, 0, 0)),
    ]);
    const lines = table.split("\n");
    expect(lines).toHaveLength(4);
    expect(lines[2]).toBe(
      "| 100 | full | yes | 2026-12-01 | 40 | 40 | 2.00 | 40 | 40 | 19.0 / 20.9 | 1.10 | 530 / 530 | 1.00 | 2.00 / 2.00 |",
    );
    // No mirror-off run of the same size and run to compare with: the ratios say so.
    // A row measured before versions were recorded shows none.
    expect(lines[3]).toBe("| 100 | no-change | yes | - | 40 | 0 | 0.00 | 0 | 0 | - / 1.0 | - | - / 4 | - | - / 2.00 |");
  });

  it("without files rows the block says how to measure them", () => {
    expect(filesBlock([row("qstash-blocks", "full", 19_000, 530)])).toMatch(/^No `qstash-files` rows/);
  });
});
