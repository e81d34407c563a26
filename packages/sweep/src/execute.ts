/**
 * Runs one job: the single implementation used by the embedded pool's worker threads now and by the
 * NATS worker later. Input is a protobuf `Job`; output is a protobuf `JobResult` plus the final chains
 * (the artifact that unlearning jobs start from).
 *
 * Determinism: the noise (and the initial point of a run from scratch) is seeded by deriveSeed(job id),
 * so the same job gives the same numbers wherever and however often it runs; the replacement rows of
 * D' are seeded by the sweep seed alone, so every job of a sweep sees the same D'.
 */
import {
  createEngine,
  type Dataset,
  type DatasetConstants,
  d2dLearn,
  d2dUnlearn,
  datasetConstants,
  deriveSeed,
  ENGINE_NAMES,
  type Engine,
  type EngineName,
  type EngineOptions,
  langevinLearn,
  langevinUnlearn,
  loadDataset,
  NOISE_VERSION,
  type TrainMatrix,
  testAccuracy,
  withReplacedRows,
} from "@unlearn/core";
import { type Job, JobKind, type JobResult, type JobSpec, Smoothness } from "@unlearn/protocol";
import { failedResult } from "./job-result.ts";

/** The final chains of a job, stored under the job's id. */
export interface Artifact {
  key: string;
  W: Float32Array;
  /** [d, columns]: columns = T (binary) or T·C (multiclass), as the engines lay W out. */
  shape: [number, number];
}

export interface ExecuteOptions {
  /** The chains a job starts from (its parent's artifact); rejects or returns null when missing. */
  loadArtifact(key: string): Promise<Float32Array | null>;
  /** Threads for the engine's CPU kernels. */
  threads?: number;
  /** Reported in JobResult.worker. */
  worker?: string;
  onProgress?(stepsDone: number, stepsTotal: number): void;
  signal?: AbortSignal;
}

export interface ExecuteOutput {
  result: JobResult;
  /** Absent when the job failed. */
  artifact?: Artifact;
}

export class JobInputError extends Error {
  override name = "JobInputError";
}

// Per-process caches: a worker thread runs many jobs over the same dataset and engine.
const datasets = new Map<string, Promise<Dataset>>();
const engines = new Map<string, Promise<Engine>>();

function datasetFor(spec: JobSpec): Promise<Dataset> {
  const key = `${spec.dataset}\u0000${spec.featuresPath}`;
  let ds = datasets.get(key);
  if (!ds) {
    ds = loadDataset(spec.dataset, spec.featuresPath ? { featuresDir: spec.featuresPath } : {});
    ds.catch(() => datasets.delete(key));
    datasets.set(key, ds);
  }
  return ds;
}

/**
 * The engine for a job: `device` is the job's (a cluster worker sets its WORKER_DEVICE there); "cpu",
 * every engine's default, is not passed, so an engine without a device option is not refused.
 */
function engineFor(name: string, threads: number | undefined, device: string): Promise<Engine> {
  if (!(ENGINE_NAMES as readonly string[]).includes(name))
    throw new JobInputError(
      `job engine: expected one of ${ENGINE_NAMES.map((e) => `"${e}"`).join(" | ")}, got ${JSON.stringify(name)}`,
    );
  const key = `${name}\u0000${threads ?? ""}\u0000${device}`;
  let engine = engines.get(key);
  if (!engine) {
    const options: EngineOptions = threads ? { threads } : {};
    if (device && device !== "cpu") options.device = device as EngineOptions["device"];
    engine = createEngine(name as EngineName, options);
    engine.catch(() => engines.delete(key));
    engines.set(key, engine);
  }
  return engine;
}

/** Releases the cached engines (a worker calls this before it exits). */
export async function disposeEngines(): Promise<void> {
  const all = [...engines.values()];
  engines.clear();
  for (const e of all) await (await e.catch(() => null))?.dispose();
}

/** The dataset's constants for this job's λ and smoothness: those of D, which the accountant used too. */
export function jobConstants(ds: Dataset, spec: JobSpec): DatasetConstants {
  const smoothness =
    spec.smoothness === Smoothness.SMOOTHNESS_DATA
      ? "data"
      : spec.smoothness === Smoothness.SMOOTHNESS_BOUND
        ? "bound"
        : undefined;
  if (!smoothness)
    throw new JobInputError(`job spec smoothness: expected DATA or BOUND, got ${spec.smoothness}`);
  return datasetConstants(ds, { lambda: spec.lambda, smoothness });
}

