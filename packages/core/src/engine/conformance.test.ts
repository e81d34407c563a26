/**
 * The conformance suite: every engine must agree with the float64 reference (docs/science.md §3) on
 * gradients and clipping, on trajectories under injected noise, and on accuracy statistics; and a
 * column batch (job fusion) must give each job what it computes alone.
 * tfjs is an optional dependency: where none of its backends is installed its tests are skipped;
 * the other engines must always load.
 */
import { afterAll, describe, expect, it } from "vitest";
import { replacedRows } from "../removal.ts";
import { GaussianStream } from "../rng.ts";
import { type BatchJob, materialise, runColumnBatch } from "./batch.ts";
import { createEngine, ENGINE_NAMES, referenceStep } from "./index.ts";
import { PhiloxNoise } from "./philox.ts";
import { ArrayNoise, fixedNoise, makeData, weights } from "./test-fixtures.ts";
import type { Engine, EngineName, StepParams, TrainMatrix } from "./types.ts";

const available = new Map<EngineName, Engine>();
const unavailable = new Map<EngineName, string>();
for (const name of ENGINE_NAMES) {
  try {
    available.set(name, await createEngine(name, { threads: 1 }));
  } catch (error) {
    unavailable.set(name, String(error));
  }
}
afterAll(async () => {
  for (const engine of available.values()) await engine.dispose();
});

/** float32 tolerance for quantities of size ~|b|: a few ulps of accumulated rounding over d·n sums. */
function expectClose(actual: Float32Array, expected: ArrayLike<number>, rel: number): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < actual.length; i++) {
    const err = Math.abs(actual[i] - expected[i]) / (1 + Math.abs(expected[i]));
    if (!(err <= worst)) {
      worst = err;
      at = i;
    }
  }
  expect(worst, `worst relative error at index ${at}: ${actual[at]} vs ${expected[at]}`).toBeLessThan(rel);
}

function clippedFraction(data: TrainMatrix, p: StepParams, W: Float32Array): number {
  // Fraction of (row, chain) pairs whose per-sample gradient norm (docs/science.md §3) exceeds M: the step tests
  // need both clipped and unclipped rows to test clipping at all.
  const { X, y, n, d, classes } = data;
  const C = classes === 2 ? 1 : classes;
  const cols = p.chains * C;
  let clipped = 0;
  for (let i = 0; i < n; i++)
    for (let t = 0; t < p.chains; t++) {
      const z = new Float64Array(C);
      for (let k = 0; k < C; k++) for (let j = 0; j < d; j++) z[k] += X[i * d + j] * W[j * cols + t * C + k];
      let normSq = 0;
      if (classes === 2) {
        let wsq = 0;
        for (let j = 0; j < d; j++) wsq += W[j * cols + t] ** 2;
        const c = (1 / (1 + Math.exp(-y[i] * z[0])) - 1) * y[i];
        normSq = c * c + 2 * c * p.m * z[0] + p.m * p.m * wsq;
      } else {
        const e = z.map((v) => Math.exp(v));
        const s = e.reduce((a, b) => a + b, 0);
        for (let k = 0; k < C; k++) normSq += (e[k] / s - (k === y[i] ? 1 : 0)) ** 2;
      }
      if (Math.sqrt(normSq) > p.clip) clipped++;
    }
  return clipped / (n * p.chains);
}

function accuracies(test: TrainMatrix, W: Float32Array, chains: number): number[] {
  const { X, y, n, d, classes } = test;
  const C = classes === 2 ? 1 : classes;
  const cols = chains * C;
  return Array.from({ length: chains }, (_, t) => {
    let right = 0;
    for (let i = 0; i < n; i++) {
      const z = new Float64Array(C);
      for (let k = 0; k < C; k++) for (let j = 0; j < d; j++) z[k] += X[i * d + j] * W[j * cols + t * C + k];
      const predicted = classes === 2 ? (z[0] >= 0 ? 1 : -1) : z.indexOf(Math.max(...z));
      if (predicted === y[i]) right++;
    }
    return right / n;
  });
}

const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
const std = (a: number[]) => Math.sqrt(mean(a.map((v) => (v - mean(a)) ** 2)));

const cases = [
  {
    label: "binary",
    data: makeData({ n: 64, d: 7, classes: 2, seed: 101 }),
    test: makeData({ n: 64, d: 7, classes: 2, seed: 101, jitterSeed: 1101 }),
    params: { eta: 0.8, m: 0.05, clip: 0.45, sigma: 0.15, chains: 5 },
    scale: 1.5,
  },
  {
    label: "multiclass",
    data: makeData({ n: 60, d: 6, classes: 3, seed: 202 }),
    test: makeData({ n: 60, d: 6, classes: 3, seed: 202, jitterSeed: 1202 }),
    params: { eta: 0.6, m: 0.04, clip: 0.8, sigma: 0.1, chains: 4 },
    scale: 3,
  },
] satisfies { label: string; data: TrainMatrix; test: TrainMatrix; params: StepParams; scale: number }[];

// webgpu needs a WebGPU adapter (a GPU driver, or Mesa's software Vulkan); CI installs Mesa's, so
// there it must load, elsewhere its tests are skipped with the reason in the test's name.
const OPTIONAL: ReadonlySet<EngineName> = new Set(process.env.CI ? ["tfjs"] : ["tfjs", "webgpu"]);

