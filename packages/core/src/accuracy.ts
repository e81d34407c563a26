/**
 * Test accuracy per chain (docs/science.md §3): the fraction of test rows with sign(x·w) = y (binary) or
 * argmax(xᵀW) = label (multiclass).
 */
import type { TrainMatrix } from "./engine/types.ts";
import { AlgorithmInputError } from "./errors.ts";

/**
 * Per-chain accuracy of W (d×T binary, d×(T·C) multiclass) on `test`. One pass over the test rows;
 * for each row the scores of all chains are accumulated along W's rows (contiguous in memory), so no
 * per-chain copy of W is made.
 * Ties follow the paper's numpy/torch code: a binary score of exactly 0 has sign 0 and counts as wrong;
 * a multiclass tie goes to the lowest class index (argmax).
 */
export function testAccuracy(test: TrainMatrix, W: Float32Array, chains: number): Float32Array {
  const { X, y, n, d, classes } = test;
  if (!Number.isInteger(chains) || chains < 1) {
    throw new AlgorithmInputError(`testAccuracy.chains must be a positive integer, got ${chains}`);
  }
  const C = classes === 2 ? 1 : classes;
  const cols = chains * C;
  if (W.length !== d * cols) {
    throw new AlgorithmInputError(
      `testAccuracy.W has length ${W.length}, expected d·chains${C > 1 ? "·classes" : ""} = ${d * cols}`,
    );
  }
  if (n === 0) throw new AlgorithmInputError("testAccuracy: the test set has no rows");
  const scores = new Float64Array(cols);
  const correct = new Float64Array(chains);
  for (let i = 0; i < n; i++) {
    scores.fill(0);
    const o = i * d;
    for (let k = 0; k < d; k++) {
      const x = X[o + k];
      if (x === 0) continue;
      const w = k * cols;
      for (let j = 0; j < cols; j++) scores[j] += x * W[w + j];
    }
    const label = y[i];
    if (C === 1) {
      for (let t = 0; t < chains; t++) if (Math.sign(scores[t]) === label) correct[t]++;
    } else {
      for (let t = 0; t < chains; t++) {
        const base = t * C;
        let best = 0;
        for (let c = 1; c < C; c++) if (scores[base + c] > scores[base + best]) best = c;
        if (best === label) correct[t]++;
      }
    }
  }
  return Float32Array.from(correct, (c) => c / n);
}
