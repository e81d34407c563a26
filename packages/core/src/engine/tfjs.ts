/**
 * The `tfjs` engine: the step of docs/science.md §3 with TensorFlow.js ops, the same two matrix products and
 * elementwise work as the onnx graph. TensorFlow.js is optional and loaded on demand; the backend is
 * chosen at run time: @tensorflow/tfjs-node-gpu, then @tensorflow/tfjs-node, then the wasm backend,
 * then the plain JavaScript cpu backend, whichever loads first. A column batch (job fusion) is one step
 * program over all jobs' columns (TfjsBatchStepper); its ξ is drawn on the CPU (BatchNoise).
 */
import type * as TF from "@tensorflow/tfjs-core";
import {
  type BatchLayout,
  BatchNoise,
  batchLayout,
  checkBlocks,
  materialise,
  replacedCount,
} from "./batch.ts";
import { type LoopSpec, runLoop } from "./run-loop.ts";
import type {
  BatchStepper,
  ColumnBlock,
  Device,
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
  checkBatchRun,
  checkStepParams,
  checkSteps,
  checkTrainMatrix,
  checkWeights,
  EngineInputError,
  weightColumns,
} from "./validate.ts";

type Tf = typeof TF;

interface Loaded {
  tf: Tf;
  device: Device;
  backend: string;
}

/** Imports a package that may not be installed; the specifier is a variable so bundlers leave it alone. */
async function optionalImport(specifier: string): Promise<unknown> {
  return import(/* @vite-ignore */ specifier);
}

function isNotInstalled(error: unknown, specifier: string): boolean {
  const e = error as { code?: string; message?: string };
  return (
    (e?.code === "ERR_MODULE_NOT_FOUND" || e?.code === "MODULE_NOT_FOUND") &&
    String(e.message).includes(specifier)
  );
}

/** Candidate backends in order of preference; each returns null when its package is not installed. */
function candidates(
  threads: number | undefined,
): { name: string; device: Device; load: () => Promise<Loaded> }[] {
  const nodeBinding = (specifier: string, device: Device) => async (): Promise<Loaded> => {
    // tfjs-node(-gpu) bundles its own tfjs-core and registers the "tensorflow" backend on import.
    const tf = (await optionalImport(specifier)) as Tf;
    await tf.setBackend("tensorflow");
    await tf.ready();
    return { tf, device, backend: `${specifier} ${tf.version_core ?? ""}`.trim() };
  };
  const core = async () => (await optionalImport("@tensorflow/tfjs-core")) as Tf;
  return [
    {
      name: "@tensorflow/tfjs-node-gpu",
      device: "cuda",
      load: nodeBinding("@tensorflow/tfjs-node-gpu", "cuda"),
    },
    { name: "@tensorflow/tfjs-node", device: "cpu", load: nodeBinding("@tensorflow/tfjs-node", "cpu") },
    {
      name: "@tensorflow/tfjs-backend-wasm",
      device: "cpu",
      load: async () => {
        const tf = await core();
        const wasm = (await optionalImport("@tensorflow/tfjs-backend-wasm")) as {
          setThreadsCount?: (n: number) => void;
        };
        // Only the threaded wasm build honours this (it needs cross-origin isolation in browsers).
        if (threads !== undefined) wasm.setThreadsCount?.(threads);
        if (!(await tf.setBackend("wasm"))) throw new Error("the wasm backend failed to initialise");
        return { tf, device: "cpu", backend: `@tensorflow/tfjs-backend-wasm ${tf.version_core}` };
      },
    },
    {
      name: "@tensorflow/tfjs-backend-cpu",
      device: "cpu",
      load: async () => {
        const tf = await core();
        await optionalImport("@tensorflow/tfjs-backend-cpu");
        if (!(await tf.setBackend("cpu"))) throw new Error("the cpu backend failed to initialise");
        return { tf, device: "cpu", backend: `@tensorflow/tfjs-backend-cpu ${tf.version_core}` };
      },
    },
  ];
}

/**
 * TensorFlow.js keeps one global backend per process, so the backend is chosen once per requested
 * device and shared by every tfjs engine.
 */
const loading = new Map<string, Promise<Loaded>>();

