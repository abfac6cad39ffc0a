/**
 * The package as a site gets it: `npm pack` (which builds dist/), the tarball
 * installed into a throwaway Next.js app outside the repository that has only
 * the catch-all route file, a page reading a post with the reader, its
 * package.json, next config and root layout; `next build`, `next start`, a sync
 * of the Notion emulator through its route, the post read back through its
 * page, and `npx notion-kv-sync cursors --json` in its directory.
 */
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createKeys } from "../../lib/kv/keys";
import { createRedisStore } from "../../lib/kv/redis";
import type { KvStore } from "../../lib/kv/store";
import { getSectionIndex } from "../../lib/read";
import { type NextApp, startNextApp } from "../../scripts/lib/next-app";
import { generateWorkspace } from "../../scripts/emulator/notion/generate";
import { type NotionEmulator, startNotionEmulator } from "../../scripts/emulator/notion/server";
import { type RedisServerHandle, startRedisServer } from "../support/redis-server";

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const SECRET = "package-test-cron-secret-0123456789";
const PREFIX = "pkg";

/** The files a site writes, exactly as README's "Adding it to an existing site" shows them. */
const SITE_FILES: Record<string, string> = {
  "app/api/sync/[...path]/route.ts": [
    `import { createSyncHandler } from "notion-kv-sync/next";`,
    `export const maxDuration = 30;`,
    `export const { GET, POST } = createSyncHandler();`,
  ].join("\n"),
  "app/posts/[slug]/page.tsx": [
    `import { getPageBundle } from "notion-kv-sync";`,
    `import { notFound } from "next/navigation";`,
    ``,
    `export default async function Post({ params }: { params: Promise<{ slug: string }> }) {`,
    `  const post = await getPageBundle("posts", (await params).slug);`,
    `  if (!post) notFound();`,
    `  return <article data-id={post.id} data-blocks={post.blockCount}><h1>{post.title}</h1></article>;`,
    `}`,
  ].join("\n"),
  "app/layout.tsx": `export default function Layout({ children }: { children: React.ReactNode }) {\n  return <html><body>{children}</body></html>;\n}`,
  "next.config.mjs": `export default {};`,
};

/** The versions this repository runs, so the install is served from npm's cache. */
async function installedVersion(name: string): Promise<string> {
  return (
    JSON.parse(await readFile(path.join(ROOT, "node_modules", name, "package.json"), "utf8")) as { version: string }
  ).version;
}

async function writeSite(dir: string, tarball: string): Promise<void> {
  const versions = Object.fromEntries(
    await Promise.all(
      ["next", "react", "react-dom", "typescript", "@types/react", "@types/node"].map(
        async (name) => [name, await installedVersion(name)] as const,
      ),
    ),
  );
  const { typescript, "@types/react": typesReact, "@types/node": typesNode, ...runtime } = versions;
  const pkg = {
    name: "throwaway-site",
    private: true,
    dependencies: { "notion-kv-sync": `file:${tarball}`, ...runtime },
    devDependencies: { typescript, "@types/react": typesReact, "@types/node": typesNode },
  };
  await writeFile(path.join(dir, "package.json"), JSON.stringify(pkg, null, 2));
  for (const [file, text] of Object.entries(SITE_FILES)) {
    await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
    await writeFile(path.join(dir, file), text + "\n");
  }
}

/** npm and next with none of this process's KV, Notion or test variables. */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const kept = Object.entries(process.env).filter(
    ([k]) => !/^(REDIS_URL|KV_|UPSTASH_|NOTION_|CRON_SECRET$|SYNC_|NODE_ENV$|VITEST|NKS_)/.test(k),
  );
  return { ...Object.fromEntries(kept), NEXT_TELEMETRY_DISABLED: "1", ...extra } as unknown as NodeJS.ProcessEnv;
}

