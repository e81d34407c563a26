/**
 * The `auto` engine: at worker start, time one representative step on each candidate engine for
 * about two seconds in all, keep the fastest, and say which and why (the reason is the returned
 * engine's `backend`, so whatever logs or reports the backend carries it).
 *
 * The probe step is binary logistic regression with MNIST's width (d = 784), 4096 rows and 100
 * chains: big enough that a GPU's launch overhead does not decide, small enough that the CPU engine
 * takes several steps inside its share of the budget.
 */
import { GaussianStream } from "../rng.ts";
import type { Engine, EngineName, EngineOptions, Stepper, TrainMatrix } from "./types.ts";

export interface ProbeResult {
  name: EngineName;
  backend?: string;
  /** Median-free: total time of the timed run divided by its steps (ms). */
  msPerStep?: number;
  /** Why the engine is not a candidate (failed to load, or slower than its whole share). */
  skipped?: string;
}

export interface AutoOptions extends EngineOptions {
  /**
   * Engines to try, in order of preference on a tie; default onnx, then webgpu: a GPU probe cut off
   * by its deadline keeps running, and after the CPU probes it cannot slow them down.
   */
  candidates?: readonly EngineName[];
  /** Wall time for all probes together (ms); default 2000. */
  budgetMs?: number;
  /** Probe shape; defaults n = 4096, d = 784, T = 100. */
  probe?: { n: number; d: number; chains: number };
  /** Receives the one-line reason; default: written to stderr. */
  onChoice?: (reason: string) => void;
}

export interface AutoChoice {
  engine: Engine;
  probes: ProbeResult[];
  /** One line: which engine and why. */
  reason: string;
}

type Create = (name: EngineName, options: EngineOptions) => Promise<Engine>;

function probeData(n: number, d: number): TrainMatrix {
  const X = new Float32Array(n * d);
  new GaussianStream(0x5eedn).fill(X);
  for (let i = 0; i < n; i++) {
    let sq = 0;
    for (let j = i * d; j < (i + 1) * d; j++) sq += X[j] * X[j];
    const inv = 1 / Math.sqrt(sq);
    for (let j = i * d; j < (i + 1) * d; j++) X[j] *= inv;
  }
  const y = Float32Array.from({ length: n }, (_, i) => (i % 2 === 0 ? 1 : -1));
  return { X, y, n, d, classes: 2 };
}

/** Resolves to `value`, or to null after `ms` (the work itself goes on; the caller cleans up later). */
function within<T>(work: Promise<T>, ms: number): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), Math.max(0, ms));
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Times steps on one engine until `shareMs` is spent: one warm-up step, then 1, 2, 4, … steps.
 * `settled` resolves once the last run has really ended (a run cut off by the deadline goes on), so
 * that the engine is disposed only after it.
 */
async function timeEngine(
  engine: Engine,
  data: TrainMatrix,
  chains: number,
  shareMs: number,
): Promise<{ result: Omit<ProbeResult, "name">; settled: Promise<unknown> }> {
  const params = { eta: 1, m: 1e-3, clip: 1, sigma: 0.01, chains };
  const deadline = performance.now() + shareMs;
  const stepper: Stepper = await engine.createStepper(data, params);
  const noise = new GaussianStream(1n);
  let pending: Promise<Float32Array | null> = Promise.resolve(null);
  const timed = async (W: Float32Array, steps: number) => {
    pending = stepper.run(W, steps, noise);
    return within(pending, deadline - performance.now());
  };
  // Frees the stepper once its last run has really ended (a run cut off by the deadline goes on).
  const settle = () => pending.catch(() => undefined).then(() => stepper.dispose());
  const t0 = performance.now();
  let W: Float32Array | null = await timed(new Float32Array(data.d * chains).fill(0.01), 1);
  if (!W)
    return { result: { skipped: `no step within its ${Math.round(shareMs)} ms share` }, settled: settle() };
  // An engine that blocks the event loop (the CPU ones) can overrun its share on the warm-up step;
  // its time then stands for the engine (a slight overestimate: it includes first-run costs).
  let best = performance.now() - t0;
  for (let steps = 1; W && performance.now() < deadline; steps *= 2) {
    const t1 = performance.now();
    W = await timed(W, steps);
    if (W) best = Math.min(best, (performance.now() - t1) / steps);
  }
  return { result: { msPerStep: best }, settled: settle() };
}

function describe(p: ProbeResult): string {
  return p.msPerStep !== undefined
    ? `${p.name} ${p.msPerStep.toFixed(2)} ms/step`
    : `${p.name} (${p.skipped})`;
}

export async function selectEngine(create: Create, options: AutoOptions = {}): Promise<AutoChoice> {
  const {
    candidates = ["onnx", "webgpu"],
    budgetMs = 2000,
    probe,
    onChoice = (line: string) => process.stderr.write(`${line}\n`),
    ...engineOptions
  } = options;
  const { n = 4096, d = 784, chains = 100 } = probe ?? {};
  const data = probeData(n, d);
  const probes: ProbeResult[] = [];
  const engines = new Map<EngineName, Engine>();
  const settled = new Map<EngineName, Promise<unknown>>();
  const start = performance.now();
  for (const [index, name] of candidates.entries()) {
    const share = (budgetMs - (performance.now() - start)) / (candidates.length - index);
    try {
      const engine = await create(name, engineOptions);
      engines.set(name, engine);
      const probed = await timeEngine(engine, data, chains, share);
      settled.set(name, probed.settled);
      probes.push({ name, backend: engine.backend, ...probed.result });
    } catch (error) {
      probes.push({ name, skipped: String(error).split("\n")[0] });
    }
  }
  const release = (name: EngineName, e: Engine) =>
    void (settled.get(name) ?? Promise.resolve())
      .catch(() => undefined)
      .then(() => e.dispose())
      .catch(() => undefined);
  const timed = probes.filter((p) => p.msPerStep !== undefined);
  if (timed.length === 0) {
    for (const [name, e] of engines) release(name, e);
    throw new Error(`auto engine: no candidate completed a probe step: ${probes.map(describe).join("; ")}`);
  }
  const best = timed.reduce((a, b) => (b.msPerStep! < a.msPerStep! ? b : a));
  for (const [name, e] of engines) if (name !== best.name) release(name, e);
  const chosen = engines.get(best.name)!;
  const reason =
    `auto: ${best.name} (${best.backend}), the fastest on a ${budgetMs / 1000} s probe ` +
    `(binary step, n=${n}, d=${d}, T=${chains}): ${probes.map(describe).join(", ")}`;
  const engine: Engine = {
    name: chosen.name,
    device: chosen.device,
    backend: reason,
    createStepper: (data, params) => chosen.createStepper(data, params),
    dispose: () => chosen.dispose(),
  };
  onChoice(reason);
  return { engine, probes, reason };
}
