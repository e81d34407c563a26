/**
 * The `tfjs` engine: the step of docs/science.md §3 with TensorFlow.js ops, the same two matrix products and
 * elementwise work as the onnx graph. TensorFlow.js is optional and loaded on demand; the backend is
 * chosen at run time: @tensorflow/tfjs-node-gpu, then @tensorflow/tfjs-node, then the wasm backend,
 * then the plain JavaScript cpu backend, whichever loads first.
 */
import type * as TF from "@tensorflow/tfjs-core";
import { runLoop } from "./run-loop.ts";
import type {
  Device,
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
    this.targets =
      classes === 2
        ? tf.tensor2d(
            Float32Array.from(data.y, (v) => -v),
            [n, 1],
            "float32",
          )
        : tf.tidy(() =>
            tf.reshape(
              tf.cast(tf.oneHot(tf.tensor1d(Int32Array.from(data.y), "int32"), classes), "float32"),
              [n, 1, classes],
            ),
          );
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
    const { tf } = this;
    let current = tf.tensor2d(W, this.shape, "float32");
    try {
      current = await runLoop<TF.Tensor2D>({
        state: current,
        steps,
        noise,
        noiseLength: this.length,
        sigma: this.params.sigma,
        advance: (state, xi) => {
          const xiT = xi ? tf.tensor2d(xi, this.shape, "float32") : null;
          const next = this.stepTensors(state, xiT);
          xiT?.dispose();
          state.dispose();
          current = next;
          return next;
        },
        options,
      });
      return Float32Array.from(await current.data());
    } finally {
      current.dispose();
    }
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
  const steppers = new Set<TfjsStepper>();
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
    async dispose(): Promise<void> {
      await Promise.all([...steppers].map((s) => s.dispose()));
      steppers.clear();
    },
  };
}
