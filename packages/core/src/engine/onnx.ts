/**
 * The `onnx` engine: one noisy clipped gradient step of docs/science.md §3 as a single ONNX graph, run by
 * onnxruntime-node once per step. The graph holds two matrix products (X·W and Xᵀ·(S∘C)) and
 * elementwise work on n×T values; it never forms the n×d per-sample gradients.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import * as ort from "onnxruntime-node";
import { GraphBuilder } from "./onnx-graph.ts";
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

/** How the n×d training matrix reaches the graph. */
export type XPlacement = "initializer" | "input";
/** How Xᵀ·R is computed: Gemm with transA on X, or MatMul with a transposed copy Xᵀ (d×n). */
export type BackwardProduct = "gemm-transA" | "matmul-xt";

export interface OnnxEngineTuning {
  /**
   * CPU default "input": as fast as an initializer on this 2-core machine and ~60 MB less resident
   * memory (measured, MNIST T = 100). CUDA default "initializer": an input would be copied from the
   * host to the GPU on every step, an initializer stays on the GPU.
   */
  xAs?: XPlacement;
  /**
   * CPU default "matmul-xt": 5–10% faster than Gemm(transA) for MNIST T = 100 (measured) for a d×n
   * copy of X. CUDA default "gemm-transA": cuBLAS takes the transpose for free, no second copy on the GPU.
   */
  backward?: BackwardProduct;
}

export interface OnnxStepGraph {
  bytes: Uint8Array;
  /** Whether the graph takes ξ (only when σ > 0). */
  hasNoise: boolean;
}

/**
 * The step graph. Inputs: W (d×cols), ξ (d×cols, when σ > 0), and X (n×d) when `xAs` is "input".
 * Output: W' (d×cols). Constants η, m, M, σ are folded into the graph.
 */
export function buildStepGraph(
  data: TrainMatrix,
  params: StepParams,
  tuning: Required<OnnxEngineTuning>,
): OnnxStepGraph {
  const { xAs, backward } = tuning;
  const { n, d, classes } = data;
  const { eta, m, clip, sigma, chains: T } = params;
  const cols = weightColumns(data, params);
  const g = new GraphBuilder("langevin_step");
  const X = xAs === "input" ? g.input("X", [n, d]) : g.floatConst("X", data.X, [n, d]);
  const useXt = backward === "matmul-xt";
  const Xt = !useXt
    ? null
    : xAs === "input"
      ? g.input("Xt", [d, n])
      : g.floatConst("Xt", transpose(data), [d, n]);
  const W = g.input("W", [d, cols]);
  const hasNoise = sigma > 0;
  const xi = hasNoise ? g.input("xi", [d, cols]) : null;
  const one = g.floatConst("one", 1);
  const clipC = g.floatConst("clip", clip);

  const Z = g.node("MatMul", [X, W]); // n×cols
  let R: string; // s∘(per-row gradient coefficient), n×cols
  let decay: string; // the factor on W from the regulariser: 1 − η·m·(weight)
  if (classes === 2) {
    // c = (sigmoid(y·z) − 1)·y = −y·sigmoid(−y·z): one Sigmoid, no cancellation near 1.
    const negY = g.floatConst(
      "neg_y",
      Float32Array.from(data.y, (v) => -v),
      [n, 1],
    );
    const c = g.node("Mul", [negY, g.node("Sigmoid", [g.node("Mul", [negY, Z])])]);
    // ‖g_i‖² = c² + 2·c·m·z + m²‖w‖²  =  c·(c + 2m·z) + m²‖w‖²   (‖x_i‖ = 1)
    const wNormSq = g.node("ReduceSumSquare", [W], { axes: [0], keepdims: 1 }); // 1×T
    const cross = g.node("Mul", [c, g.node("Add", [c, g.node("Mul", [Z, g.floatConst("two_m", 2 * m)])])]);
    const normSq = g.node("Add", [cross, g.node("Mul", [wNormSq, g.floatConst("m_sq", m * m)])]);
    const s = clipFactor(g, normSq, clipC, one);
    R = g.node("Mul", [s, c]);
    // The regulariser sits inside g_i, so it is clipped with it: its weight is m·mean_i(s_it).
    const meanS = g.node("ReduceMean", [s], { axes: [0], keepdims: 1 }); // 1×T
    decay = g.node("Sub", [one, g.node("Mul", [meanS, g.floatConst("eta_m", eta * m)])]);
  } else {
    const C = classes;
    const oneHot = new Float32Array(n * C);
    for (let i = 0; i < n; i++) oneHot[i * C + data.y[i]] = 1;
    const Y = g.floatConst("y_onehot", oneHot, [n, 1, C]);
    const Z3 = g.node("Reshape", [Z, g.int64Const("shape_ntc", [n, T, C])]);
    const D = g.node("Sub", [g.node("Softmax", [Z3], { axis: 2 }), Y]); // P − y, n×T×C
    // ‖G_i‖_F = ‖P_i − y_i‖·‖x_i‖ = ‖P_i − y_i‖
    const s = clipFactor(g, g.node("ReduceSumSquare", [D], { axes: [2], keepdims: 1 }), clipC, one);
    R = g.node("Reshape", [g.node("Mul", [D, s]), g.int64Const("shape_n_cols", [n, cols])]);
    // Multiclass: the regulariser m·W is added after clipping.
    decay = g.floatConst("decay", 1 - eta * m);
  }
  let base = g.node("Mul", [W, decay]);
  if (xi)
    base = g.node("Add", [
      base,
      g.node("Mul", [xi, g.floatConst("noise_scale", Math.sqrt(2 * eta * sigma * sigma))]),
    ]);
  // W' = base − (η/n)·Xᵀ·R
  if (Xt) {
    const step = g.node("Mul", [g.node("MatMul", [Xt, R]), g.floatConst("minus_eta_over_n", -eta / n)]);
    g.node("Add", [base, step], {}, "W_next");
  } else {
    g.node("Gemm", [X, R, base], { transA: 1, alpha: -eta / n, beta: 1 }, "W_next"); // alpha·Aᵀ·B + beta·C
  }
  g.output("W_next", [d, cols]);
  return { bytes: g.toBytes(), hasNoise };
}

