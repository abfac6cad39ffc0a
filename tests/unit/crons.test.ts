/** `npm run crons`: vercel.json's crons follow the workspace, and the repository's own agree with it. */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseCronsArgs, runCrons } from "../../scripts/crons";
import { CronUsageError, existingOptions, planCrons } from "../../scripts/crons/plan";

const ROOT = path.resolve(__dirname, "../..");
const temps: string[] = [];
afterAll(() => temps.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/** A root holding the repository's vercel.json and, when given, a config file. */
function tempRoot(config?: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), "nks-crons-"));
  temps.push(dir);
  cpSync(path.join(ROOT, "vercel.json"), path.join(dir, "vercel.json"));
  if (config) writeFileSync(path.join(dir, "notion-kv-sync.config.ts"), config);
  return dir;
}

const SECTIONS_CONFIG = readFileSync(path.join(ROOT, "tests/fixtures/e2e-sections.config.ts"), "utf8");

describe("npm run crons", () => {
  it("the repository's vercel.json agrees with its workspace (npm run crons -- --check)", async () => {
    const outcome = await runCrons({ check: true, root: ROOT, options: {} }, {});
    expect(outcome.lines.join("\n"), "run npm run crons").toContain("match");
    expect(outcome.code).toBe(0);
  });

  it("a config file's sections disagree with the default vercel.json; writing fixes it and keeps the rest", async () => {
    const root = tempRoot(SECTIONS_CONFIG);
    const before = JSON.parse(readFileSync(path.join(root, "vercel.json"), "utf8"));
    const check = await runCrons({ check: true, root, options: {} }, {});
    expect(check.code).toBe(1);
    expect(check.lines).toContain('- /api/sync/pages  "0 2 * * *"');
    expect(check.lines).toContain('+ /api/sync/blog  "0 2 * * *"');

    expect((await runCrons({ check: false, root, options: {} }, {})).code).toBe(0);
    const after = JSON.parse(readFileSync(path.join(root, "vercel.json"), "utf8"));
    expect(after.crons).toEqual([
      { path: "/api/sync/blog", schedule: "0 2 * * *" },
      { path: "/api/sync/docs", schedule: "5 2 * * *" },
      { path: "/api/sync/authors", schedule: "10 2 * * *" },
      { path: "/api/sync/news", schedule: "15 2 * * *" },
      { path: "/api/sync/children", schedule: "20 2 * * *" },
    ]);
    expect({ ...after, crons: undefined }).toEqual({ ...before, crons: undefined });
    expect((await runCrons({ check: true, root, options: {} }, {})).code).toBe(0);
  });

  it("a site's own crons in vercel.json are kept and not reported", async () => {
    const root = tempRoot(SECTIONS_CONFIG);
    const file = path.join(root, "vercel.json");
    const json = JSON.parse(readFileSync(file, "utf8"));
    json.crons.unshift({ path: "/api/revalidate-feed", schedule: "0 * * * *" });
    writeFileSync(file, JSON.stringify(json, null, 2));
    await runCrons({ check: false, root, options: {} }, {});
    const crons = JSON.parse(readFileSync(file, "utf8")).crons as Array<{ path: string }>;
    expect(crons.map((c) => c.path)).toEqual([
      "/api/revalidate-feed",
      "/api/sync/blog",
      "/api/sync/docs",
      "/api/sync/authors",
      "/api/sync/news",
      "/api/sync/children",
    ]);
    expect((await runCrons({ check: true, root, options: {} }, {})).code).toBe(0);
  });

  it("without a config file: the sections the env sets, else pages, posts and children", async () => {
    const root = tempRoot();
    const postsOnly = await runCrons({ check: true, root, options: {} }, { NOTION_POSTS_DB: "a".repeat(32) });
    expect(postsOnly.code).toBe(1);
    expect(postsOnly.lines).toContain('+ /api/sync/posts  "0 2 * * *"');
    expect(postsOnly.lines).toContain('+ /api/sync/children  "5 2 * * *"');
    expect(postsOnly.lines).not.toContain('+ /api/sync/pages  "0 2 * * *"');
  });

  it("--at and --every are kept by later rewrites; a check without them accepts them", async () => {
    const root = tempRoot(SECTIONS_CONFIG);
    await runCrons(parseCronsArgs(["--root", root, "--at", "23:50", "--every", "12h"]), {});
    const crons = JSON.parse(readFileSync(path.join(root, "vercel.json"), "utf8")).crons;
    expect(crons.map((c: { schedule: string }) => c.schedule)).toEqual([
      "50 11,23 * * *",
      "55 11,23 * * *",
      "0 0,12 * * *",
      "5 0,12 * * *",
      "10 0,12 * * *",
    ]);
    expect((await runCrons(parseCronsArgs(["--root", root, "--check"]), {})).code).toBe(0);
    expect((await runCrons(parseCronsArgs(["--root", root, "--check", "--at", "02:00"]), {})).code).toBe(1);
  });

  it("a config error or a bad option is reported, not a crash", async () => {
    const root = tempRoot(`export default { sections: { trigger: { database: "x" } } };`);
    await expect(runCrons({ check: true, root, options: {} }, {})).rejects.toThrow(/reserved/);
    expect(() => parseCronsArgs(["--at", "25:00"])).toThrow(CronUsageError);
    expect(() => parseCronsArgs(["--every", "5h"])).toThrow(CronUsageError);
    expect(() => parseCronsArgs(["--nope"])).toThrow(CronUsageError);
  });

  it("staggers 5 minutes in order and reads back its own schedules", () => {
    const crons = planCrons(["a", "b", "children"], { startMinute: 6 * 60 + 55, everyHours: 24 });
    expect(crons.map((c) => c.schedule)).toEqual(["55 6 * * *", "0 7 * * *", "5 7 * * *"]);
    expect(existingOptions(crons)).toEqual({ startMinute: 6 * 60 + 55, everyHours: 24 });
    expect(existingOptions([{ path: "/x", schedule: "*/5 * * * *" }])).toEqual({});
  });
});
