/**
 * Precomputed feature datasets (`cifar10-3v8`, `cifar10-multi`, user data): a directory of four
 * `.npy` files (format in packages/core/README.md):
 *   train_features.npy  float32 (or float64) [n, d]     train_labels.npy  integer [n]
 *   test_features.npy   float32 (or float64) [n_test, d] test_labels.npy   integer [n_test]
 * Validated on load (shape, dtype, finite values, label range); every error names the file.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readFile, rename, writeFile } from "node:fs/promises";
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

/**
 * The hash manifest of a features directory, in `sha256sum` format (`<hex>  <file>` per line), so
 * `sha256sum -c SHA256SUMS` checks it too. Whoever writes features writes it with them.
 */
export const FEATURES_MANIFEST = "SHA256SUMS";

/** Version tag mixed into the key: bump it only deliberately (it re-keys every stored features job). */
const FEATURES_KEY_VERSION = "unlearn-features-v1";

async function sha256File(path: string): Promise<string> {
  const h = createHash("sha256");
  try {
    for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  } catch (err) {
    throw new DatasetError(`${path}: cannot read (${(err as Error).message})`);
  }
  return h.digest("hex");
}

/** SHA-256 of each of the four files, in FEATURE_FILES order. */
async function hashFeatureFiles(dir: string): Promise<[string, string][]> {
  const names = Object.values(FEATURE_FILES);
  const hashes = await Promise.all(names.map((name) => sha256File(join(dir, name))));
  return names.map((name, i) => [name, hashes[i]!]);
}

function manifestText(entries: [string, string][]): string {
  return entries.map(([name, hex]) => `${hex}  ${name}\n`).join("");
}

/**
 * The content key of a features directory: SHA-256 over the four files' hashes (names and bytes only,
 * never the folder's path), so a moved or copied folder keeps its key and regenerated features get a
 * new one. Jobs and sweeps of features datasets are keyed by it.
 */
function keyOf(entries: [string, string][]): string {
  return createHash("sha256")
    .update(`${FEATURES_KEY_VERSION}\n${manifestText(entries)}`)
    .digest("hex");
}

function parseManifest(text: string, path: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const [i, line] of text.split("\n").entries()) {
    if (line.trim() === "") continue;
    const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(line.trim());
    if (!m)
      throw new DatasetError(`${path}: line ${i + 1} is not "<sha256>  <file>": ${JSON.stringify(line)}`);
    out.set(m[2]!, m[1]!);
  }
  return out;
}

/** Hashes the four files and writes `SHA256SUMS` next to them (write then rename). Returns the key. */
export async function writeFeaturesManifest(dir: string): Promise<string> {
  const entries = await hashFeatureFiles(dir);
  const path = join(dir, FEATURES_MANIFEST);
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, manifestText(entries));
  await rename(tmp, path);
  return keyOf(entries);
}

/**
 * The content key of a features directory (see keyOf). The files are always hashed; a manifest that
 * is present must agree with them (features regenerated without their manifest are refused, naming
 * the file), and a missing one is written when the folder is writable.
 */
export async function featuresKey(dir: string): Promise<string> {
  const entries = await hashFeatureFiles(dir);
  const path = join(dir, FEATURES_MANIFEST);
  let text: string | undefined;
  try {
    text = await readFile(path, "utf8");
  } catch {
    text = undefined;
  }
  if (text === undefined) {
    await writeFeaturesManifest(dir).catch((err: Error) =>
      process.emitWarning(`could not write ${path}: ${err.message}`),
    );
    return keyOf(entries);
  }
  const listed = parseManifest(text, path);
  for (const [name, hex] of entries) {
    const want = listed.get(name);
    if (want === undefined) throw new DatasetError(`${path}: no hash for ${name}`);
    if (want !== hex) {
      throw new DatasetError(
        `${join(dir, name)}: SHA-256 ${hex} differs from ${want} in ${FEATURES_MANIFEST} (the features changed ` +
          `after their manifest was written: regenerate them with their manifest, or delete ${path})`,
      );
    }
  }
  return keyOf(entries);
}
