/**
 * loadDataset / datasetConstants: the data of docs/science.md §1 and the constants of docs/science.md §2.
 */
import { createHash } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { accountantConstants } from "@unlearn/accountant";
import type { TrainMatrix } from "./engine/types.ts";
import { DatasetError } from "./errors.ts";
import { loadFeatureDir } from "./features.ts";
import { lambdaMaxGram } from "./linalg.ts";
import { loadMnist3v8 } from "./mnist.ts";
import { makeSynthetic } from "./synthetic.ts";

export interface Dataset {
  name: string;
  train: TrainMatrix;
  test: TrainMatrix;
  /** 2 = binary (y = ±1); C > 2 = multiclass (y = class index). */
  classes: number;
  /** λ_max(XᵀX/n) of the training features (float64 Lanczos), for L_data (docs/science.md §2). */
  lambdaMax: number;
}

export interface LoadDatasetOptions {
  /** Directory of the four .npy files for cifar10-3v8 / cifar10-multi (README.md). */
  featuresDir?: string;
  /** Where λ_max is cached; default `${XDG_CACHE_HOME:-~/.cache}/unlearn-sweep`. */
  cacheDir?: string;
}

export function defaultCacheDir(): string {
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg && xdg.length > 0 ? xdg : join(homedir(), ".cache"), "unlearn-sweep");
}

const CIFAR_CLASSES = 10;
const CIFAR_CAT = 3;
const CIFAR_SHIP = 8;

function parseSpec(spec: string): { base: string; params: URLSearchParams } {
  if (typeof spec !== "string" || spec.trim().length === 0) {
    throw new DatasetError(`dataset spec must be a non-empty string, got ${JSON.stringify(spec)}`);
  }
  const q = spec.indexOf("?");
  return q < 0
    ? { base: spec.trim(), params: new URLSearchParams() }
    : { base: spec.slice(0, q).trim(), params: new URLSearchParams(spec.slice(q + 1)) };
}

function checkParams(spec: string, params: URLSearchParams, allowed: readonly string[]): void {
  for (const key of params.keys()) {
    if (!allowed.includes(key)) {
      throw new DatasetError(
        `dataset "${spec}": unknown parameter "${key}" (allowed: ${allowed.join(", ") || "none"})`,
      );
    }
  }
}

function intParam(
  spec: string,
  params: URLSearchParams,
  key: string,
  fallback: number | undefined,
  min: number,
): number {
  const raw = params.get(key);
  if (raw === null) {
    if (fallback === undefined) throw new DatasetError(`dataset "${spec}": parameter "${key}" is required`);
    return fallback;
  }
  const v = Number(raw);
  if (!Number.isSafeInteger(v) || v < min) {
    throw new DatasetError(`dataset "${spec}": parameter "${key}" must be an integer ≥ ${min}, got "${raw}"`);
  }
  return v;
}

function featuresDirFor(spec: string, params: URLSearchParams, options: LoadDatasetOptions): string {
  const dir = params.get("dir") ?? options.featuresDir;
  if (!dir) {
    throw new DatasetError(
      `dataset "${spec}": needs a features directory (options.featuresDir or "?dir=…"); see packages/core/README.md for the file format`,
    );
  }
  return dir;
}

/** Reads the training and test sets of `spec` (no λ_max). */
async function loadSplits(
  spec: string,
  options: LoadDatasetOptions,
): Promise<{ train: TrainMatrix; test: TrainMatrix }> {
  const { base, params } = parseSpec(spec);
  switch (base) {
    case "mnist-3v8":
      checkParams(spec, params, []);
      return loadMnist3v8();
    case "cifar10-3v8":
      checkParams(spec, params, ["dir"]);
      return loadFeatureDir(featuresDirFor(spec, params, options), {
        labelClasses: CIFAR_CLASSES,
        binary: [CIFAR_CAT, CIFAR_SHIP],
      });
    case "cifar10-multi":
      checkParams(spec, params, ["dir"]);
      return loadFeatureDir(featuresDirFor(spec, params, options), { labelClasses: CIFAR_CLASSES });
    case "features": {
      // Any user dataset in the same file format: "features?dir=…&classes=C[&binary=a,b]".
      checkParams(spec, params, ["dir", "classes", "binary"]);
      const labelClasses = intParam(spec, params, "classes", undefined, 2);
      const binaryRaw = params.get("binary");
      let binary: [number, number] | undefined;
      if (binaryRaw !== null) {
        const parts = binaryRaw.split(",").map((s) => Number(s.trim()));
        if (parts.length !== 2 || parts.some((v) => !Number.isInteger(v))) {
          throw new DatasetError(
            `dataset "${spec}": parameter "binary" must be two class ids "a,b", got "${binaryRaw}"`,
          );
        }
        binary = [parts[0], parts[1]];
      } else if (labelClasses === 2) binary = [0, 1];
      return loadFeatureDir(featuresDirFor(spec, params, options), { labelClasses, binary });
    }
    case "synthetic": {
      checkParams(spec, params, ["n", "d", "test", "classes", "seed", "sep"]);
      const sepRaw = params.get("sep");
      const sep = sepRaw === null ? undefined : Number(sepRaw);
      if (sep !== undefined && !(Number.isFinite(sep) && sep >= 0)) {
        throw new DatasetError(`dataset "${spec}": parameter "sep" must be a number ≥ 0, got "${sepRaw}"`);
      }
      return makeSynthetic({
        n: intParam(spec, params, "n", undefined, 1),
        d: intParam(spec, params, "d", undefined, 1),
        test: intParam(spec, params, "test", 0, 0),
        classes: intParam(spec, params, "classes", 2, 2),
        seed: params.get("seed") ?? "0",
        sep,
      });
    }
    default:
      throw new DatasetError(
        `unknown dataset "${base}" (expected mnist-3v8, cifar10-3v8, cifar10-multi, features?dir=…, or synthetic?n=…&d=…)`,
      );
  }
}

