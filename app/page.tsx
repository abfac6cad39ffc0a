const endpoints = [
  ["/api/sync/pages", "sync the pages database, one batch"],
  ["/api/sync/posts", "sync the posts database, one batch"],
  ["/api/sync/children", "sync child pages found in both, one batch"],
  ["/api/sync/trigger", "start a run of every section through QStash"],
];

export default function Home() {
  return (
    <main>
      <h1>notion-kv-sync</h1>
      <p>Mirrors a Notion workspace into KV in batches that each finish well inside a serverless time limit.</p>
      <ul>
        {endpoints.map(([path, what]) => (
          <li key={path}>
            <code>{path}</code>: {what}
          </li>
        ))}
      </ul>
      <p>
        Every endpoint needs <code>Authorization: Bearer $CRON_SECRET</code> or <code>?secret=</code>; see the README.
      </p>
    </main>
  );
}
