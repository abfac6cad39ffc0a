/**
 * On-demand revalidation after a commit that changed pages (README,
 * "Revalidation"): `revalidateTag` in this app for the tags lib/read.ts
 * documents (`notion:<section>:<slug>`, `notion:<section>`), or, with
 * SITE_REVALIDATE_URL, one signed POST to a site in another deployment:
 *
 *   POST <SITE_REVALIDATE_URL>
 *   X-Notion-KV-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(SITE_REVALIDATE_SECRET, "<t>.<raw body>")>
 *   {"tags": ["notion:posts:hello", "notion:posts"], "pages": [{"section": "posts", "slug": "hello"}], "at": "<ISO>"}
 *
 * The site checks it with verifyRevalidation (below; a few lines to copy)
 * and calls revalidateTag for each tag. A failed call is logged, never
 * retried: the page is in KV, and the site's own cache lifetime still ends.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { revalidateTag } from "next/cache";
import type { Section } from "../core/sections";
import { sectionTag, tagsFor } from "../mirror/cache-tags";
import { logEvent } from "../core/log";
import type { WebhookSettings } from "./settings";

export interface ChangedPage {
  section: Section;
  slug: string;
}

/** Revalidates the tags of `pages` (each page's and its section's), and of whole `sections` (a full run that changed some). */
export type Revalidator = (pages: ChangedPage[], sections?: Section[]) => Promise<void>;

export const SIGNATURE_HEADER = "x-notion-kv-signature";
const POST_TIMEOUT_MS = 3000;

export function signRevalidation(body: string, secret: string, t: number = Math.floor(Date.now() / 1000)): string {
  return `t=${t},v1=${createHmac("sha256", secret).update(`${t}.${body}`).digest("hex")}`;
}

/** For the receiving site: true when `header` signs `body` with `secret`, within `toleranceS` of now. */
export function verifyRevalidation(input: { body: string; header: string | null; secret: string; toleranceS?: number; now?: number }): boolean {
  const match = /^t=(\d{1,12}),v1=([0-9a-f]{64})$/.exec(input.header?.trim() ?? "");
  if (!match) return false;
  const t = Number(match[1]);
  if (Math.abs((input.now ?? Date.now()) / 1000 - t) > (input.toleranceS ?? 300)) return false;
  const expected = Buffer.from(createHmac("sha256", input.secret).update(`${t}.${input.body}`).digest("hex"));
  const given = Buffer.from(match[2]);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

export function createRevalidator(settings: Pick<WebhookSettings, "siteRevalidateUrl" | "siteRevalidateSecret">): Revalidator {
  const { siteRevalidateUrl: url, siteRevalidateSecret: secret } = settings;
  if (url && secret) {
    return async (pages, sections = []) => {
      if (pages.length === 0 && sections.length === 0) return;
      const body = JSON.stringify({ tags: allTags(pages, sections), pages, sections, at: new Date().toISOString() });
      try {
        const res = await fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json", [SIGNATURE_HEADER]: signRevalidation(body, secret) },
          body,
          signal: AbortSignal.timeout(POST_TIMEOUT_MS),
        });
        await res.arrayBuffer().catch(() => {});
        logEvent("revalidate.site", { status: res.status, pages: pages.length }, res.ok ? "info" : "warn");
      } catch (error) {
        logEvent("revalidate.site_failed", { pages: pages.length, error: error instanceof Error ? error.name : String(error) }, "warn");
      }
    };
  }
  return async (pages, sections = []) => {
    if (pages.length === 0 && sections.length === 0) return;
    const tags = allTags(pages, sections);
    try {
      // Expire now (a webhook says the page changed): the next read fetches it from KV again.
      for (const tag of tags) revalidateTag(tag, { expire: 0 });
      logEvent("revalidate.tags", { tags: tags.length });
    } catch (error) {
      // Outside a Next.js request (scripts, the handlers called in process) there is no cache to purge.
      logEvent("revalidate.skipped", { tags: tags.length, reason: error instanceof Error ? error.message.slice(0, 120) : String(error) });
    }
  };
}

function allTags(pages: ChangedPage[], sections: Section[]): string[] {
  return [...new Set([...tagsFor(pages), ...sections.map(sectionTag)])];
}
