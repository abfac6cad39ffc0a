/**
 * A site page reading typed sections: compiled by `tsc --noEmit` (npm test)
 * against notion-kv-sync-env.d.ts here, which `npm run typegen` writes for
 * tests/fixtures/e2e-sections.config.ts (tests/config.e2e.test.ts checks it is current).
 */
import { dateStart, getPageBundle, getSectionIndex, type SimpleValue } from "../../lib/read";

export default async function BlogPage({ slug }: { slug: string }) {
  const index = await getSectionIndex("blog", { offset: 0, limit: 20 });
  const authors = await getSectionIndex("authors");
  const post = await getPageBundle("blog", slug);
  const pages = await getSectionIndex("pages");

  const published: boolean | undefined = post?.properties.Published.checkbox;
  // @ts-expect-error a bundle's properties are Notion's raw values: a checkbox is no boolean
  const raw: boolean | undefined = post?.properties.Published;
  // @ts-expect-error the blog's schema has no such property
  const missing = index?.entries[0]?.properties.Author;
  // @ts-expect-error authors keeps only Name, Bio and Avatar (`properties` in the config)
  const email = authors?.entries[0]?.properties.Email;
  // A section typegen does not know keeps the loose typing.
  const anything: SimpleValue | undefined = pages?.entries[0]?.properties["Whatever"];

  return (
    <main data-published={String(published ?? raw ?? missing ?? email ?? anything)}>
      {index?.entries.map((entry) => {
        const tags: string[] = entry.properties.Tags;
        const slugText: string = entry.properties.Slug;
        const at: string | null = dateStart(entry.properties["Publish at"]);
        const live: boolean = entry.properties.Published;
        return (
          <article key={entry.id} data-live={live} data-slug={slugText}>
            <h2>{entry.properties.Name}</h2>
            <time>{at}</time>
            <ul>
              {tags.map((t) => (
                <li key={t}>{t}</li>
              ))}
            </ul>
          </article>
        );
      })}
      {authors?.entries.map((a) => (
        <p key={a.id}>
          {a.properties.Name}: {a.properties.Bio} {a.properties.Avatar.map((f) => f.url).join(" ")}
        </p>
      ))}
    </main>
  );
}
