import { describe, expect, it } from "vitest";
import { testAccuracy } from "./accuracy.ts";
import { d2dLearn, d2dUnlearn, initialChains, langevinLearn, langevinUnlearn } from "./algorithms.ts";
import { type DatasetConstants, datasetConstants } from "./dataset.ts";
import { createEngine } from "./engine/index.ts";
import type { Engine, StepParams, TrainMatrix } from "./engine/types.ts";
import { lambdaMaxGram } from "./linalg.ts";
import { withReplacedRows } from "./removal.ts";
import { makeSynthetic } from "./synthetic.ts";

/**
 * Small synthetic problems. Clipping caps each step's move at η·M, so the far start (1000·1, distance
 * ≈ 3200) takes ~1000 steps to leave; λ = 1e-3 (m = 0.2) keeps η = 1/L large and the contraction fast.
 */
function problem(classes: number) {
  const { train, test } = makeSynthetic({ n: 200, d: 10, test: 300, classes, seed: 3 });
  const ds = { train, classes, lambdaMax: lambdaMaxGram(train.X, train.n, train.d) };
  return { train, test, constants: datasetConstants(ds, { lambda: 1e-3, smoothness: "data" }) };
}
const bin = problem(2);
const multi = problem(3);

/** The reference engine, recording every stepper's parameters and disposal. */
async function spyEngine() {
  const inner = await createEngine("reference");
  const log = { params: [] as StepParams[], created: 0, disposed: 0 };
  const engine: Engine = {
    ...inner,
    async createStepper(data: TrainMatrix, params: StepParams) {
      const stepper = await inner.createStepper(data, params);
      log.params.push(params);
      log.created++;
      return {
        run: stepper.run.bind(stepper),
        step: stepper.step.bind(stepper),
        async dispose() {
          log.disposed++;
          await stepper.dispose();
        },
      };
    },
  };
  return { engine, log };
}

function mean(a: ArrayLike<number>): number {
  let s = 0;
  for (let k = 0; k < a.length; k++) s += a[k];
  return s / a.length;
}
function variance(a: ArrayLike<number>): number {
  const m = mean(a);
  let s = 0;
  for (let k = 0; k < a.length; k++) s += (a[k] - m) ** 2;
  return s / a.length;
}

describe("initialChains (docs/science.md §3–4)", () => {
  it("langevin binary: exactly 1000·1 when σ = 0, else N(1000·1, 2σ²/m)", () => {
    const base = { init: "langevin" as const, d: 50, classes: 2, chains: 40, m: 0.5, seed: 1 };
    expect(initialChains({ ...base, sigma: 0 })).toEqual(new Float32Array(2000).fill(1000));
    const W = initialChains({ ...base, sigma: 0.25 });
    expect(W.length).toBe(2000);
    expect(Math.abs(mean(W) - 1000)).toBeLessThan(0.05);
    expect(variance(W) / ((2 * 0.25 ** 2) / 0.5)).toBeCloseTo(1, 1);
    expect(initialChains({ ...base, sigma: 0.25 })).toEqual(W);
    expect(initialChains({ ...base, sigma: 0.25, seed: 2 })).not.toEqual(W);
  });

  it("langevin multiclass: N(0, 2σ²/m) in the d×(T·C) layout; d2d: N(1000·1, I)", () => {
    const W = initialChains({ init: "langevin", d: 30, classes: 4, chains: 25, sigma: 1, m: 2, seed: 1 });
    expect(W.length).toBe(30 * 25 * 4);
    expect(Math.abs(mean(W))).toBeLessThan(0.05);
    expect(variance(W)).toBeCloseTo(1, 1);
    const D = initialChains({ init: "d2d", d: 30, classes: 2, chains: 100, sigma: 0, m: 2, seed: 1 });
    expect(Math.abs(mean(D) - 1000)).toBeLessThan(0.05);
    expect(variance(D)).toBeCloseTo(1, 1);
  });

  it("rejects bad arguments, naming the field", () => {
    const base = { init: "langevin" as const, d: 5, classes: 2, chains: 2, sigma: 1, m: 1, seed: 1 };
    expect(() => initialChains({ ...base, chains: 0 })).toThrow(
      /initialChains\.chains must be a positive integer, got 0/,
    );
    expect(() => initialChains({ ...base, m: 0 })).toThrow(/initialChains\.m must be > 0/);
    expect(() => initialChains({ ...base, sigma: -1 })).toThrow(
      /initialChains\.sigma must be a finite number ≥ 0/,
    );
    expect(() => initialChains({ ...base, init: "zero" as "d2d" })).toThrow(
      /init must be "langevin" or "d2d"/,
    );
  });
});

