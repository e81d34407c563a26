import { describe, expect, it } from "vitest";
import { parseIdx } from "./idx.ts";

function idx(dims: number[], values: number[], typeCode = 0x08): Uint8Array {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head[2] = typeCode;
  head[3] = dims.length;
  for (const [k, v] of dims.entries()) head.writeUInt32BE(v, 4 + 4 * k);
  return new Uint8Array(Buffer.concat([head, Buffer.from(values)]));
}

describe("parseIdx", () => {
  it("reads big-endian dimensions and the bytes after the header", () => {
    const parsed = parseIdx(idx([2, 2, 3], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255]), "imgs");
    expect(parsed.dims).toEqual([2, 2, 3]);
    expect(Array.from(parsed.data)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255]);
    expect(parseIdx(idx([70_000], new Array(70_000).fill(3)), "labels").dims).toEqual([70_000]);
  });

  it("rejects bad magic, type code, truncation and trailing bytes, naming the file", () => {
    const good = idx([2, 2], [1, 2, 3, 4]);
    const badMagic = good.slice();
    badMagic[0] = 1;
    expect(() => parseIdx(badMagic, "f1")).toThrow(/f1: bad IDX magic/);
    expect(() => parseIdx(idx([2], [1, 2], 0x0d), "f2")).toThrow(/f2: IDX type code 0xd is not 0x08/);
    expect(() => parseIdx(good.subarray(0, good.length - 1), "f3")).toThrow(
      /f3: IDX dimensions 2×2 need 4 data bytes, the file has 3/,
    );
    expect(() => parseIdx(idx([2], [1, 2, 3]), "f4")).toThrow(/f4: .*need 2 data bytes, the file has 3/);
    expect(() => parseIdx(good.subarray(0, 6), "f5")).toThrow(/f5: truncated IDX header/);
    expect(() => parseIdx(new Uint8Array(2), "f6")).toThrow(/f6: too short/);
  });
});