describe.each(ENGINE_NAMES)("engine %s", (name) => {
  const engine = available.get(name);
  it.skipIf(!engine && OPTIONAL.has(name))(`loads (${unavailable.get(name) ?? "ok"})`, () => {
    expect(unavailable.get(name)).toBeUndefined();
    expect(engine!.name).toBe(name);
    expect(engine!.backend.length).toBeGreaterThan(0);
  });

  describe.each(cases)("$label", ({ data, test, params, scale }) => {
    const cols = params.chains * (data.classes === 2 ? 1 : data.classes);
    const length = data.d * cols;

    it.skipIf(!engine)(
      "one step with injected ξ equals the float64 reference (some rows clipped, some not)",
      async () => {
        const W = weights(7, length, scale);
        const fraction = clippedFraction(data, params, W);
        expect(fraction).toBeGreaterThan(0.1);
        expect(fraction).toBeLessThan(0.9);
        const xi = fixedNoise(8, 1, length)[0];
        const stepper = await engine!.createStepper(data, params);
        expectClose(await stepper.step(W, xi), referenceStep(data, params, Float64Array.from(W), xi), 2e-6);
        // σ = 0: ξ has no effect.
        const noiseless = await engine!.createStepper(data, { ...params, sigma: 0 });
        const expected = referenceStep(data, { ...params, sigma: 0 }, Float64Array.from(W), null);
        expectClose(await noiseless.step(W, xi), expected, 2e-6);
        await stepper.dispose();
        await noiseless.dispose();
      },
      // The first step of each case compiles the engine's step (webgpu: its shaders, on Mesa's software
      // adapter under CI's load this took over 5 s once).
      30_000,
    );

    it.skipIf(!engine)("a 50-step trajectory under the same injected noise stays close", async () => {
      const W0 = weights(9, length, scale);
      const draws = fixedNoise(10, 50, length);
      const stepper = await engine!.createStepper(data, params);
      const noise = new ArrayNoise(draws);
      const W = await stepper.run(W0, 50, noise);
      expect(noise.used).toBe(50);
      let expected: Float64Array = Float64Array.from(W0);
      for (const xi of draws) expected = referenceStep(data, params, expected, xi);
      expectClose(W, expected, 1e-4);
      // The same seed gives bit-identical results on the same engine.
      const again = await stepper.run(W0, 20, new GaussianStream(77n));
      expect(await stepper.run(W0, 20, new GaussianStream(77n))).toEqual(again);
      await stepper.dispose();
    });

    it.skipIf(!engine)("accuracy statistics of a short synthetic run match the reference", async () => {
      const chains = 12;
      const p = { ...params, chains, sigma: 0.05 };
      const len = data.d * chains * (data.classes === 2 ? 1 : data.classes);
      const W0 = weights(11, len, 2);
      const draws = fixedNoise(12, 40, len);
      const stepper = await engine!.createStepper(data, p);
      const W = await stepper.run(W0, 40, new ArrayNoise(draws));
      const ref = await (await createEngine("reference")).createStepper(data, p);
      const Wref = await ref.run(W0, 40, new ArrayNoise(draws));
      const a = accuracies(test, W, chains);
      const b = accuracies(test, Wref, chains);
      // The run must learn something, or matching statistics would prove little.
      expect(mean(b)).toBeGreaterThan(data.classes === 2 ? 0.7 : 0.5);
      expect(Math.abs(mean(a) - mean(b))).toBeLessThan(0.01);
      expect(Math.abs(std(a) - std(b))).toBeLessThan(0.01);
      await stepper.dispose();
    });

    it.skipIf(!engine)(
      "a column batch of jobs with different σ, steps, starts and D′ gives each job its chains alone",
      async () => {
        const C = data.classes === 2 ? 1 : data.classes;
        const job = (
          i: number,
          sigma: number,
          chains: number,
          steps: number,
          extra: Partial<BatchJob> = {},
        ) =>
          ({
            params: { ...params, sigma, chains },
            noiseKey: BigInt(500 + i),
            W: weights(600 + i, data.d * chains * C, scale),
            steps,
            ...extra,
          }) satisfies BatchJob;
        const shared = replacedRows(data, 11, 8);
        const jobs: BatchJob[] = [
          job(0, params.sigma, 2, 6),
          job(1, 2 * params.sigma, 3, 4, { replaced: replacedRows(data, 3, 7), start: 2 }),
          // Jobs 2 and 3 share one D′ (as a sweep's unlearning and retraining jobs do) with their own η, m, M.
          job(2, 0, 1, 2, {
            replaced: shared,
            params: { ...params, sigma: 0, chains: 1, eta: 1, m: 2 * params.m, clip: 0.7 * params.clip },
          }),
          job(3, params.sigma / 2, 2, 5, { replaced: shared }),
        ];
        const fused = await runColumnBatch(engine!, data, jobs);
        expect(fused.fusedColumns[0]).toBe(8 * C);
        const reference = await runColumnBatch(available.get("reference")!, data, jobs);
        for (const [i, j] of jobs.entries()) {
          const stepper = await engine!.createStepper(materialise(data, j.replaced), j.params);
          const alone = await stepper.run(j.W, j.steps, new PhiloxNoise(j.noiseKey, j.start ?? 0));
          await stepper.dispose();
          // The reference engine: bit for bit; the others within the trajectory tolerance.
          if (name === "reference") expect(fused.W[i]).toEqual(alone);
          else expectClose(fused.W[i], alone, 1e-4);
          expectClose(fused.W[i], reference.W[i], 1e-4);
        }
      },
    );

    it.skipIf(!engine)("rejects a W of the wrong length and returns a copy for 0 steps", async () => {
      const stepper = await engine!.createStepper(data, params);
      await expect(stepper.step(new Float32Array(length + 1), new Float32Array(length))).rejects.toThrow(
        `W has length ${length + 1}`,
      );
      const W0 = weights(13, length, 1);
      const same = await stepper.run(W0, 0, new ArrayNoise([]));
      expect(same).toEqual(W0);
      expect(same).not.toBe(W0);
      await stepper.dispose();
    });
  });
});
