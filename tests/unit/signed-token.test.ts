/**
 * The signed-token primitive (lib/auth/signed-token.ts) and the manual-link
 * claims built on it (lib/auth/manual-link.ts): pure, no KV, no HTTP.
 */
import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { authenticate } from "../../lib/auth/index";
import {
  LINK_TARGETS,
  linkForceMismatch,
  manualLinkUrl,
  signManualLink,
  verifyManualLink,
} from "../../lib/auth/manual-link";
import { MAX_TOKEN_TTL_MS, type TokenClaims, signToken, verifyToken } from "../../lib/auth/signed-token";

const SECRET = "signing-secret-Qw3rty-0123456789";
const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);
const MIN = 60_000;

interface ChainClaims extends TokenClaims {
  runId: string;
  seq: number;
}
const claims: ChainClaims = { runId: "20260115T120000Z-abc123", seq: 7, exp: NOW + 5 * MIN };

/** Flips one character of `part` (0 = payload, 1 = signature) at `index`, staying in the base64url alphabet. */
function tamper(token: string, part: 0 | 1, index: number): string {
  const parts = token.split(".");
  const chars = [...parts[part]];
  chars[index] = chars[index] === "A" ? "B" : "A";
  parts[part] = chars.join("");
  return parts.join(".");
}

describe("signToken / verifyToken", () => {
  it("round-trips the claims and never contains the key", () => {
    const token = signToken(SECRET, claims, { now: NOW });
    expect(token).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    expect(token).not.toContain(SECRET);
    expect(Buffer.from(token.split(".")[0], "base64url").toString()).not.toContain(SECRET);
    expect(verifyToken<ChainClaims>(SECRET, token, { now: NOW + MIN })).toEqual({ ok: true, claims });
  });

  it("expires at exp exactly", () => {
    const token = signToken(SECRET, claims, { now: NOW });
    expect(verifyToken(SECRET, token, { now: claims.exp - 1 }).ok).toBe(true);
    for (const now of [claims.exp, claims.exp + 1, claims.exp + MAX_TOKEN_TTL_MS]) {
      expect(verifyToken(SECRET, token, { now })).toMatchObject({ ok: false, reason: "expired" });
    }
  });

  it("refuses a change to any part: every payload and signature character, the separator, extra parts", () => {
    const token = signToken(SECRET, claims, { now: NOW });
    const [payload, signature] = token.split(".");
    for (let i = 0; i < payload.length; i++) {
      expect(verifyToken(SECRET, tamper(token, 0, i), { now: NOW }), `payload char ${i}`).toMatchObject({
        ok: false,
        reason: "bad_signature",
      });
    }
    for (let i = 0; i < signature.length; i++) {
      expect(verifyToken(SECRET, tamper(token, 1, i), { now: NOW }), `signature char ${i}`).toMatchObject({
        ok: false,
        reason: "bad_signature",
      });
    }
    // A payload re-encoded with other claims (a later expiry) and the old signature.
    const extended = Buffer.from(JSON.stringify({ ...claims, exp: claims.exp + MAX_TOKEN_TTL_MS })).toString(
      "base64url",
    );
    expect(verifyToken(SECRET, `${extended}.${signature}`, { now: NOW })).toMatchObject({
      ok: false,
      reason: "bad_signature",
    });
    for (const broken of [
      "",
      ".",
      payload,
      `${payload}.`,
      `.${signature}`,
      `${payload}${signature}`,
      `${token}.x`,
      `${payload}.${signature}=`,
      `${payload}+.${signature}`,
      "x".repeat(5000),
    ]) {
      expect(verifyToken(SECRET, broken, { now: NOW }), JSON.stringify(broken.slice(0, 40))).toMatchObject({
        ok: false,
        reason: "malformed",
      });
    }
  });

  it("refuses a token signed with another key, including a prefix or extension of it", () => {
    for (const key of ["another-secret", SECRET.slice(0, -1), `${SECRET}x`]) {
      const token = signToken(key, claims, { now: NOW });
      expect(verifyToken(SECRET, token, { now: NOW })).toMatchObject({ ok: false, reason: "bad_signature" });
    }
  });

  it("checks expected claims after signature and expiry: a difference is wrong_target", () => {
    const token = signToken(SECRET, claims, { now: NOW });
    expect(verifyToken<ChainClaims>(SECRET, token, { expect: { runId: claims.runId, seq: 7 }, now: NOW }).ok).toBe(
      true,
    );
    expect(verifyToken<ChainClaims>(SECRET, token, { expect: { seq: 8 }, now: NOW })).toMatchObject({
      ok: false,
      reason: "wrong_target",
    });
    expect(verifyToken<ChainClaims>(SECRET, token, { expect: { runId: "other" }, now: NOW })).toMatchObject({
      ok: false,
      reason: "wrong_target",
    });
    // Expiry is reported before target: an old token is old, wherever it is sent.
    expect(verifyToken<ChainClaims>(SECRET, token, { expect: { seq: 8 }, now: claims.exp })).toMatchObject({
      ok: false,
      reason: "expired",
    });
    // Signature before anything else: nothing unsigned is reported back.
    expect(
      verifyToken<ChainClaims>(SECRET, tamper(token, 1, 0), { expect: { seq: 8 }, now: claims.exp }),
    ).toMatchObject({ ok: false, reason: "bad_signature" });
  });

  it("refuses to sign a token over 24 h, already expired, or without a key", () => {
    expect(() => signToken(SECRET, { exp: NOW + MAX_TOKEN_TTL_MS }, { now: NOW })).not.toThrow();
    expect(() => signToken(SECRET, { exp: NOW + MAX_TOKEN_TTL_MS + 1 }, { now: NOW })).toThrow(RangeError);
    expect(() => signToken(SECRET, { exp: NOW }, { now: NOW })).toThrow(RangeError);
    expect(() => signToken(SECRET, { exp: NOW + 0.5 }, { now: NOW })).toThrow(RangeError);
    expect(() => signToken("", { exp: NOW + MIN }, { now: NOW })).toThrow(TypeError);
    expect(() => verifyToken("", "a.b", { now: NOW })).toThrow(TypeError);
  });

  it("reports a signed payload that is not a claims object as malformed", () => {
    // Only a buggy signer with the key could produce these; they still must not pass.
    const forge = (json: string) => {
      const payload = Buffer.from(json).toString("base64url");
      return `${payload}.${createHmac("sha256", SECRET).update("notion-kv-sync.token.v1.").update(payload).digest("base64url")}`;
    };
    expect(verifyToken(SECRET, forge(JSON.stringify(claims)), { now: NOW }).ok).toBe(true); // the forge matches the real MAC
    for (const json of ["[1]", "null", "{", '{"exp":"soon"}', "{}"]) {
      expect(verifyToken(SECRET, forge(json), { now: NOW }), json).toMatchObject({ ok: false, reason: "malformed" });
    }
  });
});

