/**
 * The preview's block renderer: Notion API block objects (as the sync stores
 * them: `children` added where `has_children`) to server-rendered HTML, one
 * small component per block type. Consecutive list items become one <ul> /
 * <ol> (to-dos one checklist), nested lists nest. A type not listed here
 * renders a visible placeholder naming it.
 *
 * Written here rather than taken from npm: the renderers that take official
 * API blocks want React 18 (@9gustin/react-notion-render) or are client
 * components with CSS-in-JS and network fetches (notion-to-jsx); react-notion-x
 * renders the private API's recordMap, not these shapes.
 */
import type { ReactNode } from "react";
import type { Block, RenderContext } from "./context";
import { Audio, FileBlock, Image, LinkCard, Video } from "./media";
import {
  Breadcrumb,
  ChildDatabase,
  ChildPage,
  ColumnList,
  Divider,
  LinkToPage,
  SyncedBlock,
  Table,
  TableOfContents,
  Unknown,
} from "./structure";
import { Callout, Code, Equation, Heading, ListItem, Paragraph, Quote, ToDo, Toggle } from "./text";

type Component = (props: { block: Block; ctx: RenderContext }) => ReactNode;

const COMPONENTS: Record<string, Component> = {
  paragraph: Paragraph,
  heading_1: Heading,
  heading_2: Heading,
  heading_3: Heading,
  heading_4: Heading,
  quote: Quote,
  callout: Callout,
  toggle: Toggle,
  code: Code,
  equation: Equation,
  image: Image,
  video: Video,
  audio: Audio,
  file: FileBlock,
  pdf: FileBlock,
  bookmark: LinkCard,
  embed: LinkCard,
  link_preview: LinkCard,
  table: Table,
  column_list: ColumnList,
  divider: Divider,
  child_page: ChildPage,
  child_database: ChildDatabase,
  link_to_page: LinkToPage,
  synced_block: SyncedBlock,
  table_of_contents: TableOfContents,
  breadcrumb: Breadcrumb,
};

/** Block types that render inside a list, and the list they make together. */
const LISTS: Record<string, "ul" | "ol" | "todo"> = {
  bulleted_list_item: "ul",
  numbered_list_item: "ol",
  to_do: "todo",
};

export function BlockView({ block, ctx }: { block: Block; ctx: RenderContext }) {
  if (block.type === "column") {
    // A column outside a column list (a damaged tree): its content still shows.
    return <Blocks blocks={block.children ?? []} ctx={ctx} />;
  }
  const Component = COMPONENTS[block.type] ?? Unknown;
  return <Component block={block} ctx={ctx} />;
}

export function Blocks({ blocks, ctx }: { blocks: Block[]; ctx: RenderContext }) {
  const out: ReactNode[] = [];
  for (let i = 0; i < blocks.length;) {
    const list = LISTS[blocks[i].type];
    if (!list) {
      out.push(<BlockView key={blocks[i].id} block={blocks[i]} ctx={ctx} />);
      i++;
      continue;
    }
    const items: Block[] = [];
    while (i < blocks.length && LISTS[blocks[i].type] === list) items.push(blocks[i++]);
    const rendered = items.map((item) =>
      list === "todo" ? (
        <ToDo key={item.id} block={item} ctx={ctx} />
      ) : (
        <ListItem key={item.id} block={item} ctx={ctx} />
      ),
    );
    if (list === "ol") out.push(<ol key={`list-${items[0].id}`}>{rendered}</ol>);
    else
      out.push(
        <ul key={`list-${items[0].id}`} className={list === "todo" ? "todo-list" : undefined}>
          {rendered}
        </ul>,
      );
  }
  return <>{out}</>;
}

/** The page's headings in order, for a table_of_contents block. */
export function collectHeadings(blocks: Block[], into: RenderContext["headings"] = []): RenderContext["headings"] {
  for (const block of blocks) {
    const match = block.type.match(/^heading_(\d)$/);
    if (match) {
      const body = block[block.type] as { rich_text?: { plain_text?: string }[] } | undefined;
      into.push({
        id: block.id,
        level: Number(match[1]),
        text: (body?.rich_text ?? []).map((t) => t.plain_text ?? "").join(""),
      });
    }
    if (block.children?.length && block.type !== "child_page") collectHeadings(block.children, into);
  }
  return into;
}
