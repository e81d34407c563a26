import { describe, expect, it } from "vitest";
import { createEngine, referenceStep } from "./index.ts";
import { ArrayNoise, fixedNoise, makeData, weights } from "./test-fixtures.ts";
import type { NoiseSource, StepParams, TrainMatrix } from "./types.ts";

/**
 * docs/science.md §3 the slow, obvious way: materialise every per-sample gradient g_i (d values, or d×C),
 * take its true norm, clip, average. The reference engine must agree with it although it never
 * builds g_i (it uses the ‖x_i‖ = 1 shortcut for the norm).
 */
function naiveStep(data: TrainMatrix, p: StepParams, W: Float64Array, xi: Float64Array | Float32Array) {
  const { X, y, n, d, classes } = data;
  const T = p.chains;
  const C = classes === 2 ? 1 : classes;
  const cols = T * C;
  const out = new Float64Array(d * cols);
  let clipped = 0;
  for (let t = 0; t < T; t++) {
    const mean = new Float64Array(d * C);
    for (let i = 0; i < n; i++) {
      const g = new Float64Array(d * C);
      if (classes === 2) {
        let z = 0;
        for (let j = 0; j < d; j++) z += X[i * d + j] * W[j * cols + t];
        const c = (1 / (1 + Math.exp(-y[i] * z)) - 1) * y[i];
        for (let j = 0; j < d; j++) g[j] = c * X[i * d + j] + p.m * W[j * cols + t];
      } else {
        const z = new Float64Array(C);
        for (let k = 0; k < C; k++)
          for (let j = 0; j < d; j++) z[k] += X[i * d + j] * W[j * cols + t * C + k];
        const e = z.map((v) => Math.exp(v));
        const sum = e.reduce((a, b) => a + b, 0);
        for (let j = 0; j < d; j++)
          for (let k = 0; k < C; k++) g[j * C + k] = X[i * d + j] * (e[k] / sum - (k === y[i] ? 1 : 0));
      }
      const norm = Math.sqrt(g.reduce((a, v) => a + v * v, 0));
      const s = Math.min(1, p.clip / norm);
      if (s < 1) clipped++;
      for (let q = 0; q < d * C; q++) mean[q] += (s * g[q]) / n;
    }
    for (let j = 0; j < d; j++)
      for (let k = 0; k < C; k++) {
        const idx = j * cols + t * C + k;
        const reg = classes === 2 ? 0 : p.m * W[idx];
        out[idx] = W[idx] - p.eta * (mean[j * C + k] + reg) + Math.sqrt(2 * p.eta * p.sigma ** 2) * xi[idx];
      }
  }
  return { out, clippedFraction: clipped / (n * T) };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

describe("referenceStep against materialised per-sample gradients", () => {
  it("binary, some rows clipped and some not", () => {
    const data = makeData({ n: 40, d: 6, classes: 2, seed: 11 });
    const p: StepParams = { eta: 0.7, m: 0.05, clip: 0.45, sigma: 0.2, chains: 3 };
    const W = Float64Array.from(weights(12, 6 * 3, 1.5));
    const xi = fixedNoise(13, 1, 18)[0];
    const { out, clippedFraction } = naiveStep(data, p, W, xi);
    expect(clippedFraction).toBeGreaterThan(0.1);
    expect(clippedFraction).toBeLessThan(0.9);
    expect(maxAbsDiff(referenceStep(data, p, W, xi), out)).toBeLessThan(1e-6);
  });

  it("multiclass, some rows clipped and some not; regulariser after clipping", () => {
    const data = makeData({ n: 30, d: 5, classes: 4, seed: 21 });
    const p: StepParams = { eta: 0.5, m: 0.2, clip: 0.8, sigma: 0.1, chains: 2 };
    const W = Float64Array.from(weights(22, 5 * 2 * 4, 4));
    const xi = fixedNoise(23, 1, 40)[0];
    const { out, clippedFraction } = naiveStep(data, p, W, xi);
    expect(clippedFraction).toBeGreaterThan(0.1);
    expect(clippedFraction).toBeLessThan(0.9);
    expect(maxAbsDiff(referenceStep(data, p, W, xi), out)).toBeLessThan(1e-6);
  });
});

describe("reference engine", () => {
  const data = makeData({ n: 20, d: 4, classes: 2, seed: 31 });
  const params: StepParams = { eta: 1, m: 0.05, clip: 1, sigma: 0.1, chains: 2 };

  it("run equals repeated referenceStep under the same noise, and leaves W untouched", async () => {
    const engine = await createEngine("reference");
    const stepper = await engine.createStepper(data, params);
    const W0 = weights(32, 8, 2);
    const copy = W0.slice();
    const draws = fixedNoise(33, 5, 8);
    const W = await stepper.run(W0, 5, new ArrayNoise(draws));
    let expected: Float64Array = Float64Array.from(W0);
    for (const xi of draws) expected = referenceStep(data, params, expected, xi);
    expect(maxAbsDiff(W, expected)).toBeLessThan(1e-6);
    expect(W0).toEqual(copy);
    expect(engine.name).toBe("reference");
  });

  it("draws no noise when σ = 0", async () => {
    const engine = await createEngine("reference");
    const stepper = await engine.createStepper(data, { ...params, sigma: 0 });
    const refuse: NoiseSource = {
      fill() {
        throw new Error("noise drawn with σ = 0");
      },
    };
    const W = await stepper.run(weights(34, 8, 1), 3, refuse);
    expect(W.every(Number.isFinite)).toBe(true);
  });

  it("reports progress and stops with an AbortError", async () => {
    const stepper = await (await createEngine("reference")).createStepper(data, params);
    const seen: number[] = [];
    await stepper.run(weights(35, 8, 1), 4, new ArrayNoise(fixedNoise(36, 4, 8)), {
      onProgress: (k) => seen.push(k),
    });
    expect(seen).toEqual([1, 2, 3, 4]);
    const controller = new AbortController();
    const run = stepper.run(weights(35, 8, 1), 50, new ArrayNoise(fixedNoise(37, 50, 8)), {
      signal: controller.signal,
      onProgress: (k) => k === 2 && controller.abort(),
    });
    await expect(run).rejects.toMatchObject({ name: "AbortError" });
  });

  it("rejects bad inputs with errors that name the field", async () => {
    const engine = await createEngine("reference");
    await expect(
      engine.createStepper({ ...data, y: data.y.map((v, i) => (i === 3 ? 0 : v)) }, params),
    ).rejects.toThrow("TrainMatrix.y[3] = 0");
    const X = data.X.slice();
    for (let j = 0; j < data.d; j++) X[j] *= 1.5;
    await expect(engine.createStepper({ ...data, X }, params)).rejects.toThrow("TrainMatrix.X row 0");
    await expect(engine.createStepper(data, { ...params, eta: -1 })).rejects.toThrow("StepParams.eta");
    const stepper = await engine.createStepper(data, params);
    await expect(stepper.step(new Float32Array(7), new Float32Array(8))).rejects.toThrow("W has length 7");
    await expect(createEngine("reference", { device: "cuda" })).rejects.toThrow('device "cuda"');
    // @ts-expect-error: an unknown name is a run-time error too
    await expect(createEngine("numpy")).rejects.toThrow('unknown engine "numpy"');
  });
});
