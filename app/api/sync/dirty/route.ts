import { dirtyRoute } from "@/lib/http/dirty-route";

export const runtime = "nodejs";
export const dynamic = "force-dynamic";
export const maxDuration = 30;

export const { GET, POST } = dirtyRoute();
export { PUT, PATCH, DELETE, HEAD } from "@/lib/http/method-not-allowed";
