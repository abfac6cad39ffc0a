/** CPU seconds a redis-server has used (INFO cpu: used_cpu_user + used_cpu_sys), read over a fresh connection. */
import { createClient } from "redis";

export async function redisCpuSeconds(url: string): Promise<number> {
  const client = createClient({ url, RESP: 2, disableClientInfo: true });
  client.on("error", () => {});
  await client.connect();
  try {
    const text = String(await client.sendCommand(["INFO", "cpu"]));
    const field = (name: string) => Number(new RegExp(`^${name}:([0-9.]+)`, "m").exec(text)?.[1] ?? NaN);
    return field("used_cpu_user") + field("used_cpu_sys");
  } finally {
    await client.close().catch(() => client.destroy());
  }
}