describe("Langevin learn / unlearn on the reference engine", () => {
  it("passes η = 1/L, m, M, σ and T to the engine and disposes every stepper", async () => {
    const { engine, log } = await spyEngine();
    const c = bin.constants;
    const W = await langevinLearn({
      engine,
      data: bin.train,
      constants: c,
      sigma: 0.1,
      steps: 3,
      chains: 4,
      seed: 1,
    });
    await langevinUnlearn({ engine, data: bin.train, constants: c, sigma: 0.2, steps: 2, W, seed: 2 });
    expect(log.params).toEqual([
      { eta: 1 / c.L, m: c.m, clip: 1, sigma: 0.1, chains: 4 },
      { eta: 1 / c.L, m: c.m, clip: 1, sigma: 0.2, chains: 4 },
    ]);
    expect([log.created, log.disposed]).toEqual([2, 2]);
  });

  it("same seed → bit-identical chains; another seed → different chains", async () => {
    const engine = await createEngine("reference");
    const args = { engine, data: bin.train, constants: bin.constants, sigma: 0.05, steps: 20, chains: 3 };
    const a = await langevinLearn({ ...args, seed: 7 });
    expect(await langevinLearn({ ...args, seed: 7 })).toEqual(a);
    expect(await langevinLearn({ ...args, seed: 8 })).not.toEqual(a);
    const u = { engine, data: bin.train, constants: bin.constants, sigma: 0.05, steps: 5, W: a };
    const b = await langevinUnlearn({ ...u, seed: 9 });
    expect(await langevinUnlearn({ ...u, seed: 9 })).toEqual(b);
    expect(await langevinUnlearn({ ...u, seed: 10 })).not.toEqual(b);
  });

  it("noiseless learning (σ = 0) gives identical chains that classify well; unlearning continues the same descent", async () => {
    const engine = await createEngine("reference");
    const args = { engine, data: bin.train, constants: bin.constants, sigma: 0, chains: 3, seed: 1 };
    const Wfull = await langevinLearn({ ...args, steps: 1500 });
    const acc = testAccuracy(bin.test, Wfull, 3);
    expect(acc[0]).toBeGreaterThan(0.85);
    expect(new Set(acc).size).toBe(1);
    // σ = 0: 1480 steps then 20 unlearning steps on the same data = 1500 steps (up to float32 at the hand-over).
    const Wpart = await langevinLearn({ ...args, steps: 1480 });
    const Wcontinued = await langevinUnlearn({ ...args, W: Wpart, steps: 20 });
    for (let k = 0; k < Wfull.length; k++) expect(Wcontinued[k]).toBeCloseTo(Wfull[k], 3);
  });

  it("unlearning runs on D' and leaves the given chains untouched; 0 steps returns a copy", async () => {
    const engine = await createEngine("reference");
    const c = bin.constants;
    const W = await langevinLearn({
      engine,
      data: bin.train,
      constants: c,
      sigma: 0.01,
      steps: 30,
      chains: 2,
      seed: 1,
    });
    const copy = W.slice();
    const Dp = withReplacedRows(bin.train, 50, 4);
    const onD = await langevinUnlearn({
      engine,
      data: bin.train,
      constants: c,
      sigma: 0.01,
      steps: 5,
      W,
      seed: 2,
    });
    const onDp = await langevinUnlearn({ engine, data: Dp, constants: c, sigma: 0.01, steps: 5, W, seed: 2 });
    expect(W).toEqual(copy);
    expect(onDp).not.toEqual(onD);
    const zero = await langevinUnlearn({ engine, data: Dp, constants: c, sigma: 0.01, steps: 0, W, seed: 2 });
    expect(zero).toEqual(W);
    expect(zero).not.toBe(W);
  });

  it("multiclass: noiseless learning classifies 3 clusters well", async () => {
    const engine = await createEngine("reference");
    const c = multi.constants;
    expect([c.clip, c.L]).toEqual([2, 1 + c.m]);
    const W = await langevinLearn({
      engine,
      data: multi.train,
      constants: c,
      sigma: 0,
      steps: 300,
      chains: 2,
      seed: 1,
    });
    expect(W.length).toBe(10 * 2 * 3);
    const acc = testAccuracy(multi.test, W, 2);
    expect(acc[0]).toBeGreaterThan(0.8);
    expect(acc[1]).toBe(acc[0]);
  });

  it("passes progress and abort through, and still disposes the stepper on abort", async () => {
    const { engine, log } = await spyEngine();
    const done: number[] = [];
    const args = {
      engine,
      data: bin.train,
      constants: bin.constants,
      sigma: 0.1,
      steps: 10,
      chains: 2,
      seed: 1,
    };
    await langevinLearn({ ...args, onProgress: (k) => done.push(k) });
    expect(done.at(-1)).toBe(10);
    const controller = new AbortController();
    controller.abort();
    await expect(langevinLearn({ ...args, signal: controller.signal })).rejects.toThrow(/abort/i);
    expect(log.disposed).toBe(log.created);
  });

  it("rejects mismatched constants and chains of the wrong shape", async () => {
    const engine = await createEngine("reference");
    await expect(
      langevinLearn({
        engine,
        data: multi.train,
        constants: bin.constants,
        sigma: 0,
        steps: 1,
        chains: 1,
        seed: 1,
      }),
    ).rejects.toThrow(
      /langevinLearn: constants are for n=200, d=10, classes=2 but data has n=200, d=10, classes=3/,
    );
    await expect(
      langevinUnlearn({
        engine,
        data: multi.train,
        constants: multi.constants,
        sigma: 0,
        steps: 1,
        W: new Float32Array(20),
        seed: 1,
      }),
    ).rejects.toThrow(/langevinUnlearn\.W has length 20, not a positive multiple of d·3 = 30/);
    await expect(
      langevinLearn({
        engine,
        data: bin.train,
        constants: bin.constants,
        sigma: 0,
        steps: -1,
        chains: 1,
        seed: 1,
      }),
    ).rejects.toThrow(/langevinLearn\.steps must be an integer ≥ 0, got -1/);
  });
});