async function loadTf(options: EngineOptions): Promise<Loaded> {
  const wanted = options.device;
  const key = wanted ?? "auto";
  let pending = loading.get(key);
  if (!pending) {
    pending = (async () => {
      const reasons: string[] = [];
      for (const candidate of candidates(options.threads)) {
        if (wanted !== undefined && candidate.device !== wanted) continue;
        try {
          return await candidate.load();
        } catch (error) {
          reasons.push(
            isNotInstalled(error, candidate.name)
              ? `${candidate.name}: not installed`
              : `${candidate.name}: ${String(error)}`,
          );
        }
      }
      throw new EngineInputError(
        `tfjs engine: no TensorFlow.js backend${wanted ? ` for device "${wanted}"` : ""} could be loaded ` +
          `(${reasons.join("; ")}). Install @tensorflow/tfjs-core with @tensorflow/tfjs-backend-wasm or ` +
          `-cpu, or @tensorflow/tfjs-node(-gpu).`,
      );
    })();
    loading.set(key, pending);
    // A failed load may succeed later (e.g. after an install); do not cache failures.
    pending.catch(() => loading.delete(key));
  }
  return pending;
}

class TfjsStepper implements Stepper {
  private readonly length: number;
  private readonly shape: [number, number];
  private readonly X: TF.Tensor2D;
  /** Binary: −y (n×1). Multiclass: one-hot labels (n×1×C). */
  private readonly targets: TF.Tensor;
  private disposed = false;

  constructor(
    private readonly tf: Tf,
    private readonly data: TrainMatrix,
    private readonly params: StepParams,
  ) {
    const cols = weightColumns(data, params);
    this.length = data.d * cols;
    this.shape = [data.d, cols];
    const { n, d, classes } = data;
    this.X = tf.tensor2d(data.X, [n, d], "float32");
    this.targets = targetsOf(tf, data.y, classes);
  }

  /** One step on tensors; the caller owns (and disposes) W, ξ and the result. */
  private stepTensors(W: TF.Tensor2D, xi: TF.Tensor2D | null): TF.Tensor2D {
    const { tf, X, targets } = this;
    const { n, classes } = this.data;
    const { eta, m, clip, sigma, chains: T } = this.params;
    return tf.tidy(() => {
      const Z = tf.matMul(X, W); // n×cols
      let R: TF.Tensor2D;
      let decay: TF.Tensor | number;
      if (classes === 2) {
        // c = (sigmoid(y·z) − 1)·y = −y·sigmoid(−y·z)
        const c = tf.mul(targets, tf.sigmoid(tf.mul(targets, Z)));
        // ‖g_i‖² = c·(c + 2m·z) + m²‖w‖²   (‖x_i‖ = 1)
        const wNormSq = tf.sum(tf.square(W), 0, true);
        const normSq = tf.add(tf.mul(c, tf.add(c, tf.mul(Z, 2 * m))), tf.mul(wNormSq, m * m));
        const s = this.clipFactor(normSq, clip);
        R = tf.mul(s, c) as TF.Tensor2D;
        // The regulariser sits inside g_i and is clipped with it: weight m·mean_i(s_it).
        decay = tf.sub(1, tf.mul(tf.mean(s, 0, true), eta * m));
      } else {
        const C = classes;
        const D = tf.sub(tf.softmax(tf.reshape(Z, [n, T, C])), targets); // P − y, n×T×C
        const s = this.clipFactor(tf.sum(tf.square(D), 2, true), clip); // ‖G_i‖_F = ‖P_i − y_i‖
        R = tf.reshape(tf.mul(D, s), [n, T * C]);
        decay = 1 - eta * m; // multiclass: regulariser added after clipping
      }
      let base = tf.mul(W, decay);
      if (xi && sigma > 0) base = tf.add(base, tf.mul(xi, Math.sqrt(2 * eta * sigma * sigma)));
      return tf.sub(base, tf.mul(tf.matMul(X, R, true, false), eta / n)) as TF.Tensor2D;
    });
  }

  /** s = min(1, M/‖g‖); relu guards tiny negative rounding, and M/0 = ∞ gives s = 1. */
  private clipFactor(normSq: TF.Tensor, clip: number): TF.Tensor {
    const { tf } = this;
    return tf.minimum(tf.div(clip, tf.sqrt(tf.relu(normSq))), 1);
  }

  private checkLive(): void {
    if (this.disposed) throw new Error("tfjs engine: this stepper has been disposed");
  }

