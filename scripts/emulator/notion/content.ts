/**
 * Text and payload builders shared by the generator and the workspace
 * mutations: rich text in Notion's exact shape, slugs, and the small
 * vocabularies that make generated pages look like real notes.
 */
import { Prng } from "./prng.js";
import {
  EMULATOR_INTEGRATION,
  type Annotations,
  type DateValue,
  type EquationRichText,
  type FullUser,
  type Icon,
  type MentionRichText,
  type PropertySchema,
  type PropertyType,
  type RichText,
  type TextRichText,
} from "./types.js";

const MINUTE = 60_000;

/** Notion reports timestamps rounded down to the minute. */
export function floorToMinute(ms: number): number {
  return Math.floor(ms / MINUTE) * MINUTE;
}

export function isoMinute(ms: number): string {
  return new Date(floorToMinute(ms)).toISOString();
}

const PLAIN: Annotations = {
  bold: false,
  italic: false,
  strikethrough: false,
  underline: false,
  code: false,
  color: "default",
};

export function richText(
  content: string,
  options: { link?: string; annotations?: Partial<Annotations> } = {},
): TextRichText {
  const link = options.link ?? null;
  return {
    type: "text",
    text: { content, link: link === null ? null : { url: link } },
    annotations: { ...PLAIN, ...options.annotations },
    plain_text: content,
    href: link,
  };
}

export function plainText(parts: readonly RichText[]): string {
  return parts.map((part) => part.plain_text).join("");
}

/** Lowercase ASCII words joined by dashes; accents are folded, everything else dropped. */
export function slugify(title: string): string {
  const slug = title
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "");
  return slug === "" ? "untitled" : slug;
}

/** The page url Notion builds: title words joined by dashes, then the id without dashes. */
export function pageUrl(title: string, id: string): string {
  const words = title.replace(/[^\p{L}\p{N}]+/gu, "-").replace(/^-+|-+$/g, "");
  const hex = id.replace(/-/g, "");
  return `https://www.notion.so/${words === "" ? "" : `${words}-`}${hex}`;
}

const WORDS = [
  "sync",
  "cache",
  "latency",
  "budget",
  "roadmap",
  "review",
  "draft",
  "design",
  "launch",
  "metrics",
  "customer",
  "feedback",
  "release",
  "backlog",
  "sprint",
  "incident",
  "postmortem",
  "schema",
  "query",
  "index",
  "deploy",
  "rollback",
  "edge",
  "region",
  "storage",
  "queue",
  "worker",
  "retry",
  "token",
  "quota",
  "export",
  "import",
  "archive",
  "search",
  "filter",
  "cursor",
  "page",
  "block",
  "database",
  "the",
  "a",
  "of",
  "and",
  "to",
  "for",
  "with",
  "on",
  "in",
  "after",
  "before",
  "every",
  "each",
  "new",
  "quick",
  "careful",
  "simple",
  "stable",
  "hourly",
  "daily",
  "weekly",
  "fresh",
  "stale",
  "small",
  "large",
] as const;

const TITLE_ADJECTIVES = [
  "Quarterly",
  "Weekly",
  "Draft",
  "Final",
  "Internal",
  "Public",
  "Annual",
  "Quick",
  "Deep",
  "Open",
  "Team",
  "Product",
  "Design",
  "Engineering",
  "Marketing",
  "Support",
  "Launch",
  "Hiring",
  "Security",
  "Data",
] as const;

const TITLE_NOUNS = [
  "Roadmap",
  "Review",
  "Notes",
  "Plan",
  "Retrospective",
  "Checklist",
  "Guide",
  "Overview",
  "Proposal",
  "Report",
  "Handbook",
  "Playbook",
  "Summary",
  "Update",
  "Announcement",
  "Kickoff",
  "Brief",
  "FAQ",
  "Changelog",
  "Spec",
] as const;

