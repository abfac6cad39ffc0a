/**
 * A ref → the URL to redirect to, for at most one Notion request per Notion
 * object (a block, or a page with its cover, icon and files properties) per
 * URL lifetime:
 *
 *   1. one MGET: the page's ledger entry (is it still in the mirror?), the
 *      cached URL, the shared Notion pause;
 *   2. a cached URL more than 5 minutes from its expiry_time is the answer;
 *   3. otherwise one refresh per object in this process (single-flight), and
 *      across instances a short KV lock on the object (SET NX PX): the holder
 *      asks Notion (`blocks.retrieve` or `pages.retrieve`, through the paced
 *      client) and caches every file of the answer in one atomic write; the
 *      others wait for that write;
 *   4. a file Notion no longer has (404, trashed, no file there any more) is
 *      remembered as gone for a few minutes.
 *
 * Freshness is judged on `now()` (injectable: tests run on the emulator's
 * clock); KV expiries (PX) only collect what is no longer fresh.
 */
import { randomUUID } from "node:crypto";
import type { KeyBuilder } from "../kv/keys";
import type { KvOp, KvStore } from "../kv/store";
import { NotionSyncError } from "../notion/errors";
import { type NotionBlock, type NotionPage, isTrashed } from "../notion/types";
import { blockFile, fileLocation, filesProperty, pageFile } from "./locate";
import { type FileRef, type FileRefTarget, fileRefSlot, fileTag } from "./refs";

/** A cached URL is used until this long before Notion's expiry_time. */
export const REFRESH_MARGIN_MS = 5 * 60_000;
/** External URLs never expire; they are re-read this often anyway (the block may have changed). */
export const EXTERNAL_TTL_MS = 60 * 60_000;
/** A file Notion does not have is not asked for again before this. */
export const GONE_TTL_MS = 5 * 60_000;
/** The refresh lock; longer than a paced Notion request, short enough that a dead holder is soon replaced. */
export const LOCK_MS = 10_000;
/** How long an instance that lost the lock waits for the holder's answer before asking Notion itself. */
export const LOCK_WAIT_MS = 4_000;
const POLL_MS = 100;
/** Files cached from one answer at most (a files property can be long). */
const MAX_SIBLINGS = 50;

export type CachedFile =
  { v: 1; url: string; expiresAt: string | null; fetchedAt: number } | { v: 1; gone: true; until: number };

export type Resolved =
  | { status: "found"; url: string; expiresAt: number | null; fetchedAt: number; from: "cache" | "notion" }
  | { status: "gone"; reason: "not_in_mirror" | "not_in_notion" }
  /** Notion asked this integration to wait (shared pause) and nothing fresh is cached. */
  | { status: "paused"; retryAfterMs: number };

/** The two Notion reads the file route makes. */
export interface FileNotion {
  retrieveBlock(blockId: string): Promise<NotionBlock>;
  retrievePage(pageId: string): Promise<NotionPage>;
}

export interface ResolveContext {
  kv: KvStore;
  keys: KeyBuilder;
  /** The clock expiry_time is compared with (epoch ms). */
  now(): number;
  /** Built only when Notion must be asked (it may throw a ConfigError). */
  notion(): FileNotion;
  /** Called once per Notion request, for the log line. */
  onRefresh?(ref: FileRef, outcome: "found" | "gone", ms: number): void;
}

export interface FileResolver {
  resolve(ref: FileRef, ctx: ResolveContext): Promise<Resolved>;
  /** Refreshes in flight in this process (for tests). */
  inFlight(): number;
}

type Location = { url: string; expiresAt: string | null };
type NotionObject = Record<string, unknown>;
/** What one refresh of an object came to: Notion's answer (null: gone), or another instance's cache write. */
type Refreshed =
  { kind: "object"; object: NotionObject | null; at: number; written: Set<string> } | { kind: "elsewhere" };