/** SHA-256 of a training matrix's content (shape, features, labels): the key of cached values. */
export function trainChecksum(train: TrainMatrix): string {
  const h = createHash("sha256");
  h.update(`n=${train.n};d=${train.d};classes=${train.classes};`);
  h.update(new Uint8Array(train.X.buffer, train.X.byteOffset, train.X.byteLength));
  h.update(new Uint8Array(train.y.buffer, train.y.byteOffset, train.y.byteLength));
  return h.digest("hex");
}

// Bump when the λ_max computation changes so stale cache entries are recomputed.
const LAMBDA_CACHE_VERSION = 1;

interface LambdaCacheEntry {
  version: number;
  n: number;
  d: number;
  lambdaMax: number;
}

/** λ_max(XᵀX/n), read from `${cacheDir}/lambda-max-<checksum>.json` or computed and stored there. */
export async function cachedLambdaMax(train: TrainMatrix, cacheDir: string): Promise<number> {
  const file = join(cacheDir, `lambda-max-${trainChecksum(train)}.json`);
  try {
    const entry = JSON.parse(await readFile(file, "utf8")) as LambdaCacheEntry;
    if (
      entry.version === LAMBDA_CACHE_VERSION &&
      entry.n === train.n &&
      entry.d === train.d &&
      Number.isFinite(entry.lambdaMax) &&
      entry.lambdaMax > 0
    ) {
      return entry.lambdaMax;
    }
  } catch {
    // No entry yet (or an unreadable one): compute it below and overwrite.
  }
  const lambdaMax = lambdaMaxGram(train.X, train.n, train.d);
  const entry: LambdaCacheEntry = { version: LAMBDA_CACHE_VERSION, n: train.n, d: train.d, lambdaMax };
  try {
    await mkdir(cacheDir, { recursive: true });
    // Write then rename, so a concurrent reader (another worker) never sees half a file.
    const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
    await writeFile(tmp, `${JSON.stringify(entry)}\n`);
    await rename(tmp, file);
  } catch (err) {
    process.emitWarning(`could not cache λ_max in ${cacheDir}: ${(err as Error).message}`);
  }
  return lambdaMax;
}

/**
 * Loads a dataset (docs/science.md §1): "mnist-3v8", "cifar10-3v8", "cifar10-multi",
 * "features?dir=…&classes=C[&binary=a,b]", or "synthetic?n=…&d=…&test=…&classes=…&seed=…[&sep=…]".
 */
export async function loadDataset(spec: string, options: LoadDatasetOptions = {}): Promise<Dataset> {
  const { train, test } = await loadSplits(spec, options);
  const lambdaMax = await cachedLambdaMax(train, options.cacheDir ?? defaultCacheDir());
  return { name: spec, train, test, classes: train.classes, lambdaMax };
}

export interface DatasetConstants {
  n: number;
  d: number;
  classes: number;
  /** Strong convexity m = λn, also the regulariser weight. */
  m: number;
  /** Smoothness L. */
  L: number;
  /** Langevin step η = 1/L. */
  eta: number;
  /** Clip bound / Lipschitz constant M. */
  clip: number;
  /** δ = 1/n. */
  delta: number;
}

export interface ConstantsOptions {
  /** Regularisation λ (default 1e-6, docs/science.md §2). */
  lambda?: number;
  /** "data": L = λ_max(XᵀX/n)/4 + λn for binary (what the paper's figures used); "bound": 1/4 + λn. */
  smoothness?: "data" | "bound";
}

/** The table of docs/science.md §2. Multiclass uses L = 1 + λn for either smoothness (the paper has no data bound). */
export function datasetConstants(
  ds: Pick<Dataset, "train" | "classes" | "lambdaMax">,
  options: ConstantsOptions = {},
): DatasetConstants {
  const { lambda = 1e-6, smoothness = "data" } = options;
  if (!(Number.isFinite(lambda) && lambda > 0)) {
    throw new DatasetError(`datasetConstants: lambda must be a finite number > 0, got ${lambda}`);
  }
  if (smoothness !== "data" && smoothness !== "bound") {
    throw new DatasetError(
      `datasetConstants: smoothness must be "data" or "bound", got ${JSON.stringify(smoothness)}`,
    );
  }
  const { n, d } = ds.train;
  const binary = ds.classes === 2;
  if (binary && smoothness === "data" && !(Number.isFinite(ds.lambdaMax) && ds.lambdaMax > 0)) {
    throw new DatasetError(
      `datasetConstants: dataset lambdaMax must be > 0 for smoothness "data", got ${ds.lambdaMax}`,
    );
  }
  // The accountant owns the table (m, the bound L, M, δ); only L_data needs the data.
  const c = accountantConstants({
    n,
    lambda,
    L: binary && smoothness === "data" ? ds.lambdaMax / 4 + lambda * n : undefined,
    multiclass: !binary,
  });
  return { n, d, classes: ds.classes, m: c.m, L: c.L, eta: 1 / c.L, clip: c.M, delta: c.delta };
}