/** Titles that exercise slugify (accents, emoji, punctuation). */
const ODD_TITLES = [
  "Café déjà vu — notes",
  "🚀 Launch plan",
  "Q&A: what's next?",
  "Über die API",
  "100% uptime (almost)",
  "C++ / Rust interop",
] as const;

export const TAGS = [
  { name: "engineering", color: "blue" },
  { name: "product", color: "green" },
  { name: "design", color: "pink" },
  { name: "ops", color: "orange" },
  { name: "news", color: "yellow" },
  { name: "howto", color: "purple" },
  { name: "internal", color: "gray" },
] as const;

const EMOJIS = ["📝", "📌", "🚀", "💡", "📊", "🧭", "🛠️", "📣", "✅", "🔒"] as const;
const LANGUAGES = ["typescript", "javascript", "bash", "json", "python", "sql", "rust", "go"] as const;

export function sentence(rng: Prng, minWords = 4, maxWords = 14): string {
  const count = rng.int(minWords, maxWords);
  const words: string[] = [];
  for (let i = 0; i < count; i++) words.push(rng.pick(WORDS));
  const text = words.join(" ");
  return `${text[0].toUpperCase()}${text.slice(1)}.`;
}

export function pageTitle(rng: Prng): string {
  if (rng.chance(0.03)) return rng.pick(ODD_TITLES);
  return `${rng.pick(TITLE_ADJECTIVES)} ${rng.pick(TITLE_NOUNS)}`;
}

export function emojiIcon(rng: Prng): Icon {
  return { type: "emoji", emoji: rng.pick(EMOJIS) };
}

/** Rich text of one to three runs, sometimes bold/italic/code, sometimes a link: the shapes a renderer must handle. */
export function paragraphText(rng: Prng): RichText[] {
  const runs: RichText[] = [richText(sentence(rng))];
  if (rng.chance(0.25)) {
    const style = rng.pick(["bold", "italic", "code", "strikethrough", "underline"] as const);
    runs.push(richText(` ${rng.pick(WORDS)}`, { annotations: { [style]: true } }));
  }
  if (rng.chance(0.12)) {
    runs.push(richText(" link", { link: `https://example.com/${rng.pick(WORDS)}` }));
  }
  return runs;
}

export function codeText(rng: Prng): { language: string; text: string } {
  const language = rng.pick(LANGUAGES);
  const lines = rng.int(1, 6);
  const body: string[] = [];
  for (let i = 0; i < lines; i++) body.push(`${rng.pick(WORDS)}(${rng.int(0, 99)});`);
  return { language, text: body.join("\n") };
}

/** A block's payload (the object under `block[type]`). */
export type Payload = Record<string, unknown>;

/** Payload of the text-like blocks (paragraph, headings, list items, quote, toggle...). */
export function textPayload(parts: RichText[], extra: Payload = {}): Payload {
  return { rich_text: parts, color: "default", ...extra };
}

/** A paragraph's payload: 2025-09-03 paragraphs carry `icon: null` between the text and the color (recordings of 2026). */
export function paragraphPayload(parts: RichText[]): Payload {
  return { rich_text: parts, icon: null, color: "default" };
}

// ------------------------------------------------------------ mentions and equations

/** The url Notion puts in a page or database mention's href: the id without dashes. */
export function notionUrl(id: string): string {
  return `https://www.notion.so/${id.replace(/-/g, "")}`;
}

function mention(mention: MentionRichText["mention"], plain: string, href: string | null): MentionRichText {
  return { type: "mention", mention, annotations: { ...PLAIN }, plain_text: plain, href };
}

export function userMention(user: FullUser): MentionRichText {
  return mention({ type: "user", user }, `@${user.name}`, null);
}

export function pageMention(id: string, title: string): MentionRichText {
  return mention({ type: "page", page: { id } }, title === "" ? "Untitled" : title, notionUrl(id));
}

export function databaseMention(id: string, title: string): MentionRichText {
  return mention({ type: "database", database: { id } }, title, notionUrl(id));
}

