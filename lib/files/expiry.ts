/**
 * When the first Notion-hosted URL of a bundle expires: blocks at any depth
 * (their files and icons), the page's cover and icon, and `files` properties
 * (rollups of them too). Every `{type: "file", file: {expiry_time}}` counts,
 * wherever it sits, so a file type Notion adds later is not missed; a file
 * copied to the files store (`mirrored`) never expires and does not count.
 */
import { isMirrored, isNotionHosted } from "./locate";

export interface FileHolders {
  blocks?: unknown;
  cover?: unknown;
  icon?: unknown;
  properties?: unknown;
}

export function filesExpireAt(holders: FileHolders): string | null {
  let earliest: string | null = null;
  let earliestMs = Infinity;
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) {
      for (const item of value) visit(item);
      return;
    }
    if (typeof value !== "object" || value === null) return;
    if (isNotionHosted(value) && !isMirrored(value)) {
      const expiry = value.file.expiry_time;
      // Compared as instants: "…10Z" and "…10.733Z" do not sort as strings do.
      const ms = typeof expiry === "string" ? Date.parse(expiry) : NaN;
      if (!Number.isNaN(ms) && ms < earliestMs) {
        earliestMs = ms;
        earliest = expiry as string;
      }
    }
    for (const child of Object.values(value)) if (typeof child === "object" && child !== null) visit(child);
  };
  visit([holders.blocks, holders.cover, holders.icon, holders.properties]);
  return earliest;
}
