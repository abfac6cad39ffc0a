/**
 * /sync: the operator dashboard, server-rendered from readSectionStatus (it
 * works without JavaScript; with it, LiveDashboard polls /sync/status every
 * second). Not signed in: off to /sync/signin.
 */
import { cookies } from "next/headers";
import { redirect } from "next/navigation";
import { formatTime } from "@/lib/dashboard/format";
import {
  FLASH_COOKIE,
  SESSION_COOKIE,
  csrfToken,
  dashboardSecret,
  readFlash,
  readSession,
} from "@/lib/dashboard/session";
import { logEvent } from "@/lib/core/log";
import { type SectionStatus, readSectionStatus } from "@/lib/operator/status";
import { ConfigError } from "@/lib/config";
import { loadStoreRuntime } from "@/lib/runtime";
import { webhookKeys } from "@/lib/webhooks/keys";
import { type TokenStatus, readTokenRecord, tokenStatus } from "@/lib/webhooks/token";
import { LiveDashboard } from "./live-dashboard";
import { WebhookTokenCard } from "./webhook-token";

export const runtime = "nodejs";
export const dynamic = "force-dynamic";

async function readAll(): Promise<{ sections: SectionStatus[] } | { problem: string }> {
  try {
    const { kv, keys, workspace } = loadStoreRuntime(process.env);
    return { sections: await Promise.all(workspace.names.map((s) => readSectionStatus(kv, keys, s))) };
  } catch (error) {
    // Names the variable or config field at fault, never a value.
    if (error instanceof ConfigError) return { problem: `Configuration: ${error.message}` };
    logEvent("dashboard.status_error", {
      error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
    });
    const kv = error instanceof Error && /^kv\b/.test(error.message);
    return {
      problem: kv
        ? "The KV store could not be reached (see the function log)."
        : "The status could not be read (see the function log).",
    };
  }
}

/** The webhook token's state; null when it cannot be read (the sections' read reports the store). */
async function readToken(): Promise<TokenStatus | null> {
  try {
    const { kv, keys } = loadStoreRuntime(process.env);
    return tokenStatus(await readTokenRecord(kv, webhookKeys(keys)));
  } catch {
    return null;
  }
}

export default async function DashboardPage({
  searchParams,
}: {
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}) {
  const jar = await cookies();
  const secret = dashboardSecret(process.env);
  const session = readSession(secret, jar.get(SESSION_COOKIE)?.value);
  if (!secret || !session) redirect("/sync/signin");
  const { r } = await searchParams;
  const flash = readFlash(secret, jar.get(FLASH_COOKIE)?.value, typeof r === "string" ? r : null);
  const csrf = csrfToken(secret, session);
  const [read, token] = await Promise.all([readAll(), readToken()]);
  const at = new Date().toISOString();

  return (
    <main className="dash">
      {/* Without JavaScript the page reloads itself (dropping the flash message) every 10 s. */}
      <noscript>
        <meta httpEquiv="refresh" content="10; url=/sync" />
      </noscript>
      <header className="dash-header">
        <div>
          <h1>notion-kv-sync</h1>
          <div className="sub">Signed in until {formatTime(new Date(session.exp).toISOString())}</div>
        </div>
        <div className="toolbar">
          <form method="post" action="/sync/action">
            <input type="hidden" name="csrf" value={csrf} />
            <input type="hidden" name="action" value="run" />
            <button className="primary" type="submit" data-action="run">
              Start a full run
            </button>
          </form>
          <form method="post" action="/sync/action">
            <input type="hidden" name="csrf" value={csrf} />
            <input type="hidden" name="action" value="force" />
            <button className="danger" type="submit" data-action="force">
              Force a full run…
            </button>
          </form>
          <a className="button" href="/sync">
            Refresh
          </a>
          <form method="post" action="/sync/signout">
            <input type="hidden" name="csrf" value={csrf} />
            <button type="submit" data-action="signout">
              Sign out
            </button>
          </form>
        </div>
      </header>
      {flash && (
        <p className={`flash ${flash.kind}`} role={flash.kind === "error" ? "alert" : "status"} data-testid="flash">
          {flash.text}
        </p>
      )}
      {"problem" in read ? (
        <p className="flash error" role="alert">
          {read.problem}
        </p>
      ) : (
        <LiveDashboard initial={read.sections} initialAt={at} csrf={csrf} />
      )}
      {token && (
        <WebhookTokenCard token={token} overridden={Boolean(process.env.NOTION_WEBHOOK_SECRET?.trim())} csrf={csrf} />
      )}
    </main>
  );
}
