/**
 * Job fusion (engine/batch.ts): jobs with different σ, step counts, D′ and starting steps packed into
 * one column batch compute what each computes alone — bit for bit on the reference engine, within the
 * conformance tolerance on onnx.
 */
import { afterAll, describe, expect, it } from "vitest";
import { replacedRows } from "../removal.ts";
import { type BatchJob, materialise, runColumnBatch } from "./batch.ts";
import { createEngine } from "./index.ts";
import { PhiloxNoise } from "./philox.ts";
import { makeData, weights } from "./test-fixtures.ts";
import type { Engine, TrainMatrix } from "./types.ts";

const engines = new Map<string, Engine>();
for (const name of ["reference", "onnx"] as const)
  engines.set(name, await createEngine(name, { threads: 1 }));
afterAll(async () => {
  for (const e of engines.values()) await e.dispose();
});

/** Five jobs of one sweep and one of another seed: learning on D, unlearning, retraining, noiseless, resumed. */
function jobsOn(D: TrainMatrix): BatchJob[] {
  const C = D.classes === 2 ? 1 : D.classes;
  const base = { eta: 0.7, m: 0.05, clip: 0.9 };
  const job = (
    i: number,
    sigma: number,
    chains: number,
    steps: number,
    extra: Partial<BatchJob> = {},
  ): BatchJob => ({
    params: { ...base, sigma, chains },
    noiseKey: BigInt(100 + i),
    W: weights(200 + i, D.d * chains * C, 2),
    steps,
    ...extra,
  });
  return [
    job(0, 0.3, 2, 7),
    job(1, 0.1, 3, 4, { replaced: replacedRows(D, 5, 9) }),
    job(2, 0.2, 1, 10, { replaced: replacedRows(D, 9, 9) }),
    job(3, 0, 2, 3, { replaced: replacedRows(D, 2, 4), params: { ...base, eta: 1.1, sigma: 0, chains: 2 } }),
    job(4, 0.25, 2, 6, { start: 5 }),
  ];
}

async function alone(engine: Engine, D: TrainMatrix, job: BatchJob): Promise<Float32Array> {
  const stepper = await engine.createStepper(materialise(D, job.replaced), job.params);
  try {
    return await stepper.run(job.W, job.steps, new PhiloxNoise(job.noiseKey, job.start ?? 0));
  } finally {
    await stepper.dispose();
  }
}

function worstRelative(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / (1 + Math.abs(b[i])));
  return worst;
}

describe.each([
  ["binary", 2],
  ["multiclass", 3],
])("a column batch (%s)", (_, classes) => {
  const D = makeData({ n: 48, d: 6, classes, seed: 31 + classes });

  it("reference: each job's chains are bit-identical to the job run alone", async () => {
    const engine = engines.get("reference")!;
    const jobs = jobsOn(D);
    const done: number[] = [];
    const fused = await runColumnBatch(engine, D, jobs, { onDone: (i) => done.push(i) });
    for (const [i, job] of jobs.entries())
      expect(fused.W[i], `job ${i}`).toEqual(await alone(engine, D, job));
    // Jobs leave as their steps run out: the 3-step job first, the 10-step job last.
    expect(done).toEqual([3, 1, 4, 0, 2]);
    const width = (i: number) => jobs[i].params.chains * (classes === 2 ? 1 : classes);
    expect(fused.fusedColumns[0]).toBe([0, 1, 2, 3, 4].reduce((s, i) => s + width(i), 0));
    // Fusion changes nothing for a job: a different mate gives the same chains.
    const pair = await runColumnBatch(engine, D, [jobs[2], jobs[0]]);
    expect(pair.W[0]).toEqual(fused.W[2]);
  });

  it("onnx: each job's chains match the job run alone within the conformance tolerance", async () => {
    const engine = engines.get("onnx")!;
    const jobs = jobsOn(D);
    const fused = await runColumnBatch(engine, D, jobs);
    const reference = await runColumnBatch(engines.get("reference")!, D, jobs);
    for (const [i, job] of jobs.entries()) {
      expect(worstRelative(fused.W[i], await alone(engine, D, job)), `job ${i} vs alone`).toBeLessThan(1e-4);
      expect(worstRelative(fused.W[i], reference.W[i]), `job ${i} vs reference`).toBeLessThan(1e-4);
    }
  });
});

describe("joining", () => {
  it("a job queued while the batch runs joins when a job leaves, and computes what it computes alone", async () => {
    const engine = engines.get("reference")!;
    const D = makeData({ n: 40, d: 5, classes: 2, seed: 14 });
    const [a, b, c] = jobsOn(D); // 7, 4 and 10 steps
    const queue = [[], [c]] as BatchJob[][];
    const done: number[] = [];
    const run = await runColumnBatch(engine, D, [a, b], {
      join: () => queue.shift() ?? [],
      onDone: (i) => done.push(i),
    });
    expect(done).toEqual([1, 0, 2]); // b after 4 steps (then c joins), a after 7, c after 4 + 10
    expect(run.W[2]).toEqual(await alone(engine, D, c));
    expect(run.W[0]).toEqual(await alone(engine, D, a));
    expect(run.fusedColumns).toEqual([5, 5, 3]); // c never met b: a's 2 columns and its own 1
  });
});

describe("resuming", () => {
  it("a job resumed at step k draws the ξ it would have drawn: 4 + 6 steps = 10 steps, bit for bit", async () => {
    const engine = engines.get("reference")!;
    const D = makeData({ n: 40, d: 5, classes: 2, seed: 12 });
    const [job] = jobsOn(D);
    const whole = await runColumnBatch(engine, D, [{ ...job, steps: 10 }]);
    const first = await runColumnBatch(engine, D, [{ ...job, steps: 4 }]);
    const rest = await runColumnBatch(engine, D, [{ ...job, W: first.W[0], steps: 6, start: 4 }]);
    expect(rest.W[0]).toEqual(whole.W[0]);
    const wrong = await runColumnBatch(engine, D, [{ ...job, W: first.W[0], steps: 6, start: 0 }]);
    expect(wrong.W[0]).not.toEqual(whole.W[0]);
  });
});

describe("batch input checks", () => {
  const D = makeData({ n: 20, d: 4, classes: 2, seed: 3 });
  const job: BatchJob = {
    params: { eta: 0.5, m: 0.1, clip: 1, sigma: 0.1, chains: 1 },
    noiseKey: 1n,
    W: new Float32Array(4),
    steps: 2,
  };
  it.each([
    ["no blocks", [], /at least one block/],
    [
      "a bad σ",
      [{ ...job, params: { ...job.params, sigma: -1 } }],
      /blocks\[0\]: StepParams.sigma must be ≥ 0/,
    ],
    [
      "too many replaced rows",
      [{ ...job, replaced: replacedRows(makeData({ n: 30, d: 4, classes: 2, seed: 3 }), 21, 1) }],
      /blocks\[0\].replaced has 21 rows, more than D's n = 20/,
    ],
    [
      "W of the wrong length",
      [{ ...job, W: new Float32Array(3) }],
      /jobs\[0\].W must be a Float32Array of d·cols = 4 values/,
    ],
    ["a fractional step count", [{ ...job, steps: 1.5 }], /jobs\[0\].steps must be an integer ≥ 0, got 1.5/],
  ])("refuses %s, naming the field", async (_, jobs, message) => {
    await expect(runColumnBatch(engines.get("reference")!, D, jobs as BatchJob[])).rejects.toThrow(message);
  });
});
