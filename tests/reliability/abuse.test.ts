/**
 * The abuse part of the reliability matrix (issue 12, item 6), over a real
 * `next start` and real HTTP (tests/support/abuse-stack.ts: QStash emulator
 * delivering through the recording tap, Notion emulator, a password-protected
 * redis-server, every secret a distinct string; QStash's signing keys have
 * been rotated once, so every genuine delivery verifies with the app's NEXT key).
 *
 * One table: each case sends one hostile or borderline request and asserts
 * the exact status and JSON error code, and that nothing was written: the
 * whole database (every key of every type) is equal before and after, redis'
 * own change counter did not move (or moved by exactly the lease taken and
 * released, for the QStash deliveries that reach the engine and are answered
 * stale), and QStash was asked to publish nothing. Then forced-run and
 * trigger spam under SYNC_MIN_FORCE_INTERVAL_S=600, and a grep of every log
 * line, answer (body and headers), QStash publish and the status for the
 * secrets.
 *
 * The self-chain's x-sync-chain tokens and the signed ?token= links get only
 * "garbage opens nothing" cases here; their own suites are selfchain.e2e and
 * signed-links. Already covered elsewhere and not repeated here: a full run over `next
 * start` and the 70 KB body with Content-Length (e2e.next), every delivery's
 * signature checked with the real Receiver and the bad payload dead-lettered
 * by QStash (qstash.e2e 3 and 5), the input parser's units (unit/auth-and-input).
 */
import { createHmac } from "node:crypto";
import net from "node:net";
import { createClient } from "redis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SECTIONS } from "../support/default-sections";
import type { Section } from "../../lib/core/sections";
import { signJwt } from "../../scripts/emulator/qstash/jwt";
import { buildIfNeeded } from "../../scripts/lib/next-app";
import { ABUSE_SECRETS, type AbuseStack, type DbState, startAbuseStack } from "../support/abuse-stack";
import { type TapRecord, childrenRunId, waitFor } from "../support/qstash-stack";

const SECRET = ABUSE_SECRETS.cronSecret;
const FORCE_INTERVAL_S = 600;
/** A stale or duplicate answer takes the section lease (SET NX PX) and releases it (compare-and-delete). */
const LEASE_TAKEN_AND_RELEASED = 2;

interface Answer {
  status: number;
  headers: Record<string, string>;
  text: string;
  json: Record<string, unknown> | null;
  ms: number;
  /** Raw-socket requests: body bytes sent before the answer arrived. */
  bytesSent?: number;
}

interface AbuseCase {
  name: string;
  send: () => Promise<Answer>;
  status: number;
  /** The JSON error code, or null for an answer that is not an error (or not JSON). */
  code: string | null;
  message?: RegExp;
  check?: (answer: Answer) => void;
  /** Writes redis counts during the request: 0, or the lease of a stale/duplicate answer. */
  changes?: number;
}

let stack: AbuseStack;
/** Every answer the app gave, for the leak check at the end. */
const answers: Answer[] = [];
let setupRunId = "";
/** Genuine QStash deliveries of the setup run, as the tap recorded them. */
let postsDelivery: TapRecord;
let pagesDelivery: TapRecord;
let casesRun = 0;

const url = (path: string) => `${stack.baseUrl}${path}`;

function record(answer: Answer): Answer {
  answers.push(answer);
  return answer;
}

