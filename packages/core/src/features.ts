/**
 * Precomputed feature datasets (`cifar10-3v8`, `cifar10-multi`, user data): a directory of four
 * `.npy` files (format in packages/core/README.md):
 *   train_features.npy  float32 (or float64) [n, d]     train_labels.npy  integer [n]
 *   test_features.npy   float32 (or float64) [n_test, d] test_labels.npy   integer [n_test]
 * Validated on load (shape, dtype, finite values, label range); every error names the file.
 */
import { join } from "node:path";
import type { TrainMatrix } from "./engine/types.ts";
import { DatasetError } from "./errors.ts";
import { normalizeRows } from "./linalg.ts";
import { type NpyArray, NpyError, readNpy } from "./npy.ts";

export const FEATURE_FILES = {
  trainFeatures: "train_features.npy",
  trainLabels: "train_labels.npy",
  testFeatures: "test_features.npy",
  testLabels: "test_labels.npy",
} as const;

export interface FeatureSelection {
  /** Number of classes the label files may use (labels must lie in 0 … labelClasses − 1). */
  labelClasses: number;
  /**
   * Binary: [positive, negative] class ids; train rows are all positives then all negatives (each in
   * file order), y = +1 / −1; test rows keep file order. Omitted: every class, y = class index.
   */
  binary?: readonly [number, number];
}

async function readArray(dir: string, file: string): Promise<NpyArray> {
  try {
    return await readNpy(join(dir, file));
  } catch (err) {
    if (err instanceof NpyError) throw new DatasetError(err.message);
    throw err;
  }
}

function featureMatrix(arr: NpyArray, path: string): { X: Float32Array; rows: number; d: number } {
  if (arr.dtype !== "<f4" && arr.dtype !== "<f8") {
    throw new DatasetError(`${path}: features must be float32 (or float64), got dtype ${arr.dtype}`);
  }
  if (arr.shape.length !== 2 || arr.shape[0] === 0 || arr.shape[1] === 0) {
    throw new DatasetError(
      `${path}: features must have shape [rows, features], got [${arr.shape.join(", ")}]`,
    );
  }
  const X = arr.data instanceof Float32Array ? arr.data : Float32Array.from(arr.data as Float64Array);
  for (let k = 0; k < X.length; k++) {
    if (!Number.isFinite(X[k])) {
      const d = arr.shape[1];
      throw new DatasetError(
        `${path}: value at row ${Math.floor(k / d)}, column ${k % d} is ${X[k]} (not finite)`,
      );
    }
  }
  return { X, rows: arr.shape[0], d: arr.shape[1] };
}

function labelVector(arr: NpyArray, path: string, rows: number, classes: number): Int32Array {
  if (arr.dtype === "<f4" || arr.dtype === "<f8") {
    throw new DatasetError(`${path}: labels must have an integer dtype, got ${arr.dtype}`);
  }
  if (arr.shape.length !== 1 && !(arr.shape.length === 2 && arr.shape[1] === 1)) {
    throw new DatasetError(`${path}: labels must have shape [rows], got [${arr.shape.join(", ")}]`);
  }
  if (arr.shape[0] !== rows) {
    throw new DatasetError(`${path}: ${arr.shape[0]} labels for ${rows} feature rows`);
  }
  const out = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    const v = Number(arr.data[i]);
    if (!(Number.isInteger(v) && v >= 0 && v < classes)) {
      throw new DatasetError(`${path}: label ${i} is ${arr.data[i]}, outside 0…${classes - 1}`);
    }
    out[i] = v;
  }
  return out;
}

function select(
  features: { X: Float32Array; rows: number; d: number },
  labels: Int32Array,
  selection: FeatureSelection,
  grouped: boolean,
  path: string,
): TrainMatrix {
  const { X: src, d } = features;
  const picked: number[] = [];
  const { binary } = selection;
  if (!binary) for (let i = 0; i < labels.length; i++) picked.push(i);
  else if (grouped) {
    for (const c of binary) for (let i = 0; i < labels.length; i++) if (labels[i] === c) picked.push(i);
  } else {
    for (let i = 0; i < labels.length; i++)
      if (labels[i] === binary[0] || labels[i] === binary[1]) picked.push(i);
  }
  const n = picked.length;
  if (n === 0) throw new DatasetError(`${path}: no rows of the selected classes ${binary?.join(" and ")}`);
  const X = new Float32Array(n * d);
  const y = new Float32Array(n);
  for (let r = 0; r < n; r++) {
    X.set(src.subarray(picked[r] * d, picked[r] * d + d), r * d);
    const label = labels[picked[r]];
    y[r] = binary ? (label === binary[0] ? 1 : -1) : label;
  }
  normalizeRows(X, n, d, path);
  return { X, y, n, d, classes: binary ? 2 : selection.labelClasses };
}

/** Loads a features directory; binary selections keep the two classes, in the order given. */
export async function loadFeatureDir(
  dir: string,
  selection: FeatureSelection,
): Promise<{ train: TrainMatrix; test: TrainMatrix }> {
  const { labelClasses, binary } = selection;
  if (!Number.isInteger(labelClasses) || labelClasses < 2) {
    throw new DatasetError(`features: labelClasses must be an integer ≥ 2, got ${labelClasses}`);
  }
  if (
    binary &&
    (binary[0] === binary[1] || binary.some((c) => !Number.isInteger(c) || c < 0 || c >= labelClasses))
  ) {
    throw new DatasetError(
      `features: binary classes ${binary.join(", ")} must be two different ids in 0…${labelClasses - 1}`,
    );
  }
  const [trF, trL, teF, teL] = await Promise.all([
    readArray(dir, FEATURE_FILES.trainFeatures),
    readArray(dir, FEATURE_FILES.trainLabels),
    readArray(dir, FEATURE_FILES.testFeatures),
    readArray(dir, FEATURE_FILES.testLabels),
  ]);
  const trainPath = join(dir, FEATURE_FILES.trainFeatures);
  const testPath = join(dir, FEATURE_FILES.testFeatures);
  const train = featureMatrix(trF, trainPath);
  const test = featureMatrix(teF, testPath);
  if (test.d !== train.d) {
    throw new DatasetError(`${testPath}: ${test.d} features per row, but ${trainPath} has ${train.d}`);
  }
  const trainLabels = labelVector(trL, join(dir, FEATURE_FILES.trainLabels), train.rows, labelClasses);
  const testLabels = labelVector(teL, join(dir, FEATURE_FILES.testLabels), test.rows, labelClasses);
  return {
    train: select(train, trainLabels, selection, true, trainPath),
    test: select(test, testLabels, selection, false, testPath),
  };
}
