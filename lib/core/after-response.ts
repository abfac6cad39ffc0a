/**
 * Runs `task` after the response is sent: Next.js's after(), which Vercel
 * keeps alive (waitUntil) inside the same maxDuration. Outside a Next.js
 * request (the handlers called in process, a plain Node server) the task just
 * runs on, detached: the process outlives the response there.
 */
import { after } from "next/server";

export function afterResponse(task: () => Promise<void>): void {
  const guarded = () => task().catch(() => {}); // the task logs its own outcome
  try {
    after(guarded);
  } catch {
    void guarded();
  }
}