  async run(
    W: Float32Array,
    steps: number,
    noise: NoiseSource,
    options?: StepRunOptions,
  ): Promise<Float32Array> {
    this.checkLive();
    checkWeights("W", W, this.length);
    checkSteps(steps);
    return runOnTensors(
      this.tf,
      W,
      this.shape,
      { steps, noise, noiseLength: this.length, sigma: this.params.sigma, options },
      (state, xi) => this.stepTensors(state, xi),
    );
  }

  async step(W: Float32Array, xi: Float32Array): Promise<Float32Array> {
    this.checkLive();
    checkWeights("W", W, this.length);
    checkWeights("xi", xi, this.length);
    const { tf } = this;
    const out = tf.tidy(() => this.stepTensors(tf.tensor2d(W, this.shape), tf.tensor2d(xi, this.shape)));
    try {
      return Float32Array.from(await out.data());
    } finally {
      out.dispose();
    }
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.X.dispose();
    this.targets.dispose();
  }
}

/** Per-step constants: a number when every block agrees (as for one job), else a 1×cols tensor. */
type Coef = TF.Tensor | number;

/**
 * A column batch (job fusion, ./batch.ts) in one step program: the rows no block replaces (0…head−1)
 * multiplied once for every column, with η, m, M and the noise scale per column; the last rows, which
 * some block replaces, multiplied per block with its own version of them (D's tail with its
 * replacements) and its own columns. ξ: each block's Philox draws (BatchNoise), filled on the CPU.
 */
class TfjsBatchStepper implements BatchStepper {
  private readonly length: number;
  private readonly shape: [number, number];
  private readonly layout: BatchLayout;
  private readonly noise: BatchNoise;
  private readonly head: { X: TF.Tensor2D; targets: TF.Tensor } | null;
  /** Per block: its tail rows (shared by blocks with the same replacement) and their targets. */
  /** Runs of neighbouring blocks that see the same tail rows: those rows, their columns, their m and M. */
  private readonly tail: {
    X: TF.Tensor2D;
    targets: TF.Tensor;
    offset: number;
    cols: number;
    m: Coef;
    clip: Coef;
  }[];
  private readonly owned: TF.Tensor[] = [];
  private readonly perColumn: { etaM: Coef; m: Coef; clip: Coef; decay: Coef; noise: Coef; step: Coef };
  private disposed = false;

  constructor(
    private readonly tf: Tf,
    private readonly data: TrainMatrix,
    private readonly blocks: readonly ColumnBlock[],
  ) {
    const { n, d, classes } = data;
    this.layout = batchLayout(data, blocks);
    this.length = d * this.layout.total;
    this.shape = [d, this.layout.total];
    this.noise = new BatchNoise(data, blocks, this.layout);
    const rows = Math.max(...blocks.map(replacedCount));
    const head = n - rows;
    const keep = <T extends TF.Tensor>(t: T): T => {
      this.owned.push(t);
      return t;
    };
    const rowsOf = (X: Float32Array, y: Float32Array, count: number) => ({
      X: keep(tf.tensor2d(X, [count, d], "float32")),
      targets: keep(targetsOf(tf, y, classes)),
    });
    this.head = head > 0 ? rowsOf(data.X.subarray(0, head * d), data.y.subarray(0, head), head) : null;
    // Binary: per column (= chain). Multiclass: M per chain as 1×T×1 (the clip acts on a row's C values).
    const C = classes === 2 ? 1 : classes;
    const column = (value: (p: StepParams) => number, shape: "cols" | "chains" = "cols"): Coef => {
      const values = blocks.map((b) => value(b.params));
      if (values.every((v) => v === values[0])) return values[0];
      const per = shape === "cols" ? 1 : C;
      const row = new Float32Array(this.layout.total / per);
      values.forEach((v, i) => {
        const at = this.layout.offsets[i] / per;
        row.fill(v, at, at + this.layout.cols[i] / per);
      });
      return keep(
        shape === "cols" ? tf.tensor2d(row, [1, row.length]) : tf.tensor3d(row, [1, row.length, 1]),
      );
    };
    this.perColumn = {
      etaM: column((p) => p.eta * p.m),
      m: column((p) => p.m),
      clip: column((p) => p.clip, classes === 2 ? "cols" : "chains"),
      decay: column((p) => 1 - p.eta * p.m),
      noise: column((p) => Math.sqrt(2 * p.eta * p.sigma * p.sigma)),
      step: column((p) => p.eta / n),
    };
    // The tail: runs of neighbouring blocks that see the same rows (e.g. all on D) are one product,
    // with their slice of the per-column constants.
    const part = (coef: Coef, offset: number, cols: number, per: number): Coef =>
      typeof coef === "number"
        ? coef
        : keep(
            per === 1
              ? tf.slice(coef, [0, offset], [1, cols])
              : tf.slice(coef, [0, offset / per, 0], [1, cols / per, 1]),
          );
    const sources = new Map<ReplacedRows | undefined, { X: TF.Tensor2D; targets: TF.Tensor }>();
    const runs: { key: ReplacedRows | undefined; offset: number; cols: number }[] = [];
    if (rows > 0)
      blocks.forEach((b, i) => {
        const key = replacedCount(b) > 0 ? b.replaced : undefined;
        const last = runs.at(-1);
        if (last && last.key === key) last.cols += this.layout.cols[i];
        else runs.push({ key, offset: this.layout.offsets[i], cols: this.layout.cols[i] });
      });
    this.tail = runs.map(({ key, offset, cols }) => {
      let source = sources.get(key);
      if (!source) {
        const own = materialise(data, key);
        source = rowsOf(own.X.slice(head * d), own.y.slice(head), rows);
        sources.set(key, source);
      }
      const clipPer = classes === 2 ? 1 : C;
      return {
        ...source,
        offset,
        cols,
        m: part(this.perColumn.m, offset, cols, 1),
        clip: part(this.perColumn.clip, offset, cols, clipPer),
      };
    });
  }

