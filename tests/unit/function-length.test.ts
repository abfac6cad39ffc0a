/**
 * lib/sync stays readable: no function over 60 lines, and no module-level
 * mutable state (per-invocation state lives on the RunContext or in the
 * phase's state objects, passed down).
 */
import { readFileSync, readdirSync } from "node:fs";
import { join, relative } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const ROOT = join(__dirname, "../../lib/sync");
const MAX_LINES = 60;

function sourceFiles(dir: string): ts.SourceFile[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return e.name.endsWith(".ts")
      ? [ts.createSourceFile(path, readFileSync(path, "utf8"), ts.ScriptTarget.Latest, true)]
      : [];
  });
}

function functionName(node: ts.FunctionLikeDeclaration, file: ts.SourceFile): string {
  if (node.name) return node.name.getText(file);
  const parent = node.parent;
  if ((ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent)) && parent.name)
    return parent.name.getText(file);
  return "<anonymous>";
}

/** Every function, arrow, method and accessor over `max` lines, as `file:line name (n lines)`. */
function longFunctions(files: ts.SourceFile[], max: number): string[] {
  const found: string[] = [];
  for (const file of files) {
    const visit = (node: ts.Node): void => {
      if (ts.isFunctionLike(node) && "body" in node && node.body) {
        const start = file.getLineAndCharacterOfPosition(node.getStart(file)).line;
        const lines = file.getLineAndCharacterOfPosition(node.getEnd()).line - start + 1;
        if (lines > max)
          found.push(
            `${relative(ROOT, file.fileName)}:${start + 1} ${functionName(node as ts.FunctionLikeDeclaration, file)} (${lines} lines)`,
          );
      }
      ts.forEachChild(node, visit);
    };
    visit(file);
  }
  return found;
}

const MUTABLE_CONTAINERS = new Set(["Map", "Set", "WeakMap", "WeakSet"]);

/** Module-scope `let`/`var` declarations and containers built at module scope, as `file name`. */
function moduleState(files: ts.SourceFile[]): string[] {
  const found: string[] = [];
  for (const file of files) {
    for (const statement of file.statements) {
      if (!ts.isVariableStatement(statement)) continue;
      const constant = (statement.declarationList.flags & ts.NodeFlags.Const) !== 0;
      for (const decl of statement.declarationList.declarations) {
        const init = decl.initializer;
        const container = init && ts.isNewExpression(init) && MUTABLE_CONTAINERS.has(init.expression.getText(file));
        if (!constant || container) found.push(`${relative(ROOT, file.fileName)} ${decl.name.getText(file)}`);
      }
    }
  }
  return found;
}

describe("lib/sync shape", () => {
  const files = sourceFiles(ROOT);

  it(`has no function over ${MAX_LINES} lines`, () => {
    expect(files.length).toBeGreaterThan(10);
    expect(longFunctions(files, MAX_LINES)).toEqual([]);
  });

  it("has no module-level mutable state", () => {
    expect(moduleState(files)).toEqual([]);
  });

  it("the checks see what they look for", () => {
    const probe = ts.createSourceFile(
      "probe.ts",
      [
        "let counter = 0;",
        "const seen = new WeakMap<object, number>();",
        "const LIMIT = 3;",
        `function long() {${"\n  counter++;".repeat(MAX_LINES)}\n}`,
      ].join("\n"),
      ts.ScriptTarget.Latest,
      true,
    );
    expect(moduleState([probe]).map((s) => s.split(" ").pop())).toEqual(["counter", "seen"]);
    expect(longFunctions([probe], MAX_LINES)).toHaveLength(1);
  });
});
