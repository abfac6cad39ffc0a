/**
 * `notion-kv-sync`: what a site imports to read the mirror (lib/read.ts), and
 * nothing that writes. The sync itself is served by `notion-kv-sync/next`.
 */
export { dateStart, getPageBundle, getSectionIndex, getSectionSize, pageTag, pageTags, sectionTag } from "../read";
export type {
  FlatDate,
  FlatFile,
  FlatPlace,
  FlatUser,
  FlatValueByType,
  FlatVerification,
  IndexEntry,
  IndexManifest,
  NotionKvSyncSections,
  NotionPropertyType,
  PageBundle,
  RawProperty,
  SectionBundle,
  SectionEntry,
  SectionIndex,
  SectionIndexPage,
  SimpleValue,
  TypedSectionIndex,
  TypedSectionIndexPage,
} from "../read";
