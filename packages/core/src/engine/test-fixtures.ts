/**
 * Test-only inputs for the engine tests (not exported from the package). Numbers come from
 * fast-check's seeded generator, so every run of the suite sees the same data and the same ξ.
 */
import fc from "fast-check";
import type { NoiseSource, TrainMatrix } from "./types.ts";

const SCALE = 2 ** 30;

/** `count` numbers in [−1, 1], the same for the same seed. */
export function uniform(seed: number, count: number): Float64Array {
  const ints = fc.sample(fc.integer({ min: -SCALE, max: SCALE }), { seed, numRuns: count });
  return Float64Array.from(ints, (v) => v / SCALE);
}

/** A NoiseSource replaying fixed arrays, one per fill, so two engines can be fed identical ξ. */
export class ArrayNoise implements NoiseSource {
  private next = 0;
  constructor(private readonly draws: readonly Float32Array[]) {}
  fill(out: Float32Array): void {
    const src = this.draws[this.next++];
    if (!src || src.length !== out.length) {
      throw new Error(`ArrayNoise: draw ${this.next - 1} missing or of the wrong length`);
    }
    out.set(src);
  }
  get used(): number {
    return this.next;
  }
}

/** `steps` fixed ξ arrays of `length` values each. */
export function fixedNoise(seed: number, steps: number, length: number): Float32Array[] {
  const all = uniform(seed, steps * length);
  // Uniform on [−1, 1] has variance 1/3; scale to unit variance like N(0, 1).
  return Array.from({ length: steps }, (_, k) =>
    Float32Array.from(all.subarray(k * length, (k + 1) * length), (v) => v * Math.sqrt(3)),
  );
}

/**
 * A small classification task: class centres plus uniform jitter, rows scaled to unit norm.
 * Binary labels are ±1 (first half +1); multiclass labels are i mod C.
 */
export function makeData(opts: {
  n: number;
  d: number;
  classes: number;
  /** Seeds the class centres; a test set with the same seed and another `jitterSeed` is the same task. */
  seed: number;
  jitterSeed?: number;
  spread?: number;
}): TrainMatrix {
  const { n, d, classes, seed, jitterSeed = seed + 1, spread = 1 } = opts;
  const centres = uniform(seed, classes * d);
  const jitter = uniform(jitterSeed, n * d);
  const X = new Float32Array(n * d);
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const label = classes === 2 ? (i < n / 2 ? 0 : 1) : i % classes;
    y[i] = classes === 2 ? (label === 0 ? 1 : -1) : label;
    let sq = 0;
    const row = new Float64Array(d);
    for (let j = 0; j < d; j++) {
      row[j] = centres[label * d + j] + spread * jitter[i * d + j];
      sq += row[j] * row[j];
    }
    const inv = 1 / Math.sqrt(sq);
    for (let j = 0; j < d; j++) X[i * d + j] = row[j] * inv;
  }
  return { X, y, n, d, classes };
}

export function weights(seed: number, length: number, scale: number): Float32Array {
  return Float32Array.from(uniform(seed, length), (v) => v * scale);
}
