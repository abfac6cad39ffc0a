// /api/sync is an alias of /api/sync/trigger.
import { triggerRoute } from "@/lib/http/trigger-route";

export const runtime = "nodejs";
export const dynamic = "force-dynamic";
export const maxDuration = 30;

export const { GET, POST } = triggerRoute();
export { PUT, PATCH, DELETE, HEAD } from "@/lib/http/method-not-allowed";
