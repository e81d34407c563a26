/**
 * The float64 scalar reference engine: docs/science.md §3 written as plainly as possible, one loop per formula.
 * It is the oracle of the conformance suite and small enough for other packages' tests; it is slow
 * (about 2·n·d·T·2 scalar multiply-adds per step) and not meant for real runs.
 *
 * State between steps stays in float64 inside `run`; `step` rounds to float32 only at the boundary.
 */
import { runLoop } from "./run-loop.ts";
import type {
  Engine,
  EngineOptions,
  NoiseSource,
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

/**
 * One step of docs/science.md §3 in float64: returns W − η·(mean clipped gradient) + sqrt(2ησ²)·ξ.
 * W is d×cols row-major (cols = T binary, T·C multiclass); xi may be null when σ = 0.
 */
export function referenceStep(
  data: TrainMatrix,
  params: StepParams,
  W: Float64Array,
  xi: ArrayLike<number> | null,
): Float64Array {
  const { X, y, n, d, classes } = data;
  const { eta, m, clip, sigma, chains: T } = params;
  const cols = weightColumns(data, params);

  // Z = X·W (n×cols)
  const Z = new Float64Array(n * cols);
  for (let i = 0; i < n; i++) {
    const zi = i * cols;
    for (let j = 0; j < d; j++) {
      const x = X[i * d + j];
      if (x === 0) continue;
      const wj = j * cols;
      for (let k = 0; k < cols; k++) Z[zi + k] += x * W[wj + k];
    }
  }

  // R holds the per-row coefficient of x_i in the clipped gradient, already multiplied by s_i.
  const R = new Float64Array(n * cols);
  // Binary only: the regulariser sits inside g_i and is clipped with it, so its weight is mean_i(s_it).
  const meanS = new Float64Array(T);
  if (classes === 2) {
    const wNormSq = new Float64Array(T);
    for (let j = 0; j < d; j++) for (let t = 0; t < T; t++) wNormSq[t] += W[j * T + t] ** 2;
    for (let i = 0; i < n; i++) {
      const yi = y[i];
      for (let t = 0; t < T; t++) {
        const z = Z[i * T + t];
        const c = (1 / (1 + Math.exp(-yi * z)) - 1) * yi;
        // ‖c·x_i + m·w‖² with ‖x_i‖ = 1
        const normSq = Math.max(0, c * c + 2 * c * m * z + m * m * wNormSq[t]);
        const norm = Math.sqrt(normSq);
        const s = norm > clip ? clip / norm : 1;
        R[i * T + t] = s * c;
        meanS[t] += s / n;
      }
    }
  } else {
    const C = classes;
    const p = new Float64Array(C);
    for (let i = 0; i < n; i++) {
      const label = y[i];
      for (let t = 0; t < T; t++) {
        const base = i * cols + t * C;
        let max = -Infinity;
        for (let k = 0; k < C; k++) max = Math.max(max, Z[base + k]);
        let sum = 0;
        for (let k = 0; k < C; k++) sum += p[k] = Math.exp(Z[base + k] - max);
        let normSq = 0;
        for (let k = 0; k < C; k++) {
          p[k] = p[k] / sum - (k === label ? 1 : 0);
          normSq += p[k] * p[k];
        }
        // ‖G_i‖_F = ‖P_i − y_i‖·‖x_i‖ = ‖P_i − y_i‖
        const norm = Math.sqrt(normSq);
        const s = norm > clip ? clip / norm : 1;
        for (let k = 0; k < C; k++) R[base + k] = s * p[k];
      }
    }
  }

  // G = Xᵀ·R (d×cols)
  const G = new Float64Array(d * cols);
  for (let i = 0; i < n; i++) {
    const ri = i * cols;
    for (let j = 0; j < d; j++) {
      const x = X[i * d + j];
      if (x === 0) continue;
      const gj = j * cols;
      for (let k = 0; k < cols; k++) G[gj + k] += x * R[ri + k];
    }
  }

  const noiseScale = Math.sqrt(2 * eta * sigma * sigma);
  const out = new Float64Array(d * cols);
  for (let j = 0; j < d; j++) {
    for (let k = 0; k < cols; k++) {
      const idx = j * cols + k;
      // Binary: regulariser weight m·mean_i(s) (clipped with g_i). Multiclass: m, added after clipping.
      const regWeight = classes === 2 ? m * meanS[k] : m;
      const grad = G[idx] / n + regWeight * W[idx];
      out[idx] = W[idx] - eta * grad + (xi && sigma > 0 ? noiseScale * xi[idx] : 0);
    }
  }
  return out;
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
    const final = await runLoop<Float64Array>({
      state: Float64Array.from(W),
      steps,
      noise,
      noiseLength: this.length,
      sigma: this.params.sigma,
      advance: (state, xi) => referenceStep(this.data, this.params, state, xi),
      options,
    });
    return Float32Array.from(final);
  }

  async step(W: Float32Array, xi: Float32Array): Promise<Float32Array> {
    checkWeights("W", W, this.length);
    checkWeights("xi", xi, this.length);
    return Float32Array.from(referenceStep(this.data, this.params, Float64Array.from(W), xi));
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
    async dispose(): Promise<void> {},
  };
}
