/**
 * Constant-time string comparison. Its own module so lib/auth/index.ts and
 * the token modules it imports can share it without an import cycle.
 */
import { createHash, timingSafeEqual } from "node:crypto";

/** Compares digests so neither the content nor the length of the secret leaks through timing. */
export function safeEqual(given: string, expected: string): boolean {
  const a = createHash("sha256").update(given).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}
