/**
 * The site standing in for SITE_REVALIDATE_URL: records every signed POST
 * lib/webhooks/revalidate.ts sends (and whether its signature verifies).
 */
import { type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { Section } from "../../lib/core/sections";
import { SIGNATURE_HEADER, verifyRevalidation } from "../../lib/webhooks/revalidate";

export const SITE_SECRET = "site-revalidate-secret-0123456789";

export interface SiteCall {
  verified: boolean;
  body: { tags: string[]; pages: { section: Section; slug: string }[]; sections?: Section[] };
}

export interface RevalidationSite {
  url: string;
  calls: SiteCall[];
  /** Every tag revalidated so far. */
  tags(): Set<string>;
  /** The env that points a stack at this site. */
  env: Record<string, string>;
  close(): Promise<void>;
}

export async function startRevalidationSite(): Promise<RevalidationSite> {
  const calls: SiteCall[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const header = req.headers[SIGNATURE_HEADER] as string | undefined;
      calls.push({
        verified: verifyRevalidation({ body, header: header ?? null, secret: SITE_SECRET }),
        body: JSON.parse(body),
      });
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"revalidated":true}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/revalidate`;
  return {
    url,
    calls,
    tags: () => new Set(calls.filter((c) => c.verified).flatMap((c) => c.body.tags)),
    env: { SITE_REVALIDATE_URL: url, SITE_REVALIDATE_SECRET: SITE_SECRET },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
