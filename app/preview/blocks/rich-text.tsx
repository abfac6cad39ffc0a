/**
 * Notion rich text: text with annotations (bold, italic, strikethrough,
 * underline, code, colour) and links; mentions as their text (a page
 * mention links to that page's preview when it is mirrored); inline
 * equations as code (no math engine, no network).
 */
import type { ReactNode } from "react";
import { type RenderContext, colorClass, isObject, linkFor, safeHref } from "./context";

interface Annotations {
  bold?: boolean;
  italic?: boolean;
  strikethrough?: boolean;
  underline?: boolean;
  code?: boolean;
  color?: string;
}

export function plainText(items: unknown): string {
  return Array.isArray(items)
    ? items.map((item) => (isObject(item) && typeof item.plain_text === "string" ? item.plain_text : "")).join("")
    : "";
}

function annotate(content: ReactNode, a: Annotations): ReactNode {
  let out = content;
  if (a.code) out = <code>{out}</code>;
  if (a.bold) out = <strong>{out}</strong>;
  if (a.italic) out = <em>{out}</em>;
  if (a.strikethrough) out = <s>{out}</s>;
  if (a.underline) out = <u>{out}</u>;
  const color = colorClass(a.color);
  if (color) out = <span className={color}>{out}</span>;
  return out;
}

function RichTextItem({ item, ctx }: { item: Record<string, unknown>; ctx: RenderContext }) {
  const annotations = (isObject(item.annotations) ? item.annotations : {}) as Annotations;
  const text = typeof item.plain_text === "string" ? item.plain_text : "";
  if (item.type === "equation") {
    const expression =
      isObject(item.equation) && typeof item.equation.expression === "string" ? item.equation.expression : text;
    return annotate(
      <code className="equation inline" role="math" aria-label={expression}>
        {expression}
      </code>,
      { ...annotations, code: false },
    );
  }
  if (item.type === "mention") {
    const mention = isObject(item.mention) ? item.mention : {};
    const pageLink = mention.type === "page" && isObject(mention.page) ? linkFor(ctx, mention.page.id) : undefined;
    const href = pageLink ?? safeHref(item.href, ctx);
    const body = (
      <span className="mention" data-mention={typeof mention.type === "string" ? mention.type : "unknown"}>
        {text}
      </span>
    );
    return annotate(href ? <a href={href}>{body}</a> : body, annotations);
  }
  const link = isObject(item.text) && isObject(item.text.link) ? item.text.link.url : item.href;
  const href = safeHref(link, ctx);
  const lines = text.split("\n");
  const content = lines.length === 1 ? text : lines.flatMap((line, i) => (i === 0 ? [line] : [<br key={i} />, line]));
  return annotate(href ? <a href={href}>{content}</a> : content, annotations);
}

export function RichText({ items, ctx }: { items: unknown; ctx: RenderContext }) {
  if (!Array.isArray(items)) return null;
  return <>{items.map((item, i) => (isObject(item) ? <RichTextItem key={i} item={item} ctx={ctx} /> : null))}</>;
}
