import { syncRoute } from "@/lib/http/sync-route";

export const runtime = "nodejs";
export const dynamic = "force-dynamic";
export const maxDuration = 30;

export const { GET, POST } = syncRoute("pages");
export { PUT, PATCH, DELETE, HEAD } from "@/lib/http/method-not-allowed";
