// Every sync endpoint: /api/sync (trigger), /api/sync/<section>, trigger, status, failed, dirty.
import { createSyncHandler } from "notion-kv-sync/next";

export const maxDuration = 30;
export const { GET, POST, PUT, PATCH, DELETE, HEAD } = createSyncHandler();
