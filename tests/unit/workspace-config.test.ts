import { describe, expect, it } from "vitest";
import { ConfigError } from "../../lib/config";
import { parseNotionId } from "../../lib/workspace/database-ref";
import { loadWorkspace } from "../../lib/workspace/load";
import { declaredNames, resolveWorkspace } from "../../lib/workspace/resolve";
import { defineConfig } from "../../lib/workspace/schema";

const BLOG = "0123456789abcdef0123456789abcdef";
const DOCS = "11111111-2222-3333-4444-555555555555";
const env = {
  NOTION_BLOG_DB: BLOG,
  NOTION_DOCS_DB: DOCS,
  NOTION_AUTHORS_DB: `https://www.notion.so/acme/Authors-${"a".repeat(32)}?v=${"b".repeat(32)}`,
};

/** The example, as written. */
const example = (e: Record<string, string | undefined>) => ({
  sections: {
    blog: {
      database: e.NOTION_BLOG_DB,
      filter: { property: "Published", checkbox: { equals: true } },
      slug: "Slug",
      content: "markdown",
      children: false,
    },
    docs: { database: e.NOTION_DOCS_DB, content: "blocks", children: true },
    authors: { database: e.NOTION_AUTHORS_DB, content: "none", properties: ["Name", "Bio", "Avatar"] },
  },
});

function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error("expected a ConfigError");
}

describe("workspace config", () => {
  it("reads the issue's example as written: three sections, children from docs only", () => {
    const ws = resolveWorkspace(example(env), {});
    expect(ws.origin).toBe("file");
    expect(ws.names).toEqual(["blog", "docs", "authors", "children"]);
    const [blog, docs, authors] = ws.databaseSections;
    expect(blog).toMatchObject({
      source: { databaseId: "01234567-89ab-cdef-0123-456789abcdef" },
      filter: { property: "Published", checkbox: { equals: true } },
      slugProperty: "Slug",
      content: "markdown",
      followsChildren: false,
      sort: { timestamp: "created_time", direction: "descending" },
    });
    expect(docs).toMatchObject({ source: { databaseId: DOCS }, content: "blocks", followsChildren: true });
    expect(authors).toMatchObject({
      source: { databaseId: "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa" },
      content: "none",
      properties: ["Name", "Bio", "Avatar"],
    });
    expect(ws.children).toMatchObject({ name: "children", parents: ["docs"] });
  });

  it("takes defineConfig's output and a data source id", () => {
    const ws = resolveWorkspace(defineConfig({ sections: { log: { database: { dataSource: DOCS } } } }), {});
    expect(ws.databaseSections[0].source).toEqual({ dataSourceId: DOCS });
    expect(ws.children).toBeUndefined();
  });

  it("names the section and the field of every mistake", () => {
    expect(configError(() => resolveWorkspace(example({ ...env, NOTION_AUTHORS_DB: undefined }), {})).fields).toEqual([
      "sections.authors.database",
    ]);
    const bad = { sections: { blog: { database: BLOG, content: "html" } } };
    expect(configError(() => resolveWorkspace(bad, {})).fields).toEqual(["sections.blog.content"]);
    expect(
      configError(() => resolveWorkspace({ sections: { blog: { database: BLOG, slgu: "x" } } }, {})).message,
    ).toMatch(/sections\.blog.*slgu/);
    expect(configError(() => resolveWorkspace({ sections: { Blog: { database: BLOG } } }, {})).fields).toEqual([
      "sections.Blog",
    ]);
    for (const reserved of ["trigger", "status", "failed", "dirty", "all", "children"])
      expect(configError(() => resolveWorkspace({ sections: { [reserved]: { database: BLOG } } }, {})).message).toMatch(
        /reserved/,
      );
    expect(configError(() => resolveWorkspace({ sections: { blog: { database: "not an id" } } }, {})).fields).toEqual([
      "sections.blog.database",
    ]);
    expect(configError(() => resolveWorkspace({ sections: {} }, {})).fields).toEqual(["sections"]);
    expect(
      configError(() => resolveWorkspace({ sections: { a: { database: BLOG, content: "none", children: true } } }, {}))
        .fields,
    ).toEqual(["sections.a.children"]);
  });

  it("without a file: pages and posts from the env, each only when its variable is set", () => {
    expect(resolveWorkspace(undefined, { NOTION_PAGES_DB: "p", NOTION_POSTS_DB: "q" }).names).toEqual([
      "pages",
      "posts",
      "children",
    ]);
    const postsOnly = resolveWorkspace(undefined, { NOTION_POSTS_DB: "q" });
    expect(postsOnly.origin).toBe("env");
    expect(postsOnly.names).toEqual(["posts", "children"]);
    expect(postsOnly.databaseSections[0]).toMatchObject({
      source: { databaseId: "q" },
      sourceOrigin: "NOTION_POSTS_DB",
      followsChildren: true,
    });
    expect(resolveWorkspace(undefined, {}).names).toEqual([]);
    expect(
      resolveWorkspace(undefined, { NOTION_POSTS_DB: "q", SYNC_CONTENT: "markdown" }).databaseSections[0].content,
    ).toBe("markdown");
  });

  it("loads the repository's config file, or the env when there is none", () => {
    const ws = loadWorkspace({ NOTION_PAGES_DB: "p" });
    expect(ws.names.length).toBeGreaterThan(0);
  });

  it("declares its section names even when a database variable is unset (what operators' tools list)", () => {
    const partial = example({ ...env, NOTION_DOCS_DB: undefined });
    expect(configError(() => resolveWorkspace(partial, {})).fields).toEqual(["sections.docs.database"]);
    expect(declaredNames(partial, {})).toEqual(["blog", "docs", "authors", "children"]);
    expect(declaredNames({ sections: { blog: { content: "markdown" } } }, {})).toEqual(["blog"]);
    expect(declaredNames({ sections: "nope" }, {})).toBeNull();
    expect(declaredNames(undefined, {})).toEqual([]);
    expect(declaredNames(undefined, { NOTION_POSTS_DB: BLOG })).toEqual(["posts", "children"]);
    expect(declaredNames(undefined, { NOTION_POSTS_DB: BLOG, NOTION_PAGES_DB: DOCS })).toEqual([
      "pages",
      "posts",
      "children",
    ]);
  });

  it("reads ids out of URLs and dashed ids", () => {
    expect(parseNotionId(`https://www.notion.so/Blog-${BLOG}?v=${"c".repeat(32)}`)).toBe(
      "01234567-89ab-cdef-0123-456789abcdef",
    );
    expect(parseNotionId(DOCS)).toBe(DOCS);
    expect(parseNotionId("https://www.notion.so/")).toBeNull();
  });
});
