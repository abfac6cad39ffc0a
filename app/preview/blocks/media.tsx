/**
 * Media and links: image, video, audio, file, pdf, bookmark, embed,
 * link_preview. Files come as the site gets them (their files-store URL when
 * mirrored, else `/api/files/<ref>` for Notion-hosted ones). External videos and embeds are links, not iframes:
 * a preview loads nothing from third parties.
 */
/* eslint-disable @next/next/no-img-element -- plain <img>: the file route serves the files, no optimiser */
import { type Block, type RenderContext, fileUrl, payload, safeHref, safeSrc } from "./context";
import { RichText, plainText } from "./rich-text";

interface Props {
  block: Block;
  ctx: RenderContext;
}

function Caption({ items, ctx }: { items: unknown; ctx: RenderContext }) {
  return plainText(items) === "" ? null : (
    <figcaption>
      <RichText items={items} ctx={ctx} />
    </figcaption>
  );
}

function Missing({ block, what }: { block: Block; what: string }) {
  return (
    <div className="unknown-block" data-block-type={block.type}>
      {what} without a usable URL
    </div>
  );
}

export function Image({ block, ctx }: Props) {
  const p = payload(block);
  const src = safeSrc(fileUrl(p));
  if (!src) return <Missing block={block} what="Image" />;
  return (
    <figure className="image" data-block-type="image">
      <img src={src} alt={plainText(p.caption)} decoding="async" />
      <Caption items={p.caption} ctx={ctx} />
    </figure>
  );
}

function fileName(p: Record<string, unknown>, url: string): string {
  if (typeof p.name === "string" && p.name !== "") return p.name;
  try {
    const last = new URL(url, "http://x").pathname.split("/").pop();
    return last ? decodeURIComponent(last) : url;
  } catch {
    return url;
  }
}

export function Video({ block, ctx }: Props) {
  const p = payload(block);
  const src = safeSrc(fileUrl(p));
  if (!src) return <Missing block={block} what="Video" />;
  return (
    <figure className="video" data-block-type="video">
      {p.type === "external" ? (
        <a href={src} rel="noopener noreferrer">
          ▶ {src}
        </a>
      ) : (
        <video src={src} controls preload="none" />
      )}
      <Caption items={p.caption} ctx={ctx} />
    </figure>
  );
}

export function Audio({ block, ctx }: Props) {
  const p = payload(block);
  const src = safeSrc(fileUrl(p));
  if (!src) return <Missing block={block} what="Audio" />;
  return (
    <figure className="audio" data-block-type="audio">
      <audio src={src} controls preload="none" />
      <Caption items={p.caption} ctx={ctx} />
    </figure>
  );
}

/** file and pdf: a download link (a pdf viewer would be a frame). */
export function FileBlock({ block, ctx }: Props) {
  const p = payload(block);
  const src = safeSrc(fileUrl(p));
  if (!src) return <Missing block={block} what={block.type === "pdf" ? "PDF" : "File"} />;
  return (
    <figure className="file" data-block-type={block.type}>
      <a href={src} rel="noopener noreferrer">
        {block.type === "pdf" ? "📕" : "📎"} {fileName(p, src)}
      </a>
      <Caption items={p.caption} ctx={ctx} />
    </figure>
  );
}

/** bookmark, embed, link_preview: a card linking to the URL. */
export function LinkCard({ block, ctx }: Props) {
  const p = payload(block);
  const href = safeHref(p.url, ctx);
  const label = { bookmark: "Bookmark", embed: "Embed", link_preview: "Link preview" }[block.type] ?? block.type;
  return (
    <figure className={`bookmark ${block.type}`} data-block-type={block.type}>
      <div className="bookmark-kind">{label}</div>
      {href ? (
        <a href={href} rel="noopener noreferrer">
          {href}
        </a>
      ) : (
        <span>{typeof p.url === "string" ? p.url : "(no URL)"}</span>
      )}
      <Caption items={p.caption} ctx={ctx} />
    </figure>
  );
}
