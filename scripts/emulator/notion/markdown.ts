/**
 * GET /v1/pages/{id}/markdown for the emulator: a page's blocks rendered as
 * Notion-flavoured ("enhanced") markdown, the way notion-facts.md §2.1 and
 * Notion's enhanced-markdown reference describe it:
 *
 *   - one block per line, a single "\n" between blocks; children one tab deeper;
 *   - headings `#`…`###` (`{toggle="true"}` when toggleable), `- ` bullets,
 *     `1. ` numbers, `- [ ]` / `- [x]` to-dos, `> ` quotes, `---` dividers,
 *     fenced code, `$$` equations, `<empty-block/>` for an empty paragraph;
 *   - `<details><summary>` toggles, `<callout icon color>`, `<table><tr><td>`,
 *     `<columns><column>`, `<synced_block>` / `<synced_block_reference>`,
 *     `<table_of_contents/>`;
 *   - images `![caption](url)`, `<file|pdf|audio|video src="url">caption</…>`
 *     with the signed URLs the block API gives at the same instant;
 *   - child pages as `<page url="…">Title</page>`, child databases as
 *     `<database url="…" inline="true">Title</database>`, never inlined;
 *   - block types the format does not support (bookmark, embed, link_preview,
 *     breadcrumb, template, unsupported, anything unknown) as
 *     `<unknown url="…" alt="type"/>`, their ids in `unknown_block_ids`;
 *   - rich text: `**bold**`, `*italic*`, `~~strike~~`, `` `code` ``,
 *     `<span underline="true">`, `<span color>`, `[text](url)`, `$math$`,
 *     mentions as `<mention-page|database|user url>` / `<mention-date start>`,
 *     `<br>` for line breaks, backslash escapes outside code.
 *
 * Notion-flavored Markdown v2 (`markdown_version: "v2"`; the default from
 * 2026-12-01, which refuses v1), as "Migrate to Notion-flavored Markdown"
 * documents it: blocks separated by a blank line; a paragraph or quote with
 * children in its tag form (`<p>`, `<quote>`) with the children after a blank
 * line, not indented (list items keep tab-indented children); toggles as
 * `<toggle>`; block colors as a `color` attribute on the tag instead of
 * `{color="…"}`. What the guide does not spell out is this emulator's guess:
 * the tag's exact layout (`<p color="…">text</p>`, children before the closing
 * tag), headings with a color as `<h1 color="…">`, list items and to-dos
 * dropping their color; every other block as in v1.
 *
 * Truncation: past the workspace's block limit (Notion: "approximately
 * 20,000 blocks"; default 20,000 here, setMarkdownBlockLimit for tests) every
 * further block is an `<unknown>` tag and `truncated` is true; so is a child
 * page the integration cannot read (Notion: content not shared). At most 100
 * ids in `unknown_block_ids`. Passing one of them (any readable block id) as
 * the page id returns that block's subtree.
 */
import { notFound } from "./types.js";
import type { BlockTree, Workspace } from "./workspace.js";

export const DEFAULT_MARKDOWN_BLOCK_LIMIT = 20_000;
const MAX_UNKNOWN_IDS = 100;

const limits = new WeakMap<Workspace, number>();

/** Blocks one markdown answer renders before truncating (`undefined`: back to the default). */
export function setMarkdownBlockLimit(workspace: Workspace, limit: number | undefined): void {
  if (limit === undefined) limits.delete(workspace);
  else if (!(Number.isInteger(limit) && limit >= 0))
    throw new RangeError("the markdown block limit is a non-negative integer");
  else limits.set(workspace, limit);
}

export function markdownBlockLimit(workspace: Workspace): number {
  return limits.get(workspace) ?? DEFAULT_MARKDOWN_BLOCK_LIMIT;
}

export interface PageMarkdownBody {
  object: "page_markdown";
  id: string;
  markdown: string;
  truncated: boolean;
  unknown_block_ids: string[];
}

export type MarkdownVersion = "v1" | "v2";

/** The route's answer; throws Notion's 404 for a page or block the integration cannot read. */
export function retrievePageMarkdown(
  workspace: Workspace,
  id: string,
  markdownVersion: MarkdownVersion,
): PageMarkdownBody {
  const rendered = pageMarkdown(workspace, id, { markdownVersion });
  if (!rendered) throw notFound(id, "page");
  return rendered;
}

/**
 * The markdown of a page (or of a block and its subtree), or undefined where Notion answers 404.
 * In v2 unless told (what the product asks for on every version).
 */
