/**
 * Values over the 1 MB bound: stored as a stub and parts, read back whole,
 * replaced and deleted without leaving parts behind, never read as a mix of
 * two versions.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createFileStore } from "../../lib/kv/file";
import { createKeys } from "../../lib/kv/keys";
import { MAX_VALUE_BYTES, PLAIN, deleteLarge, readLarge, splitText, writeLarge } from "../../lib/kv/large-value";

const dir = mkdtempSync(path.join(os.tmpdir(), "nks-large-"));
const kv = createFileStore({ dir });
const keys = createKeys("lv");
afterAll(async () => {
  await kv.close();
  rmSync(dir, { recursive: true, force: true });
});

const bigValue = (n: number, text = 'block "quoted" \\ é 😀 ') => ({
  id: "p1",
  blocks: Array.from({ length: n }, (_, i) => ({ i, text: `${text}${i}` })),
});

describe("splitText", () => {
  it("keeps every stored piece under the bound, even when escaping doubles the text, and never splits a surrogate pair", () => {
    const text = `${'"\\'.repeat(3000)}${"😀".repeat(3000)}${"x".repeat(5000)}`;
    const pieces = splitText(text, 1000);
    expect(pieces.join("")).toBe(text);
    for (const piece of pieces) {
      expect(Buffer.byteLength(JSON.stringify(piece))).toBeLessThanOrEqual(1000);
      const last = piece.charCodeAt(piece.length - 1);
      expect(last >= 0xd800 && last <= 0xdbff).toBe(false);
    }
  });
});

describe("writeLarge / readLarge", () => {
  it("stores a small value as it is", async () => {
    const written = writeLarge(keys, "lv:small", { a: 1 });
    expect(written.shape).toEqual(PLAIN);
    await kv.atomic(written.ops);
    expect(await kv.get("lv:small")).toEqual({ a: 1 });
    expect(await readLarge(kv, keys, "lv:small")).toEqual({ value: { a: 1 }, shape: PLAIN });
  });

  it("splits a value over 1 MB into parts of at most 1 MB and reads it back whole", async () => {
    const value = bigValue(40_000);
    const written = writeLarge(keys, "lv:page:big", value);
    expect(written.bytes).toBeGreaterThan(MAX_VALUE_BYTES);
    expect(written.shape.parts).toBeGreaterThan(1);
    await kv.atomic(written.ops);
    for (const key of await kv.scanKeys("lv:")) {
      const raw = await kv.get(key);
      expect(Buffer.byteLength(JSON.stringify(raw)), key).toBeLessThanOrEqual(MAX_VALUE_BYTES);
    }
    // Parts are not under the bundle prefix: a scan of bundles sees the stub only.
    expect(await kv.scanKeys("lv:page:")).toEqual(["lv:page:big"]);
    expect((await readLarge(kv, keys, "lv:page:big"))!.value).toEqual(value);
  });

  it("replacing and deleting leave no part behind", async () => {
    const first = (await readLarge(kv, keys, "lv:page:big"))!;
    const next = bigValue(30_000, "other ");
    const replaced = writeLarge(keys, "lv:page:big", next, first.shape);
    expect(replaced.shape.generation).not.toBe(first.shape.generation);
    await kv.atomic(replaced.ops);
    expect((await readLarge(kv, keys, "lv:page:big"))!.value).toEqual(next);
    expect(await kv.scanKeys(`lv:part:page:big:${first.shape.generation}:`)).toEqual([]);
    await kv.atomic(deleteLarge(keys, "lv:page:big", replaced.shape));
    expect(await kv.scanKeys("lv:part:")).toEqual([]);
    expect(await readLarge(kv, keys, "lv:page:big")).toBeNull();
  });

  it("a reader holding an old stub reads the new version, not a mix", async () => {
    const small = (tag: string) => ({ id: "p2", text: tag.repeat(5000) });
    const a = writeLarge(keys, "lv:page:race", small("a"), PLAIN, 1000);
    expect(a.shape.parts).toBeGreaterThan(2);
    await kv.atomic(a.ops);
    let replaced = false;
    // The first stub read is the old one; its parts are replaced before they are read.
    const racing = {
      ...kv,
      get: async <T>(key: string) => {
        const value = await kv.get<T>(key);
        if (!replaced) {
          replaced = true;
          await kv.atomic(writeLarge(keys, "lv:page:race", small("b"), a.shape, 1000).ops);
        }
        return value;
      },
    };
    const read = await readLarge<ReturnType<typeof small>>(racing, keys, "lv:page:race");
    expect(replaced).toBe(true);
    expect(read!.value).toEqual(small("b"));
  });
});
