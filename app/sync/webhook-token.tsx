/**
 * The dashboard's webhook token card (server-rendered): when the active token
 * arrived and whether a delivery verified with it, and a pending one waiting
 * for the operator, with the button that accepts it. Dates and flags only:
 * a token never appears in the HTML (kv:cursors --webhook-token prints it).
 */
import { formatTime } from "@/lib/dashboard/format";
import type { TokenStatus } from "@/lib/webhooks/token";

export function WebhookTokenCard({
  token,
  overridden,
  csrf,
}: {
  token: TokenStatus;
  overridden: boolean;
  csrf: string;
}) {
  if (!token.stored) return null;
  return (
    <section className="card" data-testid="webhook-token" aria-labelledby="h-webhook-token">
      <div className="card-head">
        <h2 id="h-webhook-token">Notion webhook token</h2>
        <span className={`badge ${token.pending ? "warn" : token.verifiedAt ? "ok" : "idle"}`}>
          {token.pending ? "pending token" : token.verifiedAt ? "verified" : "not verified yet"}
        </span>
      </div>
      <dl className="facts">
        <dt>Active</dt>
        <dd>
          received {formatTime(token.receivedAt)};{" "}
          {token.verifiedAt ? `deliveries verified since ${formatTime(token.verifiedAt)}` : "no verified delivery yet"}
        </dd>
        {token.pending && (
          <>
            <dt>Pending</dt>
            <dd data-testid="webhook-token-pending">
              received {formatTime(token.pendingReceivedAt)},{" "}
              {token.pendingShown ? "printed by kv:cursors" : "not printed yet"}; never used to verify until accepted
            </dd>
          </>
        )}
      </dl>
      {overridden && (
        <p className="notice">
          NOTION_WEBHOOK_SECRET is set: deliveries are verified with it, not with a stored token.
        </p>
      )}
      {token.pending && (
        <>
          <p className="notice">
            Another handshake arrived (anybody can send one). If you recreated the subscription, print the pending token
            with <code>npm run kv:cursors -- --webhook-token</code>, verify it in Notion, then accept it here. Otherwise
            ignore it: it is never used.
          </p>
          <form method="post" action="/sync/action">
            <input type="hidden" name="csrf" value={csrf} />
            <input type="hidden" name="action" value="accept-token" />
            <button className="danger" type="submit" data-action="accept-token" disabled={!token.pendingShown}>
              Accept the pending token…
            </button>
          </form>
        </>
      )}
    </section>
  );
}
