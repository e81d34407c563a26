/**
 * The float64 scalar reference engine: docs/science.md §3 written as plainly as possible, one loop per formula.
 * It is the oracle of the conformance suite and small enough for other packages' tests; it is slow
 * (about 2·n·d·T·2 scalar multiply-adds per step) and not meant for real runs.
 *
 * Each step computes in float64 from float32 W and rounds the new W to float32, as W is stored by every
 * engine: so `run` is `step` repeated, and a job's chains are the same whether it runs alone or in a
 * column batch whose composition changes between steps (bit for bit, see referenceBatchStep).
 */
import { BatchStepperBase, batchLayout, checkBlocks } from "./batch.ts";
import { runLoop } from "./run-loop.ts";
import type {
  BatchStepper,
  ColumnBlock,
  Engine,
  EngineOptions,
  NoiseSource,
  ReplacedRows,
  StepParams,
  Stepper,
  StepRunOptions,
  TrainMatrix,
} from "./types.ts";
import {
  checkStepParams,
  checkSteps,
  checkTrainMatrix,
  checkWeights,
  EngineInputError,
  weightColumns,
} from "./validate.ts";

/** What a step needs of a block: its parameters and its D′ (BatchNoise draws its ξ). */
export type StepBlock = Pick<ColumnBlock, "params" | "replaced">;

/**
 * One step of docs/science.md §3 in float64: returns W − η·(mean clipped gradient) + sqrt(2ησ²)·ξ.
 * W is d×cols row-major (cols = T binary, T·C multiclass); xi may be null when σ = 0.
 */
export function referenceStep(
  data: TrainMatrix,
  params: StepParams,
  W: ArrayLike<number>,
  xi: ArrayLike<number> | null,
): Float64Array {
  return referenceBatchStep(data, [{ params }], W, xi);
}

/**
 * The same step over a column batch: block b's columns see D with its own replaced rows. Every sum runs
 * over the rows in order, as for the block alone, so a block's columns are bit-identical to its own
 * step: the shared rows are multiplied once for all columns, the replaced ones per block.
 */
export function referenceBatchStep(
  data: TrainMatrix,
  blocks: readonly StepBlock[],
  W: ArrayLike<number>,
  xi: ArrayLike<number> | null,
): Float64Array {
  const { n, d } = data;
  const layout = batchLayout(
    data,
    blocks.map((b) => ({ ...b, noiseKey: 0n })),
  );
  const cols = layout.total;
  const rows = blocks.map((b) => rowSource(data, b.replaced));

  // Z = X·W (n×cols): D's rows for every column, then each block's replaced rows for its columns.
  const Z = new Float64Array(n * cols);
  multiplyRows(data.X, d, 0, n, W, cols, 0, cols, Z);
  blocks.forEach((_, b) => {
    const { first, X } = rows[b];
    const [lo, hi] = [layout.offsets[b], layout.offsets[b] + layout.cols[b]];
    for (let i = first; i < n; i++) Z.fill(0, i * cols + lo, i * cols + hi);
    multiplyRows(X, d, first, n, W, cols, lo, hi, Z, first);
  });

  // R holds the per-row coefficient of x_i in the clipped gradient, already multiplied by s_i.
  const R = new Float64Array(n * cols);
  // Binary only: the regulariser sits inside g_i and is clipped with it, so its weight is mean_i(s_it).
  const meanS = new Float64Array(cols);
  for (const [b, block] of blocks.entries())
    coefficients(data, block.params, rows[b], W, Z, R, meanS, cols, layout.offsets[b], layout.cols[b]);

  // G = Xᵀ·R (d×cols), each row of X (D's or the block's replacement) in row order.
  const G = new Float64Array(d * cols);
  for (let i = 0; i < n; i++) {
    const ri = i * cols;
    blocks.forEach((_, b) => {
      const src = rows[b];
      const [X, xi0] = i < src.first ? [data.X, i * d] : [src.X, (i - src.first) * d];
      const [lo, hi] = [layout.offsets[b], layout.offsets[b] + layout.cols[b]];
      for (let j = 0; j < d; j++) {
        const x = X[xi0 + j];
        if (x === 0) continue;
        const gj = j * cols;
        for (let k = lo; k < hi; k++) G[gj + k] += x * R[ri + k];
      }
    });
  }

  const out = new Float64Array(d * cols);
  blocks.forEach(({ params }, b) => {
    const { eta, m, sigma } = params;
    const noiseScale = Math.sqrt(2 * eta * sigma * sigma);
    const [lo, hi] = [layout.offsets[b], layout.offsets[b] + layout.cols[b]];
    for (let j = 0; j < d; j++) {
      for (let k = lo; k < hi; k++) {
        const idx = j * cols + k;
        // Binary: regulariser weight m·mean_i(s) (clipped with g_i). Multiclass: m, added after clipping.
        const regWeight = data.classes === 2 ? m * meanS[k] : m;
        const grad = G[idx] / n + regWeight * W[idx];
        out[idx] = W[idx] - eta * grad + (xi && sigma > 0 ? noiseScale * xi[idx] : 0);
      }
    }
  });
  return out;
}

/** A block's rows: D's up to `first`, then `X`/`y` (its replacement rows, indexed from `first`). */
interface RowSource {
  first: number;
  X: Float32Array;
  y: Float32Array;
}

