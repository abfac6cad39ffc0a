import { filesRoute } from "@/lib/http/files-route";
import { methodNotAllowed } from "@/lib/http/method-not-allowed";

export const runtime = "nodejs";
export const dynamic = "force-dynamic";

/** One file of a mirrored page: 302 to a fresh Notion URL (lib/http/files-route.ts). */
export const { GET } = filesRoute();
export const POST = methodNotAllowed("GET");
export const PUT = POST;
export const PATCH = POST;
export const DELETE = POST;