describe("the packed package in a throwaway Next.js site", () => {
  let temp: string;
  let site: string;
  let packed: { filename: string; files: { path: string }[] };
  let emulator: NotionEmulator;
  let redis: RedisServerHandle;
  let kv: KvStore;
  let app: NextApp;
  let env: Record<string, string>;
  const workspace = generateWorkspace({ pages: 2, posts: 4, childDepth: 1 });

  beforeAll(async () => {
    temp = await mkdtemp(path.join(os.tmpdir(), "nks-package-"));
    site = path.join(temp, "site");
    await mkdir(site);
    // prepack builds dist/ first.
    const pack = await run("npm", ["pack", "--json", "--pack-destination", temp], {
      cwd: ROOT,
      env: childEnv(),
      maxBuffer: 16 * 1024 * 1024,
    });
    packed = (JSON.parse(pack.stdout.slice(pack.stdout.indexOf("["))) as (typeof packed)[])[0];
    await writeSite(site, path.join(temp, packed.filename));
    await run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"], {
      cwd: site,
      env: childEnv(),
    });
    await run(process.execPath, [path.join(site, "node_modules/next/dist/bin/next"), "build"], {
      cwd: site,
      env: childEnv(),
      maxBuffer: 16 * 1024 * 1024,
    });
    [emulator, redis] = await Promise.all([startNotionEmulator({ workspace }), startRedisServer()]);
    kv = createRedisStore({ url: redis.url });
    env = {
      CRON_SECRET: SECRET,
      NOTION_API_KEY: emulator.token,
      NOTION_PAGES_DB: workspace.pagesDatabaseId,
      NOTION_POSTS_DB: workspace.postsDatabaseId,
      NOTION_BASE_URL: emulator.url,
      NOTION_RATE_PER_MIN: "100000",
      REDIS_URL: redis.url,
      KV_PREFIX: PREFIX,
      SYNC_CHAIN: "off",
      SYNC_LOG: "off",
    };
    app = await startNextApp(env, { cwd: site });
  }, 600_000);

  afterAll(async () => {
    await app?.stop();
    await kv?.close();
    await Promise.all([emulator?.close(), redis?.stop()]);
    if (temp) await rm(temp, { recursive: true, force: true });
  });

  it("the tarball holds the built package only: no tests, emulators, data or secrets", () => {
    const files = packed.files.map((f) => f.path).sort();
    const outside = files.filter((f) => !f.startsWith("dist/") && f !== "package.json" && f !== "README.md");
    expect(outside).toEqual([]);
    for (const entry of ["dist/index.js", "dist/next.js", "dist/config.js", "dist/cli.js"])
      expect(files).toContain(entry);
    expect(files).toContain("dist/types/lib/package/next.d.ts");
    expect(files.filter((f) => /test|emulator|fixture|bench|\.data|\.env|\.map$/i.test(f))).toEqual([]);
  });

  it("syncs the emulator through the site's one route file, and its other endpoints answer there", async () => {
    const bearer = { authorization: `Bearer ${SECRET}` };
    let answer: Record<string, unknown> = {};
    for (let call = 0; call < 20 && answer.done !== true; call++) {
      const res = await fetch(`${app.url}/api/sync/posts`, { headers: bearer });
      answer = (await res.json()) as Record<string, unknown>;
      expect(res.status, JSON.stringify(answer)).toBe(200);
    }
    expect(answer).toMatchObject({ ok: true, section: "posts", done: true });
    const status = await fetch(`${app.url}/api/sync/status?section=posts`, { headers: bearer });
    expect(status.status).toBe(200);
    expect(await status.json()).toMatchObject({ ok: true, sections: [{ section: "posts", run: { status: "done" } }] });
    // The route exports GET and POST only: HEAD must still not run a sync.
    const head = await fetch(`${app.url}/api/sync/pages`, { method: "HEAD", headers: bearer });
    expect(head.status).toBe(405);
    expect(await kv.get(createKeys(PREFIX).cursor("pages"))).toBeNull();
    const unknown = await fetch(`${app.url}/api/sync/nope`, { headers: bearer });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: { code: "unknown_section" } });
  });

  it("reads a post through the site's page, from KV", async () => {
    const index = await getSectionIndex("posts", { kv, prefix: PREFIX, files: false });
    expect(index?.entries.length).toBe(workspace.stats().posts);
    const entry = index!.entries[0];
    const res = await fetch(`${app.url}/posts/${entry.slug}`);
    const html = await res.text();
    expect(res.status).toBe(200);
    expect(html).toContain(`data-id="${entry.id}"`);
    expect(html).toMatch(/data-blocks="[1-9]\d*"/);
    expect((await fetch(`${app.url}/posts/no-such-post`)).status).toBe(404);
  });

  it("npx notion-kv-sync cursors --json reads the site's KV", async () => {
    const { stdout } = await run("npx", ["--no-install", "notion-kv-sync", "cursors", "--json"], {
      cwd: site,
      env: childEnv(env),
    });
    const doc = JSON.parse(stdout) as { sections: { section: string; run: { status: string } | null }[] };
    expect(doc.sections.map((s) => s.section)).toEqual(["pages", "posts", "children"]);
    expect(doc.sections.find((s) => s.section === "posts")!.run).toMatchObject({ status: "done" });
    expect(stdout).not.toContain(redis.url);
  });
});