function fresh(value: CachedFile | null, now: number): Resolved | null {
  if (!value || value.v !== 1) return null;
  if ("gone" in value) return value.until > now ? { status: "gone", reason: "not_in_notion" } : null;
  if (typeof value.url !== "string") return null;
  if (value.expiresAt === null) {
    return value.fetchedAt + EXTERNAL_TTL_MS > now
      ? { status: "found", url: value.url, expiresAt: null, fetchedAt: value.fetchedAt, from: "cache" }
      : null;
  }
  const expiresAt = Date.parse(value.expiresAt);
  return expiresAt - REFRESH_MARGIN_MS > now
    ? { status: "found", url: value.url, expiresAt, fetchedAt: value.fetchedAt, from: "cache" }
    : null;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Only http(s) URLs are redirected to (a file object can hold anything). */
function locate(file: unknown): Location | null {
  const location = fileLocation(file);
  if (!location) return null;
  try {
    const u = new URL(location.url);
    return u.protocol === "https:" || u.protocol === "http:" ? location : null;
  } catch {
    return null;
  }
}

const isBlockRef = (ref: FileRef): ref is FileRef & { kind: "block" | "block_icon"; blockId: string } =>
  ref.kind === "block" || ref.kind === "block_icon";

/** The Notion object a ref's file lives in: its refresh lock and single-flight key. */
function objectSlot(ref: FileRef): string {
  return isBlockRef(ref) ? `block:${ref.blockId.replace(/-/g, "")}` : `page:${ref.pageId.replace(/-/g, "")}`;
}

/** One Notion request: the block or the page; null when Notion does not have it (404) or it is in the trash. */
async function fetchObject(ref: FileRef, notion: FileNotion): Promise<NotionObject | null> {
  try {
    const object = isBlockRef(ref) ? await notion.retrieveBlock(ref.blockId) : await notion.retrievePage(ref.pageId);
    return isTrashed(object as { in_trash?: boolean; archived?: boolean }) ? null : (object as unknown as NotionObject);
  } catch (error) {
    if (NotionSyncError.is(error, "gone")) return null;
    throw error;
  }
}

/** The file `ref` names in the object Notion answered, now. */
function targetIn(ref: FileRef, object: NotionObject | null): Location | null {
  if (!object) return null;
  return locate(isBlockRef(ref) ? blockFile(object, ref.kind) : pageFile(object, ref));
}

/**
 * Every file of the object, as the refs a reader holds name them (a block's
 * file and icon; a page's cover, icon and files properties, by id and by
 * name): one answer refreshes them all.
 */
function filesOf(ref: FileRef, object: NotionObject): { ref: FileRef; location: Location }[] {
  const base = { section: ref.section, pageId: ref.pageId };
  const out: { ref: FileRef; location: Location }[] = [];
  const add = (target: FileRefTarget, file: unknown) => {
    const location = locate(file);
    if (location && out.length < MAX_SIBLINGS)
      out.push({ ref: { ...target, ...base, tag: fileTag(location.url) }, location });
  };
  if (isBlockRef(ref)) {
    for (const kind of ["block", "block_icon"] as const) add({ kind, blockId: ref.blockId }, blockFile(object, kind));
    return out;
  }
  const page = object as {
    cover?: unknown;
    icon?: unknown;
    properties?: Record<string, { id?: unknown; type?: unknown }>;
  };
  add({ kind: "cover" }, page.cover);
  add({ kind: "icon" }, page.icon);
  for (const [name, prop] of Object.entries(page.properties ?? {})) {
    if (prop?.type !== "files") continue;
    const id = prop.id;
    if (typeof id === "string")
      (filesProperty(page, "id", id) ?? []).forEach((file, index) =>
        add({ kind: "prop", by: "id", key: id, index }, file),
      );
    (filesProperty(page, "name", name) ?? []).forEach((file, index) =>
      add({ kind: "prop", by: "name", key: name, index }, file),
    );
  }
  return out;
}

function toCache(found: Location | null, now: number): { value: CachedFile; pxMs: number } {
  if (!found) return { value: { v: 1, gone: true, until: now + GONE_TTL_MS }, pxMs: GONE_TTL_MS };
  const value: CachedFile = { v: 1, url: found.url, expiresAt: found.expiresAt, fetchedAt: now };
  const lifeMs = found.expiresAt === null ? EXTERNAL_TTL_MS : Date.parse(found.expiresAt) - REFRESH_MARGIN_MS - now;
  return { value, pxMs: Math.max(1000, Math.min(lifeMs, 2 * EXTERNAL_TTL_MS)) };
}

const setOp = (key: string, cached: { value: CachedFile; pxMs: number }): KvOp => ({
  op: "set",
  key,
  value: cached.value,
  pxMs: cached.pxMs,
});

function answer(found: Location | null, at: number): Resolved {
  if (!found) return { status: "gone", reason: "not_in_notion" };
  return {
    status: "found",
    url: found.url,
    expiresAt: found.expiresAt === null ? null : Date.parse(found.expiresAt),
    fetchedAt: at,
    from: "notion",
  };
}

export function createFileResolver(): FileResolver {
  const flights = new Map<string, Promise<Refreshed>>();

  /** Refreshes the object `ref` lives in, once across instances (the KV lock), and caches all its files. */
  async function refreshObject(ref: FileRef, ctx: ResolveContext): Promise<Refreshed> {
    const { kv, keys } = ctx;
    const lockKey = keys.fileLock(objectSlot(ref));
    const cacheKey = keys.fileUrl(fileRefSlot(ref));
    const token = randomUUID();
    const waitUntil = Date.now() + LOCK_WAIT_MS;
    for (;;) {
      // Past the wait, ask Notion anyway: a holder that died must not take the file down for LOCK_MS.
      const holder = (await kv.set(lockKey, token, { nx: true, pxMs: LOCK_MS })) || Date.now() >= waitUntil;
      if (holder) {
        try {
          // Written by a refresh that ended between our read and the lock: nothing to ask.
          if (fresh(await kv.get<CachedFile>(cacheKey), ctx.now())) return { kind: "elsewhere" };
          const started = Date.now();
          const object = await fetchObject(ref, ctx.notion());
          const at = ctx.now();
          ctx.onRefresh?.(ref, targetIn(ref, object) ? "found" : "gone", Date.now() - started);
          const writes = new Map<string, KvOp>();
          for (const file of object ? filesOf(ref, object) : []) {
            const key = keys.fileUrl(fileRefSlot(file.ref));
            writes.set(key, setOp(key, toCache(file.location, at)));
          }
          // The ref asked for is cached whatever it names now (its tag may be an older file's, or nothing).
          if (!writes.has(cacheKey)) writes.set(cacheKey, setOp(cacheKey, toCache(targetIn(ref, object), at)));
          await kv.atomic([...writes.values()]);
          return { kind: "object", object, at, written: new Set(writes.keys()) };
        } finally {
          await kv.deleteIfEquals(lockKey, token).catch(() => false);
        }
      }
      // Another instance is asking Notion: its answer lands in the cache.
      await sleep(POLL_MS);
      if (fresh(await kv.get<CachedFile>(cacheKey), ctx.now())) return { kind: "elsewhere" };
    }
  }

  /** Joins (or starts) this process's refresh of the object. */
  function flight(ref: FileRef, ctx: ResolveContext): Promise<Refreshed> {
    const key = `${ctx.keys.prefix}\u0000${objectSlot(ref)}`;
    let running = flights.get(key);
    if (!running) {
      running = refreshObject(ref, ctx).finally(() => flights.delete(key));
      flights.set(key, running);
    }
    return running;
  }

  return {
    inFlight: () => flights.size,
    async resolve(ref, ctx) {
      const { kv, keys } = ctx;
      const cacheKey = keys.fileUrl(fileRefSlot(ref));
      const [ledger, cached, pause] = await kv.mget<unknown>([
        keys.entry(ref.section, ref.pageId),
        cacheKey,
        keys.notionPause(),
      ]);
      // Only files of pages in the mirror: a page removed (gone, unshared, deleted) loses its ledger entry.
      const entry = (ledger as { entry?: { id?: unknown } | null } | null)?.entry;
      if (!entry || typeof entry.id !== "string") return { status: "gone", reason: "not_in_mirror" };
      const hit = fresh(cached as CachedFile | null, ctx.now());
      if (hit) return hit;
      const until = (pause as { until?: unknown } | null)?.until;
      if (typeof until === "number" && until > Date.now())
        return { status: "paused", retryAfterMs: until - Date.now() };

      for (let attempt = 0; ; attempt++) {
        const done = await flight(ref, ctx);
        if (done.kind === "object") {
          const target = targetIn(ref, done.object);
          // Joined a refresh started for another file of the object: cache this one too if it was not.
          if (!done.written.has(cacheKey)) {
            const own = toCache(target, done.at);
            await kv.set(cacheKey, own.value, { pxMs: own.pxMs });
          }
          return answer(target, done.at);
        }
        // Another instance refreshed the object: read what it cached for this file.
        const written = fresh(await kv.get<CachedFile>(cacheKey), ctx.now());
        if (written) return written;
        if (attempt >= 1) return { status: "gone", reason: "not_in_notion" };
      }
    },
  };
}