export function pageMarkdown(
  workspace: Workspace,
  id: string,
  options: { blockLimit?: number; markdownVersion?: MarkdownVersion } = {},
): PageMarkdownBody | undefined {
  const page = workspace.page(id);
  const block = page ? undefined : workspace.block(id);
  // A child_page block shares its page's id: an unreadable page is a 404, not a block.
  if (!page && (!block || block.type === "child_page")) return undefined;
  const rootId = (page ?? block)!.id;
  const r = new Renderer(
    workspace,
    `https://www.notion.so/${hex(rootId)}`,
    options.blockLimit ?? markdownBlockLimit(workspace),
    options.markdownVersion !== "v1",
  );
  const tree = workspace.contentTree(rootId);
  const lines = page
    ? r.blocks(tree)
    : r.blocks([
        { ...block!, ...(block!.has_children && block!.type !== "child_page" ? { children: tree } : {}) } as BlockTree,
      ]);
  return {
    object: "page_markdown",
    id: rootId,
    markdown: lines.join("\n"),
    truncated: r.truncated,
    unknown_block_ids: r.unknownIds,
  };
}

const hex = (id: string) => id.replace(/-/g, "");

// ------------------------------------------------------------------ rich text

type Loose = Record<string, unknown>;
const isObject = (v: unknown): v is Loose => typeof v === "object" && v !== null && !Array.isArray(v);

