/**
 * Webhook delivery for the Notion emulator (notion-facts.md §1): after the
 * workspace's own mutations it signs (the SDK's signWebhookPayload, keyed
 * with the subscription's verification token) and POSTs real-shaped events
 * to a configured URL, the way Notion does:
 *
 * - `subscribe()` sends the one unsigned handshake `{"verification_token"}`;
 * - `page.content_updated` / `page.properties_updated` (updateRow: the ids
 *   of the properties set, a title being content) are aggregated per
 *   page: changes within `aggregateMs` of the first become one event (its
 *   timestamp the last change's, its updated_blocks merged);
 * - `data_source.created` follows createDatabase;
 * - `page.created` / `deleted` / `undeleted` / `moved` are aggregated per
 *   page too, into the most meaningful result, or none when the state
 *   returns to where it was (created then deleted, deleted then restored);
 * - each delivery may be dropped (`dropRate`), duplicated (`duplicateRate`:
 *   the same event id again), and delayed by up to `reorderMs` so events
 *   arrive out of order; a non-2xx answer is retried with attempt_number + 1.
 *
 * Hooked in by wrapping the Workspace's mutation methods on the instance
 * (`attachWebhooks(workspace, …)`; `detach()` puts them back), so the
 * workspace code is unchanged. Unsharing a page sends nothing (the
 * integration no longer sees it), as in Notion. Event timestamps use the
 * wall clock (Notion's), not the workspace clock. Every random choice comes
 * from a seeded PRNG.
 */
import { randomUUID } from "node:crypto";
import { signWebhookPayload } from "@notionhq/client";
import { Prng } from "./prng.js";
import type { Workspace } from "./workspace.js";

export interface WebhookDeliveryOptions {
  /** Where events are POSTed (the app's /api/notion/webhook). */
  url: string;
  /** The subscription's token (default: a random `secret_…`). */
  verificationToken?: string;
  /** Aggregation window per page, in ms (Notion: "typically under one minute"). Default 1000. */
  aggregateMs?: number;
  /** 0..1: chance a delivered event is delivered a second time (same id). */
  duplicateRate?: number;
  /** 0..1: chance an event is never delivered. */
  dropRate?: number;
  /** Each delivery waits a random 0..reorderMs first, so events overtake each other. Default 0. */
  reorderMs?: number;
  /** Retries after a non-2xx answer or a network error (attempt_number goes up). Default 2. */
  retries?: number;
  retryBackoffMs?: number;
  seed?: number | string;
  /** Integration (bot) id in `authors`; default a person edits. */
  authorType?: "person" | "bot";
}

export interface EmittedEvent {
  id: string;
  type: string;
  entityId: string;
  timestamp: string;
  dropped: boolean;
  /** Mutations merged into it. */
  merged: number;
}

export interface DeliveryRecord {
  eventId: string;
  type: string;
  entityId: string;
  attempt: number;
  duplicate: boolean;
  /** null: no answer (network error). */
  status: number | null;
  startedAt: number;
  endedAt: number;
  answer: unknown;
}

export interface WebhookDelivery {
  readonly token: string;
  /** Sends the handshake; resolves with the answer's status. */
  subscribe(): Promise<number>;
  /** Emits an event of any type now (e.g. `data_source.schema_updated`), without aggregation. */
  emit(type: string, entity: { id: string; type: string }, data?: Record<string, unknown>): void;
  /** Closes every open aggregation window now. */
  flush(): void;
  /** Resolves once nothing is aggregating, waiting or in flight. */
  idle(timeoutMs?: number): Promise<void>;
  events(): EmittedEvent[];
  deliveries(): DeliveryRecord[];
  setDropRate(rate: number): void;
  setDuplicateRate(rate: number): void;
  setReorderMs(ms: number): void;
  /** Stops sending (pending events are discarded) and restores the workspace's methods. */
  detach(): void;
}

type Lifecycle = "created" | "deleted" | "undeleted" | "moved";

interface ContentWindow {
  kind: "content" | "properties";
  pageId: string;
  blocks: Map<string, "page" | "block">;
  properties: Set<string>;
  last: number;
  merged: number;
  timer: NodeJS.Timeout;
}

interface LifeWindow {
  pageId: string;
  created: boolean;
  trashedBefore: boolean;
  moved: boolean;
  last: number;
  merged: number;
  timer: NodeJS.Timeout;
}

