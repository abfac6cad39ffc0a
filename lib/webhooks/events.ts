/**
 * Webhook deliveries as Notion sends them (notion-facts.md §1.4-1.5): an
 * envelope `{id, timestamp, type, entity: {id, type}, data, ...}`. Events are
 * signals, not content: what they mean here is only *which page to look at
 * again* (the targeted run fetches its current state) or *which section's
 * schema changed*.
 */
import { z } from "zod";
import type { Section } from "../core/sections";
import type { KeyBuilder } from "../kv/keys";
import type { KvOp, KvStore } from "../kv/store";
import { normalizeId } from "../notion/types";
import type { Workspace } from "../workspace/types";
import { addDirtyOps, canonicalId } from "./dirty";
import type { WebhookKeys } from "./keys";

const EnvelopeSchema = z.object({
  id: z.string().min(1).max(200),
  timestamp: z.string().refine((v) => Number.isFinite(Date.parse(v)), "must be an ISO date"),
  type: z.string().min(1).max(100),
  entity: z.object({ id: z.string().min(1).max(100), type: z.string().max(50) }).passthrough(),
  data: z.record(z.string(), z.unknown()).optional(),
  attempt_number: z.number().optional(),
  authors: z.array(z.object({ id: z.string(), type: z.string() }).passthrough()).optional(),
});
export type WebhookEvent = z.infer<typeof EnvelopeSchema>;

export function parseEvent(body: unknown): WebhookEvent | null {
  const parsed = EnvelopeSchema.safeParse(body);
  return parsed.success ? parsed.data : null;
}

/** Page events that may change what the mirror holds (locked/unlocked do not). */
const PAGE_EVENTS = new Set([
  "page.content_updated",
  "page.properties_updated",
  "page.created",
  "page.deleted",
  "page.undeleted",
  "page.moved",
]);
const SCHEMA_EVENTS = new Set(["data_source.schema_updated", "database.schema_updated"]);
const SOURCE_CONTENT_EVENTS = new Set(["data_source.content_updated", "database.content_updated"]);

export interface EventMeaning {
  /** Pages to mark dirty. */
  pages: string[];
  /** Data source or database ids whose schema changed (mapped to sections when recorded). */
  schemaOf: string[];
}

export function meaningOf(event: WebhookEvent): EventMeaning {
  if (PAGE_EVENTS.has(event.type) && event.entity.type === "page") return { pages: [event.entity.id], schemaOf: [] };
  if (SCHEMA_EVENTS.has(event.type)) {
    const parent = (event.data?.parent ?? null) as { id?: unknown } | null;
    return { pages: [], schemaOf: [event.entity.id, ...(typeof parent?.id === "string" ? [parent.id] : [])] };
  }
  if (SOURCE_CONTENT_EVENTS.has(event.type)) {
    // Rows added or removed: updated_blocks names the pages.
    const blocks = Array.isArray(event.data?.updated_blocks)
      ? (event.data.updated_blocks as { id?: unknown; type?: unknown }[])
      : [];
    return {
      pages: blocks
        .filter((b) => b.type === "page" && typeof b.id === "string")
        .map((b) => b.id as string)
        .slice(0, 100),
      schemaOf: [],
    };
  }
  return { pages: [], schemaOf: [] };
}

export interface LastWebhookEvent {
  id: string;
  type: string;
  entity: { id: string; type: string };
  timestamp: string;
  receivedAt: string;
  attempt: number | null;
}

export interface RecordOutcome {
  duplicate: boolean;
  /** Pages added to the dirty set. */
  dirty: number;
  /** Sections marked for a full re-read at their next full run. */
  fullRefetch: Section[];
}

/** How long an event id is remembered: Notion retries for about 24 hours. */
export const EVENT_ID_TTL_MS = 48 * 3600_000;

/**
 * Records one verified delivery: the event id first (SET NX with a TTL: a
 * redelivered event does nothing more), then in one atomic batch its dirty
 * pages, the schema flags and the last-event record. If that batch fails the
 * event id is forgotten again, so Notion's retry records it.
 */
export async function recordEvent(
  kv: KvStore,
  keys: KeyBuilder,
  wk: WebhookKeys,
  event: WebhookEvent,
  workspace: Pick<Workspace, "databaseSections">,
  now: Date = new Date(),
): Promise<RecordOutcome> {
  const fresh = await kv.set(
    wk.event(event.id),
    { type: event.type, at: now.toISOString() },
    { nx: true, pxMs: EVENT_ID_TTL_MS },
  );
  if (!fresh) return { duplicate: true, dirty: 0, fullRefetch: [] };
  const meaning = meaningOf(event);
  const timestamp = new Date(Date.parse(event.timestamp)).toISOString();
  const fullRefetch = meaning.schemaOf.length > 0 ? await sectionsOf(kv, keys, meaning.schemaOf, workspace) : [];
  const last: LastWebhookEvent = {
    id: event.id,
    type: event.type,
    entity: { id: event.entity.id, type: event.entity.type },
    timestamp: event.timestamp,
    receivedAt: now.toISOString(),
    attempt: event.attempt_number ?? null,
  };
  const ops: KvOp[] = [
    ...addDirtyOps(
      wk.dirtyBase(),
      meaning.pages.map((pageId) => ({ pageId: canonicalId(pageId), timestamp })),
    ),
    ...fullRefetch.map((section): KvOp => ({
      op: "set",
      key: wk.fullRefetch(section),
      value: { eventId: event.id, at: timestamp },
    })),
    { op: "set", key: wk.lastEvent(), value: last },
  ];
  try {
    await kv.atomic(ops);
  } catch (error) {
    await kv.del([wk.event(event.id)]).catch(() => {});
    throw error;
  }
  return { duplicate: false, dirty: meaning.pages.length, fullRefetch };
}

/**
 * Which database sections read a data source or database id: by the section's own id, or, for a
 * section configured by database, by the data source the list phase cached for it.
 */
async function sectionsOf(
  kv: KvStore,
  keys: KeyBuilder,
  ids: string[],
  workspace: Pick<Workspace, "databaseSections">,
): Promise<Section[]> {
  const wanted = new Set(ids.map(normalizeId));
  const specs = workspace.databaseSections;
  const databaseIds = specs.flatMap((s) => ("databaseId" in s.source ? [s.source.databaseId] : []));
  const cached = databaseIds.length > 0 ? await kv.mget<string>(databaseIds.map((id) => keys.dataSource(id))) : [];
  const dataSources = new Map(databaseIds.map((id, i) => [id, cached[i]]));
  return specs
    .filter((spec) => {
      if ("dataSourceId" in spec.source) return wanted.has(normalizeId(spec.source.dataSourceId));
      const dataSource = dataSources.get(spec.source.databaseId);
      return (
        wanted.has(normalizeId(spec.source.databaseId)) ||
        (typeof dataSource === "string" && wanted.has(normalizeId(dataSource)))
      );
    })
    .map((spec) => spec.name);
}
