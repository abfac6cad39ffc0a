/**
 * `notion-kv-sync/next`: the route handlers a Next.js site exports. Each
 * takes the site's config (the default export of its notion-kv-sync.config.ts);
 * without one the sections come from the environment (NOTION_PAGES_DB /
 * NOTION_POSTS_DB). Pass the same config to every handler.
 *
 *   // app/api/sync/[...path]/route.ts
 *   import { createSyncHandler } from "notion-kv-sync/next";
 *   import config from "../../../../notion-kv-sync.config";
 *   export const maxDuration = 30;
 *   export const { GET, POST } = createSyncHandler(config);
 */
import { contentRoute } from "../http/content-route";
import { filesRoute } from "../http/files-route";
import { methodNotAllowed } from "../http/method-not-allowed";
import { syncRouter } from "../http/sync-router";
import { webhookRoute } from "../http/webhook-route";
import type { NotionKvSyncConfig } from "../workspace/schema";
import { provideWorkspaceConfig } from "../workspace/load";

export type { NotionKvSyncConfig } from "../workspace/schema";

function provide(config: NotionKvSyncConfig | undefined): void {
  if (config !== undefined) provideWorkspaceConfig(config);
}

/**
 * Every sync endpoint from `app/api/sync/[...path]/route.ts`: /api/sync/<section>,
 * trigger, status, failed (QStash's failure callback) and dirty (webhook runs).
 * Also mount it at `app/api/sync/route.ts` for the /api/sync alias of trigger.
 */
export function createSyncHandler(config?: NotionKvSyncConfig) {
  provide(config);
  return syncRouter();
}

/** `app/api/notion/webhook/route.ts`: Notion's webhook handshake and events. */
export function createWebhookHandler(config?: NotionKvSyncConfig) {
  provide(config);
  const notAllowed = methodNotAllowed("POST");
  return { ...webhookRoute(), GET: notAllowed, PUT: notAllowed, PATCH: notAllowed, DELETE: notAllowed };
}

/** `app/api/files/[ref]/route.ts`: one file of a mirrored page, a 302 to a fresh Notion URL. */
export function createFilesHandler(config?: NotionKvSyncConfig) {
  provide(config);
  const notAllowed = methodNotAllowed("GET");
  return { ...filesRoute(), POST: notAllowed, PUT: notAllowed, PATCH: notAllowed, DELETE: notAllowed };
}

/** `app/api/content/[[...path]]/route.ts`: the content API (off unless CONTENT_API says otherwise). */
export function createContentHandler(config?: NotionKvSyncConfig) {
  provide(config);
  const { GET, OPTIONS, other } = contentRoute();
  return { GET, OPTIONS, POST: other, PUT: other, PATCH: other, DELETE: other };
}
