/** The created_time window ANDed onto a section's filter within Notion's two levels of compound filters. */
import { describe, expect, it } from "vitest";
import { andCondition, compoundDepth } from "../../lib/notion/compound-filter";

const W = { timestamp: "created_time", created_time: { on_or_after: "2025-01-01T00:00:00.000Z" } };
const A = { property: "Published", checkbox: { equals: true } };
const B = { property: "Tags", multi_select: { contains: "x" } };
const C = { property: "Name", title: { starts_with: "A" } };

describe("andCondition", () => {
  it("passes either side alone through", () => {
    expect(andCondition(null, undefined)).toBeUndefined();
    expect(andCondition(W, undefined)).toEqual(W);
    expect(andCondition(null, A)).toEqual(A);
  });

  it("a condition or an or of conditions: one and around both", () => {
    expect(andCondition(W, A)).toEqual({ and: [W, A] });
    expect(andCondition(W, { or: [A, B] })).toEqual({ and: [W, { or: [A, B] }] });
    expect(compoundDepth(andCondition(W, { or: [A, B] }))).toBe(2);
  });

  it("an and (one or two levels): the window joins its list", () => {
    expect(andCondition(W, { and: [A, B] })).toEqual({ and: [W, A, B] });
    const twoLevels = { and: [A, { or: [B, C] }] };
    expect(andCondition(W, twoLevels)).toEqual({ and: [W, A, { or: [B, C] }] });
    expect(compoundDepth(andCondition(W, twoLevels))).toBe(2);
  });

  it("an or two levels deep: the window goes into each branch, an inner or flattened", () => {
    const filter = { or: [{ and: [A, B] }, C, { or: [A, C] }] };
    const out = andCondition(W, filter);
    expect(out).toEqual({
      or: [{ and: [W, A, B] }, { and: [W, C] }, { and: [W, A] }, { and: [W, C] }],
    });
    expect(compoundDepth(out)).toBe(2);
  });

  it("several conditions (the window and an edit watermark) go in together, at every shape, within two levels", () => {
    const E = { timestamp: "last_edited_time", last_edited_time: { on_or_after: "2026-12-07T09:58:00.000Z" } };
    expect(andCondition([], undefined)).toBeUndefined();
    expect(andCondition([E], undefined)).toEqual(E);
    expect(andCondition([W, E], undefined)).toEqual({ and: [W, E] });
    expect(andCondition([W, E], A)).toEqual({ and: [W, E, A] });
    expect(andCondition([W, E], { or: [A, B] })).toEqual({ and: [W, E, { or: [A, B] }] });
    expect(andCondition([W, E], { and: [A, { or: [B, C] }] })).toEqual({ and: [W, E, A, { or: [B, C] }] });
    const out = andCondition([W, E], { or: [{ and: [A, B] }, C] });
    expect(out).toEqual({ or: [{ and: [W, E, A, B] }, { and: [W, E, C] }] });
    for (const filter of [A, { or: [A, B] }, { and: [A, { or: [B, C] }] }, { or: [{ and: [A, B] }, { or: [A, C] }] }])
      expect(compoundDepth(andCondition([W, E], filter))).toBeLessThanOrEqual(2);
  });

  it("compoundDepth counts levels of and/or", () => {
    expect(compoundDepth(A)).toBe(0);
    expect(compoundDepth({ and: [A] })).toBe(1);
    expect(compoundDepth({ or: [{ and: [A, { or: [B] }] }] })).toBe(3);
  });
});
