import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { TrainMatrix } from "./engine/types.ts";
import { withReplacedRows } from "./removal.ts";
import { makeSynthetic } from "./synthetic.ts";

const binary = makeSynthetic({ n: 60, d: 7, test: 0, classes: 2, seed: 1 }).train;
const multi = makeSynthetic({ n: 60, d: 7, test: 0, classes: 4, seed: 1 }).train;

function row(m: TrainMatrix, i: number): Float32Array {
  return m.X.subarray(i * m.d, (i + 1) * m.d);
}

describe("withReplacedRows (docs/science.md §4)", () => {
  it("replaces exactly the last S rows with unit-norm rows and valid labels, leaving D untouched", () => {
    const before = binary.X.slice();
    const D1 = withReplacedRows(binary, 10, 5);
    expect(binary.X).toEqual(before);
    expect([D1.n, D1.d, D1.classes]).toEqual([60, 7, 2]);
    expect(D1.X.subarray(0, 50 * 7)).toEqual(binary.X.subarray(0, 50 * 7));
    expect(D1.y.subarray(0, 50)).toEqual(binary.y.subarray(0, 50));
    for (let j = 50; j < 60; j++) {
      expect(row(D1, j)).not.toEqual(row(binary, j));
      expect(Math.hypot(...row(D1, j))).toBeCloseTo(1, 6);
      expect([1, -1]).toContain(D1.y[j]);
    }
    expect(withReplacedRows(binary, 0, 5)).toBe(binary);
  });

  it("is a function of (seed, j): same seed → identical D', another seed → different rows", () => {
    expect(withReplacedRows(binary, 10, 5)).toEqual(withReplacedRows(binary, 10, 5));
    expect(row(withReplacedRows(binary, 10, 6), 55)).not.toEqual(row(withReplacedRows(binary, 10, 5), 55));
  });

  it("extends: removing more rows keeps the earlier replacements (sequential unlearning)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 60 }),
        fc.integer({ min: 0, max: 60 }),
        fc.integer(),
        (a, b, seed) => {
          const [small, large] = a <= b ? [a, b] : [b, a];
          const Ds = withReplacedRows(multi, small, seed);
          const Dl = withReplacedRows(multi, large, seed);
          // Rows n−small … n−1 are the same in both; rows before n−large are the originals.
          expect(Dl.X.subarray((60 - small) * 7)).toEqual(Ds.X.subarray((60 - small) * 7));
          expect(Dl.y.subarray(60 - small)).toEqual(Ds.y.subarray(60 - small));
          expect(Dl.X.subarray(0, (60 - large) * 7)).toEqual(multi.X.subarray(0, (60 - large) * 7));
        },
      ),
      { numRuns: 40 },
    );
  });

  it("draws uniform labels over the classes", () => {
    const big = makeSynthetic({ n: 4000, d: 2, test: 0, classes: 4, seed: 2 }).train;
    const D = withReplacedRows(big, 4000, 9);
    const counts = [0, 0, 0, 0];
    for (const v of D.y) counts[v]++;
    for (const c of counts) expect(Math.abs(c - 1000)).toBeLessThan(120);
  });

  it("rejects a removal count outside 0…n", () => {
    expect(() => withReplacedRows(binary, 61, 1)).toThrow(
      /removals must be an integer in 0…60 \(n\), got 61/,
    );
    expect(() => withReplacedRows(binary, -1, 1)).toThrow(/got -1/);
    expect(() => withReplacedRows(binary, 1.5, 1)).toThrow(/got 1.5/);
  });
});
