/**
 * Step benchmark (not a test): one noisy clipped gradient step of docs/science.md §3 on MNIST 3v8 with T = 100
 * chains, timed on an engine of @unlearn/core and compared, in the same run, with
 *   1. the same batched step in numpy (bench/reference/step_numpy.py), and
 *   2. the original research code's way: PyTorch on the CPU, one chain at a time, materialising the
 *      n×d per-sample gradients each step (bench/reference/step_torch_original.py).
 *
 * and 3. (onnx) the step's own two matrix products alone (X·W and Xᵀ·R in one onnxruntime graph with the
 *    engine's session options): everything else in a step (sigmoid, clipping norms, noise, update)
 *    is the overhead `vsGemm` = step time / GEMM time measures.
 * The step draws its noise as every job does (philox-v1, engine/philox.ts).
 *
 * With --chains 10,30,100,… it also times the step at each width T (job fusion: the widest batch worth
 * giving a CPU engine is where ms per column stops falling), after the comparison at T = 100.
 *
 * Usage: pnpm bench:step [--json] [--engine onnx|tfjs|reference|webgpu|auto] [--steps N] [--threads K]
 *        [--chains LIST]
 * With --json, stdout is one JSON object: msPerStep, gflops, rssMb, vsNumpy, vsOriginal (ratios of
 * the reference's time to the engine's; null when that reference was skipped), vsGemm (step / its
 * two GEMMs; null for engines other than onnx), plus details; with --chains, `widths`: one entry per
 * width {chains, msPerStep, msPerColumn, gemmMsPerStep, rssMb}.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { EXIT, integerFlag, parseFlags, UsageError, usageFailure } from "@unlearn/cli/usage";
import {
  createEngine,
  createGemmProbe,
  datasetConstants,
  deriveSeed,
  ENGINE_NAMES,
  type EngineName,
  initialChains,
  loadDataset,
  PhiloxNoise,
} from "@unlearn/core";
import { findPython, readOutput, runPython, writeReferenceInputs } from "./reference/python.ts";

const CHAINS = 100;
const SIGMA = 0.03;
const SEED = 2024;
/** The originals' timing is scaled from a few chains × a few steps: it costs ~T× more per step. */
const ORIGINAL_CHAINS = 2;
const ORIGINAL_STEPS = 5;
/** Engine and numpy timings alternate over this many rounds. */
const ROUNDS = 2;
/** Steps per timed run call (and GEMM pairs per timed batch, in turn with them). */
const STEPS_PER_RUN = 5;
/** Fewest timed steps at one width of --chains. */
const MIN_WIDTH_STEPS = 3;

const USAGE = `usage: pnpm bench:step [--json] [--engine NAME] [--steps N] [--warmup N] [--threads K] [--chains LIST]

Times one noisy clipped gradient step on MNIST 3v8 with 100 chains, against numpy and the original
research code's way (PyTorch, one chain at a time) when python3 has them.

options:
  --engine NAME   ${[...ENGINE_NAMES, "auto"].join(" | ")} (default onnx)
  --steps N       timed steps per round (default 40)
  --warmup N      untimed steps first (default 5)
  --threads K     engine threads (default: the engine's)
  --chains LIST   also time the step at these widths T (comma-separated, e.g. 10,30,100,300,1000,3000):
                  ms per step and per column; width T runs max(${MIN_WIDTH_STEPS}, ⌈N·100/T⌉) timed steps
  --json          print one JSON object on stdout (the readable report goes to stderr)
  --help          show this help`;

/** The command line, or the exit code when it is --help or wrong (the CLI's error style). */
function commandLine(argv: string[]) {
  try {
    const values = parseFlags(argv, {
      json: { type: "boolean", default: false },
      engine: { type: "string", default: "onnx" },
      steps: { type: "string", default: "40" },
      warmup: { type: "string", default: "5" },
      threads: { type: "string" },
      chains: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    });
    if (values.help) {
      console.log(USAGE);
      return EXIT.ok;
    }
    const engine = values.engine as EngineName | "auto";
    if (![...ENGINE_NAMES, "auto"].includes(engine))
      throw new UsageError(
        `--engine must be one of ${ENGINE_NAMES.join(", ")}, auto; got "${values.engine}"`,
      );
    return {
      json: values.json,
      engine,
      steps: integerFlag("--steps", values.steps, 1)!,
      warmup: integerFlag("--warmup", values.warmup, 0)!,
      threads: integerFlag("--threads", values.threads, 1),
      chains: widthList(values.chains),
    };
  } catch (error) {
    return usageFailure("pnpm bench:step", error);
  }
}

