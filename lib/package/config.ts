/** `notion-kv-sync/config`: what a site's notion-kv-sync.config.ts imports. */
export { defineConfig } from "../workspace/schema";
export type { NotionKvSyncConfig, SectionOptions, SectionSort } from "../workspace/schema";
export type { ContentMode } from "../workspace/types";
