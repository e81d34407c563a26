/**
 * The `onnx` engine: one noisy clipped gradient step of docs/science.md §3 as a single ONNX graph
 * (./onnx-step-graph.ts), run by onnxruntime-node once per step, for one job or a column batch of jobs.
 * The graph holds two matrix products (X·W and Xᵀ·(S∘C)), plus two small ones on the replaced rows of
 * a batch's D′s, and elementwise work on n×T values; it never forms the n×d per-sample gradients.
 * onnxruntime computes off the main thread, so the run loop draws the next ξ meanwhile.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import * as ort from "onnxruntime-node";
import { type BatchAdvance, BatchStepperBase, batchLayout, checkBlocks } from "./batch.ts";
import { GraphBuilder } from "./onnx-graph.ts";
import { buildBatchGraph, graphRows, type OnnxEngineTuning, transposeRows } from "./onnx-step-graph.ts";
import { runLoop } from "./run-loop.ts";
import type {
  BatchStepper,
  ColumnBlock,
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

export {
  type BackwardProduct,
  buildBatchGraph,
  buildStepGraph,
  type OnnxEngineTuning,
  type OnnxStepGraph,
  type XPlacement,
} from "./onnx-step-graph.ts";

/** Xᵀ (d×n, row-major) for the backward product. */
export function transpose(data: TrainMatrix): Float32Array {
  return transposeRows(data.X, 0, data.n, data.d);
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

/** One compiled step graph and the data it is fed with on every run (wrapped once, never copied). */
class StepSession {
  private released = false;

  constructor(
    private readonly session: ort.InferenceSession,
    private readonly dims: number[],
    private readonly dataFeeds: Record<string, ort.Tensor>,
    private readonly hasNoise: boolean,
    /** Whether ξ of the next step is drawn while this one runs (see drawBeforeStep). */
    private readonly overlap: boolean,
  ) {}

  /** The run loop's noise source and step: as they are, or with each draw just before its step. */
  schedule(
    noise: NoiseSource,
    advance: (W: Float32Array, xi: Float32Array | null) => Float32Array | Promise<Float32Array>,
  ) {
    return this.overlap ? { noise, advance } : drawBeforeStep(noise, advance);
  }

  async step(W: Float32Array, xi: Float32Array | null): Promise<Float32Array> {
    if (this.released) throw new Error("onnx engine: this stepper has been disposed");
    const feeds: Record<string, ort.Tensor> = {
      ...this.dataFeeds,
      W: new ort.Tensor("float32", W, this.dims),
    };
    if (this.hasNoise) feeds.xi = new ort.Tensor("float32", xi!, this.dims);
    const { W_next } = await this.session.run(feeds);
    return W_next.data as Float32Array;
  }

  async release(): Promise<boolean> {
    if (this.released) return false;
    this.released = true;
    await this.session.release();
    return true;
  }
}

class OnnxStepper implements Stepper {
  private readonly length: number;

  constructor(
    private readonly session: StepSession,
    data: TrainMatrix,
    private readonly params: StepParams,
    /** Lets the engine forget this stepper once it is disposed. */
    private readonly onDispose: () => void,
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
    const final = await runLoop<Float32Array>({
      state: W,
      steps,
      ...this.session.schedule(noise, (state, xi) => this.session.step(state, xi)),
      noiseLength: this.length,
      sigma: this.params.sigma,
      options,
    });
    // With 0 steps the state is the caller's array: return a copy, as promised.
    return final === W ? W.slice() : final;
  }

  async step(W: Float32Array, xi: Float32Array): Promise<Float32Array> {
    checkWeights("W", W, this.length);
    checkWeights("xi", xi, this.length);
    return this.session.step(W, xi);
  }

  async dispose(): Promise<void> {
    if (await this.session.release()) this.onDispose();
  }
}

class OnnxBatchStepper extends BatchStepperBase {
  constructor(
    private readonly session: StepSession,
    data: TrainMatrix,
    blocks: readonly ColumnBlock[],
    private readonly onDispose: () => void,
  ) {
    super(data, blocks);
  }

  protected advance(W: Float32Array, xi: Float32Array | null): Promise<Float32Array> {
    return this.session.step(W, xi);
  }

  protected override schedule(noise: NoiseSource, advance: BatchAdvance) {
    return this.session.schedule(noise, advance);
  }

  async dispose(): Promise<void> {
    if (await this.session.release()) this.onDispose();
  }
}

/**
 * tuning.noise "before-step": the run loop draws ξ of step k + 1 while step k runs; when onnxruntime's
 * threads take every core that draw preempts one of them. This defers each fill to just before the step
 * that reads it (the same draws, in the same order). Measured in turn in one process on the shared 2-core
 * machine, MNIST T = 100: with the old all-JavaScript Philox fill (3.4 ms) at load ≈ 1, 28.5 ms deferred
 * against 33 ms overlapped; with the WebAssembly fill (1.7 ms) only under load 3–6, where overlapped was
 * 1–3% faster. So "overlapped" stays the default; measure again on a quiet machine.
 */
export function drawBeforeStep<S>(
  noise: NoiseSource,
  advance: (state: S, xi: Float32Array | null) => S | Promise<S>,
): { noise: NoiseSource; advance: (state: S, xi: Float32Array | null) => S | Promise<S> } {
  const pending: Float32Array[] = [];
  return {
    noise: { fill: (out) => void pending.push(out) },
    advance: (state, xi) => {
      // Fills in the order the loop asked for them, up to the one this step reads.
      while (pending.length > 0) {
        const out = pending.shift()!;
        noise.fill(out);
        if (out === xi) break;
      }
      return advance(state, xi);
    },
  };
}

interface OnnxSetup {
  device: "cpu" | "cuda";
  threads: number;
  tune: Required<OnnxEngineTuning>;
  sessionOptions: ort.InferenceSession.SessionOptions;
}

/** The checked options and the session options every graph of an engine is compiled with. */
function onnxSetup(options: EngineOptions, tuning: OnnxEngineTuning): OnnxSetup {
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
    noise: tuning.noise ?? "overlapped",
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
  return { device, threads, tune, sessionOptions };
}

/**
 * The two matrix products of a step alone (X̃·W and X̃ᵀ·R for `chains` columns), compiled with the
 * engine's session options: what bench:step compares the whole step with.
 */
export async function createGemmProbe(
  data: TrainMatrix,
  chains: number,
  options: EngineOptions = {},
): Promise<{ run(): Promise<void>; dispose(): Promise<void> }> {
  const { sessionOptions } = onnxSetup(options, {});
  const { n, d } = data;
  const g = new GraphBuilder("two_products");
  g.node("MatMul", [g.input("X", [n, d]), g.input("W", [d, chains])], {}, "Z");
  g.node("MatMul", [g.input("Xt", [d, n]), g.input("R", [n, chains])], {}, "G");
  g.output("Z", [n, chains]);
  g.output("G", [d, chains]);
  const session = await ort.InferenceSession.create(g.toBytes(), sessionOptions);
  const X = graphRows(data, 0, n);
  const feeds = {
    X: new ort.Tensor("float32", X, [n, d]),
    Xt: new ort.Tensor("float32", transposeRows(X, 0, n, d), [d, n]),
    W: new ort.Tensor("float32", new Float32Array(d * chains).fill(1e-3), [d, chains]),
    R: new ort.Tensor("float32", new Float32Array(n * chains).fill(1e-3), [n, chains]),
  };
  return {
    async run() {
      await session.run(feeds);
    },
    dispose: () => session.release(),
  };
}

export async function createOnnxEngine(
  options: EngineOptions = {},
  tuning: OnnxEngineTuning = {},
): Promise<Engine> {
  const { device, threads, tune, sessionOptions } = onnxSetup(options, tuning);
  const live = new Set<{ dispose(): Promise<void> }>();
  const heads = new HeadCache();
  /** Compiles the graph of a batch (one block: a single job) and wraps its data feeds. */
  const compile = async (data: TrainMatrix, blocks: readonly ColumnBlock[]): Promise<StepSession> => {
    const graph = buildBatchGraph(data, blocks, tune);
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
    const head = data.n - graph.tail;
    const feeds: Record<string, ort.Tensor> = {};
    if (tune.xAs === "input" && head > 0) {
      const rows = heads.get(data, head, tune.backward === "matmul-xt");
      feeds.X = new ort.Tensor("float32", rows.X, [head, data.d]);
      if (rows.Xt) feeds.Xt = new ort.Tensor("float32", rows.Xt, [data.d, head]);
    }
    const cols = batchLayout(data, blocks).total;
    // On a CPU, overlap the draw only when onnxruntime leaves a core free for it.
    const overlap = process.env.OVERLAP
      ? process.env.OVERLAP === "1"
      : device !== "cpu" || threads < os.availableParallelism();
    return new StepSession(session, [data.d, cols], feeds, graph.hasNoise, overlap);
  };
  return {
    name: "onnx",
    device,
    backend: `onnxruntime-node ${ort.env.versions.node ?? "?"} ${device} (${threads} threads, X as ${tune.xAs}, ${tune.backward}, ξ ${tune.noise})`,
    async createStepper(data: TrainMatrix, params: StepParams): Promise<Stepper> {
      checkTrainMatrix(data);
      checkStepParams(params);
      const session = await compile(data, [{ params, noiseKey: 0n }]);
      const stepper: OnnxStepper = new OnnxStepper(session, data, params, () => live.delete(stepper));
      live.add(stepper);
      return stepper;
    },
    async createBatchStepper(data: TrainMatrix, blocks: readonly ColumnBlock[]): Promise<BatchStepper> {
      checkTrainMatrix(data);
      checkBlocks(data, blocks);
      const session = await compile(data, blocks);
      const stepper: OnnxBatchStepper = new OnnxBatchStepper(session, data, blocks, () =>
        live.delete(stepper),
      );
      live.add(stepper);
      return stepper;
    },
    async dispose(): Promise<void> {
      await Promise.all([...live].map((s) => s.dispose()));
    },
  };
}

/**
 * D's shared rows as the graph takes them (graphRows: binary rows signed) and their transpose for
 * matmul-xt, kept for the last training set and head size: a batch is recompiled whenever a block
 * leaves, mostly with the same head, and MNIST's X is 37 MB.
 */
class HeadCache {
  private last: { data: TrainMatrix; head: number; X: Float32Array; Xt: Float32Array | null } | null = null;

  get(data: TrainMatrix, head: number, withXt: boolean): { X: Float32Array; Xt: Float32Array | null } {
    const last = this.last;
    if (last?.data === data && last.head === head && (last.Xt || !withXt)) return last;
    const X = graphRows(data, 0, head);
    this.last = { data, head, X, Xt: withXt ? transposeRows(X, 0, head, data.d) : null };
    return this.last;
  }
}
