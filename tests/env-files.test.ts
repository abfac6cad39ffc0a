/**
 * The operator scripts read .env.local / .env like Next does: a script run
 * in a project after `vercel env pull` sees the deployment's store.
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const TSX = path.join(ROOT, "node_modules/.bin/tsx");

function header(cwd: string, env: Record<string, string>): Promise<string> {
  const base = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^(REDIS_URL|KV_|UPSTASH_|NOTION_|NODE_ENV$)/.test(k)),
  ) as Record<string, string>;
  // NODE_ENV=test (set by vitest) would make @next/env skip .env.local; tsx reads tsconfig.json from the cwd.
  const childEnv: Record<string, string> = {
    ...base,
    TSX_TSCONFIG_PATH: path.join(ROOT, "tsconfig.json"),
    NO_COLOR: "1",
    ...env,
  };
  const child = spawn(TSX, [path.join(ROOT, "scripts/kv-cursors.ts")], { cwd, env: childEnv as NodeJS.ProcessEnv });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  return new Promise((resolve) => child.on("close", () => resolve(out.split("\n")[0])));
}

describe("env files", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "nks-envfiles-"));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("kv:cursors reads .env.local and .env in its directory; variables already set win", async () => {
    const project = { NOTION_POSTS_DB: "posts-db" };
    expect(await header(dir, project)).toMatch(/file store \(\.data\/, KV_FILE_DIR unset\) · prefix nks /);
    await writeFile(path.join(dir, ".env"), `KV_PREFIX=fromdotenv\nKV_FILE_DIR=${path.join(dir, "kv")}\n`);
    await writeFile(path.join(dir, ".env.local"), "KV_PREFIX=fromlocal\n");
    expect(await header(dir, project)).toMatch(/file store \(KV_FILE_DIR\) · prefix fromlocal /);
    expect(await header(dir, { ...project, KV_PREFIX: "fromshell" })).toMatch(/· prefix fromshell /);
  });
});
