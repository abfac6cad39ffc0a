/**
 * A broken notion-kv-sync.config.ts: every route answers 503 config_error
 * naming the section and the field, never a 500. The config is bundled, so the
 * fixture (tests/fixtures/broken-config) stands in for the config module here,
 * as NKS_CONFIG_FILE makes it do in a build.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { handleStatus } from "../lib/http/status-route";
import { handleSync } from "../lib/http/sync-route";
import { handleTrigger } from "../lib/http/trigger-route";

vi.mock("@notion-kv-sync/root/notion-kv-sync.config", () => import("./fixtures/broken-config/notion-kv-sync.config"));

const SECRET = "broken-config-secret-0123456789";
const dir = mkdtempSync(path.join(os.tmpdir(), "nks-broken-config-"));
const env = { CRON_SECRET: SECRET, NOTION_API_KEY: "secret_x", KV_FILE_DIR: dir, SYNC_LOG: "off" };
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface ErrorAnswer {
  ok: false;
  error: { code: string; message: string };
  fields?: string[];
  variables?: string[];
}

const read = async (response: Response) => ({ status: response.status, body: (await response.json()) as ErrorAnswer });

describe("a broken config file", () => {
  it("answers 503 config_error naming section and field on a section, the trigger and the status", async () => {
    const answers = await Promise.all([
      handleSync("blog", new Request(`http://localhost/api/sync/blog?secret=${SECRET}`), env).then(read),
      handleTrigger(new Request(`http://localhost/api/sync/trigger?secret=${SECRET}`), env).then(read),
      handleStatus(new Request(`http://localhost/api/sync/status?secret=${SECRET}`), env).then(read),
    ]);
    for (const { status, body } of answers) {
      expect(status, JSON.stringify(body)).toBe(503);
      expect(body.error.code).toBe("config_error");
      expect(body.fields).toEqual(["sections.blog.content"]);
      expect(body.error.message).toContain("sections.blog.content");
    }
  });

  it("still refuses a caller without the secret before saying anything about the config", async () => {
    const { status, body } = await read(await handleSync("blog", new Request("http://localhost/api/sync/blog"), env));
    expect(status).toBe(401);
    expect(body.fields).toBeUndefined();
  });
});
