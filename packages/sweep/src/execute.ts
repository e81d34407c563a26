/**
 * Runs jobs: the single implementation used by the embedded pool's worker threads and the cluster's
 * workers. Input is a protobuf `Job` (or several, fused into one column batch: executeJobs); output is
 * a protobuf `JobResult` plus the final chains (the artifact that unlearning jobs start from).
 *
 * Determinism: the noise (and the initial point of a run from scratch) is seeded by deriveSeed(job id)
 * (noise definition philox-v1, counter-based), so the same job gives the same numbers wherever, however
 * often, and with whichever batch mates it runs; the replacement rows of D' are seeded by the sweep
 * seed alone, so every job of a sweep sees the same D'.
 */
import {
  type BatchJob,
  createEngine,
  type Dataset,
  type DatasetConstants,
  d2dLearnJob,
  d2dPublish,
  d2dUnlearnJob,
  datasetConstants,
  deriveSeed,
  ENGINE_NAMES,
  type Engine,
  type EngineName,
  type EngineOptions,
  langevinLearnJob,
  langevinUnlearnJob,
  loadDataset,
  NOISE_VERSION,
  replacedRows,
  runColumnBatch,
  testAccuracy,
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
  const { onProgress, ...rest } = options;
  const [out] = await executeJobs([job], {
    ...rest,
    onJobProgress: onProgress ? (_, done, total) => onProgress(done, total) : undefined,
  });
  return out;
}

export interface ExecuteJobsOptions extends Omit<ExecuteOptions, "onProgress"> {
  /** Steps done by job `index` of the batch. */
  onJobProgress?(index: number, stepsDone: number, stepsTotal: number): void;
}

/** A job ready to run: its block of the column batch and what its result needs. */
interface Prepared {
  index: number;
  spec: JobSpec;
  ds: Dataset;
  block: BatchJob;
  /** D2D unlearning publishes the final chains with noise; accuracy is measured on the published ones. */
  publish?: (W: Float32Array) => Float32Array;
}

/**
 * Runs jobs over the same dataset and engine fused into one column batch (engine/batch.ts): each job
 * keeps its own σ, steps, noise and D′, and leaves the batch when its steps are done. Every job gets
 * its own result, in the order given; one that cannot start fails alone, a batch that fails fails
 * every job still in it. JobResult.fusedColumns says how wide the batch was when a job had mates.
 */
export async function executeJobs(
  jobs: readonly Job[],
  options: ExecuteJobsOptions,
): Promise<ExecuteOutput[]> {
  const started = performance.now();
  const outputs: ExecuteOutput[] = [];
  const ready: Prepared[] = [];
  let engine: Engine | undefined;
  for (const [index, job] of jobs.entries()) {
    try {
      const spec = checkSpec(job);
      const [ds, jobEngine] = await Promise.all([
        datasetFor(spec),
        engineFor(job.engine, options.threads, job.device),
      ]);
      if (engine && jobEngine !== engine)
        throw new JobInputError(
          `job ${job.id}: engine ${job.engine} differs from its batch's ${engine.name}`,
        );
      if (ready.length > 0 && ds !== ready[0].ds)
        throw new JobInputError(`job ${job.id}: dataset ${spec.dataset} differs from its batch's`);
      engine = jobEngine;
      ready.push(await prepare(index, job, spec, ds, options));
    } catch (error) {
      outputs[index] = failed(job, error, options, started);
    }
  }
  if (ready.length === 0) return outputs;
  const stepStart = performance.now();
  const doneAt: number[] = [];
  try {
    const report = await runColumnBatch(
      engine!,
      ready[0].ds.train,
      ready.map((r) => r.block),
      {
        signal: options.signal,
        onProgress: (i, done) => options.onJobProgress?.(ready[i].index, done, ready[i].spec.steps),
        onDone: (i) => {
          doneAt[i] = performance.now();
        },
      },
    );
    for (const [i, r] of ready.entries()) {
      const job = jobs[r.index];
      const end = doneAt[i] ?? performance.now();
      try {
        const W = report.W[i];
        const published = r.publish ? r.publish(W) : W;
        const cols = W.length / r.ds.train.d;
        outputs[r.index] = {
          result: {
            ...failedResult(job, "", options.worker),
            ok: true,
            accuracies: Array.from(testAccuracy(r.ds.test, published, r.spec.chains)),
            artifactKey: job.id,
            stepsRun: r.spec.steps,
            wallMs: end - started,
            msPerStep: (end - stepStart) / r.spec.steps,
            engine: engine!.name,
            ...(report.fusedColumns[i] > cols ? { fusedColumns: report.fusedColumns[i] } : {}),
          },
          artifact: { key: job.id, W, shape: [r.ds.train.d, cols] },
        };
      } catch (error) {
        outputs[r.index] = failed(job, error, options, started);
      }
    }
  } catch (error) {
    for (const r of ready) outputs[r.index] = failed(jobs[r.index], error, options, started);
  }
  return outputs;
}

/** The job's block: its starting chains (from scratch, or its parent's), parameters, noise key and D′. */
async function prepare(
  index: number,
  job: Job,
  spec: JobSpec,
  ds: Dataset,
  options: ExecuteJobsOptions,
): Promise<Prepared> {
  const constants = jobConstants(ds, spec);
  // D' = D with its last `removals` rows replaced; row j's replacement depends on (sweep seed, j) only.
  const replaced = spec.removals > 0 ? replacedRows(ds.train, spec.removals, spec.seed) : undefined;
  const seed = deriveSeed(job.id);
  const common = { data: ds.train, replaced, constants, steps: spec.steps, seed };
  let parent: Float32Array | undefined;
  if (spec.parentId) {
    const W = await options.loadArtifact(spec.parentId);
    if (!W) throw new JobInputError(`job ${job.id}: the chains of parent ${spec.parentId} are not stored`);
    parent = W;
  }
  switch (spec.kind) {
    case JobKind.JOB_KIND_LEARN:
    case JobKind.JOB_KIND_RETRAIN:
      return {
        index,
        spec,
        ds,
        block: langevinLearnJob({ ...common, sigma: spec.sigma, chains: spec.chains }),
      };
    case JobKind.JOB_KIND_UNLEARN:
      return { index, spec, ds, block: langevinUnlearnJob({ ...common, sigma: spec.sigma, W: parent! }) };
    case JobKind.JOB_KIND_D2D_LEARN:
      return { index, spec, ds, block: d2dLearnJob({ ...common, chains: spec.chains }) };
    case JobKind.JOB_KIND_D2D_UNLEARN:
      if (!(spec.publishSigma >= 0))
        throw new JobInputError(`job ${job.id}: publish_sigma must be ≥ 0, got ${spec.publishSigma}`);
      // The chain continues from the unpublished iterate; accuracy is that of the published (noisy) model.
      return {
        index,
        spec,
        ds,
        block: d2dUnlearnJob({ ...common, W: parent! }),
        publish: (W) => d2dPublish(W, spec.publishSigma, seed),
      };
    default:
      throw new JobInputError(`job ${job.id}: unknown kind ${spec.kind}`);
  }
}

function failed(job: Job, error: unknown, options: ExecuteJobsOptions, started: number): ExecuteOutput {
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return { result: failedResult(job, message, options.worker, performance.now() - started) };
}
