// The content API (lib/http/content-route.ts): /api/content, /api/content/<section>, /api/content/<section>/<slug>.
import { createContentHandler } from "notion-kv-sync/next";

export const { GET, OPTIONS, POST, PUT, PATCH, DELETE } = createContentHandler();