export function dateMention(date: DateValue): MentionRichText {
  return mention({ type: "date", date }, date.start, null);
}

export function linkMention(href: string, title: string, description: string): MentionRichText {
  return mention({ type: "link_mention", link_mention: { href, title, description } }, href, href);
}

/** A link shown as a preview card inside text (an integration's unfurl). */
export function linkPreviewMention(url: string): MentionRichText {
  return mention({ type: "link_preview", link_preview: { url } }, url, url);
}

export function equationText(expression: string): EquationRichText {
  return { type: "equation", equation: { expression }, annotations: { ...PLAIN }, plain_text: expression, href: null };
}

export const EQUATIONS = [
  "e^{i\\pi} + 1 = 0",
  "E = mc^2",
  "\\sum_{n=1}^{\\infty} \\frac{1}{n^2} = \\frac{\\pi^2}{6}",
  "a^2 + b^2 = c^2",
  "\\int_0^1 x^2 \\, dx = \\frac{1}{3}",
] as const;

// ------------------------------------------------------------ users

/** People of the emulated workspace (the owner is the workspace's own user id; the others get ids from the users stream). */
export const PERSON_NAMES = [
  { name: "Ada Lovelace", email: "ada@example.com" },
  { name: "Grace Hopper", email: "grace@example.com" },
  { name: "Alan Turing", email: "alan@example.com" },
  { name: "Katherine Johnson", email: "katherine@example.com" },
] as const;

export function personUser(id: string, name: string, email: string): FullUser {
  return {
    object: "user",
    id,
    name,
    avatar_url: `https://s3-us-west-2.amazonaws.com/public.notion-static.com/${id}/avatar.png`,
    type: "person",
    person: { email },
  };
}

export function botUser(id: string, name: string): FullUser {
  return { object: "user", id, name, avatar_url: null, type: "bot", bot: {} };
}

/**
 * The users of a workspace: the owner (the workspace's own user, who creates
 * and edits pages), three more people (ids from a stream of their own) and
 * the integration's bot (its user id is the integration id, as in Notion).
 */
export function workspaceUsers(seed: number, ownerId: string): { owner: FullUser; people: FullUser[]; bot: FullUser } {
  const rng = new Prng(`${seed}:users`);
  const people = PERSON_NAMES.map((p, i) => personUser(i === 0 ? ownerId : rng.uuid(), p.name, p.email));
  return { owner: people[0], people, bot: botUser(EMULATOR_INTEGRATION.id, EMULATOR_INTEGRATION.name) };
}

// ------------------------------------------------------------ data source schemas

/**
 * One property of a data source schema, and where a row's value comes from:
 * `field` names a column of the page record (title, slug, date, tags,
 * published, description); otherwise the value is the row's `values[name]`
 * (drawn by the generator) or computed at read time (timestamps, users,
 * rollups, unique ids).
 */
export interface PropertySpec {
  name: string;
  /** As Notion sends it: short and url-encoded (`title` for the title). */
  id: string;
  type: PropertyType;
  /** The type's configuration in the schema (`{}` for most). */
  config: Record<string, unknown>;
  field?: "title" | "slug" | "date" | "tags" | "published" | "description" | "attachments";
}

export interface SelectOptionSpec {
  id: string;
  name: string;
  color: string;
}

/** The id of a Tags option (the same in the schema and in every row's value). */
export function tagOptionId(name: string): string {
  return new Prng(`tag:${name}`).uuid();
}

/** A select, multi_select or status option as the schema lists it. */
export function schemaOption(option: SelectOptionSpec): Record<string, unknown> {
  return { id: option.id, name: option.name, color: option.color, description: null };
}

export const STATUS_OPTIONS: readonly SelectOptionSpec[] = [
  { id: "5f3c7a2e-1b4d-4e6f-8a9b-0c1d2e3f4a01", name: "Not started", color: "default" },
  { id: "5f3c7a2e-1b4d-4e6f-8a9b-0c1d2e3f4a02", name: "In progress", color: "blue" },
  { id: "Rv%3C~", name: "In review", color: "purple" },
  { id: "5f3c7a2e-1b4d-4e6f-8a9b-0c1d2e3f4a03", name: "Done", color: "green" },
];

