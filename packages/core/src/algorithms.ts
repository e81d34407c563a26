/**
 * The algorithms of docs/science.md §3–4, each written once on the Engine interface:
 *   langevinLearn   — from scratch (paper's initialisation); also retraining (on D') and noiseless GD (σ = 0)
 *   langevinUnlearn — K more steps from given chains on D'
 *   d2dLearn / d2dUnlearn — Descent-to-Delete: noiseless GD with step 2/(L+m), publish W + N(0, σ²)
 * Sequential variants are repeated calls with growing removals (README.md).
 *
 * Randomness (noise definition "philox-v1", engine/philox.ts): every draw of a run is counter-based
 * Philox keyed by a seed derived from the `seed` it is given: init: deriveSeed(seed, "init") (step 0);
 * step noise: deriveSeed(seed, <algorithm>, "noise") at the run's step k, with <algorithm> one of
 * "langevin-learn", "langevin-unlearn", "d2d-learn", "d2d-unlearn"; publication: deriveSeed(seed, "d2d-publish").
 * So the same seed gives bit-identical results on the same engine, alone or fused with other runs in a
 * column batch (`runBlock` below, engine/batch.ts), and different purposes never share draws (an
 * unlearning run given its learning run's seed still gets fresh noise).
 */
import type { DatasetConstants } from "./dataset.ts";
import { type BatchJob, materialise } from "./engine/batch.ts";
import { PhiloxNoise } from "./engine/philox.ts";
import type { Engine, ReplacedRows, StepParams, StepRunOptions, TrainMatrix } from "./engine/types.ts";
import { AlgorithmInputError } from "./errors.ts";
import { deriveSeed, type SeedPart } from "./rng.ts";

/** The far-away starting point of the paper's binary runs (docs/science.md §3): burn-in matters from there. */
const FAR_INIT = 1000;

export interface InitialChainsOptions {
  init: "langevin" | "d2d";
  d: number;
  classes: number;
  chains: number;
  /** Langevin σ (ignored for "d2d"). */
  sigma: number;
  /** Strong convexity m = λn (the Langevin init variance is 2σ²/m). */
  m: number;
  seed: SeedPart;
}

function positiveInteger(field: string, v: number): void {
  if (!Number.isInteger(v) || v < 1)
    throw new AlgorithmInputError(`${field} must be a positive integer, got ${v}`);
}

function nonNegative(field: string, v: number): void {
  if (!(Number.isFinite(v) && v >= 0))
    throw new AlgorithmInputError(`${field} must be a finite number ≥ 0, got ${v}`);
}

/** Columns of W per chain: 1 (binary) or C (multiclass), as in engine/types.ts. */
function columnsPerChain(classes: number): number {
  return classes === 2 ? 1 : classes;
}

/**
 * Starting chains, layout d×T (binary) or d×(T·C) (multiclass):
 * - "langevin": binary N(1000·1, (2σ²/m)I) (exactly 1000·1 when σ = 0), multiclass N(0, (2σ²/m)I);
 * - "d2d": N(1000·1, I).
 */
export function initialChains(options: InitialChainsOptions): Float32Array {
  const { init, d, classes, chains, sigma, m, seed } = options;
  positiveInteger("initialChains.d", d);
  positiveInteger("initialChains.chains", chains);
  if (!Number.isInteger(classes) || classes < 2) {
    throw new AlgorithmInputError(`initialChains.classes must be an integer ≥ 2, got ${classes}`);
  }
  let mean: number;
  let std: number;
  if (init === "langevin") {
    nonNegative("initialChains.sigma", sigma);
    if (!(Number.isFinite(m) && m > 0))
      throw new AlgorithmInputError(`initialChains.m must be > 0, got ${m}`);
    mean = classes === 2 ? FAR_INIT : 0;
    std = Math.sqrt((2 * sigma * sigma) / m);
  } else if (init === "d2d") {
    mean = FAR_INIT;
    std = 1;
  } else {
    throw new AlgorithmInputError(
      `initialChains.init must be "langevin" or "d2d", got ${JSON.stringify(init)}`,
    );
  }
  const W = new Float32Array(d * chains * columnsPerChain(classes));
  if (std === 0) return W.fill(mean);
  new PhiloxNoise(deriveSeed(seed, "init")).fill(W);
  for (let k = 0; k < W.length; k++) W[k] = mean + std * W[k];
  return W;
}

