/**
 * The removal protocol of docs/science.md §4: D' = D with its last S rows replaced by fresh rows.
 */
import type { ReplacedRows, TrainMatrix } from "./engine/types.ts";
import { DatasetError } from "./errors.ts";
import { deriveSeed, GaussianStream, type SeedPart } from "./rng.ts";

/**
 * The replacement for row position `j`: x ~ N(0, I_d) scaled to unit norm, then a uniform label
 * (±1 for binary, a class index otherwise), all drawn from `deriveSeed(seed, "replace", j)` and
 * nothing else — so removing more rows extends the earlier D' (sequential unlearning).
 */
export function replacementRow(
  seed: SeedPart,
  j: number,
  d: number,
  classes: number,
  out: Float32Array,
): number {
  const stream = new GaussianStream(deriveSeed(seed, "replace", j));
  stream.fill(out);
  let sq = 0;
  for (let k = 0; k < d; k++) sq += out[k] * out[k];
  const inv = 1 / Math.sqrt(sq);
  for (let k = 0; k < d; k++) out[k] *= inv;
  const cls = stream.nextBelow(classes);
  return classes === 2 ? (cls === 0 ? 1 : -1) : cls;
}

/**
 * The rows D' puts in place of D's last `removals` rows (docs/science.md §4), for a column batch that
 * shares D between jobs (engine/batch.ts): the same values withReplacedRows writes.
 */
export function replacedRows(train: TrainMatrix, removals: number, seed: SeedPart): ReplacedRows {
  const { n, d, classes } = train;
  if (!Number.isInteger(removals) || removals < 0 || removals > n) {
    throw new DatasetError(`replaced rows: removals must be an integer in 0…${n} (n), got ${removals}`);
  }
  const X = new Float32Array(removals * d);
  const y = new Float32Array(removals);
  for (let r = 0; r < removals; r++) {
    y[r] = replacementRow(seed, n - removals + r, d, classes, X.subarray(r * d, (r + 1) * d));
  }
  return { X, y };
}

/**
 * D' for `removals` removed points: a copy of `train` whose last `removals` rows are replaced
 * (docs/science.md §4). `removals` = 0 returns `train` itself (nothing to copy).
 */
export function withReplacedRows(train: TrainMatrix, removals: number, seed: SeedPart): TrainMatrix {
  const { n, d } = train;
  if (!Number.isInteger(removals) || removals < 0 || removals > n) {
    throw new DatasetError(`withReplacedRows: removals must be an integer in 0…${n} (n), got ${removals}`);
  }
  if (removals === 0) return train;
  const { X: rows, y: labels } = replacedRows(train, removals, seed);
  const X = train.X.slice();
  const y = train.y.slice();
  X.set(rows, (n - removals) * d);
  y.set(labels, n - removals);
  return { ...train, X, y };
}
