import { methodNotAllowed } from "@/lib/http/method-not-allowed";
import { statusRoute } from "@/lib/http/status-route";

export const runtime = "nodejs";
export const dynamic = "force-dynamic";

export const { GET } = statusRoute();
export const POST = methodNotAllowed("GET");
export const PUT = POST;
export const PATCH = POST;
export const DELETE = POST;
