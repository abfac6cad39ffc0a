/**
 * `npm run typegen` against the Notion emulator: the declarations it writes
 * compile against a page reading typed properties, and a wrong property
 * access in another page fails to compile (tsc on a small project).
 */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateWorkspace } from "../scripts/emulator/notion/generate.js";
import { type NotionEmulator, startNotionEmulator } from "../scripts/emulator/notion/server.js";
import { parseTypegenArgs, runTypegen } from "../scripts/typegen";

const ROOT = path.resolve(__dirname, "..");
const run = promisify(execFile);

let emulator: NotionEmulator;
let dir: string;
let env: Record<string, string>;

beforeAll(async () => {
  emulator = await startNotionEmulator({
    workspace: generateWorkspace({ pages: 3, posts: 3, childDepth: 1, hugePages: 0 }),
    ratePerSecond: Infinity,
  });
  // Inside the repository so the project resolves node_modules; node_modules is outside tsconfig's include.
  mkdirSync(path.join(ROOT, "node_modules/.cache"), { recursive: true });
  dir = mkdtempSync(path.join(ROOT, "node_modules/.cache/nks-typegen-"));
  const ws = emulator.workspace;
  writeFileSync(
    path.join(dir, "sections.config.ts"),
    `export default { sections: {
      journal: { database: "${ws.postsDatabaseId}", properties: ["Name", "Status", "Rating", "Date", "Missing"] },
      notes: { database: { dataSource: "${ws.pagesDataSourceId}" }, content: "none" },
    } };\n`,
  );
  env = {
    NOTION_API_KEY: emulator.token,
    NOTION_BASE_URL: emulator.url,
    NKS_CONFIG_FILE: path.relative(ROOT, path.join(dir, "sections.config.ts")),
  };
});

afterAll(async () => {
  await emulator?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const READ = () => path.relative(dir, path.join(ROOT, "lib/read")).split(path.sep).join("/");

describe("npm run typegen", () => {
  it("writes each section's schema, `properties` applied, reading a database's data source or a data source", async () => {
    const out = path.join(dir, "notion-kv-sync-env.d.ts");
    const outcome = await runTypegen(parseTypegenArgs(["--out", out]), env);
    expect(outcome.code).toBe(0);
    expect(outcome.lines).toContain(
      'sections.journal.properties: "Missing" is not a property of its data source (left out)',
    );
    const text = readFileSync(out, "utf8");
    expect(text).toContain(`declare module "${READ()}"`);
    expect(text).toMatch(/journal: \{\s+Date: "date";\s+Name: "title";\s+Rating: "number";\s+Status: "status";\s+\};/);
    expect(text).toMatch(/notes: \{[^}]*Published: "checkbox";[^}]*\}/);
    expect((await runTypegen(parseTypegenArgs(["--out", out, "--check"]), env)).code).toBe(0);
  });

  it("its output compiles against a page reading typed properties; a wrong access does not compile", async () => {
    const read = READ();
    writeFileSync(
      path.join(dir, "page.ts"),
      `import { dateStart, getSectionIndex, getPageBundle } from "${read}";
export async function list(): Promise<string[]> {
  const index = await getSectionIndex("journal", { offset: 0, limit: 10 });
  const bundle = await getPageBundle("notes", "x");
  const published: boolean | undefined = bundle?.properties.Published.checkbox;
  return (index?.entries ?? []).map((e) => {
    const rating: number | null = e.properties.Rating;
    const status: string | null = e.properties.Status;
    return [e.properties.Name, rating, status, dateStart(e.properties.Date), published].join(" ");
  });
}\n`,
    );
    writeFileSync(
      path.join(dir, "wrong.ts"),
      `import { getSectionIndex } from "${read}";
export async function wrong(): Promise<unknown> {
  const index = await getSectionIndex("journal");
  return index?.entries[0]?.properties.Category;
}
export async function wrongType(): Promise<number | undefined> {
  const index = await getSectionIndex("journal");
  return index?.entries[0]?.properties.Status;
}\n`,
    );
    writeFileSync(
      path.join(dir, "tsconfig.json"),
      JSON.stringify({
        extends: path.relative(dir, path.join(ROOT, "tsconfig.json")),
        compilerOptions: { incremental: false, plugins: [] },
        include: [],
        files: ["notion-kv-sync-env.d.ts", "page.ts", "wrong.ts"],
      }),
    );
    const result = await run("npx", ["tsc", "--noEmit", "-p", path.join(dir, "tsconfig.json")], { cwd: ROOT }).then(
      () => ({ stdout: "" }),
      (error: { stdout: string }) => ({ stdout: error.stdout }),
    );
    const errors = result.stdout.split("\n").filter((l) => l.includes("error TS"));
    expect(
      errors.filter((l) => !l.startsWith("wrong.ts") && !l.includes("/wrong.ts")),
      result.stdout,
    ).toEqual([]);
    expect(errors.some((l) => l.includes("wrong.ts(4,") && l.includes("'Category' does not exist"))).toBe(true);
    expect(errors.some((l) => l.includes("wrong.ts(8,") && l.includes("TS2322"))).toBe(true);
  });
});
