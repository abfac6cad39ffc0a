// Every configured section (/api/sync/<name>); trigger, status, failed and dirty are static routes and win.
import { sectionRoute } from "@/lib/http/sync-route";

export const runtime = "nodejs";
export const dynamic = "force-dynamic";
export const maxDuration = 30;

export const { GET, POST } = sectionRoute();
export { PUT, PATCH, DELETE, HEAD } from "@/lib/http/method-not-allowed";
