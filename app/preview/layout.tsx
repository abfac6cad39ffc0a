import "./preview.css";

export const metadata = { title: "Preview · notion-kv-sync", robots: { index: false, follow: false } };

/** The preview's stylesheet (plain CSS, system fonts) on top of the root layout. */
export default function PreviewLayout({ children }: { children: React.ReactNode }) {
  return children;
}