function rowSource(data: TrainMatrix, replaced: ReplacedRows | undefined): RowSource {
  const r = replaced?.y.length ?? 0;
  return replaced && r > 0
    ? { first: data.n - r, X: replaced.X, y: replaced.y }
    : { first: data.n, X: data.X, y: data.y };
}

/** Z[i, lo…hi) += X_row(i)·W[:, lo…hi) for rows i in from…to, X's rows counted from `base`. */
function multiplyRows(
  X: Float32Array,
  d: number,
  from: number,
  to: number,
  W: ArrayLike<number>,
  cols: number,
  lo: number,
  hi: number,
  Z: Float64Array,
  base = 0,
): void {
  for (let i = from; i < to; i++) {
    const zi = i * cols;
    const xi = (i - base) * d;
    for (let j = 0; j < d; j++) {
      const x = X[xi + j];
      if (x === 0) continue;
      const wj = j * cols;
      for (let k = lo; k < hi; k++) Z[zi + k] += x * W[wj + k];
    }
  }
}

/** R (and meanS, binary) for one block's columns lo…lo+width. */
function coefficients(
  data: TrainMatrix,
  params: StepParams,
  rows: RowSource,
  W: ArrayLike<number>,
  Z: Float64Array,
  R: Float64Array,
  meanS: Float64Array,
  cols: number,
  lo: number,
  width: number,
): void {
  const { n, d, classes } = data;
  const { m, clip, chains: T } = params;
  const label = (i: number) => (i < rows.first ? data.y[i] : rows.y[i - rows.first]);
  if (classes === 2) {
    const wNormSq = new Float64Array(T);
    for (let j = 0; j < d; j++) for (let t = 0; t < T; t++) wNormSq[t] += W[j * cols + lo + t] ** 2;
    for (let i = 0; i < n; i++) {
      const yi = label(i);
      for (let t = 0; t < T; t++) {
        const z = Z[i * cols + lo + t];
        const c = (1 / (1 + Math.exp(-yi * z)) - 1) * yi;
        // ‖c·x_i + m·w‖² with ‖x_i‖ = 1
        const normSq = Math.max(0, c * c + 2 * c * m * z + m * m * wNormSq[t]);
        const norm = Math.sqrt(normSq);
        const s = norm > clip ? clip / norm : 1;
        R[i * cols + lo + t] = s * c;
        meanS[lo + t] += s / n;
      }
    }
    return;
  }
  const C = classes;
  const p = new Float64Array(C);
  for (let i = 0; i < n; i++) {
    const y = label(i);
    for (let t = 0; t < width / C; t++) {
      const base = i * cols + lo + t * C;
      let max = -Infinity;
      for (let k = 0; k < C; k++) max = Math.max(max, Z[base + k]);
      let sum = 0;
      for (let k = 0; k < C; k++) sum += p[k] = Math.exp(Z[base + k] - max);
      let normSq = 0;
      for (let k = 0; k < C; k++) {
        p[k] = p[k] / sum - (k === y ? 1 : 0);
        normSq += p[k] * p[k];
      }
      // ‖G_i‖_F = ‖P_i − y_i‖·‖x_i‖ = ‖P_i − y_i‖
      const norm = Math.sqrt(normSq);
      const s = norm > clip ? clip / norm : 1;
      for (let k = 0; k < C; k++) R[base + k] = s * p[k];
    }
  }
}

class ReferenceStepper implements Stepper {
  private readonly length: number;

  constructor(
    private readonly data: TrainMatrix,
    private readonly params: StepParams,
  ) {
    this.length = data.d * weightColumns(data, params);
  }

  async run(
    W: Float32Array,
    steps: number,
    noise: NoiseSource,
    options?: StepRunOptions,
  ): Promise<Float32Array> {
    checkWeights("W", W, this.length);
    checkSteps(steps);
    return runLoop<Float32Array>({
      state: W.slice(),
      steps,
      noise,
      noiseLength: this.length,
      sigma: this.params.sigma,
      advance: (state, xi) => Float32Array.from(referenceStep(this.data, this.params, state, xi)),
      options,
    });
  }

  async step(W: Float32Array, xi: Float32Array): Promise<Float32Array> {
    checkWeights("W", W, this.length);
    checkWeights("xi", xi, this.length);
    return Float32Array.from(referenceStep(this.data, this.params, W, xi));
  }

  async dispose(): Promise<void> {}
}

class ReferenceBatchStepper extends BatchStepperBase {
  protected advance(W: Float32Array, xi: Float32Array | null): Float32Array {
    return Float32Array.from(referenceBatchStep(this.data, this.blocks, W, xi));
  }

  async dispose(): Promise<void> {}
}

export async function createReferenceEngine(options: EngineOptions = {}): Promise<Engine> {
  if (options.device !== undefined && options.device !== "cpu") {
    throw new EngineInputError(
      `the reference engine runs on the CPU only; device "${options.device}" is not available`,
    );
  }
  return {
    name: "reference",
    device: "cpu",
    backend: "float64 scalar reference (JavaScript)",
    async createStepper(data: TrainMatrix, params: StepParams): Promise<Stepper> {
      checkTrainMatrix(data);
      checkStepParams(params);
      return new ReferenceStepper(data, params);
    },
    async createBatchStepper(data: TrainMatrix, blocks: readonly ColumnBlock[]): Promise<BatchStepper> {
      checkTrainMatrix(data);
      checkBlocks(data, blocks);
      return new ReferenceBatchStepper(data, blocks);
    },
    async dispose(): Promise<void> {},
  };
}
