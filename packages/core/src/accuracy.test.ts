import { describe, expect, it } from "vitest";
import { testAccuracy } from "./accuracy.ts";
import type { TrainMatrix } from "./engine/types.ts";

describe("testAccuracy", () => {
  // Four 2-D rows: (1,0) +1, (0,1) +1, (−1,0) −1, (0.6,−0.8) −1.
  const binary: TrainMatrix = {
    X: Float32Array.of(1, 0, 0, 1, -1, 0, 0.6, -0.8),
    y: Float32Array.of(1, 1, -1, -1),
    n: 4,
    d: 2,
    classes: 2,
  };

  it("binary: per chain, the fraction with sign(x·w) = y; a zero score is wrong", () => {
    // W is d×T: chain 0 = (1, 1): scores 1, 1, −1, −0.2 → 4/4; chain 1 = (−1, −1) → 0/4;
    // chain 2 = (1, 0): scores 1, 0, −1, 0.6 → rows 0, 2 right → 2/4; chain 3 = (0, 0): all zero → 0.
    const W = Float32Array.of(1, -1, 1, 0, 1, -1, 0, 0);
    expect(Array.from(testAccuracy(binary, W, 4))).toEqual([1, 0, 0.5, 0]);
  });

  it("multiclass: argmax over each chain's C columns, ties to the lowest class", () => {
    const test: TrainMatrix = {
      X: Float32Array.of(1, 0, 0, 1, 0.6, 0.8),
      y: Float32Array.of(0, 1, 2),
      n: 3,
      d: 2,
      classes: 3,
    };
    // W rows (d = 2) × 6 columns [chain0: c0 c1 c2 | chain1: c0 c1 c2].
    const W = Float32Array.of(
      // feature 0
      1,
      0,
      0.5,
      0,
      0,
      0,
      // feature 1
      0,
      1,
      0.5,
      0,
      0,
      0,
    );
    // chain 0: row0 (1, 0, 0.5) → 0 ✓; row1 (0, 1, 0.5) → 1 ✓; row2 (0.6, 0.8, 0.7) → 1 ✗ → 2/3.
    // chain 1: all scores 0 → argmax 0: only row 0 right → 1/3.
    const acc = testAccuracy(test, W, 2);
    expect(acc[0]).toBeCloseTo(2 / 3, 7);
    expect(acc[1]).toBeCloseTo(1 / 3, 7);
  });

  it("rejects W of the wrong size and bad chain counts", () => {
    expect(() => testAccuracy(binary, new Float32Array(7), 4)).toThrow(
      /W has length 7, expected d·chains = 8/,
    );
    expect(() => testAccuracy(binary, new Float32Array(8), 0)).toThrow(
      /chains must be a positive integer, got 0/,
    );
  });
});