/** s = min(1, M/‖g‖); Relu guards ‖g‖² against tiny negative rounding, and M/0 = ∞ gives s = 1. */
function clipFactor(g: GraphBuilder, normSq: string, clip: string, one: string): string {
  return g.node("Min", [g.node("Div", [clip, g.node("Sqrt", [g.node("Relu", [normSq])])]), one]);
}

/** Xᵀ (d×n, row-major) for the backward product. */
export function transpose(data: TrainMatrix): Float32Array {
  const { X, n, d } = data;
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) out[j * n + i] = X[i * d + j];
  return out;
}

export function cudaProviderPath(): string {
  const require = createRequire(import.meta.url);
  const root = path.dirname(require.resolve("onnxruntime-node/package.json"));
  return path.join(
    root,
    "bin",
    "napi-v6",
    process.platform,
    process.arch,
    "libonnxruntime_providers_cuda.so",
  );
}

class OnnxStepper implements Stepper {
  private readonly length: number;
  private readonly dims: number[];
  /** X (and Xᵀ) when they are graph inputs: wrapped once, fed to every run without a copy. */
  private readonly dataFeeds: Record<string, ort.Tensor> = {};
  private disposed = false;

  constructor(
    private readonly session: ort.InferenceSession,
    data: TrainMatrix,
    private readonly params: StepParams,
    private readonly hasNoise: boolean,
    tuning: Required<OnnxEngineTuning>,
    /** Lets the engine forget this stepper once it is disposed. */
    private readonly onDispose: () => void,
  ) {
    const cols = weightColumns(data, params);
    this.length = data.d * cols;
    this.dims = [data.d, cols];
    if (tuning.xAs === "input") {
      this.dataFeeds.X = new ort.Tensor("float32", data.X, [data.n, data.d]);
      if (tuning.backward === "matmul-xt")
        this.dataFeeds.Xt = new ort.Tensor("float32", transpose(data), [data.d, data.n]);
    }
  }

