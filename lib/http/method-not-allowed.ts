/** Sync endpoints take GET (cron, manual URLs) and POST (QStash, scripts); anything else gets JSON 405. */
import { jsonError } from "./json";

const notAllowed = (request: Request) =>
  jsonError(405, "method_not_allowed", `${request.method} is not allowed here: use GET or POST`, {}, { Allow: "GET, POST" });

export const PUT = notAllowed;
export const PATCH = notAllowed;
export const DELETE = notAllowed;
