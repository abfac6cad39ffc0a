/**
 * Slugs of database rows. A page keeps the slug it has while its title or
 * slug property still gives it (`rule`: the section's spec, slug-rules.ts); otherwise it takes the plain slug when no
 * other page holds it (claims live in KV, keys.slugOwner), else the slug with
 * its id appended, then numbered. So the page that held a slug first keeps it.
 * The list phase claims a query page's rows at once; a targeted run one page.
 */
import type { Section } from "../core/sections";
import type { KeyBuilder } from "../kv/keys";
import type { KvStore } from "../kv/store";
import type { IndexEntry } from "../mirror/shapes";
import { type NotionPage, normalizeId } from "../notion/types";
import { type SlugRule, baseSlug, keepsPreviousSlug, suffixedSlug } from "../mirror/slug-rules";

export async function claimSlugs(
  kv: KvStore,
  keys: KeyBuilder,
  section: Section,
  rows: { row: NotionPage; previous: IndexEntry | null }[],
  rule: SlugRule = section,
): Promise<Map<string, string>> {
  const slugs = new Map<string, string>();
  const wanted: { id: string; base: string }[] = [];
  for (const { row, previous } of rows) {
    if (previous && keepsPreviousSlug(row, rule, previous)) slugs.set(row.id, previous.slug);
    else wanted.push({ id: row.id, base: baseSlug(row, rule) });
  }
  if (wanted.length === 0) return slugs;
  const candidates = wanted.flatMap(({ id, base }) => [base, suffixedSlug(base, id)]);
  const owners = await kv.mget<string>(candidates.map((slug) => keys.slugOwner(section, slug)));
  const ownerOf = new Map(candidates.map((slug, i) => [slug, owners[i]]));
  const taken = new Set([...slugs.values()]);
  for (const { id, base } of wanted) {
    let slug = base;
    for (let n = 1; ; n++) {
      if (!ownerOf.has(slug)) ownerOf.set(slug, (await kv.mget<string>([keys.slugOwner(section, slug)]))[0]);
      const owner = ownerOf.get(slug);
      if (!taken.has(slug) && (owner === null || owner === undefined || normalizeId(owner) === normalizeId(id))) break;
      // A Slug property may equal another page's suffixed slug: never hand out a slug twice.
      slug = n === 1 ? suffixedSlug(base, id) : `${suffixedSlug(base, id)}-${n}`;
    }
    taken.add(slug);
    slugs.set(id, slug);
  }
  return slugs;
}
