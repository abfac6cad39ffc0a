/**
 * The comparer the conformance suites rely on (tests/support/shape.ts): that
 * it finds what it must find, on small hand-made values.
 */
import { describe, expect, it } from "vitest";
import { compareModels, modelOf, shapeDiff } from "../support/shape";

const text = (content: string, link: string | null = null) => ({
  type: "text",
  text: { content, link: link ? { url: link } : null },
  annotations: { bold: false, italic: false, strikethrough: false, underline: false, code: false, color: "default" },
  plain_text: content,
  href: link,
});
const paragraph = (extra: Record<string, unknown> = {}) => ({
  object: "block",
  type: "paragraph",
  paragraph: { rich_text: [text("a")], icon: null, color: "default", ...extra },
});

describe("shape comparer", () => {
  it("accepts the same shape, whatever the values", () => {
    expect(shapeDiff(paragraph({ color: "red" }), paragraph())).toEqual([]);
  });

  it("finds a missing key, an extra key and a changed type", () => {
    const { icon: _drop, ...withoutIcon } = paragraph().paragraph;
    expect(shapeDiff({ ...paragraph(), paragraph: withoutIcon }, paragraph())).toEqual([
      expect.stringMatching(/key "icon" missing in 1 of 1/),
      expect.stringMatching(/not covered by the emulator: .*paragraph\{\}\.icon/),
    ]);
    expect(shapeDiff(paragraph({ extra: 1 }), paragraph())).toEqual([
      expect.stringMatching(/key "extra" that Notion never sends/),
      expect.stringMatching(/emulator-only position .*extra/),
    ]);
    expect(shapeDiff(paragraph({ color: 3 }), paragraph())).toEqual([
      expect.stringMatching(/color: number where Notion shows only string/),
    ]);
  });

  it("allows null only where Notion shows both", () => {
    expect(shapeDiff({ url: null }, { url: "https://x" })).toEqual([
      expect.stringMatching(/null where Notion shows only string/),
    ]);
    const both = modelOf([
      { value: { url: null }, root: "$", source: "a" },
      { value: { url: "https://x" }, root: "$", source: "b" },
    ]);
    expect(compareModels(modelOf([{ value: { url: null }, root: "$", source: "e" }]), both).problems).toEqual([]);
  });

  it("compares tagged unions variant by variant, and array elements against their union", () => {
    const recorded = modelOf([
      {
        value: {
          items: [
            { type: "a", a: 1 },
            { type: "b", b: "x" },
          ],
        },
        root: "$",
        source: "r",
      },
    ]);
    const onlyA = modelOf([{ value: { items: [{ type: "a", a: 2 }] }, root: "$", source: "e" }]);
    expect(compareModels(onlyA, recorded).problems.sort()).toEqual([
      expect.stringMatching(/^not covered by the emulator: \$\{\}\.items\[\]\{b\} /),
      expect.stringMatching(/^not covered by the emulator: \$\{\}\.items\[\]\{b\}\.b /),
      expect.stringMatching(/^not covered by the emulator: \$\{\}\.items\[\]\{b\}\.type /),
    ]);
    const mixed = modelOf([{ value: { items: [{ type: "a", b: "x" }] }, root: "$", source: "e" }]);
    expect(compareModels(mixed, recorded).problems.some((p) => /key "b" that Notion never sends/.test(p))).toBe(true);
  });

  it("treats property names as a map and rich text items as one vocabulary", () => {
    const recorded = { properties: { Title: { type: "title", title: [text("x")] } }, caption: [] };
    const emulator = { properties: { Name: { type: "title", title: [text("y", "https://l")] } }, caption: [text("z")] };
    // `link` and `href` are objects/strings here where the recording has null: caught at the shared rich text root.
    expect(shapeDiff(emulator, recorded).sort()).toEqual([
      expect.stringMatching(/^@rich_text\{text\}\.href: string where Notion shows only null/),
      expect.stringMatching(/^@rich_text\{text\}\.text\{\}\.link: object where Notion shows only null/),
      expect.stringMatching(/^emulator-only position @rich_text\{text\}\.text\{\}\.link\{\} /),
      expect.stringMatching(/^emulator-only position @rich_text\{text\}\.text\{\}\.link\{\}\.url /),
    ]);
  });

  it("applies documented exceptions", () => {
    expect(
      shapeDiff({ a: 1, b: 2 }, { a: 1 }, { optionalKeys: { "${}#b": "why" }, extraPositions: { "${}.b": "why" } }),
    ).toEqual([]);
    expect(shapeDiff({ a: null }, { a: 1 }, { extraKinds: { "${}.a#null": "why" } })).toEqual([]);
  });
});
