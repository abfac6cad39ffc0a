/**
 * vercel.json's crons from the workspace: one per section, 5 minutes apart in
 * config order with children last, once a day by default (Hobby allows no more).
 */
import { CHILDREN_SECTION, ENV_SECTIONS } from "../../lib/core/sections";
import type { Workspace } from "../../lib/workspace/types";

export interface VercelCron {
  path: string;
  schedule: string;
}

export interface CronOptions {
  /** Minutes after midnight UTC of the first section's cron. */
  startMinute: number;
  /** Hours between two runs of a section (Pro plans); 24: daily. */
  everyHours: number;
}

export const DEFAULT_CRON_OPTIONS: CronOptions = { startMinute: 2 * 60, everyHours: 24 };
export const STAGGER_MINUTES = 5;
const DAY = 24 * 60;
const EVERY_HOURS = [1, 2, 3, 4, 6, 8, 12, 24];

export class CronUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CronUsageError";
  }
}

/**
 * The sections crons call. Without a config file and neither NOTION_PAGES_DB
 * nor NOTION_POSTS_DB set locally, the env default (pages, posts, children):
 * the deployment's variables live on Vercel.
 */
export function cronSections(workspace: Workspace): string[] {
  if (workspace.origin === "env" && workspace.sections.length === 0) return [...ENV_SECTIONS, CHILDREN_SECTION];
  return workspace.sections.map((s) => s.name);
}

export function planCrons(sections: readonly string[], options: CronOptions = DEFAULT_CRON_OPTIONS): VercelCron[] {
  return sections.map((name, i) => ({
    path: `/api/sync/${name}`,
    schedule: schedule((options.startMinute + i * STAGGER_MINUTES) % DAY, options.everyHours),
  }));
}

function schedule(minuteOfDay: number, everyHours: number): string {
  const minute = minuteOfDay % 60;
  const hour = Math.floor(minuteOfDay / 60);
  if (everyHours === 24) return `${minute} ${hour} * * *`;
  const hours = Array.from({ length: 24 / everyHours }, (_, k) => (hour + k * everyHours) % 24).sort((a, b) => a - b);
  return `${minute} ${hours.join(",")} * * *`;
}

const MANAGED = "/api/sync/";

/** The crons this script writes: the sync's; a site's own crons in vercel.json are left alone. */
export function isSyncCron(cron: VercelCron): boolean {
  return cron.path.startsWith(MANAGED);
}

/** The start and period vercel.json's first cron already has, so a rewrite keeps a chosen --at / --every. */
export function existingOptions(crons: readonly VercelCron[]): Partial<CronOptions> {
  const match = /^(\d{1,2}) ([\d,]+) \* \* \*$/.exec(crons[0]?.schedule.trim() ?? "");
  if (!match) return {};
  const hours = match[2].split(",").map(Number);
  const minute = Number(match[1]);
  if (minute > 59 || hours.some((h) => h > 23) || !EVERY_HOURS.includes(24 / hours.length)) return {};
  return { startMinute: hours[0] * 60 + minute, everyHours: 24 / hours.length };
}

/** `--at HH:MM` (UTC). */
export function parseAt(value: string): number {
  const match = /^([01]?\d|2[0-3]):([0-5]\d)$/.exec(value.trim());
  if (!match) throw new CronUsageError(`--at wants HH:MM in UTC (00:00 to 23:59), not "${value}"`);
  return Number(match[1]) * 60 + Number(match[2]);
}

/** `--every 6h`: a divisor of 24 hours. */
export function parseEvery(value: string): number {
  const match = /^(\d{1,2})h?$/.exec(value.trim());
  const hours = match ? Number(match[1]) : NaN;
  if (!EVERY_HOURS.includes(hours))
    throw new CronUsageError(`--every wants one of ${EVERY_HOURS.map((h) => `${h}h`).join(", ")}, not "${value}"`);
  return hours;
}

/** Lines a reader can act on: what vercel.json has that the config does not want, and the reverse. */
export function cronDiff(current: readonly VercelCron[], wanted: readonly VercelCron[]): string[] {
  const line = (c: VercelCron) => `${c.path}  "${c.schedule}"`;
  const have = current.map(line);
  const want = wanted.map(line);
  if (have.join("\n") === want.join("\n")) return [];
  const removed = have.filter((l) => !want.includes(l)).map((l) => `- ${l}`);
  const added = want.filter((l) => !have.includes(l)).map((l) => `+ ${l}`);
  const reordered = removed.length === 0 && added.length === 0 ? ["  (same crons, another order)"] : [];
  return [...removed, ...added, ...reordered];
}