  /**
   * R = s∘c (binary, with Σ_i s per column) or s∘(P − y) (multiclass) of rows X·W; `cols` picks the
   * per-column constants of these columns (all of them, or one block's as numbers).
   */
  private region(
    Z: TF.Tensor2D,
    targets: TF.Tensor,
    W: TF.Tensor2D,
    c: { m: Coef; clip: Coef },
    chains: number,
  ): { R: TF.Tensor2D; sSum: TF.Tensor | null } {
    const { tf } = this;
    const rows = Z.shape[0];
    const clipFactor = (normSq: TF.Tensor) => tf.minimum(tf.div(c.clip, tf.sqrt(tf.relu(normSq))), 1);
    if (this.data.classes === 2) {
      const cc = tf.mul(targets, tf.sigmoid(tf.mul(targets, Z)));
      const wNormSq = tf.sum(tf.square(W), 0, true);
      const normSq = tf.add(
        tf.mul(cc, tf.add(cc, tf.mul(Z, tf.mul(c.m, 2)))),
        tf.mul(wNormSq, tf.square(c.m)),
      );
      const s = clipFactor(normSq);
      return { R: tf.mul(s, cc) as TF.Tensor2D, sSum: tf.sum(s, 0, true) };
    }
    const C = this.data.classes;
    const D = tf.sub(tf.softmax(tf.reshape(Z, [rows, chains, C])), targets);
    const s = clipFactor(tf.sum(tf.square(D), 2, true));
    return { R: tf.reshape(tf.mul(D, s), [rows, chains * C]), sSum: null };
  }

  private stepTensors(W: TF.Tensor2D, xi: TF.Tensor2D | null): TF.Tensor2D {
    const { tf, head, tail, perColumn: k, layout, data } = this;
    const C = data.classes === 2 ? 1 : data.classes;
    return tf.tidy(() => {
      const G: TF.Tensor[] = [];
      const sums: TF.Tensor[] = [];
      if (head) {
        const { R, sSum } = this.region(tf.matMul(head.X, W), head.targets, W, k, layout.total / C);
        G.push(tf.matMul(head.X, R, true, false));
        if (sSum) sums.push(sSum);
      }
      if (tail.length > 0) {
        const parts = tail.map((run) => {
          const Wr = run.cols === layout.total ? W : tf.slice(W, [0, run.offset], [data.d, run.cols]);
          const { R, sSum } = this.region(tf.matMul(run.X, Wr), run.targets, Wr, run, run.cols / C);
          return { G: tf.matMul(run.X, R, true, false), sSum };
        });
        G.push(
          tf.concat(
            parts.map((p) => p.G),
            1,
          ),
        );
        if (data.classes === 2)
          sums.push(
            tf.concat(
              parts.map((p) => p.sSum!),
              1,
            ),
          );
      }
      // Binary: decay 1 − η·m·mean_i(s) (the regulariser is clipped with g_i); multiclass 1 − η·m.
      const decay = data.classes === 2 ? tf.sub(1, tf.mul(tf.div(tf.addN(sums), data.n), k.etaM)) : k.decay;
      let base = tf.mul(W, decay);
      if (xi) base = tf.add(base, tf.mul(xi, k.noise));
      const grad = G.length === 1 ? G[0] : tf.add(G[0], G[1]);
      return tf.sub(base, tf.mul(grad, k.step)) as TF.Tensor2D;
    });
  }

