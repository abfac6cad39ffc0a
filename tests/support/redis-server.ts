/**
 * A throwaway redis-server for integration tests: loopback only, no
 * persistence, on a free port, gone on stop() (or when the test process exits).
 */
import { waitForExit } from "../../scripts/lib/wait-for-exit";
import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants } from "node:fs";
import net from "node:net";
import os from "node:os";

export interface RedisServerHandle {
  url: string;
  port: number;
  stop(): Promise<void>;
}

const STARTUP_TIMEOUT_MS = 10_000;

function redisServerBin(): string {
  const bin = process.env.REDIS_SERVER_BIN || "/usr/bin/redis-server";
  try {
    accessSync(bin, constants.X_OK);
  } catch {
    throw new Error(
      `redis-server not found at ${bin}: install redis-server: apt-get install -y redis-server (or set REDIS_SERVER_BIN)`,
    );
  }
  return bin;
}

/** A port nobody listens on right now (the OS picks it). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** One raw PING over TCP: no client library, so this cannot mask client bugs. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: "127.0.0.1", port });
    let buf = "";
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.on("error", () => done(false));
    sock.on("connect", () => sock.write("PING\r\n"));
    sock.on("data", (d) => {
      buf += d.toString();
      if (buf.includes("\r\n")) done(buf.startsWith("+PONG"));
    });
  });
}

async function startOnce(bin: string): Promise<RedisServerHandle & { addrInUse?: boolean }> {
  const port = await freePort();
  const child = spawn(
    bin,
    [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--daemonize",
      "no",
      // Nothing is persisted, but keep any stray file out of the repository.
      "--dir",
      os.tmpdir(),
      "--loglevel",
      "warning",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  child.stdout?.on("data", (d) => (output += d.toString()));
  child.stderr?.on("data", (d) => (output += d.toString()));
  let spawnError: Error | null = null;
  child.on("error", (err) => (spawnError = err));

  // If the test process dies without calling stop(), do not leave a server behind.
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);

  const stop = async () => {
    process.removeListener("exit", killOnExit);
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    if (!(await waitForExit(child, 3_000))) {
      child.kill("SIGKILL");
      await waitForExit(child, 3_000);
    }
  };

  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (spawnError) {
      await stop();
      throw new Error(`could not start ${bin}: ${(spawnError as Error).message}`);
    }
    if (child.exitCode !== null) {
      process.removeListener("exit", killOnExit);
      if (/address already in use/i.test(output)) {
        return { url: "", port, stop, addrInUse: true };
      }
      throw new Error(`redis-server exited with code ${child.exitCode}: ${output.trim()}`);
    }
    if (await ping(port)) return { url: `redis://127.0.0.1:${port}`, port, stop };
    await new Promise((r) => setTimeout(r, 25));
  }
  await stop();
  throw new Error(`redis-server did not answer PING on port ${port} within ${STARTUP_TIMEOUT_MS} ms: ${output.trim()}`);
}

export async function startRedisServer(): Promise<RedisServerHandle> {
  const bin = redisServerBin();
  // The port is free when picked but another process may grab it before
  // redis-server binds: retry a few times with a new port.
  for (let attempt = 0; attempt < 5; attempt++) {
    const { addrInUse, ...handle } = await startOnce(bin);
    if (!addrInUse) return handle;
  }
  throw new Error("redis-server: no free port after 5 attempts");
}
