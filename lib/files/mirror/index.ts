/**
 * Files copied at sync time (FILES_MIRROR): identities and object keys,
 * which hosted files a page holds and the page pointing at the store, the
 * registry of stored objects, and the copy of one file.
 */
export { fileIdentity, fileName, objectKey, stableUrl } from "./identity";
export {
  type HostedRef,
  type MirrorMap,
  hostedFiles,
  markdownFiles,
  mirrorContent,
  mirrorMarkdown,
  mirrorPage,
  mirrorValue,
  pageHostedFiles,
  unmapped,
} from "./apply";
export { type FileRecord, forgetOps, isFileRecord, readRecords, recordOps, reviveOps } from "./registry";
export { type CopyOutcome, type CopyOptions, FileCopyError, copyFile } from "./copy";
