/**
 * `synthetic`: C Gaussian clusters drawn from a seed (docs/science.md §1), for tests and quick runs.
 * Cluster c has mean μ_c (a random direction scaled to length `sep`) and identity covariance; with the
 * default sep = 2 a linear classifier reaches about 0.9–0.97 test accuracy (d = 10: 0.97), so accuracy tests are
 * neither trivial nor noise. Train rows are grouped by class (class 0 first, as docs/science.md §1 orders real
 * data), test labels are drawn uniformly per row. Every row is then scaled to unit norm.
 */
import type { TrainMatrix } from "./engine/types.ts";
import { normalizeRows } from "./linalg.ts";
import { deriveSeed, GaussianStream, type SeedPart } from "./rng.ts";

export interface SyntheticOptions {
  n: number;
  d: number;
  test: number;
  classes: number;
  seed: SeedPart;
  sep?: number;
}

function labelOf(cls: number, classes: number): number {
  return classes === 2 ? (cls === 0 ? 1 : -1) : cls;
}

function drawRows(
  means: Float32Array,
  classOf: Int32Array,
  d: number,
  classes: number,
  stream: GaussianStream,
  what: string,
): TrainMatrix {
  const n = classOf.length;
  const X = new Float32Array(n * d);
  stream.fill(X);
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const c = classOf[i];
    for (let k = 0; k < d; k++) X[i * d + k] += means[c * d + k];
    y[i] = labelOf(c, classes);
  }
  normalizeRows(X, n, d, what);
  return { X, y, n, d, classes };
}

export function makeSynthetic(options: SyntheticOptions): { train: TrainMatrix; test: TrainMatrix } {
  const { n, d, test, classes, seed, sep = 2 } = options;
  const means = new Float32Array(classes * d);
  new GaussianStream(deriveSeed(seed, "synthetic", "means")).fill(means);
  for (let c = 0; c < classes; c++) {
    let sq = 0;
    for (let k = 0; k < d; k++) sq += means[c * d + k] ** 2;
    const scale = sep / Math.sqrt(sq);
    for (let k = 0; k < d; k++) means[c * d + k] *= scale;
  }
  // Train: balanced, grouped by class; the first n mod C classes get one extra row.
  const trainClass = new Int32Array(n);
  for (let c = 0, i = 0; c < classes; c++) {
    const size = Math.floor(n / classes) + (c < n % classes ? 1 : 0);
    trainClass.fill(c, i, i + size);
    i += size;
  }
  const testStream = new GaussianStream(deriveSeed(seed, "synthetic", "test"));
  const testClass = Int32Array.from({ length: test }, () => testStream.nextBelow(classes));
  return {
    train: drawRows(
      means,
      trainClass,
      d,
      classes,
      new GaussianStream(deriveSeed(seed, "synthetic", "train")),
      "synthetic train",
    ),
    test: drawRows(means, testClass, d, classes, testStream, "synthetic test"),
  };
}
