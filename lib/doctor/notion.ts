/**
 * The Notion checks: the token (GET /v1/users/me) and, per database section,
 * that its database is shared with the integration and that the properties
 * the config names (filter, slug, title, sort, properties) are in its data
 * source's schema.
 */
import { APIErrorCode, Client, isNotionClientError } from "@notionhq/client";
import { ConfigError, readSyncSettings } from "../config";
import { filterPropertyNames } from "../notion/filter";
import { DEFAULT_NOTION_VERSION, type NotionVersion } from "../notion/versions";
import { parseNotionId } from "../workspace/database-ref";
import type { DatabaseSectionSpec, Workspace } from "../workspace/types";
import { failureKind } from "./failure";
import { type DoctorCheck, type Env, fail, pass } from "./types";

export function notionClient(env: Env, timeoutMs: number): Client {
  return new Client({
    auth: env.NOTION_API_KEY?.trim(),
    baseUrl: env.NOTION_BASE_URL?.trim() || undefined,
    timeoutMs,
    notionVersion: notionVersionOf(env),
    // A 429 or a 5xx is waited out briefly, not reported as a broken setup.
    retry: { maxRetries: 2, initialRetryDelayMs: 500, maxRetryDelayMs: 3_000 },
    logger: () => {},
  });
}

/** NOTION_VERSION as the sync sends it; a malformed one is the settings check's to report, so the default is asked. */
function notionVersionOf(env: Env): NotionVersion {
  try {
    return readSyncSettings(env).notionVersion;
  } catch (error) {
    if (error instanceof ConfigError) return DEFAULT_NOTION_VERSION;
    throw error;
  }
}

/** Why Notion refused, in the integration owner's words; `what` names the object asked for. */
function notionFailure(error: unknown, what: string): { message: string; tokenAtFault: boolean } {
  if (!isNotionClientError(error)) return { message: `${what}: ${failureKind(error)}`, tokenAtFault: false };
  switch (error.code) {
    case APIErrorCode.Unauthorized:
      return {
        message: "Notion refused NOTION_API_KEY (401 unauthorized): the token is wrong or was revoked",
        tokenAtFault: true,
      };
    case APIErrorCode.ObjectNotFound:
      return {
        message: `${what} not found (404): share it with the integration (… → Connections) or fix the id`,
        tokenAtFault: false,
      };
    case APIErrorCode.RestrictedResource:
      return {
        message: `${what}: the integration may not read it (403): give it "Read content" (Notion → Integrations → Capabilities)`,
        tokenAtFault: false,
      };
    case APIErrorCode.RateLimited:
      return { message: `${what}: Notion answered 429 rate_limited: try again in a minute`, tokenAtFault: false };
    default:
      return { message: `${what}: Notion answered ${error.code}`, tokenAtFault: false };
  }
}

export async function checkNotionToken(client: Client, env: Env): Promise<DoctorCheck> {
  try {
    const me = (await client.users.me({})) as { name?: string | null; bot?: { workspace_name?: string | null } };
    const workspace = me.bot?.workspace_name ? ` in workspace "${me.bot.workspace_name}"` : "";
    return pass("Notion token", `valid: integration "${me.name ?? "(unnamed)"}"${workspace}`);
  } catch (error) {
    const { message, tokenAtFault } = notionFailure(error, "Notion (users/me)");
    const elsewhere = env.NOTION_BASE_URL?.trim() ? "NOTION_BASE_URL" : undefined;
    return fail("Notion token", message, tokenAtFault ? "NOTION_API_KEY" : elsewhere);
  }
}

/**
 * What to fix when a section's database fails: its variable. With a config
 * file, the variable whose value is that database (`database: process.env.NOTION_BLOG_DB`), else the field.
 */
export function sourceVariable(spec: DatabaseSectionSpec, env: Env, origin: Workspace["origin"]): string {
  if (origin === "env") return spec.sourceOrigin;
  const id = "databaseId" in spec.source ? spec.source.databaseId : spec.source.dataSourceId;
  const named = Object.keys(env)
    .filter((name) => /^[A-Z][A-Z0-9_]*$/.test(name))
    .find((name) => {
      const value = env[name]?.trim();
      return value !== undefined && value.length >= 32 && parseNotionId(value) === id;
    });
  return named ?? spec.sourceOrigin;
}

/** The config fields naming properties, each with the names it uses. */
function namedProperties(spec: DatabaseSectionSpec): { field: string; names: string[] }[] {
  const field = (name: string) => `sections.${spec.name}.${name}`;
  const sort = "property" in spec.sort ? [spec.sort.property] : [];
  return [
    { field: field("filter"), names: filterPropertyNames(spec.filter) },
    { field: field("slug"), names: spec.slugProperty ? [spec.slugProperty] : [] },
    { field: field("title"), names: spec.titleProperty ? [spec.titleProperty] : [] },
    { field: field("sort"), names: sort },
    { field: field("properties"), names: spec.properties ?? [] },
  ];
}

interface SchemaRead {
  title: string;
  properties: string[];
}

async function readSchema(client: Client, spec: DatabaseSectionSpec): Promise<SchemaRead | string> {
  let dataSourceId: string;
  let title = "";
  if ("dataSourceId" in spec.source) dataSourceId = spec.source.dataSourceId;
  else {
    const db = (await client.databases.retrieve({ database_id: spec.source.databaseId })) as {
      data_sources?: { id: string }[];
      title?: { plain_text?: string }[];
    };
    title = (db.title ?? []).map((t) => t.plain_text ?? "").join("");
    const first = db.data_sources?.[0]?.id;
    if (!first) return "the database has no data source the integration can read";
    dataSourceId = first;
  }
  const source = (await client.dataSources.retrieve({ data_source_id: dataSourceId })) as {
    properties?: Record<string, unknown>;
    title?: { plain_text?: string }[];
  };
  title ||= (source.title ?? []).map((t) => t.plain_text ?? "").join("");
  return { title, properties: Object.keys(source.properties ?? {}) };
}

export async function checkSection(
  client: Client,
  spec: DatabaseSectionSpec,
  env: Env,
  origin: Workspace["origin"],
): Promise<DoctorCheck> {
  const name = `section ${spec.name}`;
  const variable = sourceVariable(spec, env, origin);
  const what = "dataSourceId" in spec.source ? `the data source in ${variable}` : `the database in ${variable}`;
  let schema: SchemaRead | string;
  try {
    schema = await readSchema(client, spec);
  } catch (error) {
    const { message, tokenAtFault } = notionFailure(error, what);
    return fail(name, message, tokenAtFault ? "NOTION_API_KEY" : variable);
  }
  if (typeof schema === "string") return fail(name, `${what}: ${schema}`, variable);
  for (const { field, names } of namedProperties(spec)) {
    const missing = names.filter((n) => !schema.properties.includes(n));
    if (missing.length > 0)
      return fail(
        name,
        `${field} names ${missing.map((m) => `"${m}"`).join(", ")}, not a property of its data source`,
        field,
      );
  }
  const title = schema.title ? `"${schema.title}", ` : "";
  return pass(name, `shared with the integration (${title}${schema.properties.length} properties)`);
}
