// One file of a mirrored page: 302 to a fresh Notion URL (lib/http/files-route.ts).
import { createFilesHandler } from "notion-kv-sync/next";

export const { GET, POST, PUT, PATCH, DELETE } = createFilesHandler();