  private async once(W: Float32Array, xi: Float32Array | null): Promise<Float32Array> {
    if (this.disposed) throw new Error("onnx engine: this stepper has been disposed");
    const feeds: Record<string, ort.Tensor> = {
      ...this.dataFeeds,
      W: new ort.Tensor("float32", W, this.dims),
    };
    if (this.hasNoise) feeds.xi = new ort.Tensor("float32", xi!, this.dims);
    const { W_next } = await this.session.run(feeds);
    return W_next.data as Float32Array;
  }

  async run(
    W: Float32Array,
    steps: number,
    noise: NoiseSource,
    options?: StepRunOptions,
  ): Promise<Float32Array> {
    checkWeights("W", W, this.length);
    checkSteps(steps);
    const final = await runLoop<Float32Array>({
      state: W,
      steps,
      noise,
      noiseLength: this.length,
      sigma: this.params.sigma,
      advance: (state, xi) => this.once(state, xi),
      options,
    });
    // With 0 steps the state is the caller's array: return a copy, as promised.
    return final === W ? W.slice() : final;
  }

  async step(W: Float32Array, xi: Float32Array): Promise<Float32Array> {
    checkWeights("W", W, this.length);
    checkWeights("xi", xi, this.length);
    return this.once(W, xi);
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.onDispose();
    await this.session.release();
  }
}

export async function createOnnxEngine(
  options: EngineOptions = {},
  tuning: OnnxEngineTuning = {},
): Promise<Engine> {
  const device = options.device ?? "cpu";
  if (device !== "cpu" && device !== "cuda") {
    throw new EngineInputError(`EngineOptions.device must be "cpu" or "cuda", got "${String(device)}"`);
  }
  const threads = options.threads ?? os.availableParallelism();
  if (!(Number.isInteger(threads) && threads > 0)) {
    throw new EngineInputError(`EngineOptions.threads must be a positive integer, got ${threads}`);
  }
  if (device === "cuda" && !existsSync(cudaProviderPath())) {
    throw new EngineInputError(
      `device "cuda" needs onnxruntime-node's CUDA execution provider, which is not installed ` +
        `(${cudaProviderPath()} is missing). The workspace installs offline without it; on a GPU host ` +
        `run "node node_modules/onnxruntime-node/script/install.js --onnxruntime-node-install=cuda12".`,
    );
  }
  const tune: Required<OnnxEngineTuning> = {
    xAs: tuning.xAs ?? (device === "cuda" ? "initializer" : "input"),
    backward: tuning.backward ?? (device === "cuda" ? "gemm-transA" : "matmul-xt"),
  };
  const sessionOptions: ort.InferenceSession.SessionOptions = {
    executionProviders: [device],
    graphOptimizationLevel: "all",
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: "sequential",
    // Chains start far from the optimum (w0 ≈ 1000·1, docs/science.md §3), where sigmoid(−y·z) underflows to
    // denormals; flushing them to zero avoids the x86 denormal slow path and changes nothing above 1e-38.
    extra: { session: { set_denormal_as_zero: "1" } },
  };
  const steppers = new Set<OnnxStepper>();
  return {
    name: "onnx",
    device,
    backend: `onnxruntime-node ${ort.env.versions.node ?? "?"} ${device} (${threads} threads, X as ${tune.xAs}, ${tune.backward})`,
    async createStepper(data: TrainMatrix, params: StepParams): Promise<Stepper> {
      checkTrainMatrix(data);
      checkStepParams(params);
      const graph = buildStepGraph(data, params, tune);
      let session: ort.InferenceSession;
      try {
        session = await ort.InferenceSession.create(graph.bytes, sessionOptions);
      } catch (error) {
        throw new Error(
          `onnx engine: could not create a ${device} session for the step graph: ${String(error)}`,
          {
            cause: error,
          },
        );
      }
      const stepper: OnnxStepper = new OnnxStepper(session, data, params, graph.hasNoise, tune, () =>
        steppers.delete(stepper),
      );
      steppers.add(stepper);
      return stepper;
    },
    async dispose(): Promise<void> {
      await Promise.all([...steppers].map((s) => s.dispose()));
    },
  };
}