async function send(path: string, init: RequestInit = {}): Promise<Answer> {
  const started = Date.now();
  const res = await fetch(`${stack.app.url}${path}`, { redirect: "manual", ...init });
  const text = await res.text();
  let json: Record<string, unknown> | null = null;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = null;
  }
  const headers: Record<string, string> = {};
  res.headers.forEach((v, k) => (headers[k] = v));
  return record({ status: res.status, headers, text, json, ms: Date.now() - started });
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const postJson = (path: string, body: string, headers: Record<string, string> = bearer(SECRET)) =>
  send(path, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
const signed = (path: string, body: string, signature: string, method = "POST") =>
  send(path, {
    method,
    headers: { "content-type": "application/json", "upstash-signature": signature },
    ...(method === "POST" ? { body } : {}),
  });

/**
 * A POST over a raw socket whose body is produced as it is sent: 16 KB
 * chunks every 2 ms (about 8 MB/s) until `totalBytes` or the answer,
 * whichever comes first. `declared` sends a Content-Length and no body.
 */
function rawPost(
  path: string,
  headers: Record<string, string>,
  body: { totalBytes: number; mode: "chunked" | "declared" },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = net.connect({ host: "127.0.0.1", port: stack.app.port });
    let received = Buffer.alloc(0);
    let bytesSent = 0;
    let finished = false;
    let timer: ReturnType<typeof setInterval> | undefined;
    const chunk = Buffer.alloc(16 * 1024, "a");
    const finish = (answer: Answer | Error) => {
      if (finished) return;
      finished = true;
      clearInterval(timer);
      socket.destroy();
      if (answer instanceof Error) reject(answer);
      else resolve(record(answer));
    };
    const tryParse = () => {
      const end = received.indexOf("\r\n\r\n");
      if (end < 0) return;
      const head = received.subarray(0, end).toString("latin1").split("\r\n");
      const status = Number(head[0].split(" ")[1]);
      const h: Record<string, string> = {};
      for (const line of head.slice(1)) {
        const i = line.indexOf(":");
        h[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      let rest = received.subarray(end + 4);
      let text: string;
      if (h["transfer-encoding"] === "chunked") {
        const parts: Buffer[] = [];
        for (;;) {
          const lineEnd = rest.indexOf("\r\n");
          if (lineEnd < 0) return;
          const size = parseInt(rest.subarray(0, lineEnd).toString("latin1"), 16);
          if (size === 0) break;
          if (rest.length < lineEnd + 2 + size + 2) return;
          parts.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
          rest = rest.subarray(lineEnd + 2 + size + 2);
        }
        text = Buffer.concat(parts).toString("utf8");
      } else {
        const length = Number(h["content-length"] ?? 0);
        if (rest.length < length) return;
        text = rest.subarray(0, length).toString("utf8");
      }
      let json: Record<string, unknown> | null = null;
      try {
        json = JSON.parse(text) as Record<string, unknown>;
      } catch {
        json = null;
      }
      finish({ status, headers: h, text, json, ms: Date.now() - started, bytesSent });
    };
    socket.on("data", (d: Buffer) => {
      received = Buffer.concat([received, d]);
      clearInterval(timer); // an answer is coming: stop producing the body
      tryParse();
    });
    // A write that meets the server's close (EPIPE) may come before the answer's bytes are read: stop
    // sending and let the data still queued arrive; 'close' (after every 'data') decides.
    let socketError: Error | undefined;
    socket.on("error", (error) => {
      socketError = error;
      clearInterval(timer);
      if (received.length > 0) tryParse();
    });
    socket.on("close", () =>
      finish(
        new Error(
          `socket closed after ${bytesSent} body bytes with no full answer${socketError ? ` (${socketError.message})` : ""}: ${received.toString("latin1").slice(0, 200)}`,
        ),
      ),
    );
    socket.on("connect", () => {
      const lines = [
        `POST ${path} HTTP/1.1`,
        `host: 127.0.0.1:${stack.app.port}`,
        "content-type: application/json",
        "connection: close",
      ];
      for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
      lines.push(body.mode === "chunked" ? "transfer-encoding: chunked" : `content-length: ${body.totalBytes}`);
      socket.write(`${lines.join("\r\n")}\r\n\r\n`);
      if (body.mode === "declared") return; // the body never comes
      // Each chunk is written in the check phase, after a poll phase: an answer that arrived meanwhile is read
      // first. Written straight from the timer, a chunk could meet the server's reset (EPIPE) before the
      // answer queued in the kernel was read, and Node destroys the socket on that write error.
      const writeChunk = () => {
        if (finished || received.length > 0 || socket.destroyed) return;
        if (bytesSent >= body.totalBytes) {
          clearInterval(timer);
          socket.write("0\r\n\r\n");
          return;
        }
        socket.write(`${chunk.length.toString(16)}\r\n`);
        socket.write(chunk);
        socket.write("\r\n");
        bytesSent += chunk.length;
      };
      timer = setInterval(() => setImmediate(writeChunk), 2);
    });
    setTimeout(() => finish(new Error("no answer within 15 s")), 15_000);
  });
}

// ---------------------------------------------------------------- the cases

const SECRET_VARIANTS: Array<[string, string]> = [
  ["wrong", "definitely-not-the-secret"],
  ["one character short", SECRET.slice(0, -1)],
  ["one character long", `${SECRET}x`],
  ["very long (10 KB, starting with the secret)", SECRET + "A".repeat(10 * 1024 - SECRET.length)],
  ["wrong case", SECRET.toUpperCase()],
  ["a space inside", `${SECRET.slice(0, 8)} ${SECRET.slice(8)}`],
];

function secretCases(): AbuseCase[] {
  const cases: AbuseCase[] = [];
  for (const [label, value] of SECRET_VARIANTS) {
    cases.push({
      name: `secret ${label}, as Bearer`,
      send: () => send("/api/sync/pages", { headers: bearer(value) }),
      status: 401,
      code: "unauthorized",
      message: /wrong bearer token/,
    });
    cases.push({
      name: `secret ${label}, as ?secret=`,
      send: () => send(`/api/sync/pages?secret=${encodeURIComponent(value)}`),
      status: 401,
      code: "unauthorized",
      message: /wrong secret/,
    });
  }
  cases.push(
    {
      name: "no secret at all",
      send: () => send("/api/sync/pages"),
      status: 401,
      code: "unauthorized",
      message: /missing credentials/,
    },
    {
      name: "empty ?secret=",
      send: () => send("/api/sync/pages?secret="),
      status: 401,
      code: "unauthorized",
      message: /wrong secret/,
    },
    {
      name: "empty Bearer",
      send: () => send("/api/sync/pages", { headers: { authorization: "Bearer " } }),
      status: 401,
      code: "unauthorized",
      message: /missing credentials/,
    },
    {
      name: "?secret= with a leading space (query values are not trimmed)",
      send: () => send(`/api/sync/pages?secret=%20${SECRET}`),
      status: 401,
      code: "unauthorized",
      message: /wrong secret/,
    },
    {
      name: "?secret= with a trailing newline",
      send: () => send(`/api/sync/pages?secret=${SECRET}%0A`),
      status: 401,
      code: "unauthorized",
      message: /wrong secret/,
    },
    {
      name: "?secret= with '+' (a space in a query)",
      send: () => send(`/api/sync/pages?secret=+${SECRET}`),
      status: 401,
      code: "unauthorized",
      message: /wrong secret/,
    },
    {
      name: "the secret under another parameter name (?SECRET=)",
      send: () => send(`/api/sync/pages?SECRET=${SECRET}`),
      status: 401,
      code: "unauthorized",
      message: /missing credentials/,
    },
    {
      name: "a wrong ?secret= before the right one (the first counts)",
      send: () => send(`/api/sync/pages?secret=wrong&secret=${SECRET}`),
      status: 401,
      code: "unauthorized",
      message: /wrong secret/,
    },
    {
      name: "the secret with the Basic scheme",
      send: () => send("/api/sync/pages", { headers: { authorization: `Basic ${SECRET}` } }),
      status: 401,
      code: "unauthorized",
      message: /missing credentials/,
    },
    {
      name: "a wrong Bearer next to the right ?secret= (the header decides)",
      send: () => send(`/api/sync/pages?secret=${SECRET}`, { headers: bearer("wrong") }),
      status: 401,
      code: "unauthorized",
      message: /wrong bearer token/,
    },
    {
      name: "a wrong Bearer on POST with a forcing body",
      send: () => postJson("/api/sync/pages", `{"force":true}`, bearer(`${SECRET}x`)),
      status: 401,
      code: "unauthorized",
    },
    {
      name: "trigger: wrong ?secret= with force=1",
      send: () => send(`/api/sync/trigger?secret=${SECRET.slice(0, -1)}&force=1`),
      status: 401,
      code: "unauthorized",
      message: /wrong secret/,
    },
    {
      name: "trigger (/api/sync alias): wrong Bearer",
      send: () => send("/api/sync", { headers: bearer(SECRET.toUpperCase()) }),
      status: 401,
      code: "unauthorized",
      message: /wrong bearer token/,
    },
    {
      name: "status: wrong Bearer",
      send: () => send("/api/sync/status", { headers: bearer(`${SECRET} `.repeat(2)) }),
      status: 401,
      code: "unauthorized",
    },
    {
      name: "failure callback: the right Bearer is not a signature",
      send: () => postJson("/api/sync/failed", "{}"),
      status: 401,
      code: "unauthorized",
      message: /missing Upstash-Signature/,
    },
    // The self-chain's link header and the signed manual links (their own suites: selfchain.e2e,
    // signed-links): a token that is not one opens nothing, and wins over a right Bearer.
    {
      name: "chain link: a garbage x-sync-chain token",
      send: () =>
        postJson("/api/sync/pages", `{"runId":"r1","seq":1,"force":false}`, { "x-sync-chain": "garbage.token" }),
      status: 401,
      code: "unauthorized",
    },
    {
      name: "chain link: CRON_SECRET itself as the x-sync-chain token",
      send: () => postJson("/api/sync/pages", `{"runId":"r1","seq":1,"force":false}`, { "x-sync-chain": SECRET }),
      status: 401,
      code: "unauthorized",
    },
    {
      name: "chain link: a garbage token next to the right Bearer (the token decides)",
      send: () => postJson("/api/sync/pages", "{}", { ...bearer(SECRET), "x-sync-chain": "x" }),
      status: 401,
      code: "unauthorized",
    },
    {
      name: "chain link: on a GET",
      send: () => send("/api/sync/pages", { headers: { "x-sync-chain": "x" } }),
      status: 401,
      code: "unauthorized",
      message: /POST/,
    },
    {
      name: "chain link: on the trigger",
      send: () => postJson("/api/sync/trigger", "{}", { "x-sync-chain": "x" }),
      status: 401,
      code: "unauthorized",
    },
    {
      name: "manual link: ?token=garbage on a section",
      send: () => send("/api/sync/pages?token=garbage"),
      status: 401,
      code: "unauthorized",
    },
    {
      name: "manual link: ?token=garbage with force=1 on the trigger",
      send: () => send("/api/sync/trigger?force=1&token=garbage"),
      status: 401,
      code: "unauthorized",
    },
    {
      name: "manual link: ?token= on the status",
      send: () => send("/api/sync/status?token=garbage"),
      status: 401,
      code: "unauthorized",
    },
    // Past Node's 16 KB header limit the server itself refuses, before any route code.
    {
      name: "a 20 KB Authorization header",
      send: () => send("/api/sync/pages", { headers: bearer("x".repeat(20 * 1024)) }),
      status: 431,
      code: null,
    },
  );
  // What lib/auth promises to accept: the scheme in any case (RFC 9110), whitespace around the
  // token (trimmed). Checked on the status endpoint, which shares authenticate() and writes nothing.
  const accepted: Array<[string, Record<string, string>, string]> = [
    ["lowercase scheme 'bearer'", { authorization: `bearer ${SECRET}` }, ""],
    ["uppercase scheme 'BEARER'", { authorization: `BEARER ${SECRET}` }, ""],
    ["several spaces after the scheme", { authorization: `Bearer    ${SECRET}` }, ""],
    ["a tab after the scheme and trailing spaces", { authorization: `Bearer\t${SECRET}   ` }, ""],
    ["the right Bearer next to a wrong ?secret=", bearer(SECRET), "?secret=wrong"],
    ["?secret= alone", {}, `?secret=${SECRET}`],
  ];
  for (const [label, headers, query] of accepted) {
    cases.push({
      name: `accepted: ${label}`,
      send: () => send(`/api/sync/status${query}`, { headers }),
      status: 200,
      code: null,
      check: (a) => expect(a.json).toMatchObject({ ok: true, sections: expect.any(Array) }),
    });
  }
  return cases;
}

function qstashCases(): AbuseCase[] {
  const pages = () => url("/api/sync/pages");
  const evil = JSON.stringify({ runId: "attacker", seq: 0, force: true });
  const sign = (
    body: string,
    opts: { path?: string; key?: string; expiresInSec?: number; issuer?: string; nowSec?: number } = {},
  ) =>
    signJwt({
      key: opts.key ?? ABUSE_SECRETS.nextSigningKey,
      url: url(opts.path ?? "/api/sync/pages"),
      body,
      expiresInSec: opts.expiresInSec,
      issuer: opts.issuer,
      nowSec: opts.nowSec,
    });
  const stale = (reason: RegExp, runId: () => string) => (a: Answer) => {
    expect(a.json).toMatchObject({ ok: true, section: "pages", stale: true, runId: runId() });
    expect(String(a.json!.reason)).toMatch(reason);
  };
  const nonRetryable = (a: Answer) => expect(a.headers["upstash-nonretryable-error"]).toBe("true");
  const alg = (header: object, payload: object) =>
    `${Buffer.from(JSON.stringify(header)).toString("base64url")}.${Buffer.from(JSON.stringify(payload)).toString("base64url")}.`;
  return [
    {
      name: "signature: forged with a random key",
      send: () => signed("/api/sync/pages", evil, sign(evil, { key: "sig_random_forger_1f2e3d4c5b6a" })),
      status: 401,
      code: "unauthorized",
      message: /invalid signature/,
    },
    {
      name: "signature: QStash's new next key, unknown to the app until the next rotation",
      send: () => signed("/api/sync/pages", evil, sign(evil, { key: ABUSE_SECRETS.newNextSigningKey })),
      status: 401,
      code: "unauthorized",
      message: /invalid signature/,
    },
    {
      name: "signature: expired a minute ago",
      send: () => signed("/api/sync/pages", evil, sign(evil, { expiresInSec: -60 })),
      status: 401,
      code: "unauthorized",
      message: /expired/,
    },
    {
      name: "signature: not valid for another 10 minutes",
      send: () => signed("/api/sync/pages", evil, sign(evil, { nowSec: Math.floor(Date.now() / 1000) + 600 })),
      status: 401,
      code: "unauthorized",
      message: /not yet valid/,
    },
    {
      name: "signature: a genuine posts delivery replayed to pages",
      send: () => signed("/api/sync/pages", postsDelivery.body, postsDelivery.headers["upstash-signature"]),
      status: 401,
      code: "unauthorized",
      message: /another URL/,
    },
    {
      name: "signature: a genuine pages delivery replayed to the failure callback",
      send: () => signed("/api/sync/failed", pagesDelivery.body, pagesDelivery.headers["upstash-signature"]),
      status: 401,
      code: "unauthorized",
      message: /another URL/,
    },
    {
      name: "signature: a genuine delivery with its body tampered (force: true)",
      send: () => {
        const tampered = pagesDelivery.body.replace(`"force":false`, `"force":true`);
        expect(tampered).not.toBe(pagesDelivery.body);
        return signed("/api/sync/pages", tampered, pagesDelivery.headers["upstash-signature"]);
      },
      status: 401,
      code: "unauthorized",
      message: /body does not match/,
    },
    {
      name: "signature: wrong issuer",
      send: () => signed("/api/sync/pages", evil, sign(evil, { issuer: "NotUpstash" })),
      status: 401,
      code: "unauthorized",
      message: /issuer is not Upstash/,
    },
    {
      name: "signature: garbage",
      send: () => signed("/api/sync/pages", evil, "garbage!"),
      status: 401,
      code: "unauthorized",
      message: /malformed/,
    },
    {
      name: "signature: an unsigned token (alg none) with valid claims",
      send: () => {
        const now = Math.floor(Date.now() / 1000);
        const token = alg(
          { alg: "none", typ: "JWT" },
          { iss: "Upstash", sub: pages(), exp: now + 300, nbf: now, iat: now, jti: "x", body: "" },
        );
        return signed("/api/sync/pages", "", token);
      },
      status: 401,
      code: "unauthorized",
      message: /invalid QStash signature/,
    },
    {
      name: "signature: an empty Upstash-Signature header",
      send: () => signed("/api/sync/pages", evil, ""),
      status: 401,
      code: "unauthorized",
      message: /missing Upstash-Signature/,
    },
    {
      name: "signature: a genuine posts signature on pages next to the right Bearer (the signature decides)",
      send: () =>
        postJson("/api/sync/pages", postsDelivery.body, {
          ...bearer(SECRET),
          "upstash-signature": postsDelivery.headers["upstash-signature"],
        }),
      status: 401,
      code: "unauthorized",
      message: /another URL/,
    },
    {
      name: "signature: a GET carrying a valid signature",
      send: () => signed("/api/sync/pages", "", sign(""), "GET"),
      status: 401,
      code: "unauthorized",
      message: /must be POST/,
    },
    {
      name: "signature: a valid signature sent to the trigger",
      send: () => signed("/api/sync/trigger", evil, sign(evil, { path: "/api/sync/trigger" })),
      status: 401,
      code: "unauthorized",
      message: /not a QStash destination/,
    },
    {
      name: "signature: a valid signature on the status",
      send: () => signed("/api/sync/status", "", sign("", { path: "/api/sync/status" }), "GET"),
      status: 401,
      code: "unauthorized",
      message: /not a QStash destination/,
    },
    // Signed correctly, so QStash's: a retry cannot fix the payload, 489 sends it to the DLQ at once.
    ...(
      [
        ["seq 1e20", `{"runId":"r1","seq":1e20,"force":false}`, /seq/],
        ["seq 2**53", `{"runId":"r1","seq":9007199254740992,"force":false}`, /seq/],
        ["a negative seq", `{"runId":"r1","seq":-1,"force":false}`, /seq/],
        ["a runId of 101 characters", JSON.stringify({ runId: "r".repeat(101), seq: 1, force: false }), /runId/],
        ["a runId without seq", `{"runId":"r1"}`, /go together/],
        ["malformed JSON", `{"runId":`, /not valid JSON/],
        ["an unknown field", `{"runId":"r1","seq":1,"force":false,"admin":true}`, /admin/],
      ] as const
    ).map(([label, body, message]): AbuseCase => ({
      name: `signed, bad payload: ${label} → 489 non-retryable`,
      send: () => signed("/api/sync/pages", body, sign(body)),
      status: 489,
      code: "bad_body",
      message,
      check: nonRetryable,
    })),
    // Accepted as QStash's, and harmless: the engine finds nothing to do.
    {
      name: "accepted: signed with the NEXT key after a rotation (a step of the finished run → stale)",
      send: () => {
        const body = JSON.stringify({ runId: setupRunId, seq: 0, force: false });
        return signed("/api/sync/pages", body, sign(body, { key: ABUSE_SECRETS.nextSigningKey }));
      },
      status: 200,
      code: null,
      check: stale(/already done/, () => setupRunId),
      changes: LEASE_TAKEN_AND_RELEASED,
    },
    {
      name: "accepted: signed with the old CURRENT key (deliveries still in flight from before the rotation)",
      send: () => {
        const body = JSON.stringify({ runId: setupRunId, seq: 1, force: false });
        return signed("/api/sync/pages", body, sign(body, { key: ABUSE_SECRETS.oldCurrentSigningKey }));
      },
      status: 200,
      code: null,
      check: stale(/already done/, () => setupRunId),
      changes: LEASE_TAKEN_AND_RELEASED,
    },
    {
      name: "accepted: a genuine delivery replayed to its own URL after its step ran → stale",
      send: () => signed("/api/sync/pages", pagesDelivery.body, pagesDelivery.headers["upstash-signature"]),
      status: 200,
      code: null,
      check: stale(/already done/, () => setupRunId),
      changes: LEASE_TAKEN_AND_RELEASED,
    },
    {
      name: "accepted: an unknown runId from a valid delivery → stale",
      send: () => {
        const body = JSON.stringify({ runId: "run-nobody-started", seq: 3, force: true });
        return signed("/api/sync/pages", body, sign(body));
      },
      status: 200,
      code: null,
      check: stale(/not the active run/, () => setupRunId),
      changes: LEASE_TAKEN_AND_RELEASED,
    },
  ];
}

function bodyCases(): AbuseCase[] {
  const MAX = 64 * 1024;
  const padded = (total: number) => {
    const head = `{"force":false,"pad":"`;
    return `${head}${"x".repeat(total - head.length - 2)}"}`;
  };
  const bad = (label: string, body: string, message?: RegExp): AbuseCase => ({
    name: `body: ${label}`,
    send: () => postJson("/api/sync/pages", body),
    status: 400,
    code: "bad_body",
    message,
  });
  const tooLarge = (a: Answer) => expect(a.ms, "answered without reading the body").toBeLessThan(2000);
  return [
    {
      name: "body: exactly 64 KB is read and parsed (an unknown field → 400)",
      send: () => postJson("/api/sync/pages", padded(MAX)),
      status: 400,
      code: "bad_body",
      message: /pad/,
    },
    {
      name: "body: 64 KB + 1 byte",
      send: () => postJson("/api/sync/pages", padded(MAX + 1)),
      status: 413,
      code: "body_too_large",
    },
    {
      name: "body: 5 MB declared by Content-Length and never sent → 413 at once",
      send: () => rawPost("/api/sync/pages", bearer(SECRET), { totalBytes: 5 * 1024 * 1024, mode: "declared" }),
      status: 413,
      code: "body_too_large",
      check: tooLarge,
    },
    {
      name: "body: 5 MB streamed in chunks → 413 after at most about 64 KB is read",
      send: () => rawPost("/api/sync/pages", bearer(SECRET), { totalBytes: 5 * 1024 * 1024, mode: "chunked" }),
      status: 413,
      code: "body_too_large",
      check: (a) => {
        tooLarge(a);
        expect(a.bytesSent!, "body bytes sent before the answer").toBeLessThan(1024 * 1024);
        console.log(`[abuse] 5 MB chunked body: answered 413 after ${a.bytesSent} bytes sent, in ${a.ms} ms`);
      },
    },
    {
      name: "body: 5 MB streamed in chunks with no credentials → 413, bounded the same way",
      send: () => rawPost("/api/sync/pages", {}, { totalBytes: 5 * 1024 * 1024, mode: "chunked" }),
      status: 413,
      code: "body_too_large",
      check: (a) => {
        tooLarge(a);
        expect(a.bytesSent!).toBeLessThan(1024 * 1024);
      },
    },
    {
      name: "body: 5 MB streamed to the trigger with the secret → 413",
      send: () => rawPost("/api/sync/trigger", bearer(SECRET), { totalBytes: 5 * 1024 * 1024, mode: "chunked" }),
      status: 413,
      code: "body_too_large",
      check: (a) => {
        tooLarge(a);
        expect(a.bytesSent!).toBeLessThan(1024 * 1024);
      },
    },
    bad("malformed JSON", "{oops", /not valid JSON/),
    bad("a JSON array", "[]", /expected object/),
    bad("JSON null", "null", /expected object/),
    bad("a JSON string", `"force"`, /expected object/),
    bad("30,000 nested arrays", `${"[".repeat(30_000)}${"]".repeat(30_000)}`, /expected object/),
    bad("an unknown field", `{"force":true,"admin":true}`, /admin/),
    bad("a __proto__ key", `{"__proto__":{"force":true}}`, /__proto__/),
    bad("force as a string", `{"force":"true"}`, /force/),
    bad("huge seq 1e20", `{"runId":"r1","seq":1e20}`, /seq/),
    bad("huge seq 2**53", `{"runId":"r1","seq":9007199254740992}`, /seq/),
    bad("a negative seq", `{"runId":"r1","seq":-1}`, /seq/),
    bad("a float seq", `{"runId":"r1","seq":1.5}`, /seq/),
    bad("seq as a string", `{"runId":"r1","seq":"1"}`, /seq/),
    bad("a runId of 101 characters", JSON.stringify({ runId: "r".repeat(101), seq: 1 }), /runId/),
    bad("an empty runId", `{"runId":"","seq":1}`, /runId/),
    bad("a runId without seq", `{"runId":"r1"}`, /go together/),
  ];
}

function methodAndQueryCases(): AbuseCase[] {
  const q = `?secret=${SECRET}`;
  const allow = (value: string) => (a: Answer) => expect(a.headers.allow).toBe(value);
  const cases: AbuseCase[] = [
    {
      name: "method: HEAD on a section does not sync",
      send: () => send(`/api/sync/pages${q}`, { method: "HEAD" }),
      status: 405,
      code: null, // a HEAD answer has no body
      check: (a) => {
        allow("GET, POST")(a);
        expect(a.text).toBe("");
      },
    },
    {
      name: "method: HEAD on the trigger does not publish",
      send: () => send(`/api/sync/trigger${q}`, { method: "HEAD" }),
      status: 405,
      code: null,
      check: allow("GET, POST"),
    },
  ];
  for (const method of ["PUT", "DELETE", "PATCH"]) {
    cases.push({
      name: `method: ${method} on a section`,
      send: () => send(`/api/sync/pages${q}`, { method }),
      status: 405,
      code: "method_not_allowed",
      check: allow("GET, POST"),
    });
  }
  cases.push(
    {
      name: "method: DELETE on the trigger",
      send: () => send(`/api/sync/trigger${q}`, { method: "DELETE" }),
      status: 405,
      code: "method_not_allowed",
      check: allow("GET, POST"),
    },
    {
      name: "method: POST on the status",
      send: () => send(`/api/sync/status${q}`, { method: "POST" }),
      status: 405,
      code: "method_not_allowed",
      check: allow("GET"),
    },
    {
      name: "method: GET on the failure callback",
      send: () => send(`/api/sync/failed${q}`),
      status: 405,
      code: "method_not_allowed",
      check: allow("POST"),
    },
    {
      name: "route: an unknown section in capitals (/api/sync/PAGES)",
      send: () => send(`/api/sync/PAGES${q}`),
      status: 404,
      code: "unknown_section",
    },
  );
  for (const value of ["yes", "TRUE", "", "2", "toString", "__proto__", "constructor"]) {
    cases.push({
      name: `query: force=${value || "(empty)"}`,
      send: () => send(`/api/sync/pages${q}&force=${value}`),
      status: 400,
      code: "bad_query",
      message: /force must be/,
    });
  }
  cases.push({
    name: "query: force=yes on the trigger",
    send: () => send(`/api/sync/trigger${q}&force=yes`),
    status: 400,
    code: "bad_query",
  });
  return cases;
}

const TABLE: AbuseCase[] = [...secretCases(), ...qstashCases(), ...bodyCases(), ...methodAndQueryCases()];

// ---------------------------------------------------------------- running a case

async function settled(): Promise<{ db: DbState; published: number }> {
  await stack.qstash.idle(20_000);
  return { db: await stack.dbState(), published: stack.qstash.messages().length + stack.qstash.callbacks().length };
}

async function runCase(c: AbuseCase): Promise<Answer> {
  const before = await settled();
  const answer = await c.send();
  const after = await settled();
  casesRun++;
  const what = `${c.name}: ${answer.status} ${answer.text.slice(0, 300)}`;
  expect(answer.status, what).toBe(c.status);
  if (c.code === null) {
    expect(answer.json?.ok ?? true, what).not.toBe(false);
  } else {
    expect(answer.headers["content-type"], what).toMatch(/^application\/json/);
    expect(answer.json, what).toMatchObject({ ok: false, error: { code: c.code, message: expect.any(String) } });
    if (c.message) expect((answer.json!.error as { message: string }).message, what).toMatch(c.message);
  }
  c.check?.(answer);
  // Nothing written: the whole database, redis' own count of writes, and nothing published.
  expect(after.db.snapshot, `${c.name}: KV changed`).toEqual(before.db.snapshot);
  expect(after.db.changes - before.db.changes, `${c.name}: writes redis counted`).toBe(c.changes ?? 0);
  expect(after.published, `${c.name}: QStash publishes`).toBe(before.published);
  return answer;
}

// ---------------------------------------------------------------- the suite

describe("abuse over next start: hostile requests are refused exactly and write nothing", () => {
  beforeAll(async () => {
    buildIfNeeded();
    stack = await startAbuseStack({ env: { SYNC_MIN_FORCE_INTERVAL_S: String(FORCE_INTERVAL_S) } });
    // A first run, carried by QStash from one trigger call: KV holds a mirror, and the tap
    // holds genuine deliveries (signed by QStash with the app's next key) to replay.
    const res = await send(`/api/sync/trigger?secret=${SECRET}`);
    expect(res.status, res.text).toBe(200);
    setupRunId = String(res.json!.runId);
    const children = childrenRunId(setupRunId, setupRunId);
    await waitFor(
      "the setup run to finish",
      async () => {
        const cursors = await Promise.all(SECTIONS.map((s) => stack.cursor(s)));
        return cursors.every(
          (c, i) => c?.status === "done" && c.runId === (SECTIONS[i] === "children" ? children : setupRunId),
        );
      },
      40_000,
      100,
    );
    await stack.qstash.idle(20_000);
    const delivered = (section: Section) =>
      stack.tap
        .records()
        .filter((r) => r.path === `/api/sync/${section}` && r.headers["upstash-signature"] && r.status === 200);
    postsDelivery = delivered("posts").at(-1)!;
    pagesDelivery = delivered("pages").at(-1)!;
    expect(postsDelivery && pagesDelivery).toBeTruthy();
    expect(await stack.diffKv()).toEqual([]);
  });
  afterAll(async () => {
    console.log(
      `[abuse] ${casesRun} abuse cases run (${TABLE.length} in the table, ${casesRun - TABLE.length} in the start-limit sequence)`,
    );
    await stack?.close();
  });

  it("the setup run went through QStash after a key rotation: every delivery verifies with the NEXT key only, and was accepted", () => {
    const deliveries = stack.tap.records().filter((r) => r.headers["upstash-signature"] !== undefined);
    expect(deliveries.length).toBeGreaterThan(3);
    for (const r of deliveries) {
      const [header, payload] = r.headers["upstash-signature"].split(".");
      const resigned = (key: string) => {
        const input = `${header}.${payload}`;
        return `${input}.${createHmac("sha256", Buffer.from(key, "utf8")).update(input).digest("base64url")}`;
      };
      expect(r.headers["upstash-signature"]).toBe(resigned(ABUSE_SECRETS.nextSigningKey));
      expect(r.headers["upstash-signature"]).not.toBe(resigned(ABUSE_SECRETS.oldCurrentSigningKey));
      expect(r.status, `${r.path} ${r.responseBody}`).toBe(200);
    }
  });

  it.each(TABLE.map((c) => [c.name, c] as const))("%s", async (_name, c) => {
    await runCase(c);
  });

  it(`forced-run and trigger spam inside SYNC_MIN_FORCE_INTERVAL_S=${FORCE_INTERVAL_S}: 429 with Retry-After, nothing written`, async () => {
    const forceKey = stack.keys.startLimit("force:pages");
    const limited = (a: Answer) => {
      const retryAfter = Number(a.headers["retry-after"]);
      expect(retryAfter).toBeGreaterThan(FORCE_INTERVAL_S - 120);
      expect(retryAfter).toBeLessThanOrEqual(FORCE_INTERVAL_S);
      expect(a.json!.retryAfterS).toBe(retryAfter);
    };
    // Refused callers do not take the slot: the valid forced start below still gets it.
    await runCase({
      name: "spam: force=1 with a wrong secret",
      send: () => send(`/api/sync/pages?secret=${SECRET}x&force=1`),
      status: 401,
      code: "unauthorized",
    });
    await runCase({
      name: "spam: force=1 with an invalid body",
      send: () => postJson("/api/sync/pages?force=1", `{"force":1}`),
      status: 400,
      code: "bad_body",
    });
    expect(await stack.kv.get(forceKey)).toBeNull();
    // The setup trigger took the trigger's slot.
    await runCase({
      name: "spam: the trigger again",
      send: () => send(`/api/sync/trigger?secret=${SECRET}`),
      status: 429,
      code: "too_many_starts",
      check: limited,
    });
    await runCase({
      name: "spam: a forced trigger",
      send: () => send(`/api/sync/trigger?secret=${SECRET}&force=1`, { method: "POST" }),
      status: 429,
      code: "too_many_starts",
      check: limited,
    });

    // One forced run of pages may start; QStash carries it to the end (and children after it).
    const started = await send("/api/sync/pages?force=1", { headers: bearer(SECRET) });
    expect(started.status, started.text).toBe(200);
    expect(started.json).toMatchObject({
      ok: true,
      runId: expect.any(String),
      next: { via: "qstash", published: true },
    });
    const forcedRunId = String(started.json!.runId);
    await waitFor(
      "the forced pages run to finish",
      async () => {
        const c = await stack.cursor("pages");
        return c?.runId === forcedRunId && c.status === "done" && c.force;
      },
      30_000,
    );
    await stack.qstash.idle(20_000);
    expect(await stack.kv.get(forceKey)).not.toBeNull();

    // A second forced start of pages inside the interval, however it is asked for.
    await runCase({
      name: "spam: force=1 again (cron Bearer)",
      send: () => send("/api/sync/pages?force=1", { headers: bearer(SECRET) }),
      status: 429,
      code: "too_many_starts",
      check: limited,
    });
    await runCase({
      name: "spam: force=true again (?secret=)",
      send: () => send(`/api/sync/pages?secret=${SECRET}&force=true`),
      status: 429,
      code: "too_many_starts",
      check: limited,
    });
    await runCase({
      name: 'spam: {"force":true} in a POST body',
      send: () => postJson("/api/sync/pages", `{"force":true}`),
      status: 429,
      code: "too_many_starts",
      check: limited,
    });
    expect(await stack.diffKv()).toEqual([]);
  });

  it("no secret appears in any log line, answer (body or header), QStash publish or the status", async () => {
    const status = await send(`/api/sync/status?secret=${SECRET}`);
    expect(status.status).toBe(200);
    expect(status.json).toMatchObject({ ok: true });
    const haystacks: Array<[string, string]> = [["next start stdout+stderr", stack.app.output()]];
    for (const a of answers)
      haystacks.push([`answer ${a.status} ${a.text.slice(0, 60)}`, `${JSON.stringify(a.headers)}\n${a.text}`]);
    for (const r of stack.tap.records())
      haystacks.push([`answer to QStash ${r.path}`, `${JSON.stringify(r.responseHeaders)}\n${r.responseBody}`]);
    for (const m of [...stack.qstash.messages(), ...stack.qstash.callbacks()])
      haystacks.push([
        `published ${m.destination}`,
        `${JSON.stringify(m.headers)}\n${JSON.stringify(m.forwardedHeaders)}\n${m.body}`,
      ]);
    expect(stack.app.output()).toMatch(/"event":"sync.rejected"/); // the log was captured
    expect(answers.length).toBeGreaterThan(TABLE.length);
    const secrets = Object.entries(ABUSE_SECRETS);
    const leaks: string[] = [];
    for (const [where, text] of haystacks) {
      for (const [name, value] of secrets) if (text.includes(value)) leaks.push(`${name} in ${where}`);
    }
    expect(leaks).toEqual([]);
    // The redis URL's password was really in use: a client without it is refused.
    const anonymous = createClient({ url: stack.redisUrl.replace(`:${ABUSE_SECRETS.redisPassword}@`, ""), RESP: 2 });
    anonymous.on("error", () => {});
    await anonymous.connect();
    try {
      await expect(anonymous.ping()).rejects.toThrow(/NOAUTH/);
    } finally {
      await anonymous.disconnect().catch(() => {});
    }
  });
});