/** What a run's block needs: its data, the dataset's constants and its seed. */
export interface JobCommon {
  /** The training set the steps run on: D′ itself, or D with `replaced` (engine/batch.ts). */
  data: TrainMatrix;
  /** D′'s replaced last rows when `data` is D (a column batch shares D between its jobs). */
  replaced?: ReplacedRows;
  /** From datasetConstants on the dataset the chains belong to. */
  constants: DatasetConstants;
  seed: SeedPart;
}

export interface RunCommon extends JobCommon, StepRunOptions {
  engine: Engine;
}

function checkCommon(name: string, { data, constants }: JobCommon, steps: number): void {
  if (data.d !== constants.d || data.n !== constants.n || data.classes !== constants.classes) {
    throw new AlgorithmInputError(
      `${name}: constants are for n=${constants.n}, d=${constants.d}, classes=${constants.classes} but data has ` +
        `n=${data.n}, d=${data.d}, classes=${data.classes}`,
    );
  }
  if (!Number.isInteger(steps) || steps < 0)
    throw new AlgorithmInputError(`${name}.steps must be an integer ≥ 0, got ${steps}`);
}

/** Number of chains in W, checking that its length fits d·T·(1 or C). */
function chainsOf(name: string, W: Float32Array, data: TrainMatrix): number {
  if (!(W instanceof Float32Array)) throw new AlgorithmInputError(`${name}.W must be a Float32Array`);
  const perChain = data.d * columnsPerChain(data.classes);
  if (W.length === 0 || W.length % perChain !== 0) {
    throw new AlgorithmInputError(
      `${name}.W has length ${W.length}, not a positive multiple of d·${columnsPerChain(data.classes)} = ${perChain}`,
    );
  }
  return W.length / perChain;
}

/** The one place that drives an engine for a run alone: bind a stepper, run it, always dispose it. */
async function runAlone(common: RunCommon, job: BatchJob): Promise<Float32Array> {
  if (job.steps === 0) return job.W.slice();
  const stepper = await common.engine.createStepper(materialise(common.data, job.replaced), job.params);
  try {
    const noise = new PhiloxNoise(job.noiseKey, job.start ?? 0);
    return await stepper.run(job.W, job.steps, noise, {
      onProgress: common.onProgress,
      signal: common.signal,
    });
  } finally {
    await stepper.dispose();
  }
}

function langevinParams(c: DatasetConstants, sigma: number, chains: number): StepParams {
  return { eta: c.eta, m: c.m, clip: c.clip, sigma, chains };
}

function d2dParams(c: DatasetConstants, chains: number): StepParams {
  return { eta: 2 / (c.L + c.m), m: c.m, clip: c.clip, sigma: 0, chains };
}

export interface LangevinLearnOptions extends RunCommon {
  sigma: number;
  steps: number;
  chains: number;
}

/** The block of a Langevin learning run (for runColumnBatch; langevinLearn runs it alone). */
export function langevinLearnJob(options: Omit<LangevinLearnOptions, "engine">): BatchJob {
  const { data, constants, sigma, steps, chains, seed, replaced } = options;
  checkCommon("langevinLearn", options, steps);
  nonNegative("langevinLearn.sigma", sigma);
  positiveInteger("langevinLearn.chains", chains);
  const W = initialChains({
    init: "langevin",
    d: data.d,
    classes: data.classes,
    chains,
    sigma,
    m: constants.m,
    seed,
  });
  const noiseKey = deriveSeed(seed, "langevin-learn", "noise");
  return { params: langevinParams(constants, sigma, chains), noiseKey, replaced, W, steps };
}

/** Langevin learning from scratch (docs/science.md §3); on D' it is retraining, with σ = 0 noiseless clipped GD. */
export async function langevinLearn(options: LangevinLearnOptions): Promise<Float32Array> {
  return runAlone(options, langevinLearnJob(options));
}

