/**
 * notion-to-md (npm, v3) as a contender: a full Markdown export of the same
 * workspace on the same emulator. It converts pages, not databases, so the
 * rows are listed with the SDK first (dataSources.query, as in baseline.ts);
 * then each row goes through NotionToMarkdown.pageToMarkdown, which reads the
 * block tree with blocks.children.list and follows child pages
 * (parseChildPages, its default). Sequential, like its README's usage; 429s
 * are waited out (retryAfterFetch). It has no incremental mode and writes no
 * KV: the export is kept in memory and its size reported.
 */
import { NotionToMarkdown } from "notion-to-md";
import { type SdkTarget, listRows, sdkClient } from "./baseline";

export async function runNotionToMd(t: SdkTarget): Promise<{ pages: number; markdownBytes: number }> {
  const client = sdkClient(t);
  const n2m = new NotionToMarkdown({ notionClient: client });
  let pages = 0;
  let markdownBytes = 0;
  for (const dbId of [t.pagesDatabaseId, t.postsDatabaseId]) {
    for (const row of await listRows(client, dbId)) {
      const blocks = await n2m.pageToMarkdown(String(row.id));
      const md = n2m.toMarkdownString(blocks);
      markdownBytes +=
        Buffer.byteLength(md.parent ?? "") +
        Object.values(md).reduce((n, s) => n + Buffer.byteLength(typeof s === "string" ? s : ""), 0);
      pages++;
    }
  }
  return { pages, markdownBytes };
}
