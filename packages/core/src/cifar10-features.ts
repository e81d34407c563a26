/**
 * CIFAR-10 → ResNet-18 features, the input of the `cifar10-3v8` and `cifar10-multi` datasets: reads
 * the six batch files, preprocesses every image (cifar10-preprocess.ts), runs the model in batches
 * (cifar10-model.ts) and writes the features directory of features.ts: train = data_batch_1 … 5 in
 * record order (50000 rows), test = test_batch (10000 rows), labels 0–9, plus its SHA256SUMS manifest
 * and `cifar10-features.json` (how it was made).
 *
 * Resumable: each finished batch of features is written (write, fsync, rename) to
 * `<out>/.cifar10-partial/`, keyed by the model, the data, the model format and the batch size; a rerun
 * with the same inputs skips the batches found there, and the folder is removed once the four .npy files
 * are in place.
 */
import { createHash } from "node:crypto";
import { mkdir, open, readFile, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import {
  CIFAR10_CLASSES,
  type Cifar10Data,
  type Cifar10File,
  cifar10Labels,
  readCifar10,
} from "./cifar10.ts";
import {
  FEATURE_DIM,
  type FeatureModel,
  type FeatureModelOptions,
  loadFeatureModel,
} from "./cifar10-model.ts";
import { CifarPreprocessor, MODEL_IMAGE_FLOATS } from "./cifar10-preprocess.ts";
import { FEATURE_FILES, FEATURES_MANIFEST, featuresKey, writeFeaturesManifest } from "./features.ts";
import { encodeNpy } from "./npy.ts";

/** Names the preprocessing in the resume and provenance keys; change it when the pixels fed change. */
const PREPROCESSING = "cifar10-bilinear-halfpixel-224-imagenet-norm-v1";
export const PARTIAL_DIR = ".cifar10-partial";
export const PROVENANCE_FILE = "cifar10-features.json";
export const DEFAULT_BATCH = 64;

export interface ExtractProgress {
  /** Images whose features exist (including batches found from an earlier run). */
  done: number;
  total: number;
  /** Images skipped because an earlier run had finished them. */
  resumed: number;
  /** Seconds since this run started extracting. */
  elapsed: number;
  /** Images per second in this run (0 before the first batch). */
  rate: number;
  /** Seconds left at that rate, null before the first batch. */
  eta: number | null;
}

export interface ExtractCifar10Options extends FeatureModelOptions {
  /** The official cifar-10-binary.tar.gz, or a folder of the six .bin files. */
  archive: string;
  /** The ONNX model file (cifar10-model.ts says which). */
  model: string;
  /** The features directory to write (created if missing). */
  out: string;
  /** Images per model run (default 64; a model with a fixed batch size uses that). */
  batch?: number;
  /** Records per batch file (default 10000; smaller only for tests and trials on truncated files). */
  recordsPerFile?: number;
  onProgress?: (p: ExtractProgress) => void;
  /** One line of news for the user (resume, fixed batch size, …). */
  onNote?: (text: string) => void;
  /** Stops after the batch in flight; finished batches stay for the next run. */
  signal?: AbortSignal;
}

export interface ExtractSummary {
  out: string;
  train: number;
  test: number;
  /** The features directory's content key (features.ts). */
  key: string;
  /** true when the directory already held these features and nothing ran. */
  upToDate: boolean;
  /** Images extracted by this run, and the seconds it took. */
  extracted: number;
  seconds: number;
  model: { sha256: string; format: string; device: string; threads: number; batch: number };
}

interface Split {
  name: "train" | "test";
  files: Cifar10File[];
  rows: number;
}

interface Provenance {
  preprocessing: string;
  model: { path: string; sha256: string; format: string };
  data: { source: string; sha256: string; recordsPerFile: number };
  rows: { train: number; test: number };
  dim: number;
  classes: readonly string[];
  device: string;
  threads: number;
  batch: number;
  seconds: number;
}

function dataSha256(data: Cifar10Data): string {
  const h = createHash("sha256");
  for (const f of [...data.train, data.test]) h.update(f.bytes);
  return h.digest("hex");
}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, "utf8")) as T;
  } catch {
    return undefined;
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Writes `data` to `path` so that a crash leaves either the old file or the whole new one. */
async function writeAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  const fh = await open(tmp, "w");
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

const chunkPath = (work: string, split: string, b: number) =>
  join(work, `${split}-${String(b).padStart(5, "0")}.f32`);

/** Opens the resume folder: kept when it was made for the same inputs, emptied otherwise. */
async function openPartial(work: string, key: object, note: (t: string) => void): Promise<void> {
  const metaPath = join(work, "meta.json");
  const previous = await readJson<object>(metaPath);
  if (previous !== undefined && JSON.stringify(previous) === JSON.stringify(key)) return;
  if (previous !== undefined) note(`${work}: made for another model, archive or batch size; starting over`);
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  await writeAtomic(metaPath, `${JSON.stringify(key, null, 2)}\n`);
}

/** Whether batch b of `split` is on disk from an earlier run, with the right size. */
async function chunkDone(work: string, split: string, b: number, rows: number): Promise<boolean> {
  const info = await stat(chunkPath(work, split, b)).catch(() => undefined);
  return info !== undefined && info.size === rows * FEATURE_DIM * 4;
}

interface BatchJob {
  split: Split;
  b: number;
  start: number;
  rows: number;
}

/** The batches still to run, and how many images earlier runs already finished. */
async function planBatches(splits: Split[], batch: number, work: string) {
  const todo: BatchJob[] = [];
  let resumed = 0;
  for (const split of splits) {
    for (let b = 0, start = 0; start < split.rows; b++, start += batch) {
      const rows = Math.min(batch, split.rows - start);
      if (await chunkDone(work, split.name, b, rows)) resumed += rows;
      else todo.push({ split, b, start, rows });
    }
  }
  return { todo, resumed, total: splits.reduce((a, s) => a + s.rows, 0) };
}

/** Progress reports: the rate counts only this run's images, so resumed ones do not inflate it. */
function progressTracker(total: number, resumed: number, onProgress?: (p: ExtractProgress) => void) {
  const started = performance.now();
  let extracted = 0;
  const report = () => {
    const elapsed = (performance.now() - started) / 1000;
    const rate = extracted > 0 && elapsed > 0 ? extracted / elapsed : 0;
    const left = total - resumed - extracted;
    onProgress?.({
      done: resumed + extracted,
      total,
      resumed,
      elapsed,
      rate,
      eta: rate > 0 ? left / rate : null,
    });
  };
  return {
    add(rows: number) {
      extracted += rows;
      report();
    },
    report,
    get extracted() {
      return extracted;
    },
  };
}

/** Runs every missing batch; preprocessing of the next batch overlaps the model run of the current one. */
async function extractSplits(
  splits: Split[],
  model: FeatureModel,
  batch: number,
  work: string,
  options: ExtractCifar10Options,
): Promise<number> {
  const { todo, resumed, total } = await planBatches(splits, batch, work);
  if (resumed > 0) options.onNote?.(`resuming: ${resumed} of ${total} images already extracted in ${work}`);
  const progress = progressTracker(total, resumed, options.onProgress);
  progress.report();
  const pre = new CifarPreprocessor();
  const buffers = [0, 1].map(() => new Float32Array(batch * MODEL_IMAGE_FLOATS));
  let pending: { job: BatchJob; result: Promise<Float32Array> } | undefined;
  const finish = async (p: { job: BatchJob; result: Promise<Float32Array> }) => {
    const features = await p.result;
    const bytes = new Uint8Array(features.buffer, features.byteOffset, p.job.rows * FEATURE_DIM * 4);
    await writeAtomic(chunkPath(work, p.job.split.name, p.job.b), bytes);
    progress.add(p.job.rows);
  };
  try {
    for (const [k, job] of todo.entries()) {
      if (options.signal?.aborted) break;
      const input = buffers[k % 2];
      const records = job.split.files[0].records;
      for (let r = 0; r < job.rows; r++) {
        const i = job.start + r;
        pre.image(job.split.files[Math.floor(i / records)].bytes, i % records, input, r * MODEL_IMAGE_FLOATS);
      }
      if (pending) await finish(pending);
      pending = undefined;
      if (options.signal?.aborted) break;
      const result = model.run(input, job.rows);
      result.catch(() => {}); // awaited in finish(); this only keeps an early rejection from being "unhandled"
      pending = { job, result };
    }
    // An interrupted run still saves the batch in flight.
    if (pending) await finish(pending);
    pending = undefined;
  } finally {
    // Never leave a run in flight: the caller releases the session next.
    if (pending) await pending.result.catch(() => {});
  }
  options.signal?.throwIfAborted();
  return progress.extracted;
}

/** Concatenates a split's batch files into one [rows, 512] array. */
async function assemble(work: string, split: Split, batch: number): Promise<Float32Array> {
  const out = new Float32Array(split.rows * FEATURE_DIM);
  for (let b = 0, start = 0; start < split.rows; b++, start += batch) {
    const bytes = await readFile(chunkPath(work, split.name, b));
    const rows = Math.min(batch, split.rows - start);
    if (bytes.length !== rows * FEATURE_DIM * 4) {
      throw new Error(
        `${chunkPath(work, split.name, b)}: ${bytes.length} bytes, expected ${rows * FEATURE_DIM * 4}`,
      );
    }
    out.set(new Float32Array(bytes.buffer, bytes.byteOffset, rows * FEATURE_DIM), start * FEATURE_DIM);
  }
  return out;
}

function labelsOf(split: Split): BigInt64Array {
  const out = new BigInt64Array(split.rows);
  let r = 0;
  for (const f of split.files) for (const label of cifar10Labels(f)) out[r++] = BigInt(label);
  return out;
}

/** Replaces the four .npy files and their manifest; the old manifest goes first so none is ever stale. */
async function writeFeatureDir(out: string, work: string, splits: Split[], batch: number): Promise<string> {
  await rm(join(out, FEATURES_MANIFEST), { force: true });
  await rm(join(out, PROVENANCE_FILE), { force: true });
  for (const split of splits) {
    const features = await assemble(work, split, batch);
    const names =
      split.name === "train"
        ? [FEATURE_FILES.trainFeatures, FEATURE_FILES.trainLabels]
        : [FEATURE_FILES.testFeatures, FEATURE_FILES.testLabels];
    await writeAtomic(join(out, names[0]), encodeNpy(features, [split.rows, FEATURE_DIM]));
    await writeAtomic(join(out, names[1]), encodeNpy(labelsOf(split), [split.rows]));
  }
  return writeFeaturesManifest(out);
}

/** Whether `out` already holds the features of exactly these inputs (then nothing needs to run). */
async function upToDate(
  out: string,
  key: Omit<Provenance, "device" | "threads" | "batch" | "seconds">,
): Promise<boolean> {
  const previous = await readJson<Provenance>(join(out, PROVENANCE_FILE));
  if (!previous) return false;
  const same =
    previous.preprocessing === key.preprocessing &&
    previous.model?.sha256 === key.model.sha256 &&
    previous.model?.format === key.model.format &&
    previous.data?.sha256 === key.data.sha256 &&
    previous.data?.recordsPerFile === key.data.recordsPerFile;
  if (!same) return false;
  for (const f of [...Object.values(FEATURE_FILES), FEATURES_MANIFEST])
    if (!(await exists(join(out, f)))) return false;
  return true;
}

function checkBatch(batch: number): number {
  if (!Number.isSafeInteger(batch) || batch < 1 || batch > 4096) {
    throw new RangeError(`batch must be an integer in 1…4096, got ${batch}`);
  }
  return batch;
}

/** Extracts the features of the whole archive into `options.out` (see the module comment). */
export async function extractCifar10Features(options: ExtractCifar10Options): Promise<ExtractSummary> {
  const started = performance.now();
  let batch = checkBatch(options.batch ?? DEFAULT_BATCH);
  const data = await readCifar10(options.archive, { recordsPerFile: options.recordsPerFile });
  const splits: Split[] = [
    { name: "train", files: data.train, rows: data.train.length * data.test.records },
    { name: "test", files: [data.test], rows: data.test.records },
  ];
  const model = await loadFeatureModel(options.model, options);
  try {
    if (model.fixedBatch !== null && model.fixedBatch !== batch) {
      options.onNote?.(
        `${options.model} fixes the batch size at ${model.fixedBatch}; using it instead of ${batch}`,
      );
      batch = model.fixedBatch;
    }
    const recordsPerFile = data.test.records;
    const identity = {
      preprocessing: PREPROCESSING,
      model: { path: options.model, sha256: model.sha256, format: model.format },
      data: { source: options.archive, sha256: dataSha256(data), recordsPerFile },
      rows: { train: splits[0].rows, test: splits[1].rows },
      dim: FEATURE_DIM,
      classes: CIFAR10_CLASSES,
    };
    const base = { out: options.out, train: splits[0].rows, test: splits[1].rows };
    const modelInfo = {
      sha256: model.sha256,
      format: model.format,
      device: model.device,
      threads: model.threads,
      batch,
    };
    await mkdir(options.out, { recursive: true });
    if (await upToDate(options.out, identity)) {
      // featuresKey also checks the files against their manifest (refusing features changed since).
      const key = await featuresKey(options.out);
      return { ...base, key, upToDate: true, extracted: 0, seconds: 0, model: modelInfo };
    }
    const work = join(options.out, PARTIAL_DIR);
    await openPartial(
      work,
      {
        preprocessing: PREPROCESSING,
        model: model.sha256,
        format: model.format,
        data: identity.data.sha256,
        recordsPerFile,
        batch,
      },
      (t) => options.onNote?.(t),
    );
    const extracted = await extractSplits(splits, model, batch, work, options);
    const key = await writeFeatureDir(options.out, work, splits, batch);
    const seconds = (performance.now() - started) / 1000;
    const provenance: Provenance = {
      ...identity,
      device: model.device,
      threads: model.threads,
      batch,
      seconds,
    };
    await writeAtomic(join(options.out, PROVENANCE_FILE), `${JSON.stringify(provenance, null, 2)}\n`);
    await rm(work, { recursive: true, force: true });
    return { ...base, key, upToDate: false, extracted, seconds, model: modelInfo };
  } finally {
    await model.release();
  }
}