export const STATUS_GROUPS = [
  { id: "6a4d8b3f-2c5e-4f70-9bac-1d2e3f4a5b01", name: "To-do", color: "gray", option_ids: [STATUS_OPTIONS[0].id] },
  {
    id: "6a4d8b3f-2c5e-4f70-9bac-1d2e3f4a5b02",
    name: "In progress",
    color: "blue",
    option_ids: [STATUS_OPTIONS[1].id, STATUS_OPTIONS[2].id],
  },
  { id: "6a4d8b3f-2c5e-4f70-9bac-1d2e3f4a5b03", name: "Complete", color: "green", option_ids: [STATUS_OPTIONS[3].id] },
] as const;

export const CATEGORY_OPTIONS: readonly SelectOptionSpec[] = [
  { id: "7b5e9c40-3d6f-4081-acbd-2e3f4a5b6c01", name: "Guide", color: "brown" },
  { id: "7b5e9c40-3d6f-4081-acbd-2e3f4a5b6c02", name: "Announcement", color: "red" },
  { id: "7b5e9c40-3d6f-4081-acbd-2e3f4a5b6c03", name: "Deep dive", color: "purple" },
];

/** Property ids of the schemas below (url-encoded like Notion's). */
export const PROPERTY_IDS = {
  status: "sT%3Au",
  category: "c%40tG",
  rating: "r%5Bt%5D",
  authors: "aU%7Bh",
  website: "wB%3Fs",
  contact: "cM%3Bl",
  phone: "pH%3Dn",
  readingTime: "rD%60t",
  nextReview: "nX%7Cr",
  pages: "pG%3Cs",
  posts: "pS%3Et",
  seeAlso: "sE%5E%40",
  pageCount: "pC%7Bn",
  pageTags: "pT%7Dg",
  created: "cR%3At",
  createdBy: "cB%3Ay",
  edited: "eD%3At",
  editedBy: "eB%3Ay",
  postId: "iD%3Fp",
  pageNo: "nO%3Fp",
  location: "lO%3Bc",
  share: "sH%3Br",
  notes: "nT%3Ds",
  verification: "verification",
  owner: "verification_owner",
} as const;

/** The six properties both databases have (their ids are the generator's historical ones). */
export function baseSchema(): PropertySpec[] {
  return [
    { name: "Name", id: "title", type: "title", config: {}, field: "title" },
    { name: "Slug", id: "%3AsLg", type: "rich_text", config: {}, field: "slug" },
    { name: "Date", id: "D%3Bt%3F", type: "date", config: {}, field: "date" },
    {
      name: "Tags",
      id: "tG%5E%5E",
      type: "multi_select",
      config: { options: TAGS.map((t) => schemaOption({ id: tagOptionId(t.name), name: t.name, color: t.color })) },
      field: "tags",
    },
    { name: "Published", id: "pB%7Cx", type: "checkbox", config: {}, field: "published" },
    { name: "Description", id: "dE%3Dc", type: "rich_text", config: {}, field: "description" },
  ];
}

export interface SchemaRefs {
  pagesDatabaseId: string;
  pagesDataSourceId: string;
  postsDatabaseId: string;
  postsDataSourceId: string;
}

/**
 * What the Posts data source adds in the default workspace: every property
 * type of the recorded pages and schemas (status, select, number, people,
 * url, email, phone_number, formula (string and date), relation (two-way with
 * Pages, and one-way to itself), rollup (count and show_original), created
 * and edited time and user, unique_id, place, button, rich text with mentions).
 */