const METHODS = [
  "editPageTitle",
  "editBlockText",
  "appendBlocks",
  "addPage",
  "addChildPage",
  "trashPage",
  "restorePage",
  "moveRow",
  "moveChildPage",
  "addRow",
  "updateRow",
  "createDatabase",
] as const;

export function attachWebhooks(workspace: Workspace, options: WebhookDeliveryOptions): WebhookDelivery {
  const rng = new Prng(`${options.seed ?? 1}:webhooks`);
  const token =
    options.verificationToken ??
    `secret_${randomUUID().replace(/-/g, "")}${randomUUID().replace(/-/g, "").slice(0, 11)}`;
  const aggregateMs = options.aggregateMs ?? 1000;
  let dropRate = options.dropRate ?? 0;
  let duplicateRate = options.duplicateRate ?? 0;
  let reorderMs = options.reorderMs ?? 0;
  const retries = options.retries ?? 2;
  const backoffMs = options.retryBackoffMs ?? 200;
  const subscriptionId = randomUUID();
  const integrationId = randomUUID();
  const workspaceId = randomUUID();
  const author = { id: randomUUID(), type: options.authorType ?? "person" };
  const emitted: EmittedEvent[] = [];
  const delivered: DeliveryRecord[] = [];
  const content = new Map<string, ContentWindow>();
  const life = new Map<string, LifeWindow>();
  let inFlight = 0;
  let detached = false;
  const originals = new Map<string, unknown>();
  const random = () => rng.next();

  // ---------------------------------------------------------------- where a page lives

  function parentOf(pageId: string): Record<string, unknown> {
    const page = workspace.page(pageId);
    const parent = page?.parent as
      { type?: string; database_id?: string; data_source_id?: string; page_id?: string; block_id?: string } | undefined;
    if (parent?.type === "data_source_id")
      return { id: parent.database_id, type: "database", data_source_id: parent.data_source_id };
    if (parent?.type === "page_id") return { id: parent.page_id, type: "page" };
    if (parent?.type === "block_id") return { id: parent.block_id, type: "block" };
    return { id: workspaceId, type: "space" };
  }

  function isTrashedNow(pageId: string): boolean {
    return workspace.page(pageId)?.in_trash === true;
  }

  /** The page a block's content belongs to (walking block parents). */
  function owningPage(blockOrPageId: string): string | null {
    if (workspace.page(blockOrPageId)) return workspace.page(blockOrPageId)!.id;
    let id: string | undefined = blockOrPageId;
    for (let i = 0; i < 50 && id; i++) {
      const block = workspace.block(id);
      const parent = block?.parent as { type?: string; page_id?: string; block_id?: string } | undefined;
      if (!parent) return null;
      if (parent.type === "page_id") return parent.page_id ?? null;
      id = parent.block_id;
    }
    return null;
  }

  // ---------------------------------------------------------------- aggregation

  function touchContent(
    kind: ContentWindow["kind"],
    pageId: string,
    block?: { id: string; type: "page" | "block" },
    property?: string,
  ): void {
    if (detached) return;
    const key = `${kind}:${pageId}`;
    let w = content.get(key);
    if (!w) {
      w = {
        kind,
        pageId,
        blocks: new Map(),
        properties: new Set(),
        last: Date.now(),
        merged: 0,
        timer: setTimeout(() => closeContent(key), aggregateMs),
      };
      content.set(key, w);
    }
    if (block) w.blocks.set(block.id, block.type);
    if (property) w.properties.add(property);
    w.last = Date.now();
    w.merged++;
  }

  function closeContent(key: string): void {
    const w = content.get(key);
    if (!w) return;
    clearTimeout(w.timer);
    content.delete(key);
    const data =
      w.kind === "content"
        ? { parent: parentOf(w.pageId), updated_blocks: [...w.blocks].map(([id, type]) => ({ id, type })) }
        : { parent: parentOf(w.pageId), updated_properties: [...w.properties] };
    send(
      w.kind === "content" ? "page.content_updated" : "page.properties_updated",
      { id: w.pageId, type: "page" },
      data,
      w.last,
      w.merged,
    );
  }

  function touchLife(pageId: string, what: Lifecycle, trashedBefore: boolean): void {
    if (detached) return;
    let w = life.get(pageId);
    if (!w) {
      w = {
        pageId,
        created: false,
        trashedBefore,
        moved: false,
        last: Date.now(),
        merged: 0,
        timer: setTimeout(() => closeLife(pageId), aggregateMs),
      };
      life.set(pageId, w);
    }
    if (what === "created") w.created = true;
    if (what === "moved") w.moved = true;
    w.last = Date.now();
    w.merged++;
  }

  /** The most meaningful result of a page's lifecycle changes in the window, or none when it ends where it began. */
  function closeLife(pageId: string): void {
    const w = life.get(pageId);
    if (!w) return;
    clearTimeout(w.timer);
    life.delete(pageId);
    const trashed = isTrashedNow(pageId);
    let type: string | null;
    if (w.created) type = trashed ? null : "page.created";
    else if (w.trashedBefore !== trashed) type = trashed ? "page.deleted" : "page.undeleted";
    else type = w.moved && !trashed ? "page.moved" : null;
    if (type) send(type, { id: pageId, type: "page" }, { parent: parentOf(pageId) }, w.last, w.merged);
  }

  // ---------------------------------------------------------------- delivery

  function send(
    type: string,
    entity: { id: string; type: string },
    data: Record<string, unknown>,
    at: number,
    merged: number,
  ): void {
    const id = randomUUID();
    const dropped = random() < dropRate;
    const timestamp = new Date(at).toISOString();
    emitted.push({ id, type, entityId: entity.id, timestamp, dropped, merged });
    if (dropped || detached) return;
    const event = (attempt: number) => ({
      id,
      timestamp,
      workspace_id: workspaceId,
      workspace_name: "Emulated workspace",
      subscription_id: subscriptionId,
      integration_id: integrationId,
      type,
      authors: [author],
      attempt_number: attempt,
      api_version: "2025-09-03",
      entity,
      data,
    });
    const deliver = (attempt: number, duplicate: boolean, delayMs: number) => {
      inFlight++;
      setTimeout(() => {
        void (async () => {
          const body = JSON.stringify(event(attempt));
          const record: DeliveryRecord = {
            eventId: id,
            type,
            entityId: entity.id,
            attempt,
            duplicate,
            status: null,
            startedAt: Date.now(),
            endedAt: 0,
            answer: null,
          };
          try {
            const signature = await signWebhookPayload({ body, verificationToken: token });
            const res = await fetch(options.url, {
              method: "POST",
              headers: { "content-type": "application/json", "x-notion-signature": signature },
              body,
              signal: AbortSignal.timeout(10_000),
            });
            record.status = res.status;
            const text = await res.text();
            try {
              record.answer = JSON.parse(text);
            } catch {
              record.answer = text;
            }
          } catch {
            record.status = null;
          }
          record.endedAt = Date.now();
          delivered.push(record);
          const ok = record.status !== null && record.status >= 200 && record.status < 300;
          if (!ok && attempt <= retries && !detached) deliver(attempt + 1, false, backoffMs * 2 ** (attempt - 1));
        })().finally(() => inFlight--);
      }, delayMs);
    };
    deliver(1, false, Math.floor(random() * reorderMs));
    if (random() < duplicateRate) deliver(1, true, Math.floor(random() * reorderMs) + 20);
  }

  // ---------------------------------------------------------------- hooks on the workspace

  const ws = workspace as unknown as Record<string, (...args: unknown[]) => unknown>;
  const wrap = (
    name: (typeof METHODS)[number],
    after: (args: unknown[], result: unknown, before: unknown) => void,
    before?: (args: unknown[]) => unknown,
  ) => {
    const original = ws[name];
    originals.set(name, original);
    ws[name] = function (this: unknown, ...args: unknown[]) {
      const state = before?.(args);
      const result = original.apply(workspace, args);
      after(args, result, state);
      return result;
    };
  };
  wrap("editPageTitle", ([pageId]) => {
    // A title change is a content change (notion-facts.md §1.5).
    const id = workspace.page(pageId as string)?.id ?? (pageId as string);
    touchContent("content", id, { id, type: "page" });
  });
  wrap("editBlockText", ([blockId]) => {
    const pageId = owningPage(blockId as string);
    if (pageId) touchContent("content", pageId, { id: blockId as string, type: "block" });
  });
  wrap("appendBlocks", ([parentId]) => {
    const pageId = owningPage(parentId as string);
    if (pageId)
      touchContent("content", pageId, { id: parentId as string, type: pageId === parentId ? "page" : "block" });
  });
  wrap("addPage", (_args, result) => touchLife((result as { id: string }).id, "created", false));
  wrap("addRow", (_args, result) => touchLife((result as { id: string }).id, "created", false));
  wrap("createDatabase", (_args, result) => {
    const db = result as { id: string; data_sources: { id: string }[] };
    if (!detached)
      send(
        "data_source.created",
        { id: db.data_sources[0].id, type: "data_source" },
        { parent: { id: db.id, type: "database" } },
        Date.now(),
        1,
      );
  });
  wrap("updateRow", ([, values], result) => {
    // A title change is a content change (as editPageTitle); the other properties are properties_updated.
    const page = result as { id: string; properties: Record<string, { id: string; type: string }> };
    for (const name of Object.keys(values as Record<string, unknown>)) {
      const prop = page.properties[name];
      if (prop?.type === "title") touchContent("content", page.id, { id: page.id, type: "page" });
      else if (prop) touchContent("properties", page.id, undefined, prop.id);
    }
  });
  wrap("addChildPage", ([parentId], result) => {
    touchLife((result as { id: string }).id, "created", false);
    const parent = workspace.page(parentId as string)?.id;
    if (parent) touchContent("content", parent, { id: (result as { id: string }).id, type: "page" });
  });
  const parentPage = (pageId: string) => {
    const parent = workspace.page(pageId)?.parent as { type?: string; page_id?: string } | undefined;
    return parent?.type === "page_id" ? (parent.page_id ?? null) : null;
  };
  wrap(
    "trashPage",
    ([pageId], _r, before) => {
      const id = workspace.page(pageId as string)?.id ?? (pageId as string);
      touchLife(id, "deleted", before as boolean);
      const parent = parentPage(id);
      if (parent) touchContent("content", parent, { id, type: "page" });
    },
    ([pageId]) => isTrashedNow(pageId as string),
  );
  wrap(
    "restorePage",
    ([pageId], _r, before) => {
      const id = workspace.page(pageId as string)?.id ?? (pageId as string);
      touchLife(id, "undeleted", before as boolean);
      const parent = parentPage(id);
      if (parent) touchContent("content", parent, { id, type: "page" });
    },
    ([pageId]) => isTrashedNow(pageId as string),
  );
  wrap(
    "moveRow",
    ([pageId], _r, before) =>
      touchLife(workspace.page(pageId as string)?.id ?? (pageId as string), "moved", before as boolean),
    ([pageId]) => isTrashedNow(pageId as string),
  );
  wrap(
    "moveChildPage",
    ([childId, toParent], _r, before) => {
      const id = workspace.page(childId as string)?.id ?? (childId as string);
      const { trashed, from } = before as { trashed: boolean; from: string | null };
      touchLife(id, "moved", trashed);
      for (const parent of [from, workspace.page(toParent as string)?.id ?? null])
        if (parent) touchContent("content", parent, { id, type: "page" });
    },
    ([childId]) => ({ trashed: isTrashedNow(childId as string), from: parentPage(childId as string) }),
  );

  return {
    token,
    async subscribe() {
      const res = await fetch(options.url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ verification_token: token }),
      });
      await res.arrayBuffer().catch(() => {});
      return res.status;
    },
    emit(type, entity, data = {}) {
      send(type, entity, data, Date.now(), 1);
    },
    flush() {
      for (const key of [...content.keys()]) closeContent(key);
      for (const key of [...life.keys()]) closeLife(key);
    },
    async idle(timeoutMs = 30_000) {
      const until = Date.now() + timeoutMs;
      while (content.size > 0 || life.size > 0 || inFlight > 0) {
        if (Date.now() > until)
          throw new Error(
            `webhook delivery not idle after ${timeoutMs} ms (${content.size + life.size} open windows, ${inFlight} in flight)`,
          );
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    events: () => emitted.map((e) => ({ ...e })),
    deliveries: () => delivered.map((d) => ({ ...d })),
    setDropRate: (rate) => void (dropRate = rate),
    setDuplicateRate: (rate) => void (duplicateRate = rate),
    setReorderMs: (ms) => void (reorderMs = ms),
    detach() {
      detached = true;
      for (const w of content.values()) clearTimeout(w.timer);
      for (const w of life.values()) clearTimeout(w.timer);
      content.clear();
      life.clear();
      for (const [name, original] of originals) ws[name] = original as (...args: unknown[]) => unknown;
    },
  };
}
