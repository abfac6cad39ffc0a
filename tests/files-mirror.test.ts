/**
 * FILES_MIRROR=s3 in the engine, in process: a real redis-server, the Notion
 * emulator over HTTP serving its hosted files itself (`hostedFiles: "self"`),
 * and the test S3 server (tests/support/s3-server.ts) through the S3 adapter,
 * configured from the environment as a deployment would be. Each file is
 * uploaded once; a no-change run makes no file or store request; a replaced
 * file's object is deleted after FILES_GC_DAYS (the engine's clock driven
 * forward), never while referenced; failed downloads count as the page's
 * attempts; a file over FILES_MAX_BYTES keeps Notion's URL; a page with many
 * files on a tiny budget completes over several invocations; markdown and
 * targeted runs are mirrored too.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Section } from "../lib/core/sections";
import { fileIdentity, hostedFiles, stableUrl } from "../lib/files/mirror";
import type { FileRecord } from "../lib/files/mirror";
import type { FileStore } from "../lib/files/store/types";
import { createKeys } from "../lib/kv/keys";
import type { KvOp } from "../lib/kv/store";
import { readLarge } from "../lib/kv/large-value";
import { readIndexPage } from "../lib/mirror/section-index";
import type { PageBundle } from "../lib/mirror/shapes";
import { engineDeps, loadRuntime } from "../lib/runtime";
import { parseCursor } from "../lib/sync/cursor";
import { runInvocation } from "../lib/sync/engine";
import type { LedgerEntry } from "../lib/sync/ledger";
import { readHistory } from "../lib/sync/run-history";
import { addDirtyOps } from "../lib/webhooks/dirty";
import { webhookKeys } from "../lib/webhooks/keys";
import { runDirtyInvocation } from "../lib/webhooks/run";
import { hostedFileBytes } from "../scripts/emulator/notion/files";
import { type Stack, startStack, syncAll, syncUntilDone } from "./support/harness";
import { type BlobServer, startBlobServer } from "./support/blob-server";
import { type S3Server, startS3Server } from "./support/s3-server";
import { s3MirrorEnv } from "./support/files-mirror-env";

const DAY = 86_400_000;
const NOTION_BUCKET = "https://prod-files-secure.s3.us-west-2.amazonaws.com/";
let prefixes = 0;

describe("files mirrored at sync time (FILES_MIRROR=s3)", () => {
  let stack: Stack;
  let s3: S3Server;

  beforeAll(async () => {
    s3 = await startS3Server();
    stack = await startStack({
      workspace: { pages: 6, posts: 5, hugePages: 0, childDepth: 2, trashedRows: 0, unsharedChildPages: 0 },
      env: {
        SYNC_BUDGET_MS: "8000",
        SYNC_CHILD_DEPTH: "2",
        WEBHOOK_DEBOUNCE_S: "1",
        ...s3MirrorEnv(s3),
      },
    });
    stack.emulator.setHostedFiles("self");
  });
  afterAll(async () => {
    await stack?.close();
    await s3?.close();
  });

  /** A KV prefix of its own (a fresh mirror), and emptied request logs. */
  function fresh(env: Record<string, string> = {}): void {
    const prefix = `fm${process.pid}x${prefixes++}`;
    Object.assign(
      stack.env,
      { KV_PREFIX: prefix, FILES_MIRROR: "s3", FILES_MAX_BYTES: "52428800", SYNC_CONTENT: "blocks" },
      env,
    );
    stack.keys = createKeys(prefix);
    stack.emulator.resetRequestLog();
    s3.reset();
  }

  const fileGets = () => stack.emulator.requests().filter((r) => r.route === "files.get");
  const selfFiles = () => `${stack.emulator.url}/s3/`;
  const putsOk = () => s3.log.filter((r) => r.op === "put" && r.status === 200).length;

  /** The file id (second path segment after the workspace) of a hosted file URL. */
  const fileIdOf = (url: string) => new URL(url).pathname.split("/").at(-2)!;

  async function bundles(section: Section): Promise<{ id: string; bundle: PageBundle }[]> {
    const index = await readIndexPage(stack.kv, stack.keys, section);
    const out: { id: string; bundle: PageBundle }[] = [];
    for (const entry of index?.entries ?? []) {
      const bundle = (await readLarge<PageBundle>(stack.kv, stack.keys, stack.keys.page(section, entry.slug)))?.value;
      if (bundle) out.push({ id: entry.id, bundle });
    }
    return out;
  }

  async function bundleOf(section: Section, id: string): Promise<PageBundle> {
    const ledger = await stack.kv.get<LedgerEntry>(stack.keys.entry(section, id));
    return (await readLarge<PageBundle>(stack.kv, stack.keys, stack.keys.page(section, ledger!.entry!.slug)))!.value;
  }

  /** Every mirrored URL in a value. */
  function mirroredUrls(value: unknown): string[] {
    const text = JSON.stringify(value);
    return [
      ...text.matchAll(new RegExp(`${s3.publicBaseUrl.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}/[^"\\s)]+`, "g")),
    ].map((m) => m[0]);
  }

  const keyOf = (url: string) => decodeURIComponent(url.slice(s3.publicBaseUrl.length + 1));

  /** The hosted files the workspace holds for the synced pages (page objects and content), by stable URL. */
  async function expectedFiles(sections: Section[]): Promise<Set<string>> {
    const files = new Set<string>();
    for (const section of sections) {
      const index = await readIndexPage(stack.kv, stack.keys, section);
      for (const entry of index?.entries ?? []) {
        const page = stack.workspace.page(entry.id)!;
        const refs = hostedFiles([page.cover, page.icon, page.properties, stack.workspace.contentTree(entry.id)]);
        for (const ref of refs) files.add(stableUrl(ref.url).replace(NOTION_BUCKET, selfFiles()));
      }
    }
    return files;
  }

  /** Runs a section to its end through the engine, its clock `offsetMs` ahead, with `wrap` around the deps. */
  async function runEngine(
    section: Section,
    options: {
      offsetMs?: number;
      budgetMs?: number;
      store?: (s: FileStore) => FileStore;
      onStep?: () => Promise<void>;
    } = {},
  ): Promise<number> {
    for (let call = 1; call <= 200; call++) {
      const runtime = loadRuntime(section, stack.env);
      const deps = engineDeps(runtime, section, Date.now(), options.budgetMs);
      const files =
        deps.files && options.store ? { ...deps.files, store: options.store(deps.files.store) } : deps.files;
      const outcome = await runInvocation(
        { ...deps, files, now: () => new Date(Date.now() + (options.offsetMs ?? 0)) },
        { section, force: false },
      );
      await options.onStep?.();
      if (outcome.kind === "ran" && outcome.cursor.phase === "done") return call;
    }
    throw new Error(`${section} did not finish`);
  }

  it("a full sync uploads each file once, and every page, entry and block points at the store", async () => {
    fresh();
    await syncAll(stack);
    const expected = await expectedFiles(["pages", "posts", "children"]);
    expect(expected.size).toBeGreaterThan(20);
    // Once each: one download, one put, one object per file.
    expect(new Set(fileGets().map((r) => r.path.split("?")[0])).size).toBe(expected.size);
    expect(fileGets().length).toBe(expected.size);
    expect(putsOk()).toBe(expected.size);
    expect([...s3.objects.keys()].filter((k) => k.startsWith(`${stack.keys.prefix}/`)).length).toBe(expected.size);

    let mirrored = 0;
    for (const section of ["pages", "posts", "children"] as const) {
      for (const { bundle } of await bundles(section)) {
        // No Notion-hosted URL left: blocks at any depth, callout icons, cover, icon, files properties.
        expect(JSON.stringify(bundle), bundle.slug).not.toContain(selfFiles());
        expect(bundle.files_expire_at, bundle.slug).toBeNull();
        for (const url of mirroredUrls(bundle)) {
          const object = s3.objects.get(`${s3.bucket}/${keyOf(url)}`) ?? s3.objects.get(keyOf(url));
          expect(object, url).toBeDefined();
          const name = decodeURIComponent(url.split("/").at(-1)!);
          expect(object!.bytes.length).toBeGreaterThan(0);
          expect(name).toMatch(/^[A-Za-z0-9._-]+$/);
          mirrored++;
        }
      }
      const index = await readIndexPage(stack.kv, stack.keys, section);
      for (const entry of index!.entries) {
        expect(JSON.stringify(entry)).not.toContain(selfFiles());
        for (const value of Object.values(entry.properties))
          if (Array.isArray(value))
            for (const file of value as { url?: string; mirrored?: boolean }[])
              if (typeof file === "object" && file?.url?.startsWith(s3.publicBaseUrl))
                expect(file).toMatchObject({ notionHosted: true, mirrored: true });
      }
    }
    expect(mirrored).toBeGreaterThanOrEqual(expected.size);
    // Each object holds the file's bytes, as the emulator serves them.
    const all = new Map(
      ["pages", "posts", "children"].flatMap((section) =>
        [...expected].map((url) => [`${section}/${fileIdentity(url)}`, url]),
      ),
    );
    let checked = 0;
    for (const [key, object] of s3.objects) {
      const [, section, identity] = key.slice(key.indexOf(stack.keys.prefix)).split("/");
      const url = all.get(`${section}/${identity}`);
      if (!url) continue;
      const want = hostedFileBytes(fileIdOf(url), decodeURIComponent(url.split("/").at(-1)!));
      expect(Buffer.compare(object.bytes, want.bytes), key).toBe(0);
      expect(object.contentType).toBe(want.contentType);
      checked++;
    }
    expect(checked).toBe(expected.size);

    // The bytes are the file's: a block's image, as the emulator serves it.
    const withImage = (await bundles("pages")).find(({ id }) =>
      JSON.stringify(stack.workspace.contentTree(id)).includes('"image"'),
    );
    if (withImage) {
      const image = JSON.stringify(withImage.bundle).match(/"image":\{[^}]*"url":"([^"]+)"/)?.[1];
      if (image?.startsWith(s3.publicBaseUrl)) {
        const served = await fetch(image);
        expect(served.status).toBe(200);
        expect((await served.arrayBuffer()).byteLength).toBeGreaterThan(0);
      }
    }

    const summary = (await readHistory(stack.kv, stack.keys, "pages"))[0];
    expect(summary.counts.filesUploaded).toBeGreaterThan(0);
    expect(summary.counts.bytesUploaded).toBeGreaterThan(summary.counts.filesUploaded);

    // A no-change run: no file request, no store request at all.
    stack.emulator.resetRequestLog();
    s3.reset();
    await syncAll(stack);
    expect(fileGets()).toEqual([]);
    expect(s3.total()).toBe(0);
    for (const section of ["pages", "posts", "children"] as const)
      expect((await readHistory(stack.kv, stack.keys, section))[0].counts.filesUploaded).toBe(0);
  });

  it("a file replaced in Notion gets a new object; the old one is deleted after FILES_GC_DAYS, never before nor while referenced", async () => {
    // The gc needs every page's files: it runs at full listings (here every run).
    fresh({ FILES_GC_DAYS: "7", SYNC_FULL_LIST_HOURS: "0" });
    await runEngine("pages");
    const row = stack.workspace.visibleRows(stack.workspace.pagesDatabaseId).find((r) => {
      const files = (r.properties.Attachments as { files?: { type: string }[] } | undefined)?.files ?? [];
      return files.some((f) => f.type === "file");
    })!;
    const before = (await stack.kv.get<LedgerEntry>(stack.keys.entry("pages", row.id)))!.files!;
    const oldBundle = await bundleOf("pages", row.id);
    const oldAttachments = mirroredUrls(oldBundle.properties.Attachments);
    expect(oldAttachments.length).toBeGreaterThan(0);
    const stored = () => new Set([...s3.objects.keys()]);
    const has = (url: string) => [...stored()].some((k) => k.endsWith(keyOf(url)));
    const countBefore = stored().size;

    stack.workspace.updateRow(row.id, { Attachments: ["replaced-diagram.png"] });
    s3.reset();
    await runEngine("pages");
    expect(putsOk()).toBe(1);
    const newUrl = mirroredUrls((await bundleOf("pages", row.id)).properties.Attachments);
    expect(newUrl).toHaveLength(1);
    expect(oldAttachments).not.toContain(newUrl[0]);
    expect(has(newUrl[0])).toBe(true);
    // Orphaned, not deleted.
    for (const url of oldAttachments) expect(has(url)).toBe(true);
    // The replaced files' records are marked orphaned by the run's finalize.
    const replaced = Object.keys(before).filter((id) => before[id] !== "");
    const marked = await stack.kv.mget<FileRecord>(replaced.map((id) => stack.keys.fileObject("pages", id)));
    expect(marked.filter((r) => r?.orphanSince).length).toBe(oldAttachments.length);

    await runEngine("pages", { offsetMs: 3 * DAY });
    for (const url of oldAttachments) expect(has(url)).toBe(true);
    expect(s3.counts.delete).toBe(0);

    await runEngine("pages", { offsetMs: 8 * DAY });
    for (const url of oldAttachments) expect(has(url)).toBe(false);
    expect(s3.counts.delete).toBeGreaterThan(0);
    expect(stored().size).toBe(countBefore + 1 - oldAttachments.length);
    // Whatever a page references is still there.
    for (const { bundle } of await bundles("pages"))
      for (const url of mirroredUrls(bundle)) expect(has(url), url).toBe(true);
    const gone = oldAttachments.map((u) => keyOf(u).split("/").at(-2)!);
    const records = await stack.kv.mget<FileRecord>(gone.map((id) => stack.keys.fileObject("pages", id)));
    expect(records).toEqual(gone.map(() => null));
    expect(await stack.kv.smismember(stack.keys.fileObjects("pages"), gone)).toEqual(gone.map(() => false));
    const summary = (await readHistory(stack.kv, stack.keys, "pages"))[0];
    expect(summary.counts.filesDeleted).toBe(oldAttachments.length);
    delete stack.env.SYNC_FULL_LIST_HOURS;
  });

  it("a download that fails twice, then succeeds, leaves the page correct (the failures counted as attempts)", async () => {
    fresh();
    const row = stack.workspace.visibleRows(stack.workspace.pagesDatabaseId)[0];
    const url =
      hostedFiles(stack.workspace.page(row.id))[0]?.url ?? hostedFiles(stack.workspace.contentTree(row.id))[0].url;
    const fileId = fileIdOf(url);
    stack.emulator.failFileGets(fileId, 2, 500);
    const answers = await syncUntilDone(stack, "pages");
    const errors = answers.map((a) => a.lastError?.code).filter(Boolean);
    expect(errors).toContain("file_download_500");
    expect(fileGets().filter((r) => r.path.includes(fileId))).toHaveLength(3);
    const cursor = parseCursor(await stack.kv.get(stack.keys.cursor("pages")));
    expect(cursor.kind === "ok" && cursor.cursor.status).toBe("done");
    const bundle = await bundleOf("pages", row.id);
    expect(JSON.stringify(bundle)).not.toContain(selfFiles());
    const identity = fileIdentity(stableUrl(url).replace(NOTION_BUCKET, selfFiles()));
    const ledger = await stack.kv.get<LedgerEntry>(stack.keys.entry("pages", row.id));
    expect(ledger!.files![identity]).toMatch(new RegExp(`^${s3.publicBaseUrl}/`));
    expect(mirroredUrls(bundle)).toContain(ledger!.files![identity]);
    expect(putsOk()).toBe(new Set(s3.log.filter((r) => r.op === "put" && r.status === 200).map((r) => r.path)).size);
  });

  it("a file over FILES_MAX_BYTES keeps Notion's URL (the file route serves it), and the summary says so", async () => {
    fresh({ FILES_MAX_BYTES: "4000" });
    const row = stack.workspace.visibleRows(stack.workspace.pagesDatabaseId)[0];
    stack.workspace.updateRow(row.id, { Attachments: ["big.pdf"] });
    const url = hostedFiles(stack.workspace.page(row.id)!.properties)[0].url;
    stack.emulator.setFileSize(fileIdOf(url), 6000);
    await syncUntilDone(stack, "pages");
    const bundle = await bundleOf("pages", row.id);
    const attachment = (
      bundle.properties.Attachments as unknown as {
        files: { type: string; file: { url: string; mirrored?: boolean } }[];
      }
    ).files[0];
    expect(attachment.file.url.startsWith(selfFiles())).toBe(true);
    expect(attachment.file.mirrored).toBeUndefined();
    expect(bundle.files_expire_at).not.toBeNull();
    const summary = (await readHistory(stack.kv, stack.keys, "pages"))[0];
    expect(summary.counts.filesTooLarge).toBe(1);
    expect(summary.lastError?.code).toBe("file_too_large");
    expect(summary.lastError?.message).toContain("big.pdf");
    expect(s3.log.some((r) => r.path.includes("big.pdf"))).toBe(false);
    // Known too large: the next run does not download it again.
    stack.emulator.resetRequestLog();
    await syncUntilDone(stack, "pages");
    expect(fileGets()).toEqual([]);
  });

  it("a page with many files on a tiny budget is checkpointed and completes over several invocations, nothing uploaded twice", async () => {
    fresh();
    const row = stack.workspace.visibleRows(stack.workspace.postsDatabaseId)[1];
    const names = Array.from({ length: 14 }, (_, i) => `photo-${i}.png`);
    stack.workspace.updateRow(row.id, { Attachments: names });
    const slow = (store: FileStore): FileStore => ({
      kind: store.kind,
      delete: (objects) => store.delete(objects),
      put: async (key, body, meta) => {
        await new Promise((resolve) => setTimeout(resolve, 120));
        return store.put(key, body, meta);
      },
    });
    let checkpointed = 0;
    const onStep = async () => {
      const cursor = parseCursor(await stack.kv.get(stack.keys.cursor("posts")));
      if (cursor.kind === "ok" && cursor.cursor.partials.includes(row.id)) checkpointed++;
    };
    const calls = await runEngine("posts", { budgetMs: 700, store: slow, onStep });
    expect(calls).toBeGreaterThan(2);
    expect(checkpointed).toBeGreaterThan(0);
    const okPuts = s3.log.filter((r) => r.op === "put" && r.status === 200).map((r) => r.path);
    expect(new Set(okPuts).size).toBe(okPuts.length);
    const bundle = await bundleOf("posts", row.id);
    expect(JSON.stringify(bundle)).not.toContain(selfFiles());
    expect(mirroredUrls(bundle.properties.Attachments)).toHaveLength(14);
    const summary = (await readHistory(stack.kv, stack.keys, "posts"))[0];
    expect(summary.counts.filesUploaded).toBe(okPuts.length);
  });

  it("an invocation killed after a file's record landed: the next one does not upload that file again", async () => {
    fresh();
    let killed = false;
    const recorded: string[] = [];
    const dead = () => Promise.reject(new Error("killed"));
    const runtime = loadRuntime("pages", stack.env);
    // Every KV call after the first batch holding a file record lands is refused, as for a dead process.
    const kv = new Proxy(runtime.kv, {
      get(target, prop, receiver) {
        const real = Reflect.get(target, prop, receiver) as (...a: unknown[]) => Promise<unknown>;
        if (typeof real !== "function") return real;
        if (prop === "atomic")
          return async (ops: KvOp[]) => {
            if (killed) return dead();
            await real.call(target, ops);
            const records = ops.filter((op) => op.op === "set" && op.key.includes(":fobj:"));
            if (records.length > 0) {
              recorded.push(...records.map((op) => (op as { value: FileRecord }).value.key));
              killed = true;
            }
          };
        return (...args: unknown[]) => (killed ? dead() : real.apply(target, args));
      },
    });
    const deps = engineDeps(runtime, "pages", Date.now());
    await runInvocation({ ...deps, kv }, { section: "pages", force: false }).catch(() => null);
    expect(killed).toBe(true);
    await stack.kv.del([stack.keys.lease("pages")]); // the dead invocation's lease expires
    await runEngine("pages");
    const puts = s3.log.filter((r) => r.op === "put" && r.status === 200).map((r) => decodeURIComponent(r.path));
    for (const key of recorded)
      expect(
        puts.filter((p) => p.endsWith(key)),
        key,
      ).toHaveLength(1);
    for (const { bundle } of await bundles("pages")) expect(JSON.stringify(bundle)).not.toContain(selfFiles());
  });

  it("switching the mirror on or off fetches each page again, like a change of content mode", async () => {
    fresh({ FILES_MIRROR: "off" });
    const rows = stack.workspace.visibleRows(stack.workspace.pagesDatabaseId).length;
    await syncUntilDone(stack, "pages");
    expect(fileGets()).toEqual([]);
    const withFiles = (await bundles("pages")).filter(({ bundle }) => JSON.stringify(bundle).includes(selfFiles()));
    expect(withFiles.length).toBeGreaterThan(0);

    stack.env.FILES_MIRROR = "s3";
    await syncUntilDone(stack, "pages");
    expect((await readHistory(stack.kv, stack.keys, "pages"))[0].counts.fetched).toBe(rows);
    for (const { bundle } of await bundles("pages")) expect(JSON.stringify(bundle)).not.toContain(selfFiles());
    expect(putsOk()).toBeGreaterThan(0);

    stack.env.FILES_MIRROR = "off";
    s3.reset();
    await syncUntilDone(stack, "pages");
    expect((await readHistory(stack.kv, stack.keys, "pages"))[0].counts.fetched).toBe(rows);
    for (const { id, bundle } of withFiles) {
      const now = await bundleOf("pages", id);
      expect(JSON.stringify(now), bundle.slug).toContain(selfFiles());
      expect(mirroredUrls(now), bundle.slug).toEqual([]);
      const ledger = await stack.kv.get<LedgerEntry>(stack.keys.entry("pages", id));
      expect(ledger!.files).toBeUndefined();
    }
    expect(s3.total()).toBe(0);
  });

  it("a page given up keeps its previous files referenced: finalize does not orphan them", async () => {
    fresh();
    await syncUntilDone(stack, "pages");
    const row = stack.workspace.visibleRows(stack.workspace.pagesDatabaseId).find((r) => {
      const files = (r.properties.Attachments as { files?: { type: string }[] } | undefined)?.files ?? [];
      return files.some((f) => f.type === "file");
    })!;
    const before = (await stack.kv.get<LedgerEntry>(stack.keys.entry("pages", row.id)))!;
    const kept = Object.keys(before.files!).filter((id) => before.files![id] !== "");
    expect(kept.length).toBeGreaterThan(0);
    stack.workspace.updateRow(row.id, { Attachments: ["unreachable.pdf"] });
    const fileId = fileIdOf(hostedFiles(stack.workspace.page(row.id)!.properties)[0].url);
    stack.emulator.failFileGets(fileId, 100, 502);
    await syncUntilDone(stack, "pages");
    const after = (await stack.kv.get<LedgerEntry>(stack.keys.entry("pages", row.id)))!;
    expect(after.run?.outcome).toBe("failed");
    expect(after.files).toEqual(before.files);
    const records = await stack.kv.mget<FileRecord>(kept.map((id) => stack.keys.fileObject("pages", id)));
    for (const record of records) {
      expect(record).not.toBeNull();
      expect(record!.orphanSince).toBeUndefined();
    }
    expect(JSON.stringify(await bundleOf("pages", row.id))).not.toContain(selfFiles());
    // A file that downloads again, for the tests after this one.
    stack.workspace.updateRow(row.id, { Attachments: ["restored.pdf"] });
  });

  it("signed URLs that expired between invocations: the page is read again and completes", async () => {
    fresh();
    const row = stack.workspace.visibleRows(stack.workspace.postsDatabaseId)[2];
    stack.workspace.updateRow(row.id, { Attachments: Array.from({ length: 10 }, (_, i) => `late-${i}.png`) });
    const slow = (store: FileStore): FileStore => ({
      kind: store.kind,
      delete: (objects) => store.delete(objects),
      put: async (key, body, meta) => {
        await new Promise((resolve) => setTimeout(resolve, 120));
        return store.put(key, body, meta);
      },
    });
    let advanced = false;
    const errors: string[] = [];
    const onStep = async () => {
      const cursor = parseCursor(await stack.kv.get(stack.keys.cursor("posts")));
      if (cursor.kind !== "ok") return;
      if (cursor.cursor.lastError) errors.push(cursor.cursor.lastError.code);
      // The page is checkpointed with its content: its URLs expire before the next invocation.
      if (!advanced && cursor.cursor.partials.includes(row.id)) {
        stack.workspace.advanceClock(2 * 3_600_000);
        advanced = true;
      }
    };
    await runEngine("posts", { budgetMs: 700, store: slow, onStep });
    expect(advanced).toBe(true);
    expect(errors).toContain("file_url_expired");
    const bundle = await bundleOf("posts", row.id);
    expect(JSON.stringify(bundle)).not.toContain(selfFiles());
    expect(mirroredUrls(bundle.properties.Attachments)).toHaveLength(10);
    const okPuts = s3.log.filter((r) => r.op === "put" && r.status === 200).map((r) => r.path);
    expect(new Set(okPuts).size).toBe(okPuts.length);
  });

  it("markdown mode: the hosted URLs in the markdown are the store's", async () => {
    fresh({ SYNC_CONTENT: "markdown" });
    await syncUntilDone(stack, "pages");
    let rewritten = 0;
    for (const { bundle } of await bundles("pages")) {
      expect(JSON.stringify(bundle), bundle.slug).not.toContain(selfFiles());
      if (bundle.content !== "markdown") continue;
      rewritten += mirroredUrls(bundle.markdown).length;
      expect(bundle.files_expire_at).toBeNull();
    }
    expect(rewritten).toBeGreaterThan(0);
    expect(putsOk()).toBe(new Set(fileGets().map((r) => r.path.split("?")[0])).size);
    expect(fileGets().every((r) => r.status === 200)).toBe(true);
  });

  it("a targeted run (webhook) mirrors the files of the page it writes", async () => {
    fresh();
    await syncUntilDone(stack, "pages");
    const row = stack.workspace.visibleRows(stack.workspace.pagesDatabaseId)[2];
    stack.workspace.updateRow(row.id, { Attachments: ["from-webhook.png"] });
    s3.reset();
    const wk = webhookKeys(stack.keys);
    await stack.kv.atomic(addDirtyOps(wk.dirtyBase(), [{ pageId: row.id, timestamp: new Date().toISOString() }]));
    const result = await runDirtyInvocation({ env: stack.env, startedAt: Date.now(), budgetMs: 8000, caller: "test" });
    expect(result).toBeTruthy();
    expect(putsOk()).toBe(1);
    const bundle = await bundleOf("pages", row.id);
    const urls = mirroredUrls(bundle.properties.Attachments);
    expect(urls).toHaveLength(1);
    expect(urls[0]).toContain("from-webhook.png");
    expect(JSON.stringify(bundle)).not.toContain(selfFiles());
    const index = await readIndexPage(stack.kv, stack.keys, "pages");
    const entry = index!.entries.find((e) => e.id === row.id)!;
    expect(entry.properties.Attachments).toEqual([
      { name: "from-webhook.png", url: urls[0], notionHosted: true, mirrored: true },
    ]);
  });
});

