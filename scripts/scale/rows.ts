/** The rows of a scale workspace: one database of simple rows (two short paragraphs each), nothing else. */
export const SIMPLE_ROWS = {
  posts: 0,
  blocksPerRow: 2,
  hugePages: 0,
  childDepth: 0,
  trashedRows: 0,
  unsharedChildPages: 0,
} as const;
