import { DASHBOARD_CSS } from "@/lib/dashboard/styles";

export const metadata = { title: "Dashboard · notion-kv-sync", robots: { index: false, follow: false } };

/** The dashboard's own stylesheet (plain CSS, system fonts) on top of the root layout. */
export default function SyncLayout({ children }: { children: React.ReactNode }) {
  return (
    <>
      <style dangerouslySetInnerHTML={{ __html: DASHBOARD_CSS }} />
      {children}
    </>
  );
}
