/**
 * Structure: table (with its rows and header row/column), column list and
 * columns, divider, child page and link to page (to their preview), child
 * database, synced block, table of contents, breadcrumb, and the visible
 * placeholder for any block type this renderer does not know.
 */
import { Blocks } from "./render";
import { type Block, type RenderContext, colorClass, headingAnchor, linkFor, payload } from "./context";
import { RichText } from "./rich-text";

interface Props {
  block: Block;
  ctx: RenderContext;
}

export function Table({ block, ctx }: Props) {
  const p = payload(block);
  const rows = (block.children ?? []).filter((row) => row.type === "table_row");
  const columnHeader = p.has_column_header === true;
  const rowHeader = p.has_row_header === true;
  const width = typeof p.table_width === "number" ? p.table_width : 0;
  const cells = (row: Block): unknown[] => {
    const list = payload(row).cells;
    const out = Array.isArray(list) ? [...list] : [];
    while (out.length < width) out.push([]);
    return out;
  };
  const renderRow = (row: Block, header: boolean) => (
    <tr key={row.id}>
      {cells(row).map((cell, i) => {
        const Cell = header || (rowHeader && i === 0) ? "th" : "td";
        return (
          <Cell key={i} scope={header ? "col" : Cell === "th" ? "row" : undefined}>
            <RichText items={cell} ctx={ctx} />
          </Cell>
        );
      })}
    </tr>
  );
  const [first, ...rest] = rows;
  return (
    <div className="table-wrap" data-block-type="table">
      <table>
        {columnHeader && first && <thead>{renderRow(first, true)}</thead>}
        <tbody>{(columnHeader ? rest : rows).map((row) => renderRow(row, false))}</tbody>
      </table>
    </div>
  );
}

export function ColumnList({ block, ctx }: Props) {
  const columns = block.children ?? [];
  return (
    <div className="columns" data-block-type="column_list">
      {columns.map((column) => {
        const ratio = payload(column).width_ratio;
        return (
          <div
            key={column.id}
            className="column"
            data-block-type={column.type}
            style={typeof ratio === "number" && ratio > 0 ? { flexGrow: ratio } : undefined}
          >
            <Blocks blocks={column.children ?? []} ctx={ctx} />
          </div>
        );
      })}
    </div>
  );
}

export function Divider() {
  return <hr data-block-type="divider" />;
}

export function ChildPage({ block, ctx }: Props) {
  const title = String(payload(block).title ?? "") || "Untitled";
  const href = linkFor(ctx, block.id);
  return (
    <p className="child-page" data-block-type="child_page">
      <span aria-hidden="true">📄 </span>
      {href ? (
        <a href={href}>{title}</a>
      ) : (
        <span title="not in the mirror (not shared, deeper than SYNC_CHILD_DEPTH, or not synced yet)">
          {title} (not mirrored)
        </span>
      )}
    </p>
  );
}

export function ChildDatabase({ block }: Props) {
  return (
    <p className="child-database" data-block-type="child_database">
      <span aria-hidden="true">🗃 </span>
      {String(payload(block).title ?? "") || "Untitled database"}{" "}
      <span className="muted">(a database: not mirrored as content)</span>
    </p>
  );
}

export function LinkToPage({ block, ctx }: Props) {
  const p = payload(block);
  const id = p.type === "page_id" ? p.page_id : p.type === "database_id" ? p.database_id : undefined;
  const href = p.type === "page_id" ? linkFor(ctx, id) : undefined;
  return (
    <p className="link-to-page" data-block-type="link_to_page">
      <span aria-hidden="true">↗ </span>
      {href ? (
        <a href={href}>Linked page</a>
      ) : (
        <span>
          Link to {p.type === "database_id" ? "database" : "page"} {typeof id === "string" ? id : ""} (not mirrored)
        </span>
      )}
    </p>
  );
}

export function SyncedBlock({ block, ctx }: Props) {
  if (block.children?.length) {
    return (
      <div className="synced" data-block-type="synced_block">
        <Blocks blocks={block.children} ctx={ctx} />
      </div>
    );
  }
  return (
    <div className="unknown-block" data-block-type="synced_block">
      Synced block without content (its original is not shared with the integration)
    </div>
  );
}

export function TableOfContents({ block, ctx }: Props) {
  return (
    <nav
      className={["toc", colorClass(payload(block).color)].filter(Boolean).join(" ")}
      data-block-type="table_of_contents"
      aria-label="Table of contents"
    >
      <ul>
        {ctx.headings.map((h) => (
          <li key={h.id} className={`toc-${h.level}`}>
            <a href={`#${headingAnchor(h.id)}`}>{h.text || "Untitled"}</a>
          </li>
        ))}
      </ul>
    </nav>
  );
}

export function Breadcrumb({ block }: Props) {
  return (
    <nav className="breadcrumb" data-block-type={block.type} aria-label="Breadcrumb">
      <a href="/sync">Dashboard</a> / preview
    </nav>
  );
}

/** Any block type not rendered here: a visible placeholder naming it (and its children, if any). */
export function Unknown({ block, ctx }: Props) {
  return (
    <div className="unknown-block" data-block-type={block.type} data-unknown="true">
      Unsupported block: <code>{block.type}</code>
      {block.children?.length ? (
        <div className="nested">
          <Blocks blocks={block.children} ctx={ctx} />
        </div>
      ) : null}
    </div>
  );
}
