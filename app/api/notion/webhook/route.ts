import { methodNotAllowed } from "@/lib/http/method-not-allowed";
import { webhookRoute } from "@/lib/http/webhook-route";

export const runtime = "nodejs";
export const dynamic = "force-dynamic";
export const maxDuration = 30;

export const { POST } = webhookRoute();
export const GET = methodNotAllowed("POST");
export const PUT = GET;
export const PATCH = GET;
export const DELETE = GET;
