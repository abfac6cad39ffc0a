/**
 * docs/configuration.md documents every environment variable the code reads, and its
 * generated table is what the code says (defaults and accepted values asked of the schemas):
 * a variable added to the code without a line in scripts/docs/variables.ts fails here.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  ENV_DOC,
  generatedEnvDoc,
  undocumentedVariables,
  variablesIn,
  variablesReadByCode,
} from "../../scripts/docs/env-table";
import { VARIABLES } from "../../scripts/docs/variables";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

describe("environment variables documented", () => {
  it("the scan finds each way the code reads a variable, and none a comment names", () => {
    const source = [
      "const a = process.env.ALPHA_ONE;",
      "const b = input.env?.BETA;",
      'const c = env["GAMMA_G"];',
      'const d = read(env, "DELTA_D");',
      "const Schema = z.object({\n  EPSILON_E: intInRange(1, 2, 1),\n});",
      "// a comment naming process.env.NOT_READ and `NOT_READ_EITHER`",
      "/** env.NOT_READ_IN_DOC */",
      'const url = "https://example.com/path"; const e = env.ZETA_Z;',
      'if (error.code === "ERR_INVALID_URL") throw error;',
    ].join("\n");
    expect([...variablesIn(source)].sort()).toEqual(["ALPHA_ONE", "BETA", "DELTA_D", "EPSILON_E", "GAMMA_G", "ZETA_Z"]);
    // A quoted name in code that reads no environment is some other constant (an SDK's enum value).
    expect([...variablesIn('const checksums = "WHEN_REQUIRED";')]).toEqual([]);
  });

  it("every variable the code reads is in scripts/docs/variables.ts", () => {
    const read = variablesReadByCode(ROOT);
    // The scan sees the variables of every layer (a sanity check that it reads the tree at all).
    for (const name of ["NOTION_API_KEY", "SYNC_BUDGET_MS", "QSTASH_URL", "UPSTASH_REDIS_REST_TOKEN", "CONTENT_API"])
      expect(read.has(name), name).toBe(true);
    expect(
      undocumentedVariables(ROOT),
      "read by the code but undocumented: add them to scripts/docs/variables.ts",
    ).toEqual([]);
  });

  it("no documented variable is one the code no longer reads (unless a library reads it or another branch will)", () => {
    const read = variablesReadByCode(ROOT);
    const stale = VARIABLES.filter((v) => !v.readByLibrary && !v.pending && !read.has(v.name)).map((v) => v.name);
    expect(stale).toEqual([]);
  });

  it("docs/configuration.md's table is the generated one", () => {
    const doc = readFileSync(path.join(ROOT, ENV_DOC), "utf8");
    expect(doc).toContain("<!-- env-table:start");
    expect(doc, `${ENV_DOC} differs from the code: run npm run docs:env`).toBe(generatedEnvDoc(doc));
  });
});