export interface LangevinUnlearnOptions extends RunCommon {
  sigma: number;
  steps: number;
  /** Chains learned on D (not modified). */
  W: Float32Array;
}

export function langevinUnlearnJob(options: Omit<LangevinUnlearnOptions, "engine">): BatchJob {
  const { data, constants, sigma, steps, W, seed, replaced } = options;
  checkCommon("langevinUnlearn", options, steps);
  nonNegative("langevinUnlearn.sigma", sigma);
  const chains = chainsOf("langevinUnlearn", W, data);
  const noiseKey = deriveSeed(seed, "langevin-unlearn", "noise");
  return { params: langevinParams(constants, sigma, chains), noiseKey, replaced, W, steps };
}

/** Langevin unlearning (docs/science.md §4): `steps` (K) more steps of §3 on D' from the given chains. */
export async function langevinUnlearn(options: LangevinUnlearnOptions): Promise<Float32Array> {
  return runAlone(options, langevinUnlearnJob(options));
}

export interface D2dLearnOptions extends RunCommon {
  steps: number;
  chains: number;
}

export function d2dLearnJob(options: Omit<D2dLearnOptions, "engine">): BatchJob {
  const { data, constants, steps, chains, seed, replaced } = options;
  checkCommon("d2dLearn", options, steps);
  positiveInteger("d2dLearn.chains", chains);
  const W = initialChains({
    init: "d2d",
    d: data.d,
    classes: data.classes,
    chains,
    sigma: 0,
    m: constants.m,
    seed,
  });
  // σ = 0: the engine draws nothing with this key; a block needs one all the same.
  const noiseKey = deriveSeed(seed, "d2d-learn", "noise");
  return { params: d2dParams(constants, chains), noiseKey, replaced, W, steps };
}

/** D2D burn-in on D: noiseless clipped GD with step 2/(L+m) from N(1000·1, I) (docs/science.md §4). */
export async function d2dLearn(options: D2dLearnOptions): Promise<Float32Array> {
  return runAlone(options, d2dLearnJob(options));
}

export interface D2dUnlearnOptions extends RunCommon {
  steps: number;
  /** Chains after the D2D burn-in on D (not modified). */
  W: Float32Array;
  /** σ_D2D of docs/science.md §4 (from the accountant's d2dSigma / d2dSequential). */
  publishSigma: number;
}

/** The noiseless steps of a D2D unlearning run; publish with `d2dPublish` afterwards. */
export function d2dUnlearnJob(options: Omit<D2dUnlearnOptions, "engine" | "publishSigma">): BatchJob {
  const { data, constants, steps, W, seed, replaced } = options;
  checkCommon("d2dUnlearn", options, steps);
  const chains = chainsOf("d2dUnlearn", W, data);
  const noiseKey = deriveSeed(seed, "d2d-unlearn", "noise");
  return { params: d2dParams(constants, chains), noiseKey, replaced, W, steps };
}

/** D2D's published model: W + N(0, publishSigma²·I), drawn with deriveSeed(seed, "d2d-publish"). */
export function d2dPublish(W: Float32Array, publishSigma: number, seed: SeedPart): Float32Array {
  nonNegative("d2dUnlearn.publishSigma", publishSigma);
  const published = new Float32Array(W.length);
  if (publishSigma > 0) new PhiloxNoise(deriveSeed(seed, "d2d-publish")).fill(published);
  for (let k = 0; k < W.length; k++) published[k] = W[k] + publishSigma * published[k];
  return published;
}

/**
 * D2D unlearning: `steps` (I) noiseless steps on D', then publish W + N(0, publishSigma²·I).
 * Returns both: `W` continues a sequential D2D run, `published` is what accuracy is measured on.
 */
export async function d2dUnlearn(
  options: D2dUnlearnOptions,
): Promise<{ W: Float32Array; published: Float32Array }> {
  nonNegative("d2dUnlearn.publishSigma", options.publishSigma);
  const W = await runAlone(options, d2dUnlearnJob(options));
  return { W, published: d2dPublish(W, options.publishSigma, options.seed) };
}
