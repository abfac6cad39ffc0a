/**
 * lib/sync/chain-health.ts: what carries a live run on, from its cursor and
 * its lease token alone (the status's `chain.lost`, the reviver's decision).
 */
import { describe, expect, it } from "vitest";
import { chainHealth, needsRelaunch } from "../../lib/sync/chain-health";
import { type Cursor, startCursor } from "../../lib/sync/cursor";

const NOW = Date.parse("2026-01-01T12:00:00.000Z");
const GRACE = 8_000;
const iso = (ms: number) => new Date(NOW + ms).toISOString();

function cursor(patch: Partial<Cursor>): Cursor {
  return { ...startCursor("pages", { force: false, previous: null, now: new Date(NOW - 60_000) }), seq: 3, ...patch };
}
const chain = (patch: Partial<NonNullable<Cursor["chain"]>>): NonNullable<Cursor["chain"]> => ({
  seq: 3,
  published: true,
  messageId: null,
  via: "self",
  link: 2,
  at: iso(-1000),
  stopped: null,
  error: null,
  ...patch,
});

describe("chainHealth", () => {
  it("idle when nothing is live or calls alone carry the run", () => {
    expect(chainHealth(null, null, NOW, GRACE).state).toBe("idle");
    expect(chainHealth(cursor({ status: "done" }), null, NOW, GRACE).state).toBe("idle");
    expect(chainHealth(cursor({ stepBy: "call", chain: null }), null, NOW, GRACE).state).toBe("idle");
  });

  it("held while a holder's recorded end has not passed; an abandoned lease does not count", () => {
    const c = cursor({ stepBy: "chain", chain: null });
    expect(chainHealth(c, `token~${NOW + 5000}`, NOW, GRACE).state).toBe("held");
    expect(chainHealth(c, "token-of-an-older-release", NOW, GRACE).state).toBe("held");
    expect(chainHealth(c, `token~${NOW - 5000}`, NOW, GRACE).state).toBe("lost");
  });

  it("an accepted link is carried within its wait plus the grace, then lost", () => {
    expect(chainHealth(cursor({ chain: chain({ at: iso(-GRACE + 100) }) }), null, NOW, GRACE).state).toBe("carried");
    expect(chainHealth(cursor({ chain: chain({ at: iso(-GRACE - 100) }) }), null, NOW, GRACE)).toMatchObject({
      state: "lost",
      reason: expect.stringMatching(/link 2 was accepted/),
    });
    expect(
      chainHealth(cursor({ chain: chain({ at: iso(-GRACE - 100), notBefore: iso(0) }) }), null, NOW, GRACE).state,
    ).toBe("carried");
  });

  it("QStash carries what it published and redelivers a step that ended without its successor", () => {
    expect(chainHealth(cursor({ chain: chain({ via: "qstash", at: iso(-3_600_000) }) }), null, NOW, GRACE).state).toBe(
      "carried",
    );
    expect(chainHealth(cursor({ stepBy: "qstash", chain: chain({ seq: 2 }) }), null, NOW, GRACE).state).toBe("carried");
  });

  it("a step that ended without handing over is lost: a link's, or a call's whose send failed", () => {
    expect(chainHealth(cursor({ stepBy: "chain", chain: chain({ seq: 2 }) }), null, NOW, GRACE).state).toBe("lost");
    expect(
      chainHealth(
        cursor({ stepBy: "call", chain: chain({ published: false, error: "QStash did not answer" }) }),
        null,
        NOW,
        GRACE,
      ),
    ).toMatchObject({ state: "lost", reason: expect.stringMatching(/could not be sent/) });
  });

  it("a chain stopped on purpose is parked; stopped for a wait, waiting then due", () => {
    expect(
      chainHealth(
        cursor({ stepBy: "chain", chain: chain({ published: false, stopped: "SYNC_MAX_CHAIN (2)" }) }),
        null,
        NOW,
        GRACE,
      ).state,
    ).toBe("parked");
    expect(
      chainHealth(
        cursor({
          status: "stalled",
          chain: chain({ published: false, stopped: "retries in 60 s", notBefore: iso(1000) }),
        }),
        null,
        NOW,
        GRACE,
      ).state,
    ).toBe("waiting");
    expect(
      chainHealth(
        cursor({
          status: "stalled",
          chain: chain({ published: false, stopped: "retries in 60 s", notBefore: iso(-1) }),
        }),
        null,
        NOW,
        GRACE,
      ).state,
    ).toBe("due");
  });
});

describe("needsRelaunch", () => {
  it("once per step", () => {
    const lost = cursor({ stepBy: "chain", chain: chain({ seq: 2 }) });
    expect(needsRelaunch(lost, chainHealth(lost, null, NOW, GRACE))).toBe(true);
    const relaunched = cursor({ chain: chain({ at: iso(-60_000), relaunchedSeq: 3, relaunchedAt: iso(-60_000) }) });
    expect(chainHealth(relaunched, null, NOW, GRACE).state).toBe("lost");
    expect(needsRelaunch(relaunched, chainHealth(relaunched, null, NOW, GRACE))).toBe(false);
  });
});