function checkSpec(job: Job): JobSpec {
  const spec = job.spec;
  if (!spec) throw new JobInputError(`job ${job.id}: no spec`);
  if (spec.chains < 1) throw new JobInputError(`job ${job.id}: chains must be ≥ 1, got ${spec.chains}`);
  if (spec.steps < 1) throw new JobInputError(`job ${job.id}: steps must be ≥ 1, got ${spec.steps}`);
  const needsParent = spec.kind === JobKind.JOB_KIND_UNLEARN || spec.kind === JobKind.JOB_KIND_D2D_UNLEARN;
  if (needsParent !== (spec.parentId !== ""))
    throw new JobInputError(
      `job ${job.id}: parent_id ${needsParent ? "is required" : "must be empty"} for kind ${JobKind[spec.kind]}`,
    );
  // A result is computed with one noise definition; a spec of another one (e.g. "" = the xoshiro stream
  // before philox-v1) would be stored under an id that promises other numbers.
  if (spec.noise !== NOISE_VERSION)
    throw new JobInputError(
      `job ${job.id}: noise ${JSON.stringify(spec.noise)} is not computed here (this worker computes ${JSON.stringify(NOISE_VERSION)}); plan the sweep again`,
    );
  return spec;
}

/** Runs `job` and reports its result; failures become `ok: false` results carrying the error. */
export async function executeJob(job: Job, options: ExecuteOptions): Promise<ExecuteOutput> {
  const started = performance.now();
  const base = failedResult(job, "", options.worker);
  try {
    const spec = checkSpec(job);
    const [ds, engine] = await Promise.all([
      datasetFor(spec),
      engineFor(job.engine, options.threads, job.device),
    ]);
    const constants = jobConstants(ds, spec);
    // D' = D with its last `removals` rows replaced; row j's replacement depends on (sweep seed, j) only.
    const data: TrainMatrix =
      spec.removals > 0 ? withReplacedRows(ds.train, spec.removals, spec.seed) : ds.train;
    const seed = deriveSeed(job.id);
    const onProgress = (done: number) => options.onProgress?.(done, spec.steps);
    const common = { engine, data, constants, steps: spec.steps, seed, onProgress, signal: options.signal };
    let parent: Float32Array | undefined;
    if (spec.parentId) {
      const W = await options.loadArtifact(spec.parentId);
      if (!W) throw new JobInputError(`job ${job.id}: the chains of parent ${spec.parentId} are not stored`);
      parent = W;
    }
    const stepStart = performance.now();
    let W: Float32Array;
    let published: Float32Array;
    switch (spec.kind) {
      case JobKind.JOB_KIND_LEARN:
      case JobKind.JOB_KIND_RETRAIN:
        W = published = await langevinLearn({ ...common, sigma: spec.sigma, chains: spec.chains });
        break;
      case JobKind.JOB_KIND_UNLEARN:
        W = published = await langevinUnlearn({ ...common, sigma: spec.sigma, W: parent! });
        break;
      case JobKind.JOB_KIND_D2D_LEARN:
        W = published = await d2dLearn({ ...common, chains: spec.chains });
        break;
      case JobKind.JOB_KIND_D2D_UNLEARN: {
        // The chain continues from the unpublished iterate; accuracy is that of the published (noisy) model.
        const out = await d2dUnlearn({ ...common, W: parent!, publishSigma: spec.publishSigma });
        W = out.W;
        published = out.published;
        break;
      }
      default:
        throw new JobInputError(`job ${job.id}: unknown kind ${spec.kind}`);
    }
    const stepMs = performance.now() - stepStart;
    const accuracies = Array.from(testAccuracy(ds.test, published, spec.chains));
    const wallMs = performance.now() - started;
    return {
      result: {
        ...base,
        ok: true,
        accuracies,
        artifactKey: job.id,
        stepsRun: spec.steps,
        wallMs,
        msPerStep: stepMs / spec.steps,
        engine: engine.name,
      },
      artifact: { key: job.id, W, shape: [ds.train.d, W.length / ds.train.d] },
    };
  } catch (error) {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    return { result: failedResult(job, message, options.worker, performance.now() - started) };
  }
}
