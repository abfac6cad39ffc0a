export const metadata = { title: "notion-kv-sync" };

export default function RootLayout({ children }: { children: React.ReactNode }) {
  return (
    <html lang="en">
      <body style={{ fontFamily: "system-ui, sans-serif", margin: "2rem", maxWidth: 760 }}>{children}</body>
    </html>
  );
}
