/**
 * npm test's static checks (scripts/checks.sh: tsc --noEmit and prettier --check), as a suite of
 * the two-at-a-time group: they overlap that group's builds and waits instead of delaying every suite.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { expect, it } from "vitest";

const ROOT = path.resolve(import.meta.dirname, "..");

it("the type check and the format check pass", { timeout: 300_000 }, async () => {
  const child = spawn("bash", ["scripts/checks.sh"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
  expect(code, output).toBe(0);
});