describe("D2D on the reference engine", () => {
  const c: DatasetConstants = bin.constants;

  it("learns with step 2/(L+m) and σ = 0 from N(1000·1, I), converging to one optimum", async () => {
    const { engine, log } = await spyEngine();
    const start = await d2dLearn({ engine, data: bin.train, constants: c, steps: 0, chains: 3, seed: 5 });
    expect(start).toEqual(
      initialChains({ init: "d2d", d: 10, classes: 2, chains: 3, sigma: 0, m: c.m, seed: 5 }),
    );
    const W = await d2dLearn({ engine, data: bin.train, constants: c, steps: 1500, chains: 3, seed: 5 });
    expect(log.params).toEqual([{ eta: 2 / (c.L + c.m), m: c.m, clip: 1, sigma: 0, chains: 3 }]);
    expect(log.disposed).toBe(1);
    // Strong convexity: the three chains started apart (N(1000, I)) and end at the same point.
    for (let k = 0; k < 10; k++) expect(W[k * 3 + 1]).toBeCloseTo(W[k * 3], 3);
    expect(testAccuracy(bin.test, W, 3)[0]).toBeGreaterThan(0.85);
  });

  it("unlearns on D' and publishes W + N(0, σ²), seeded", async () => {
    const engine = await createEngine("reference");
    const W0 = await d2dLearn({ engine, data: bin.train, constants: c, steps: 20, chains: 50, seed: 5 });
    const Dp = withReplacedRows(bin.train, 10, 1);
    const args = { engine, data: Dp, constants: c, steps: 3, W: W0, seed: 6 };
    const r = await d2dUnlearn({ ...args, publishSigma: 0.5 });
    expect(await d2dUnlearn({ ...args, publishSigma: 0.5 })).toEqual(r);
    const quiet = await d2dUnlearn({ ...args, publishSigma: 0 });
    expect(quiet.W).toEqual(r.W);
    expect(quiet.published).toEqual(quiet.W);
    const diff = r.published.map((v, k) => v - r.W[k]);
    expect(Math.abs(mean(diff))).toBeLessThan(0.1);
    expect(Math.sqrt(variance(diff))).toBeCloseTo(0.5, 1);
    const other = await d2dUnlearn({ ...args, seed: 7, publishSigma: 0.5 });
    expect(other.published).not.toEqual(r.published);
    await expect(d2dUnlearn({ ...args, publishSigma: -1 })).rejects.toThrow(
      /publishSigma must be a finite number ≥ 0/,
    );
  });
});
