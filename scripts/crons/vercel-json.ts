/** Reads and rewrites vercel.json's `crons`, leaving every other byte of the file as it is. */
import { readFileSync, writeFileSync } from "node:fs";
import type { VercelCron } from "./plan";

const CRONS_SPAN = /"crons"\s*:\s*\[[^\]]*\]/;

export function readVercelJson(file: string): { text: string; crons: VercelCron[] } {
  const text = readFileSync(file, "utf8");
  const parsed = JSON.parse(text) as { crons?: unknown };
  const crons = Array.isArray(parsed.crons)
    ? parsed.crons.map((c) => ({ path: String(c?.path), schedule: String(c?.schedule) }))
    : [];
  return { text, crons };
}

export function withCrons(text: string, crons: readonly VercelCron[]): string {
  const body = crons.map((c) => `    { "path": ${JSON.stringify(c.path)}, "schedule": ${JSON.stringify(c.schedule)} }`);
  const span = `"crons": [\n${body.join(",\n")}\n  ]`;
  if (CRONS_SPAN.test(text)) return text.replace(CRONS_SPAN, span);
  const parsed = JSON.parse(text) as Record<string, unknown>;
  return JSON.stringify({ ...parsed, crons }, null, 2) + "\n";
}

export function writeVercelJson(file: string, text: string): void {
  writeFileSync(file, text);
}
