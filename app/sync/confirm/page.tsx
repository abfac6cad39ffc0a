/**
 * /sync/confirm?action=…&section=…: the confirmation step of a destructive
 * action (reset, force, lease release). Works without JavaScript: its form
 * posts the action again with confirmed=1 and the session's CSRF token.
 */
import { cookies } from "next/headers";
import { redirect } from "next/navigation";
import { configuredSections } from "@/lib/dashboard/sections";
import { ACTIONS, isActionName } from "@/lib/dashboard/action-specs";
import { SESSION_COOKIE, csrfToken, dashboardSecret, readSession } from "@/lib/dashboard/session";

export const runtime = "nodejs";
export const dynamic = "force-dynamic";
export const metadata = { title: "Confirm · notion-kv-sync" };

export default async function ConfirmPage({
  searchParams,
}: {
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}) {
  const jar = await cookies();
  const secret = dashboardSecret(process.env);
  const session = readSession(secret, jar.get(SESSION_COOKIE)?.value);
  if (!secret || !session) redirect("/sync/signin");
  const query = await searchParams;
  const action = query.action;
  const section =
    typeof query.section === "string" && configuredSections(process.env).includes(query.section) ? query.section : null;
  if (!isActionName(action)) redirect("/sync");
  const spec = ACTIONS[action];
  if (!spec.confirm || (spec.perSection && !section)) redirect("/sync");
  const title = spec.perSection ? `${spec.label}: ${section}` : spec.label;

  return (
    <main className="dash">
      <section className="confirm card" data-testid="confirm">
        <h1>{title}?</h1>
        <p>{spec.confirm(section)}</p>
        <div className="toolbar">
          <form method="post" action="/sync/action">
            <input type="hidden" name="csrf" value={csrfToken(secret, session)} />
            <input type="hidden" name="action" value={action} />
            {section && <input type="hidden" name="section" value={section} />}
            <input type="hidden" name="confirmed" value="1" />
            <button className="danger" type="submit" data-action="confirm">
              Yes, {spec.label.toLowerCase()}
              {section ? ` (${section})` : ""}
            </button>
          </form>
          <a className="button" href="/sync" data-action="cancel">
            Cancel
          </a>
        </div>
      </section>
    </main>
  );
}
