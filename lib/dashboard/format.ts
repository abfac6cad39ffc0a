/**
 * Formatting shared by the server render and the live client component: pure
 * and deterministic (UTC, no locale), so the hydrated page says exactly what
 * the server sent.
 */

/** "2025-06-01 12:03:04Z", or "—". */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return "—";
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return "—";
  return `${new Date(ms).toISOString().slice(0, 19).replace("T", " ")}Z`;
}

/** "1 m 05 s" between two instants, or "—". */
export function formatDuration(fromIso: string | null | undefined, toIso: string | null | undefined): string {
  if (!fromIso || !toIso) return "—";
  const ms = Date.parse(toIso) - Date.parse(fromIso);
  if (!Number.isFinite(ms) || ms < 0) return "—";
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} m ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} m`;
}

export function formatCount(n: number | null | undefined): string {
  return typeof n === "number" && Number.isFinite(n) ? n.toLocaleString("en-US") : "—";
}

/** The badge colour class of a run status. */
export function statusTone(status: string | null | undefined): "ok" | "warn" | "bad" | "busy" | "idle" {
  switch (status) {
    case "done":
      return "ok";
    case "partial":
    case "held":
    case "stalled":
      return "warn";
    case "failed":
      return "bad";
    case "running":
      return "busy";
    default:
      return "idle";
  }
}

/** "0 B", "512 B", "1.5 KB", "3.2 MB", "1.1 GB" (powers of 1024, as FILES_MAX_BYTES's 50 MB), or "—". */
export function formatBytes(n: number | null | undefined): string {
  if (typeof n !== "number" || !Number.isFinite(n) || n < 0) return "—";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/**
 * What a run did with the files store (FILES_MIRROR): objects and bytes
 * uploaded, files kept at Notion's URL for their size, objects deleted by
 * GC; 0 for a run that did none of it or was recorded before runs counted it.
 */
export function uploadsOf(counts: object | null | undefined): {
  files: number;
  bytes: number;
  tooLarge: number;
  deleted: number;
} {
  const c = (counts ?? {}) as Record<string, unknown>;
  const n = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : 0);
  return {
    files: n(c.filesUploaded),
    bytes: n(c.bytesUploaded),
    tooLarge: n(c.filesTooLarge),
    deleted: n(c.filesDeleted),
  };
}

/** "12 files, 3.4 MB" (what a run uploaded to the files store), with "; 1 too large, 3 deleted" when there were any. */
export function formatUploads(counts: object | null | undefined): string {
  const u = uploadsOf(counts);
  const extra = [
    u.tooLarge > 0 ? `${formatCount(u.tooLarge)} too large` : "",
    u.deleted > 0 ? `${formatCount(u.deleted)} deleted` : "",
  ].filter(Boolean);
  return `${formatCount(u.files)} file${u.files === 1 ? "" : "s"}, ${formatBytes(u.bytes)}${extra.length ? `; ${extra.join(", ")}` : ""}`;
}