describe("files mirrored to Vercel Blob (FILES_MIRROR=blob, the local Blob API)", () => {
  let stack: Stack;
  let blob: BlobServer;
  const savedApiUrl = process.env.VERCEL_BLOB_API_URL;

  beforeAll(async () => {
    blob = await startBlobServer();
    // @vercel/blob reads its API's URL from the process environment.
    process.env.VERCEL_BLOB_API_URL = blob.apiUrl;
    stack = await startStack({
      workspace: { pages: 4, posts: 2, hugePages: 0, childDepth: 1, trashedRows: 0, unsharedChildPages: 0 },
      env: { SYNC_BUDGET_MS: "8000", FILES_MIRROR: "blob", BLOB_READ_WRITE_TOKEN: blob.token },
    });
    stack.emulator.setHostedFiles("self");
  });
  afterAll(async () => {
    if (savedApiUrl === undefined) delete process.env.VERCEL_BLOB_API_URL;
    else process.env.VERCEL_BLOB_API_URL = savedApiUrl;
    await stack?.close();
    await blob?.close();
  });

  it("uploads each file once and a no-change run makes no request", async () => {
    await syncUntilDone(stack, "pages");
    const gets = stack.emulator.requests().filter((r) => r.route === "files.get");
    expect(gets.length).toBeGreaterThan(3);
    expect(blob.counts.put).toBe(new Set(gets.map((r) => r.path.split("?")[0])).size);
    expect(blob.objects.size).toBe(blob.counts.put);
    const index = await readIndexPage(stack.kv, stack.keys, "pages");
    for (const entry of index!.entries) {
      const bundle = (await readLarge<PageBundle>(stack.kv, stack.keys, stack.keys.page("pages", entry.slug)))!.value;
      const text = JSON.stringify(bundle);
      expect(text).not.toContain(`${stack.emulator.url}/s3/`);
      for (const [, url] of text.matchAll(/"url":"([^"]+)","mirrored":true/g)) {
        expect(url.startsWith(blob.publicBaseUrl), url).toBe(true);
        expect((await fetch(url)).status).toBe(200);
      }
    }
    stack.emulator.resetRequestLog();
    blob.reset();
    await syncUntilDone(stack, "pages");
    expect(stack.emulator.requests().filter((r) => r.route === "files.get")).toEqual([]);
    expect(blob.total()).toBe(0);
  });
});
