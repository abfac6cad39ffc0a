import { createWebhookHandler } from "notion-kv-sync/next";

export const maxDuration = 30;
export const { POST, GET, PUT, PATCH, DELETE } = createWebhookHandler();
