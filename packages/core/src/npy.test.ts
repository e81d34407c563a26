import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { encodeNpy, NpyError, parseNpy, readNpy, writeNpy } from "./npy.ts";

/** A .npy file with a hand-written header, as another writer might produce it. */
function rawNpy(header: string, data: Uint8Array, major = 1): Buffer {
  const h = Buffer.from(header, "latin1");
  const prefix = Buffer.alloc(major === 1 ? 10 : 12);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]).copy(prefix);
  if (major === 1) prefix.writeUInt16LE(h.length, 8);
  else prefix.writeUInt32LE(h.length, 8);
  return Buffer.concat([prefix, h, data]);
}

describe(".npy", () => {
  it("round-trips every supported dtype and shape, with a 64-byte aligned header", () => {
    const cases = [
      { data: Float32Array.of(1.5, -2, 3.25, 0, 5, 6), shape: [2, 3] },
      { data: Float64Array.of(Math.PI, -1e300), shape: [2] },
      { data: Int32Array.of(-1, 2, 3), shape: [3, 1] },
      { data: Uint8Array.of(0, 255), shape: [2] },
      { data: Int8Array.of(-128, 127), shape: [2] },
      { data: BigInt64Array.of(-5n, 9n), shape: [2] },
      { data: Float32Array.of(), shape: [0, 4] },
    ];
    for (const { data, shape } of cases) {
      const bytes = encodeNpy(data, shape);
      const headerLen = bytes.readUInt16LE(8);
      expect((10 + headerLen) % 64).toBe(0);
      const back = parseNpy(bytes);
      expect(back.shape).toEqual(shape);
      expect(back.data).toEqual(data);
    }
  });

  it("reads what NumPy writes: version 2 headers, '<i8' labels, odd data offsets", () => {
    const labels = new BigInt64Array([3n, 8n, 3n]);
    const file = rawNpy(
      "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }\n",
      new Uint8Array(labels.buffer),
      2,
    );
    const arr = parseNpy(file);
    expect(arr.dtype).toBe("<i8");
    expect(Array.from(arr.data, Number)).toEqual([3, 8, 3]);
    // A 7-byte header puts float32 data at an unaligned offset: still read correctly.
    const f = Float32Array.of(0.25, -1);
    const odd = rawNpy(
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)}\n".padEnd(63, " "),
      new Uint8Array(f.buffer),
    );
    expect(parseNpy(odd).data).toEqual(f);
  });

  it("rejects malformed files with errors naming the file", () => {
    const data = new Uint8Array(8);
    expect(() => parseNpy(Buffer.from("not numpy at all"), "a.npy")).toThrow(/a\.npy: not a \.npy file/);
    expect(() =>
      parseNpy(rawNpy("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }\n", data), "b.npy"),
    ).toThrow(/b\.npy: unsupported dtype '>f4'/);
    expect(() =>
      parseNpy(rawNpy("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }\n", data), "c.npy"),
    ).toThrow(/c\.npy: Fortran-order/);
    expect(() =>
      parseNpy(rawNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }\n", data), "d.npy"),
    ).toThrow(/d\.npy: shape \(3\) of <f4 needs 12 data bytes, the file has 8/);
    expect(() => parseNpy(rawNpy("{'descr': '<f4'}\n", data), "e.npy")).toThrow(
      /e\.npy: malformed \.npy header/,
    );
    expect(() =>
      parseNpy(rawNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n", data, 4), "f.npy"),
    ).toThrow(/f\.npy: unsupported \.npy format version 4/);
    expect(() => encodeNpy(Float32Array.of(1, 2, 3), [2, 2])).toThrow(/holds 4 values but the array has 3/);
  });

  it("writes and reads files; a missing file is an NpyError naming it", async () => {
    const dir = await mkdtemp(join(tmpdir(), "npy-"));
    const file = join(dir, "x.npy");
    await writeNpy(file, Float32Array.of(1, 2, 3, 4), [2, 2]);
    expect((await readNpy(file)).data).toEqual(Float32Array.of(1, 2, 3, 4));
    await writeFile(join(dir, "junk.npy"), "junk");
    await expect(readNpy(join(dir, "junk.npy"))).rejects.toThrow(/junk\.npy: not a \.npy file/);
    const missing = join(dir, "missing.npy");
    await expect(readNpy(missing)).rejects.toThrow(NpyError);
    await expect(readNpy(missing)).rejects.toThrow(/missing\.npy: cannot read/);
  });
});