export function postsExtraSchema(refs: SchemaRefs): PropertySpec[] {
  const I = PROPERTY_IDS;
  return [
    {
      name: "Status",
      id: I.status,
      type: "status",
      config: {
        options: STATUS_OPTIONS.map(schemaOption),
        groups: STATUS_GROUPS.map((g) => ({ ...g, option_ids: [...g.option_ids] })),
      },
    },
    { name: "Category", id: I.category, type: "select", config: { options: CATEGORY_OPTIONS.map(schemaOption) } },
    { name: "Rating", id: I.rating, type: "number", config: { format: "number_with_commas" } },
    { name: "Authors", id: I.authors, type: "people", config: {} },
    { name: "Website", id: I.website, type: "url", config: {} },
    { name: "Contact", id: I.contact, type: "email", config: {} },
    { name: "Phone", id: I.phone, type: "phone_number", config: {} },
    {
      name: "Reading time",
      id: I.readingTime,
      type: "formula",
      config: { expression: 'format(round(length(prop("Description")) / 20)) + " min"' },
    },
    {
      name: "Next review",
      id: I.nextReview,
      type: "formula",
      config: { expression: 'dateAdd(prop("Date"), 90, "days")' },
    },
    {
      name: "Pages",
      id: I.pages,
      type: "relation",
      config: {
        database_id: refs.pagesDatabaseId,
        data_source_id: refs.pagesDataSourceId,
        type: "dual_property",
        dual_property: { synced_property_name: "Posts", synced_property_id: I.posts },
      },
    },
    {
      name: "See also",
      id: I.seeAlso,
      type: "relation",
      config: {
        database_id: refs.postsDatabaseId,
        data_source_id: refs.postsDataSourceId,
        type: "single_property",
        single_property: {},
      },
    },
    {
      name: "Page count",
      id: I.pageCount,
      type: "rollup",
      config: {
        rollup_property_name: "Name",
        relation_property_name: "Pages",
        rollup_property_id: "title",
        relation_property_id: decodeURIComponent(I.pages),
        function: "count",
      },
    },
    {
      name: "Page tags",
      id: I.pageTags,
      type: "rollup",
      config: {
        rollup_property_name: "Tags",
        relation_property_name: "Pages",
        rollup_property_id: decodeURIComponent("tG%5E%5E"),
        relation_property_id: decodeURIComponent(I.pages),
        function: "show_original",
      },
    },
    { name: "Notes", id: I.notes, type: "rich_text", config: {} },
    { name: "Created", id: I.created, type: "created_time", config: {} },
    { name: "Created by", id: I.createdBy, type: "created_by", config: {} },
    { name: "Edited", id: I.edited, type: "last_edited_time", config: {} },
    { name: "Edited by", id: I.editedBy, type: "last_edited_by", config: {} },
    { name: "ID", id: I.postId, type: "unique_id", config: { prefix: "POST" } },
    { name: "Location", id: I.location, type: "place", config: {} },
    { name: "Share", id: I.share, type: "button", config: {} },
  ];
}

/** What the Pages data source adds: the wiki properties (verification and its owner), the other side of Posts' relation, a unique id without prefix. */
export function pagesExtraSchema(refs: SchemaRefs): PropertySpec[] {
  const I = PROPERTY_IDS;
  return [
    {
      name: "Posts",
      id: I.posts,
      type: "relation",
      config: {
        database_id: refs.postsDatabaseId,
        data_source_id: refs.postsDataSourceId,
        type: "dual_property",
        dual_property: { synced_property_name: "Pages", synced_property_id: I.pages },
      },
    },
    { name: "Verification", id: I.verification, type: "verification", config: {} },
    { name: "Owner", id: I.owner, type: "people", config: {} },
    { name: "No.", id: I.pageNo, type: "unique_id", config: { prefix: null } },
  ];
}

/** A schema entry as GET /v1/data_sources/{id} shows it. */
export function schemaEntry(spec: PropertySpec): PropertySchema {
  return {
    id: spec.id,
    name: spec.name,
    description: null,
    type: spec.type,
    [spec.type]: structuredClone(spec.config),
  } as PropertySchema;
}
