/** Text blocks: paragraph, headings (toggleable ones as <details>), quote, callout, to-do, toggle, code, equation, list items. */
import { Blocks } from "./render";
import {
  type Block,
  type RenderContext,
  colorClass,
  fileUrl,
  headingAnchor,
  isObject,
  payload,
  safeSrc,
} from "./context";
import { RichText, plainText } from "./rich-text";

interface Props {
  block: Block;
  ctx: RenderContext;
}

/** A block's nested blocks (Notion lets most text blocks have children), indented. */
export function Nested({ block, ctx }: Props) {
  if (!block.children?.length) return null;
  return (
    <div className="nested">
      <Blocks blocks={block.children} ctx={ctx} />
    </div>
  );
}

export function Paragraph({ block, ctx }: Props) {
  const p = payload(block);
  const empty = plainText(p.rich_text) === "";
  return (
    <>
      <p className={colorClass(p.color)} data-block-type="paragraph">
        {empty ? "\u00a0" : <RichText items={p.rich_text} ctx={ctx} />}
      </p>
      <Nested block={block} ctx={ctx} />
    </>
  );
}

export function Heading({ block, ctx }: Props) {
  const p = payload(block);
  const level = Number(block.type.slice("heading_".length)) || 1;
  // The page title is the <h1>: Notion's heading 1 is the page's first level below it.
  const Tag = (["h2", "h3", "h4", "h5"] as const)[Math.min(level, 4) - 1];
  const heading = (
    <Tag id={headingAnchor(block.id)} className={colorClass(p.color)} data-block-type={block.type}>
      <RichText items={p.rich_text} ctx={ctx} />
    </Tag>
  );
  if (p.is_toggleable !== true) return heading;
  return (
    <details className="toggle toggle-heading" data-block-type={block.type}>
      <summary>{heading}</summary>
      <Nested block={block} ctx={ctx} />
    </details>
  );
}

export function Quote({ block, ctx }: Props) {
  const p = payload(block);
  return (
    <blockquote className={colorClass(p.color)} data-block-type="quote">
      <RichText items={p.rich_text} ctx={ctx} />
      <Nested block={block} ctx={ctx} />
    </blockquote>
  );
}

export function Icon({ icon, className }: { icon: unknown; className?: string }) {
  if (!isObject(icon)) return null;
  if (icon.type === "emoji" && typeof icon.emoji === "string") {
    return (
      <span className={className} role="img" aria-hidden="true">
        {icon.emoji}
      </span>
    );
  }
  const src = safeSrc(fileUrl(icon));
  // eslint-disable-next-line @next/next/no-img-element -- a plain <img>: the file route already serves the file
  return src ? <img className={className} src={src} alt="" width={20} height={20} /> : null;
}

export function Callout({ block, ctx }: Props) {
  const p = payload(block);
  return (
    <aside className={["callout", colorClass(p.color)].filter(Boolean).join(" ")} data-block-type="callout">
      <Icon icon={p.icon} className="callout-icon" />
      <div className="callout-body">
        <RichText items={p.rich_text} ctx={ctx} />
        <Nested block={block} ctx={ctx} />
      </div>
    </aside>
  );
}

export function Toggle({ block, ctx }: Props) {
  const p = payload(block);
  return (
    <details className={["toggle", colorClass(p.color)].filter(Boolean).join(" ")} data-block-type="toggle">
      <summary>
        <RichText items={p.rich_text} ctx={ctx} />
      </summary>
      <Nested block={block} ctx={ctx} />
    </details>
  );
}

export function ToDo({ block, ctx }: Props) {
  const p = payload(block);
  const checked = p.checked === true;
  return (
    <li
      className={["todo", checked ? "checked" : "", colorClass(p.color) ?? ""].filter(Boolean).join(" ")}
      data-block-type="to_do"
      data-checked={checked}
    >
      <label>
        <input type="checkbox" checked={checked} disabled readOnly aria-label={checked ? "done" : "to do"} />
        <span className="todo-text">
          <RichText items={p.rich_text} ctx={ctx} />
        </span>
      </label>
      <Nested block={block} ctx={ctx} />
    </li>
  );
}

export function ListItem({ block, ctx }: Props) {
  const p = payload(block);
  return (
    <li className={colorClass(p.color)} data-block-type={block.type}>
      <RichText items={p.rich_text} ctx={ctx} />
      {block.children?.length ? <Blocks blocks={block.children} ctx={ctx} /> : null}
    </li>
  );
}

export function Code({ block, ctx }: Props) {
  const p = payload(block);
  const language = typeof p.language === "string" ? p.language : "plain text";
  return (
    <figure className="code" data-block-type="code">
      <div className="code-language">{language}</div>
      <pre>
        <code data-language={language}>{plainText(p.rich_text)}</code>
      </pre>
      {plainText(p.caption) !== "" && (
        <figcaption>
          <RichText items={p.caption} ctx={ctx} />
        </figcaption>
      )}
    </figure>
  );
}

/** A block equation: its KaTeX source as code (no math engine is loaded, nothing is fetched). */
export function Equation({ block }: Props) {
  const p = payload(block);
  const expression = typeof p.expression === "string" ? p.expression : "";
  return (
    <div className="equation block" data-block-type="equation" role="math" aria-label={expression}>
      <code>{expression}</code>
    </div>
  );
}
