/**
 * The one compute interface every algorithm of docs/science.md §3–4 is written against.
 *
 * Layout conventions (all float32, row-major, no copies per step):
 * - X: n×d training features, rows of unit L2 norm.
 * - Binary: W is d×T (T chains side by side, W[i*T + t]); targets y are ±1 (length n).
 * - Multiclass with C classes: W is d×(T·C), chain t owns columns t*C … t*C + C−1;
 *   targets are class indices 0…C−1 (length n).
 * - Noise ξ has W's shape; it is drawn by the caller from a seeded generator so that every engine
 *   follows the same trajectory for the same seed (conformance), and the same seed on the same
 *   engine gives bit-identical results. Jobs draw it from ./philox.ts (counter-based: ξ of a job's
 *   step s depends on its key and s alone).
 * - A column batch (job fusion): several jobs' W side by side in one d×Σcols matrix, job b's columns
 *   contiguous and in the order of the blocks; each block has its own step parameters, noise key and D′.
 */

export type EngineName = "onnx" | "tfjs" | "reference" | "webgpu";
/** "gpu": a WebGPU adapter (Vulkan, Metal or D3D12) of the webgpu engine. */
export type Device = "cpu" | "cuda" | "gpu";

/** A training set as the engines see it. */
export interface TrainMatrix {
  readonly X: Float32Array;
  readonly n: number;
  readonly d: number;
  /** Binary: ±1 per row. Multiclass: class index per row (stored as float for one layout). */
  readonly y: Float32Array;
  /** 2 means binary logistic regression with ±1 labels; C > 2 means softmax over C classes. */
  readonly classes: number;
}

/** What one noisy clipped gradient step needs besides the data (docs/science.md §2–3). */
export interface StepParams {
  /** Step size: 1/L for Langevin, 2/(L+m) for D2D. */
  readonly eta: number;
  /** Strong convexity m = λn; also the regulariser weight. */
  readonly m: number;
  /** Clip bound M (1 binary, 2 multiclass). */
  readonly clip: number;
  /** Langevin noise σ; 0 gives noiseless clipped gradient descent. */
  readonly sigma: number;
  /** Number of chains T stacked in W. */
  readonly chains: number;
}

/**
 * D′ as a batch sees it: the shared training set D with its last `y.length` rows replaced by these
 * (docs/science.md §4). Several blocks may replace different numbers of rows.
 */
export interface ReplacedRows {
  /** rows×d replacement rows, unit norm, in row order (the last one replaces D's last row). */
  readonly X: Float32Array;
  /** Their labels, as TrainMatrix.y. */
  readonly y: Float32Array;
}

/** One job's columns in a column batch. */
export interface ColumnBlock {
  /** This job's η, m, clip, σ and chains (its columns: chains, or chains·C multiclass). */
  readonly params: StepParams;
  /** The job's noise key (a 64-bit seed): ξ at its step s is philoxNormals(philoxKey(key), s, …). */
  readonly noiseKey: bigint;
  /** The job runs on D′ = D with its last rows replaced; absent: on D itself. */
  readonly replaced?: ReplacedRows;
}

/** Fills a buffer with independent N(0, 1) draws; a seeded stream owned by the caller. */
export interface NoiseSource {
  fill(out: Float32Array): void;
}

export interface StepRunOptions {
  /** Called now and then with the number of steps done so far (for progress bars). */
  onProgress?: (done: number) => void;
  /** Checked between steps; when it reports true the run stops and rejects with an AbortError. */
  signal?: AbortSignal;
}

/** A step program bound to one training set and one set of step parameters. */
export interface Stepper {
  /**
   * Runs `steps` steps starting from W, drawing ξ from `noise` once per step (skipped when σ = 0),
   * and returns the final W (a new array; the input is left untouched).
   */
  run(W: Float32Array, steps: number, noise: NoiseSource, options?: StepRunOptions): Promise<Float32Array>;
  /** One step with the given noise ξ (conformance: identical trajectories under injected noise). */
  step(W: Float32Array, xi: Float32Array): Promise<Float32Array>;
  dispose(): Promise<void>;
}

/** A step program bound to one training set D and one column batch (see ColumnBlock). */
export interface BatchStepper {
  /**
   * Runs `steps` steps of every block from W (d×Σcols, blocks side by side); block b draws ξ at its
   * own steps start[b], start[b] + 1, …. Returns the final W (a new array; the input is untouched).
   */
  run(
    W: Float32Array,
    steps: number,
    start: readonly number[],
    options?: StepRunOptions,
  ): Promise<Float32Array>;
  dispose(): Promise<void>;
}

export interface EngineOptions {
  device?: Device;
  /** Threads for the engine's CPU kernels; default: all cores. */
  threads?: number;
}

export interface Engine {
  readonly name: EngineName;
  readonly device: Device;
  /** A human-readable description of the backend actually in use (e.g. "onnxruntime 1.30 cpu"). */
  readonly backend: string;
  createStepper(data: TrainMatrix, params: StepParams): Promise<Stepper>;
  /**
   * A step over a column batch on D (./batch.ts's runColumnBatch drives it). Engines without one are
   * run block by block through createStepper, with the same ξ.
   */
  createBatchStepper?(data: TrainMatrix, blocks: readonly ColumnBlock[]): Promise<BatchStepper>;
  dispose(): Promise<void>;
}
