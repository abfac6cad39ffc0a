import { contentRoute } from "@/lib/http/content-route";

export const runtime = "nodejs";
export const dynamic = "force-dynamic";

/**
 * The content API (lib/http/content-route.ts): /api/content, /api/content/<section>,
 * /api/content/<section>/<slug>. HEAD is answered by GET without its body (reads only);
 * other methods get a JSON 405, or the same 404 as GET while the API is off.
 */
export const { GET, OPTIONS, other } = contentRoute();
export const POST = other;
export const PUT = other;
export const PATCH = other;
export const DELETE = other;