/** --chains: a comma-separated list of positive integers. */
function widthList(value: string | undefined): number[] {
  if (value === undefined) return [];
  return value.split(",").map((part) => integerFlag("--chains", part.trim(), 1)!);
}

const parsed = commandLine(process.argv.slice(2));
if (typeof parsed === "number") process.exit(parsed);
const args = parsed;
const engineName = args.engine;
const { steps, warmup, threads, chains: widths } = args;
/** Human-readable lines go to stderr under --json so that stdout is the JSON object alone. */
const log = (line: string) => (args.json ? process.stderr : process.stdout).write(`${line}\n`);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/**
 * How far a reference's one noiseless step from `from` is from the engine's, relative to the size of
 * the update itself. `stride`/`column` pick one chain of W.
 */
function updateDiff(
  from: Float32Array,
  engine: Float32Array,
  ref: Float32Array,
  stride = 1,
  column = 0,
): number {
  let worst = 0;
  let scale = 0;
  for (let j = 0; j < ref.length; j++) {
    const k = j * stride + column;
    worst = Math.max(worst, Math.abs(engine[k] - from[k] - (ref[j] - from[k])));
    scale = Math.max(scale, Math.abs(ref[j] - from[k]));
  }
  return worst / scale;
}

async function main(): Promise<void> {
  const ds = await loadDataset("mnist-3v8");
  const data = ds.train;
  const c = datasetConstants(ds, { lambda: 1e-6, smoothness: "data" });
  const params = { eta: c.eta, m: c.m, clip: c.clip, sigma: SIGMA, chains: CHAINS };
  const flop = 4 * data.n * data.d * CHAINS; // two n×d×T products, 2 flops per multiply-add: 3.76e9 here
  const W0 = initialChains({
    init: "langevin",
    d: data.d,
    classes: 2,
    chains: CHAINS,
    sigma: SIGMA,
    m: c.m,
    seed: SEED,
  });

  const engine = await createEngine(engineName, { threads });
  const stepper = await engine.createStepper(data, params);
  const noise = new PhiloxNoise(deriveSeed(SEED, "bench-noise"));
  let W = await stepper.run(W0, warmup, noise);
  // The yardstick: the step's own two products, timed in turn with the step (onnx only).
  const gemm = engine.name === "onnx" ? await createGemmProbe(data, CHAINS, { threads }) : null;
  for (let k = 0; k < warmup; k++) await gemm?.run();
  const times: number[] = [];
  const gemmTimes: number[] = [];
  const timeEngine = async (count: number) => {
    for (let k = 0; k < count; k++) {
      // Runs of 5 steps: the noise draw (overlapped with the products) is part of the step's cost.
      const t0 = performance.now();
      W = await stepper.run(W, STEPS_PER_RUN, noise);
      times.push((performance.now() - t0) / STEPS_PER_RUN);
      if (!gemm) continue;
      const t1 = performance.now();
      for (let r = 0; r < STEPS_PER_RUN; r++) await gemm.run();
      gemmTimes.push((performance.now() - t1) / STEPS_PER_RUN);
    }
  };
  // The engine's noiseless step from a point nearer the optimum than W0 (where some rows are clipped and
  // some not, and the update is not lost in W0's rounding), to check that the references compute the same.
  const Wc = W0.map((v) => v * 1e-3);
  const noiseless = await engine.createStepper(data, { ...params, sigma: 0 });
  const check = await noiseless.step(Wc, new Float32Array(W0.length));
  await noiseless.dispose();

  const dir = await mkdtemp(path.join(os.tmpdir(), "unlearn-bench-"));
  const rows: { name: string; ms: number | null; note: string }[] = [];
  let msPerStep = Number.NaN;
  let vsNumpy: number | null = null;
  let vsOriginal: number | null = null;
  let numpyMs: number | null = null;
  let originalMs: number | null = null;
  try {
    await writeReferenceInputs(dir, data, W0, Wc, params, SEED);

    // The machine is shared: engine and numpy take turns over ROUNDS rounds so that a burst of
    // other work does not land on one side of the ratio only.
    const numpyPy = findPython(["numpy"]);
    const perRound = Math.ceil(steps / ROUNDS / STEPS_PER_RUN);
    const numpyMedians: number[] = [];
    let numpyVersion = "";
    for (let round = 0; round < ROUNDS; round++) {
      await timeEngine(perRound);
      if ("python" in numpyPy) {
        const out = runPython(numpyPy.python, "step_numpy.py", [
          dir,
          String(perRound * STEPS_PER_RUN),
          String(warmup),
        ]);
        numpyMedians.push(out.msPerStep as number);
        numpyVersion = String(out.numpy);
      }
    }
    msPerStep = median(times);
    if ("python" in numpyPy) {
      numpyMs = median(numpyMedians);
      vsNumpy = numpyMs / msPerStep;
      const diff = updateDiff(Wc, check, await readOutput(dir, "check_numpy.npy"));
      rows.push({
        name: `numpy ${numpyVersion}, batched (${numpyPy.python})`,
        ms: numpyMs,
        note: `same step: update differs by ${diff.toExponential(1)} (relative)`,
      });
    } else {
      rows.push({
        name: "numpy, batched",
        ms: null,
        note: `skipped: no python with numpy (tried ${numpyPy.tried.join(", ")})`,
      });
    }

    const torchPy = findPython(["numpy", "torch"]);
    if ("python" in torchPy) {
      const out = runPython(torchPy.python, "step_torch_original.py", [
        dir,
        String(ORIGINAL_CHAINS),
        String(ORIGINAL_STEPS),
        "1",
      ]);
      // One chain-step costs the same for every chain, so T chains cost T× one chain-step.
      originalMs = (out.msPerChainStep as number) * CHAINS;
      vsOriginal = originalMs / msPerStep;
      const diff = updateDiff(Wc, check, await readOutput(dir, "check_torch.npy"), CHAINS, 0);
      rows.push({
        name: `torch ${out.torch} original: 1 chain at a time, n×d per-sample grads (${out.threads} threads)`,
        ms: originalMs,
        note: `scaled ×${CHAINS} from the median of ${ORIGINAL_CHAINS} chains × ${ORIGINAL_STEPS} steps; same step: update differs by ${diff.toExponential(1)} (relative)`,
      });
    } else {
      rows.push({
        name: "torch original",
        ms: null,
        note: `skipped: no python with numpy and torch (tried ${torchPy.tried.join(", ")})`,
      });
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
    await stepper.dispose();
    await gemm?.dispose();
  }
  let widthRows: WidthRow[] = [];
  try {
    if (widths.length > 0) widthRows = await timeWidths(engine, data, params, c.m);
  } finally {
    await engine.dispose();
  }
  const gemmMs = gemm ? median(gemmTimes) : null;
  const vsGemm = gemmMs === null ? null : msPerStep / gemmMs;
  const gflops = flop / 1e9 / (msPerStep / 1000);
  // Peak of this process only (the python references run in child processes).
  const rssMb = process.resourceUsage().maxRSS / 1024;

  log(
    `Step benchmark: MNIST 3v8 (n=${data.n}, d=${data.d}), T=${CHAINS} chains, σ=${SIGMA}, ${(flop / 1e9).toFixed(2)} GFLOP/step`,
  );
  log(
    `machine: ${os.availableParallelism()} cores, shared with other processes: every time is a median (${steps} steps after ${warmup} warm-up, in runs of ${STEPS_PER_RUN}; step and its GEMMs in turn; engine and numpy alternate over ${ROUNDS} rounds)`,
  );
  log("");
  const pad = (s: string, w: number) => s.padEnd(w);
  log(`${pad("implementation", 78)} ${pad("ms/step", 10)} ${pad("GFLOP/s", 8)} engine speed-up`);
  log(
    `${pad(`${engine.name}: ${engine.backend}`, 78)} ${pad(msPerStep.toFixed(2), 10)} ${pad(gflops.toFixed(0), 8)} 1.00×`,
  );
  if (gemmMs !== null)
    log(
      `${pad("its two GEMMs alone (X·W, Xᵀ·R; same onnxruntime options, timed in turn)", 78)} ${pad(gemmMs.toFixed(2), 10)} ${pad((flop / 1e9 / (gemmMs / 1000)).toFixed(0), 8)} step = ${vsGemm!.toFixed(3)}× its GEMMs`,
    );
  for (const row of rows) {
    if (row.ms === null) {
      log(`${pad(row.name, 78)} ${row.note}`);
      continue;
    }
    const g = flop / 1e9 / (row.ms / 1000);
    log(
      `${pad(row.name, 78)} ${pad(row.ms.toFixed(2), 10)} ${pad(g.toFixed(g < 10 ? 2 : 0), 8)} ${(row.ms / msPerStep).toFixed(2)}×`,
    );
    log(`${pad("", 4)}${row.note}`);
  }
  log("");
  log(`peak RSS of the engine process: ${rssMb.toFixed(0)} MB`);
  log(
    `targets: step ≤ 1.15× its GEMMs (${vsGemm === null ? "not measured for this engine" : vsGemm <= 1.15 ? "met" : "NOT met"}), ≥ 200 GFLOP/s (${gflops >= 200 ? "met" : "NOT met"}), ≥ 1.3× numpy (${vsNumpy === null ? "skipped" : vsNumpy >= 1.3 ? "met" : "NOT met"}), ≥ 30× original (${vsOriginal === null ? "skipped" : vsOriginal >= 30 ? "met" : "NOT met"})`,
  );

  if (widthRows.length > 0) {
    log("");
    log(
      `step by width (job fusion): ${engine.name}, median of runs, step and its GEMMs in turn, widths in turn over ${ROUNDS} rounds`,
    );
    log(
      `${pad("T (columns)", 12)} ${pad("steps", 6)} ${pad("ms/step", 10)} ${pad("ms/column", 10)} ${pad("GFLOP/s", 8)} ${pad("GEMMs ms", 9)} ${pad("vsGemm", 7)} RSS MB`,
    );
    for (const w of widthRows) {
      const g = (4 * data.n * data.d * w.chains) / 1e9 / (w.msPerStep / 1000);
      log(
        `${pad(String(w.chains), 12)} ${pad(String(w.steps), 6)} ${pad(w.msPerStep.toFixed(2), 10)} ${pad(w.msPerColumn.toFixed(4), 10)} ${pad(g.toFixed(0), 8)} ${pad(w.gemmMsPerStep === null ? "-" : w.gemmMsPerStep.toFixed(2), 9)} ${pad(w.gemmMsPerStep === null ? "-" : (w.msPerStep / w.gemmMsPerStep).toFixed(3), 7)} ${w.rssMb.toFixed(0)}`,
      );
    }
  }

  if (args.json) {
    process.stdout.write(
      `${JSON.stringify({
        msPerStep,
        gflops,
        rssMb,
        vsNumpy,
        vsOriginal,
        vsGemm,
        gemmMsPerStep: gemmMs,
        engine: engine.name,
        backend: engine.backend,
        numpyMsPerStep: numpyMs,
        originalMsPerStep: originalMs,
        steps,
        ...(widthRows.length > 0 ? { widths: widthRows } : {}),
      })}\n`,
    );
  }
}

interface WidthRow {
  chains: number;
  /** Timed steps at this width (per round). */
  steps: number;
  msPerStep: number;
  msPerColumn: number;
  /** The same width's two GEMMs alone (onnx only). */
  gemmMsPerStep: number | null;
  /** Resident memory of this process while the width's stepper is alive (after its steps). */
  rssMb: number;
}

/**
 * The step at every width of --chains (one job of T chains: the same graph as a fused batch of T columns
 * without replaced rows), each width's steps timed in runs and in turn with its GEMMs; widths in turn
 * over ROUNDS rounds. A stepper is compiled per width and round and disposed after it (untimed).
 */
async function timeWidths(
  engine: Awaited<ReturnType<typeof createEngine>>,
  data: Awaited<ReturnType<typeof loadDataset>>["train"],
  params: { eta: number; m: number; clip: number; sigma: number },
  m: number,
): Promise<WidthRow[]> {
  const times = widths.map(() => [] as number[]);
  const gemmTimes = widths.map(() => [] as number[]);
  const rss = widths.map(() => 0);
  const counts = widths.map((T) => Math.max(MIN_WIDTH_STEPS, Math.ceil((steps * CHAINS) / T)));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, T] of widths.entries()) {
      const stepper = await engine.createStepper(data, { ...params, chains: T });
      const gemm = engine.name === "onnx" ? await createGemmProbe(data, T, { threads }) : null;
      try {
        const noise = new PhiloxNoise(deriveSeed(SEED, `bench-width-${T}`));
        let W = initialChains({
          init: "langevin",
          d: data.d,
          classes: 2,
          chains: T,
          sigma: SIGMA,
          m,
          seed: SEED,
        });
        W = await stepper.run(W, Math.min(warmup, 2), noise);
        await gemm?.run();
        const perRun = Math.min(STEPS_PER_RUN, counts[i]);
        for (let done = 0; done < counts[i]; done += perRun) {
          const t0 = performance.now();
          W = await stepper.run(W, perRun, noise);
          times[i].push((performance.now() - t0) / perRun);
          if (!gemm) continue;
          const t1 = performance.now();
          for (let r = 0; r < perRun; r++) await gemm.run();
          gemmTimes[i].push((performance.now() - t1) / perRun);
        }
        rss[i] = Math.max(rss[i], process.memoryUsage().rss / 2 ** 20);
      } finally {
        await stepper.dispose();
        await gemm?.dispose();
      }
    }
  }
  return widths.map((T, i) => {
    const ms = median(times[i]);
    return {
      chains: T,
      steps: counts[i],
      msPerStep: ms,
      msPerColumn: ms / T,
      gemmMsPerStep: gemmTimes[i].length > 0 ? median(gemmTimes[i]) : null,
      rssMb: rss[i],
    };
  });
}

await main();
