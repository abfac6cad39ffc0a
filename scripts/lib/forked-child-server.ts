/**
 * Child side of scripts/lib/forked-child.ts: what a forked server (npm run
 * scale, npm run bench) needs to talk to its parent. Import it only in the
 * child: it ties the process's life to the IPC channel (it exits, closing
 * what it registered, when the parent goes away or on SIGTERM/SIGINT).
 */
type Handler = (args: Record<string, unknown>) => Promise<unknown>;

export const sendToParent = (message: unknown): void => {
  if (process.send && process.connected) process.send(message);
};

let closers: (() => Promise<void>)[] = [];
let exiting = false;

/** Closes what was registered (newest first, 5 s at most), then exits. */
export async function exitChild(code: number): Promise<never> {
  if (!exiting) {
    exiting = true;
    setTimeout(() => process.exit(code), 5_000).unref();
    for (const close of closers.reverse()) await close().catch(() => {});
    closers = [];
  }
  process.exit(code);
}
process.on("disconnect", () => void exitChild(0));
process.on("SIGTERM", () => void exitChild(0));
process.on("SIGINT", () => void exitChild(0));

/** Something to close before the child exits. */
export function onChildExit(close: () => Promise<void>): void {
  closers.push(close);
}

/** Answers the parent's {id, op, args} requests with `own` handlers (plus `cpu`: CPU seconds used). */
export function serveParent(own: Record<string, Handler>): void {
  const handlers: Record<string, Handler> = {
    ...own,
    async cpu() {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1e6;
    },
  };
  process.on("message", (raw) => {
    const msg = raw as { id: number; op: string; args?: Record<string, unknown> };
    const handler = handlers[msg.op];
    if (!handler) return sendToParent({ id: msg.id, ok: false, error: `unknown op ${msg.op}` });
    handler(msg.args ?? {}).then(
      (result) => sendToParent({ id: msg.id, ok: true, result }),
      (err: unknown) =>
        sendToParent({ id: msg.id, ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
    );
  });
}
