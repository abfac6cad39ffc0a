/**
 * JSON 405 answers for the methods a route does not take (Next.js would answer
 * an empty 405, and HEAD by running GET). Sync endpoints take GET (cron,
 * manual URLs) and POST (QStash).
 */
import { jsonError } from "./json";

export function methodNotAllowed(allow: string) {
  return (request: Request) =>
    jsonError(
      405,
      "method_not_allowed",
      `${request.method} is not allowed here: use ${allow.split(", ").join(" or ")}`,
      {},
      { Allow: allow },
    );
}

const notAllowed = methodNotAllowed("GET, POST");

export const PUT = notAllowed;
export const PATCH = notAllowed;
export const DELETE = notAllowed;
/** Next.js would answer HEAD by running GET, i.e. a sync: never. */
export const HEAD = notAllowed;