describe("manual links", () => {
  it("a link names its endpoint, force, expiry and a fresh nonce", () => {
    const a = signManualLink("posts", { force: true, ttlMs: 2 * MIN, secret: SECRET, now: NOW });
    const b = signManualLink("posts", { force: true, ttlMs: 2 * MIN, secret: SECRET, now: NOW });
    expect(a.claims).toMatchObject({ t: "posts", f: true, exp: NOW + 2 * MIN });
    expect(a.claims.n).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(b.claims.n).not.toBe(a.claims.n);
    expect(verifyManualLink(SECRET, a.token, "posts", { now: NOW })).toEqual({ ok: true, claims: a.claims });
  });

  it("is refused on another endpoint, once expired, tampered, or signed with another key, saying which", () => {
    const { token } = signManualLink("pages", { force: false, ttlMs: 15 * MIN, secret: SECRET, now: NOW });
    for (const other of LINK_TARGETS.filter((t) => t !== "pages")) {
      const result = verifyManualLink(SECRET, token, other, { now: NOW });
      expect(result).toMatchObject({ ok: false, reason: "wrong_target" });
      expect(!result.ok && result.message).toMatch(/not for this endpoint.*\/api\/sync\/pages/);
    }
    const expired = verifyManualLink(SECRET, token, "pages", { now: NOW + 15 * MIN });
    expect(!expired.ok && expired.message).toMatch(/expired at 2026-01-15T12:15:00.000Z/);
    expect(verifyManualLink(SECRET, tamper(token, 0, 3), "pages", { now: NOW })).toMatchObject({
      ok: false,
      reason: "bad_signature",
      message: expect.stringMatching(/bad signature/),
    });
    expect(verifyManualLink("other-secret", token, "pages", { now: NOW })).toMatchObject({
      ok: false,
      reason: "bad_signature",
    });
    for (const result of [expired, verifyManualLink(SECRET, tamper(token, 1, 3), "pages", { now: NOW })]) {
      expect(JSON.stringify(result)).not.toContain(token.split(".")[1]);
    }
  });

  it("refuses a TTL over 24 h or not positive", () => {
    expect(() =>
      signManualLink("trigger", { force: false, ttlMs: MAX_TOKEN_TTL_MS, secret: SECRET, now: NOW }),
    ).not.toThrow();
    expect(() =>
      signManualLink("trigger", { force: false, ttlMs: MAX_TOKEN_TTL_MS + 1000, secret: SECRET, now: NOW }),
    ).toThrow(RangeError);
    expect(() => signManualLink("trigger", { force: false, ttlMs: 0, secret: SECRET, now: NOW })).toThrow(RangeError);
  });

  it("force must match what the request asks", () => {
    const { claims: forced } = signManualLink("pages", { force: true, secret: SECRET, now: NOW });
    expect(linkForceMismatch(forced, true)).toBeNull();
    expect(linkForceMismatch(forced, false)).toMatch(/signed for force=1 and the request asks force=0/);
  });

  it("builds the URL under the base (keeping a path prefix), with force=1 only when forced", () => {
    const plain = new URL(
      manualLinkUrl("https://sync.example.com/", "children", { force: false, secret: SECRET, now: NOW }),
    );
    expect(`${plain.origin}${plain.pathname}`).toBe("https://sync.example.com/api/sync/children");
    expect(plain.searchParams.has("force")).toBe(false);
    expect(verifyManualLink(SECRET, plain.searchParams.get("token")!, "children", { now: NOW }).ok).toBe(true);
    const forced = new URL(
      manualLinkUrl("https://example.com/notion", "trigger", { force: true, ttlMs: 30_000, secret: SECRET, now: NOW }),
    );
    expect(forced.pathname).toBe("/notion/api/sync/trigger");
    expect(forced.searchParams.get("force")).toBe("1");
    expect(forced.toString()).not.toContain(SECRET);
    expect(() => manualLinkUrl("ftp://example.com", "pages", { force: false, secret: SECRET })).toThrow(TypeError);
  });

  it('authenticate() accepts ?token= as caller "link" where a target is given, and only there', async () => {
    const env = { CRON_SECRET: SECRET };
    const url = manualLinkUrl("https://sync.example.com", "posts", { force: false, secret: SECRET });
    const result = await authenticate({ request: new Request(url), env, linkTarget: "posts" });
    expect(result).toMatchObject({ ok: true, caller: "link", link: { t: "posts", f: false } });
    expect(
      await authenticate({ request: new Request(url, { method: "POST", body: "{}" }), env, linkTarget: "posts" }),
    ).toMatchObject({ ok: true, caller: "link" });
    expect(await authenticate({ request: new Request(url), env, linkTarget: "pages" })).toMatchObject({
      ok: false,
      status: 401,
      message: expect.stringMatching(/not for this endpoint/),
    });
    // The status endpoint passes no target: links do not open it.
    expect(await authenticate({ request: new Request(url), env })).toMatchObject({
      ok: false,
      status: 401,
      message: expect.stringMatching(/not for this endpoint/),
    });
    // An unset secret closes the endpoints for links too.
    expect(await authenticate({ request: new Request(url), env: {}, linkTarget: "posts" })).toMatchObject({
      ok: false,
      status: 503,
    });
    expect(
      await authenticate({
        request: new Request("https://sync.example.com/api/sync/posts?token="),
        env,
        linkTarget: "posts",
      }),
    ).toMatchObject({
      ok: false,
      status: 401,
      message: expect.stringMatching(/malformed/),
    });
  });
});
