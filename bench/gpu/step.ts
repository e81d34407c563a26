/**
 * GPU step benchmark (not a test): ms per step and effective TFLOP/s of one noisy clipped gradient
 * step (SPEC §3) on MNIST 3v8 (or --dataset) for several chain counts, on the webgpu engine and, in the same run,
 * on the onnx CPU engine. Effective FLOP = the two n×d×T products, 4·n·d·T per step (the elementwise
 * work and the noise are not counted, but their time is).
 *
 * webgpu is timed twice: with ξ drawn on the GPU (PhiloxNoise) and with ξ filled on the CPU by the
 * algorithms' default stream (GaussianStream) and uploaded every step, so the noise's cost shows.
 *
 * Usage: step.ts [--chains 100,1000,10000] [--engines webgpu,onnx] [--seconds 6] [--dataset mnist-3v8] [--json]
 *   --seconds: time spent timing each (engine, T) after its warm-up step (at least one step runs).
 */
import os from "node:os";
import { parseArgs } from "node:util";
import {
  createEngine,
  datasetConstants,
  deriveSeed,
  type Engine,
  type EngineName,
  GaussianStream,
  loadDataset,
  type NoiseSource,
  PhiloxNoise,
  type StepParams,
  type TrainMatrix,
} from "@unlearn/core";

const { values: args } = parseArgs({
  options: {
    chains: { type: "string", default: "100,1000,10000" },
    engines: { type: "string", default: "webgpu,onnx" },
    seconds: { type: "string", default: "6" },
    dataset: { type: "string", default: "mnist-3v8" },
    json: { type: "boolean", default: false },
  },
});

function list(flag: string, text: string): string[] {
  const items = text.split(",").filter(Boolean);
  if (items.length === 0) throw new Error(`${flag} must name at least one value, got "${text}"`);
  return items;
}
const chainCounts = list("--chains", args.chains!).map((s) => {
  const v = Number(s);
  if (!(Number.isInteger(v) && v > 0)) throw new Error(`--chains: "${s}" is not a positive integer`);
  return v;
});
const engineNames = list("--engines", args.engines!) as EngineName[];
const seconds = Number(args.seconds);
if (!(seconds > 0)) throw new Error(`--seconds must be > 0, got "${args.seconds}"`);

export interface StepRow {
  engine: string;
  noise: "gpu" | "cpu";
  chains: number;
  msPerStep: number;
  tflops: number;
  steps: number;
}

/** One warm-up step, one timed step to size the run, then as many steps as fit in `seconds`. */
async function timeSteps(
  engine: Engine,
  data: TrainMatrix,
  params: StepParams,
  noise: () => NoiseSource,
): Promise<{ msPerStep: number; steps: number }> {
  const { chains } = params;
  const stepper = await engine.createStepper(data, params);
  try {
    const source = noise();
    let W = await stepper.run(new Float32Array(data.d * chains).fill(0.001), 1, source);
    let t0 = performance.now();
    W = await stepper.run(W, 1, source);
    const one = performance.now() - t0;
    const steps = Math.max(1, Math.min(2000, Math.floor((seconds * 1000) / one)));
    t0 = performance.now();
    await stepper.run(W, steps, source);
    return { msPerStep: (performance.now() - t0) / steps, steps };
  } finally {
    await stepper.dispose();
  }
}

async function main(): Promise<void> {
  const log = (line: string) => (args.json ? process.stderr : process.stdout).write(`${line}\n`);
  const ds = await loadDataset(args.dataset!);
  const data = ds.train;
  // The paper's MNIST settings (λ = 1e-6, L from the data, σ = 0.03), as bench/step.ts.
  const c = datasetConstants(ds, { lambda: 1e-6, smoothness: "data" });
  const rows: StepRow[] = [];
  const backends: Record<string, string> = {};
  // A GPU run is one shot: an engine or a size that fails is reported and the rest still run.
  let failures = 0;
  for (const name of engineNames) {
    let engine: Engine;
    try {
      engine = await createEngine(name);
    } catch (error) {
      failures++;
      log(`${name}: could not be created: ${String(error)}`);
      continue;
    }
    backends[name] = engine.backend;
    log(`${name}: ${engine.backend}`);
    const kinds: ("gpu" | "cpu")[] = name === "webgpu" ? ["gpu", "cpu"] : ["cpu"];
    for (const chains of chainCounts)
      for (const noise of kinds) {
        const source = () =>
          noise === "gpu"
            ? new PhiloxNoise(deriveSeed(2024, "gpu-bench"))
            : new GaussianStream(deriveSeed(2024, "gpu-bench"));
        const params = { eta: c.eta, m: c.m, clip: c.clip, sigma: 0.03, chains };
        const label = `  T=${String(chains).padEnd(6)} ξ on ${noise}:`;
        try {
          const { msPerStep, steps } = await timeSteps(engine, data, params, source);
          const tflops = (4 * data.n * data.d * chains) / (msPerStep / 1000) / 1e12;
          rows.push({ engine: name, noise, chains, msPerStep, tflops, steps });
          log(
            `${label} ${msPerStep.toFixed(3).padStart(10)} ms/step ${tflops.toPrecision(3).padStart(8)} TFLOP/s (${steps} steps)`,
          );
        } catch (error) {
          failures++;
          log(`${label} FAILED: ${String(error)}`);
        }
      }
    await engine.dispose();
  }
  log("");
  log(`${args.dataset} step, n=${data.n}, d=${data.d}; ${os.availableParallelism()} CPU cores`);
  log(`${"T".padEnd(7)} ${"engine".padEnd(22)} ${"ms/step".padStart(10)} ${"TFLOP/s".padStart(8)}  vs onnx`);
  for (const r of rows) {
    const onnx = rows.find((o) => o.engine === "onnx" && o.chains === r.chains);
    const ratio = onnx ? `${(onnx.msPerStep / r.msPerStep).toFixed(1)}×` : "-";
    const label = r.engine === "webgpu" ? `webgpu, ξ on ${r.noise}` : r.engine;
    log(
      `${String(r.chains).padEnd(7)} ${label.padEnd(22)} ${r.msPerStep.toFixed(3).padStart(10)} ${r.tflops.toPrecision(3).padStart(8)}  ${ratio}`,
    );
  }
  if (args.json) process.stdout.write(`${JSON.stringify({ n: data.n, d: data.d, backends, rows })}\n`);
  if (failures > 0) process.exitCode = 1;
}

await main();
