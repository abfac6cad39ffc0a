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
 * and calls revalidateTag for each tag. Which pages changed is recorded with
 * the commits that changed them (lib/sync/changed-pages.ts); drainChangedPages
 * revalidates that record and removes what it revalidated, so a failed call,
 * or an invocation that died first, leaves it to the next drain.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { revalidateTag } from "next/cache";
import type { Section } from "../core/sections";
import type { KeyBuilder } from "../kv/keys";
import type { KvStore } from "../kv/store";
import { INDEX_CHANGED } from "../sync/changed-pages";
import { sectionTag, tagsFor } from "../mirror/cache-tags";
import { logEvent } from "../core/log";
import { RevalidationFailedError } from "./errors";
import type { WebhookSettings } from "./settings";

export interface ChangedPage {
  section: Section;
  slug: string;
}

/**
 * Revalidates the tags of `pages` (each page's and its section's), and of whole `sections` (a full run that changed some).
 * Rejects with RevalidationFailedError when the site could not be told (logged already).
 */
export type Revalidator = (pages: ChangedPage[], sections?: Section[]) => Promise<void>;

export const SIGNATURE_HEADER = "x-notion-kv-signature";
const POST_TIMEOUT_MS = 3000;

export function signRevalidation(body: string, secret: string, t: number = Math.floor(Date.now() / 1000)): string {
  return `t=${t},v1=${createHmac("sha256", secret).update(`${t}.${body}`).digest("hex")}`;
}

/** For the receiving site: true when `header` signs `body` with `secret`, within `toleranceS` of now. */
export function verifyRevalidation(input: {
  body: string;
  header: string | null;
  secret: string;
  toleranceS?: number;
  now?: number;
}): boolean {
  const match = /^t=(\d{1,12}),v1=([0-9a-f]{64})$/.exec(input.header?.trim() ?? "");
  if (!match) return false;
  const t = Number(match[1]);
  if (Math.abs((input.now ?? Date.now()) / 1000 - t) > (input.toleranceS ?? 300)) return false;
  const expected = Buffer.from(createHmac("sha256", input.secret).update(`${t}.${input.body}`).digest("hex"));
  const given = Buffer.from(match[2]);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

export function createRevalidator(
  settings: Pick<WebhookSettings, "siteRevalidateUrl" | "siteRevalidateSecret">,
): Revalidator {
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
        if (!res.ok) throw new RevalidationFailedError(`the site answered ${res.status}`);
      } catch (error) {
        if (error instanceof RevalidationFailedError) throw error;
        logEvent(
          "revalidate.site_failed",
          { pages: pages.length, error: error instanceof Error ? error.name : String(error) },
          "warn",
        );
        throw new RevalidationFailedError(
          `the site could not be reached (${error instanceof Error ? error.name : "error"})`,
        );
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
      logEvent("revalidate.skipped", {
        tags: tags.length,
        reason: error instanceof Error ? error.message.slice(0, 120) : String(error),
      });
    }
  };
}

function allTags(pages: ChangedPage[], sections: Section[]): string[] {
  return [...new Set([...tagsFor(pages), ...sections.map(sectionTag)])];
}

/** Members taken from the record per round, and rounds per drain (what is left waits for the next drain). */
const DRAIN_BATCH = 1000;
const DRAIN_ROUNDS = 10;
/** Past this many pages a round revalidates the section's tag alone: every read of its pages carries it. */
const PAGE_TAGS_MAX = 500;

/**
 * Revalidates the pages of `section` recorded as changed (keys.changedPages) and the section's tag,
 * then removes what it revalidated; a record the site could not be told of stays for the next drain
 * (rejects with RevalidationFailedError). One SRANDMEMBER when nothing changed. Returns how many members it drained.
 */
export async function drainChangedPages(
  kv: KvStore,
  keys: KeyBuilder,
  section: Section,
  revalidate: Revalidator,
): Promise<number> {
  const key = keys.changedPages(section);
  let drained = 0;
  for (let round = 0; round < DRAIN_ROUNDS; round++) {
    const members = await kv.srandmember(key, DRAIN_BATCH);
    if (members.length === 0) break;
    const slugs = members.filter((m) => m !== INDEX_CHANGED);
    const pages = slugs.length <= PAGE_TAGS_MAX ? slugs.map((slug) => ({ section, slug })) : [];
    await revalidate(pages, [section]);
    await kv.atomic([{ op: "srem", key, members }]);
    drained += members.length;
    if (members.length < DRAIN_BATCH) break;
  }
  return drained;
}