/** Characters escaped outside code (enhanced-markdown reference, "Escaping"). */
export function escapeMarkdown(text: string): string {
  return text.replace(/[\\*~`$[\]<>{}|^]/g, (c) => `\\${c}`).replace(/\r?\n/g, "<br>");
}

const attr = (value: string) => value.replace(/"/g, "&quot;");

/** Notion's background colors are `gray_background` in blocks and `gray_bg` in markdown. */
const mdColor = (color: unknown) => (typeof color === "string" ? color.replace(/_background$/, "_bg") : "default");

function wrap(inner: string, open: string, close: string): string {
  // Markers hug the text: whitespace moves outside them.
  const m = /^(\s*)([\s\S]*?)(\s*)$/.exec(inner)!;
  return m[2] === "" ? inner : `${m[1]}${open}${m[2]}${close}${m[3]}`;
}

function richText(parts: unknown): string {
  if (!Array.isArray(parts)) return "";
  return parts.map((part) => (isObject(part) ? richTextPart(part) : "")).join("");
}

function richTextPart(part: Loose): string {
  const a = isObject(part.annotations) ? part.annotations : {};
  const plain = typeof part.plain_text === "string" ? part.plain_text : "";
  let out: string;
  if (part.type === "equation") {
    out = `$${(part.equation as Loose | undefined)?.expression ?? plain}$`;
  } else if (part.type === "mention" && isObject(part.mention)) {
    out = mentionTag(part.mention, plain, typeof part.href === "string" ? part.href : null);
  } else if (a.code) {
    out = `\`${plain}\``;
  } else {
    out = escapeMarkdown(plain);
  }
  if (a.bold) out = wrap(out, "**", "**");
  if (a.italic) out = wrap(out, "*", "*");
  if (a.strikethrough) out = wrap(out, "~~", "~~");
  if (a.underline) out = wrap(out, '<span underline="true">', "</span>");
  if (typeof a.color === "string" && a.color !== "default")
    out = wrap(out, `<span color="${attr(mdColor(a.color))}">`, "</span>");
  const href = part.type === "text" && typeof part.href === "string" ? part.href : null;
  return href ? wrap(out, "[", `](${href})`) : out;
}

function mentionTag(mention: Loose, plain: string, href: string | null): string {
  const target = mention[String(mention.type)];
  const id = isObject(target) && typeof target.id === "string" ? target.id : "";
  switch (mention.type) {
    case "page":
      return `<mention-page url="${attr(href ?? `https://www.notion.so/${hex(id)}`)}">${escapeMarkdown(plain)}</mention-page>`;
    case "database":
      return `<mention-database url="${attr(href ?? `https://www.notion.so/${hex(id)}`)}">${escapeMarkdown(plain)}</mention-database>`;
    case "user":
      return `<mention-user url="${attr(`user://${id}`)}">${escapeMarkdown(plain.replace(/^@/, ""))}</mention-user>`;
    case "date": {
      const date = isObject(target) ? target : {};
      const end = typeof date.end === "string" ? ` end="${attr(date.end)}"` : "";
      return `<mention-date start="${attr(String(date.start ?? plain))}"${end}/>`;
    }
    default:
      return href ? `[${escapeMarkdown(plain)}](${href})` : escapeMarkdown(plain);
  }
}

// ------------------------------------------------------------------ blocks

/** Block types the format renders as `<unknown>` (notion-facts.md §2.1); so does any type not handled below. */
export const UNSUPPORTED_BLOCK_TYPES: ReadonlySet<string> = new Set([
  "bookmark",
  "embed",
  "link_preview",
  "breadcrumb",
  "template",
  "unsupported",
]);
const MEDIA = new Set(["file", "pdf", "audio", "video"]);

class Renderer {
  truncated = false;
  readonly unknownIds: string[] = [];
  private count = 0;

  constructor(
    private readonly workspace: Workspace,
    private readonly rootUrl: string,
    private readonly limit: number,
    private readonly v2 = false,
  ) {}

  blocks(nodes: BlockTree[]): string[] {
    const lines: string[] = [];
    let number = 0;
    for (const node of nodes) {
      number = node.type === "numbered_list_item" ? number + 1 : 0;
      // v2: a single newline does not start a block, a blank line does.
      if (this.v2 && lines.length > 0) lines.push("");
      lines.push(...this.block(node, number));
    }
    return lines;
  }

  private children(node: BlockTree, extraTabs = 1): string[] {
    const pad = "\t".repeat(extraTabs);
    return this.blocks(node.children ?? []).map((line) => (line === "" ? line : pad + line));
  }

  /** v2: a block in its tag form, its children after a blank line, not indented. */
  private tagForm(tag: string, node: BlockTree, text: string, color: unknown): string[] {
    const attrs = mdColor(color) !== "default" ? ` color="${attr(mdColor(color))}"` : "";
    if (!node.children?.length) return [`<${tag}${attrs}>${text}</${tag}>`];
    return [`<${tag}${attrs}>${text}`, "", ...this.blocks(node.children), `</${tag}>`];
  }

  /** What v2 writes differently from v1 (see the file's comment), or undefined: as in v1. */
  private v2Block(node: BlockTree, body: Loose, text: string): string[] | undefined {
    const colored = mdColor(body.color) !== "default";
    switch (node.type as string) {
      case "paragraph":
        return node.children?.length || colored ? this.tagForm("p", node, text, body.color) : undefined;
      case "quote":
        return node.children?.length || colored ? this.tagForm("quote", node, text, body.color) : undefined;
      case "toggle":
        return this.tagForm("toggle", node, text, body.color);
      case "heading_1":
      case "heading_2":
      case "heading_3":
      case "heading_4":
        return colored && !body.is_toggleable
          ? this.tagForm(`h${node.type.slice(-1)}`, node, text, body.color)
          : undefined;
      case "bulleted_list_item":
      case "numbered_list_item":
      case "to_do":
        return colored ? this.uncoloredListItem(node, body, text) : undefined;
      default:
        return undefined;
    }
  }

  private uncoloredListItem(node: BlockTree, body: Loose, text: string): string[] {
    const numbered = node.type === "numbered_list_item" ? `${this.listNumber}.` : "-";
    const marker = node.type === "to_do" ? `- [${body.checked ? "x" : " "}]` : numbered;
    return [`${marker} ${text}`, ...this.children(node)];
  }

  private listNumber = 0;

  private unknown(node: BlockTree, reason: "unsupported" | "truncated"): string {
    if (reason === "truncated") this.truncated = true;
    if (this.unknownIds.length < MAX_UNKNOWN_IDS) this.unknownIds.push(node.id);
    return `<unknown url="${attr(`${this.rootUrl}#${hex(node.id)}`)}" alt="${attr(node.type)}"/>`;
  }

  private block(node: BlockTree, number: number): string[] {
    // Past the record limit nothing more is rendered, not even the block's children.
    if (this.count >= this.limit) return [this.unknown(node, "truncated")];
    this.count++;
    const body = isObject(node[node.type]) ? (node[node.type] as Loose) : {};
    const text = richText(body.rich_text);
    const color = mdColor(body.color) !== "default" ? ` {color="${attr(mdColor(body.color))}"}` : "";
    const withChildren = (line: string) => [line, ...this.children(node)];
    this.listNumber = number;
    const v2 = this.v2 ? this.v2Block(node, body, text) : undefined;
    if (v2) return v2;
    switch (node.type as string) {
      case "paragraph":
        if (text === "" && !node.children?.length) return [`<empty-block/>`];
        return withChildren(`${text}${color}`);
      case "heading_1":
      case "heading_2":
      case "heading_3":
      case "heading_4": {
        const level = Number(node.type.slice(-1));
        const attrs = [body.is_toggleable ? 'toggle="true"' : "", color ? `color="${attr(mdColor(body.color))}"` : ""]
          .filter(Boolean)
          .join(" ");
        return withChildren(`${"#".repeat(level)} ${text}${attrs ? ` {${attrs}}` : ""}`);
      }
      case "bulleted_list_item":
        return withChildren(`- ${text}${color}`);
      case "numbered_list_item":
        return withChildren(`${number}. ${text}${color}`);
      case "to_do":
        return withChildren(`- [${body.checked ? "x" : " "}] ${text}${color}`);
      case "quote":
        return withChildren(`> ${text}${color}`);
      case "toggle":
        return [
          `<details${color ? ` color="${attr(mdColor(body.color))}"` : ""}>`,
          `<summary>${text}</summary>`,
          ...this.children(node),
          `</details>`,
        ];
      case "callout": {
        const icon = iconValue(body.icon);
        const attrs = `${icon ? ` icon="${attr(icon)}"` : ""}${mdColor(body.color) !== "default" ? ` color="${attr(mdColor(body.color))}"` : ""}`;
        return [`<callout${attrs}>`, ...(text ? [`\t${text}`] : []), ...this.children(node), `</callout>`];
      }
      case "code": {
        const code = Array.isArray(body.rich_text)
          ? body.rich_text.map((p) => (isObject(p) && typeof p.plain_text === "string" ? p.plain_text : "")).join("")
          : "";
        const language = typeof body.language === "string" && body.language !== "plain text" ? body.language : "";
        return ["```" + language, ...code.split("\n"), "```"];
      }
      case "equation":
        return ["$$", String((body as { expression?: unknown }).expression ?? ""), "$$"];
      case "divider":
        return ["---"];
      case "table_of_contents":
        return [`<table_of_contents${color ? ` color="${attr(mdColor(body.color))}"` : ""}/>`];
      case "image": {
        const url = fileUrl(body);
        return url === null ? [this.unknown(node, "unsupported")] : [`![${richText(body.caption)}](${url})`];
      }
      case "table":
        return [
          `<table header-row="${body.has_column_header === true}" header-column="${body.has_row_header === true}">`,
          ...(node.children ?? []).flatMap((row) => this.tableRow(row)),
          `</table>`,
        ];
      case "column_list":
        return [`<columns>`, ...this.children(node), `</columns>`];
      case "column":
        return [`<column>`, ...this.children(node), `</column>`];
      case "child_page": {
        const child = this.workspace.page(node.id);
        // Not shared with the integration: Notion leaves it out and says the answer is truncated.
        if (!child) return [this.unknown(node, "truncated")];
        return [`<page url="${attr(child.url)}">${escapeMarkdown(String(body.title ?? ""))}</page>`];
      }
      case "child_database":
        return [
          `<database url="${attr(`https://www.notion.so/${hex(node.id)}`)}" inline="true">${escapeMarkdown(String(body.title ?? ""))}</database>`,
        ];
      case "link_to_page": {
        const target = body[String(body.type)];
        return [`<mention-page url="${attr(`https://www.notion.so/${hex(String(target ?? ""))}`)}"/>`];
      }
      case "synced_block": {
        const from = isObject(body.synced_from) ? body.synced_from : null;
        const tag = from ? "synced_block_reference" : "synced_block";
        const url = from
          ? `https://www.notion.so/${hex(String(from.block_id ?? ""))}`
          : `${this.rootUrl}#${hex(node.id)}`;
        return [`<${tag} url="${attr(url)}">`, ...this.children(node), `</${tag}>`];
      }
      default:
        if (MEDIA.has(node.type)) {
          const url = fileUrl(body);
          if (url !== null) return [`<${node.type} src="${attr(url)}">${richText(body.caption)}</${node.type}>`];
        }
        // bookmark, embed, link_preview, breadcrumb, template, unsupported (UNSUPPORTED) and types the format lacks.
        return [this.unknown(node, "unsupported")];
    }
  }

  private tableRow(row: BlockTree): string[] {
    if (this.count >= this.limit) return [`\t${this.unknown(row, "truncated")}`];
    this.count++;
    const cells = isObject(row.table_row) && Array.isArray(row.table_row.cells) ? row.table_row.cells : [];
    return ["\t<tr>", ...cells.map((cell) => `\t\t<td>${richText(cell)}</td>`), "\t</tr>"];
  }
}

/** The URL of a file object (hosted or external), or null. */
function fileUrl(file: Loose): string | null {
  const inner = file.type === "file" ? file.file : file.type === "external" ? file.external : undefined;
  return isObject(inner) && typeof inner.url === "string" ? inner.url : null;
}

function iconValue(icon: unknown): string | null {
  if (!isObject(icon)) return null;
  if (icon.type === "emoji" && typeof icon.emoji === "string") return icon.emoji;
  return fileUrl(icon);
}

/** For comparisons: the markdown with every signed URL's signature (its query) removed. */
export function unsignedMarkdown(markdown: string): string {
  return markdown.replace(/(https:\/\/prod-files-secure\.s3\.[^\s"'<>()?]+)\?[^\s"'<>()]*/g, "$1");
}