  async run(
    W: Float32Array,
    steps: number,
    start: readonly number[],
    options?: StepRunOptions,
  ): Promise<Float32Array> {
    if (this.disposed) throw new Error("tfjs engine: this stepper has been disposed");
    checkBatchRun(W, this.length, steps, start, this.blocks.length);
    const at = [...start];
    const noise: NoiseSource = {
      fill: (xi) => {
        this.noise.fill(xi, at);
        for (let b = 0; b < at.length; b++) at[b]++;
      },
    };
    return runOnTensors(
      this.tf,
      W,
      this.shape,
      { steps, noise, noiseLength: this.length, sigma: this.noise.any ? 1 : 0, options },
      (state, xi) => this.stepTensors(state, xi),
    );
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    for (const t of this.owned) t.dispose();
  }
}

/**
 * The run loop on a tensor state: W in, the final W out. Each step's input state and ξ tensor are freed
 * as soon as the next state exists, so a run holds one state at a time.
 */
async function runOnTensors(
  tf: Tf,
  W: Float32Array,
  shape: [number, number],
  loop: Omit<LoopSpec<TF.Tensor2D>, "state" | "advance">,
  step: (state: TF.Tensor2D, xi: TF.Tensor2D | null) => TF.Tensor2D,
): Promise<Float32Array> {
  let current = tf.tensor2d(W, shape, "float32");
  try {
    current = await runLoop<TF.Tensor2D>({
      ...loop,
      state: current,
      advance: (state, xi) => {
        const xiT = xi ? tf.tensor2d(xi, shape, "float32") : null;
        const next = step(state, xiT);
        xiT?.dispose();
        state.dispose();
        current = next;
        return next;
      },
    });
    return Float32Array.from(await current.data());
  } finally {
    current.dispose();
  }
}

/** Binary: −y (rows×1). Multiclass: one-hot labels (rows×1×C). */
function targetsOf(tf: Tf, y: Float32Array, classes: number): TF.Tensor {
  const rows = y.length;
  return classes === 2
    ? tf.tensor2d(
        Float32Array.from(y, (v) => -v),
        [rows, 1],
        "float32",
      )
    : tf.tidy(() =>
        tf.reshape(tf.cast(tf.oneHot(tf.tensor1d(Int32Array.from(y), "int32"), classes), "float32"), [
          rows,
          1,
          classes,
        ]),
      );
}

export async function createTfjsEngine(options: EngineOptions = {}): Promise<Engine> {
  if (options.device !== undefined && options.device !== "cpu" && options.device !== "cuda") {
    throw new EngineInputError(
      `EngineOptions.device must be "cpu" or "cuda", got "${String(options.device)}"`,
    );
  }
  if (options.threads !== undefined && !(Number.isInteger(options.threads) && options.threads > 0)) {
    throw new EngineInputError(`EngineOptions.threads must be a positive integer, got ${options.threads}`);
  }
  const { tf, device, backend } = await loadTf(options);
  const steppers = new Set<{ dispose(): Promise<void> }>();
  return {
    name: "tfjs",
    device,
    backend,
    async createStepper(data: TrainMatrix, params: StepParams): Promise<Stepper> {
      checkTrainMatrix(data);
      checkStepParams(params);
      const stepper = new TfjsStepper(tf, data, params);
      steppers.add(stepper);
      return stepper;
    },
    async createBatchStepper(data: TrainMatrix, blocks: readonly ColumnBlock[]): Promise<BatchStepper> {
      checkTrainMatrix(data);
      checkBlocks(data, blocks);
      const stepper = new TfjsBatchStepper(tf, data, blocks);
      steppers.add(stepper);
      return stepper;
    },
    async dispose(): Promise<void> {
      await Promise.all([...steppers].map((s) => s.dispose()));
      steppers.clear();
    },
  };
}
