/**
 * Text and payload builders shared by the generator and the workspace
 * mutations: rich text in Notion's exact shape, slugs, and the small
 * vocabularies that make generated pages look like real notes.
 */
import type { Prng } from "./prng.js";
import type { Annotations, Icon, RichText } from "./types.js";

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

export function richText(content: string, options: { link?: string; annotations?: Partial<Annotations> } = {}): RichText {
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
  "sync", "cache", "latency", "budget", "roadmap", "review", "draft", "design", "launch", "metrics",
  "customer", "feedback", "release", "backlog", "sprint", "incident", "postmortem", "schema", "query",
  "index", "deploy", "rollback", "edge", "region", "storage", "queue", "worker", "retry", "token",
  "quota", "export", "import", "archive", "search", "filter", "cursor", "page", "block", "database",
  "the", "a", "of", "and", "to", "for", "with", "on", "in", "after", "before", "every", "each", "new",
  "quick", "careful", "simple", "stable", "hourly", "daily", "weekly", "fresh", "stale", "small", "large",
] as const;

const TITLE_ADJECTIVES = [
  "Quarterly", "Weekly", "Draft", "Final", "Internal", "Public", "Annual", "Quick", "Deep", "Open",
  "Team", "Product", "Design", "Engineering", "Marketing", "Support", "Launch", "Hiring", "Security", "Data",
] as const;

const TITLE_NOUNS = [
  "Roadmap", "Review", "Notes", "Plan", "Retrospective", "Checklist", "Guide", "Overview", "Proposal", "Report",
  "Handbook", "Playbook", "Summary", "Update", "Announcement", "Kickoff", "Brief", "FAQ", "Changelog", "Spec",
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
