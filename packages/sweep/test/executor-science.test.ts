/**
 * Science-level tests of the executor: a small fig5 sweep (learn on D, unlearn on D′, retrain on D′)
 * planned by the planner and run job by job through `executeJob`, checked against independent float64
 * oracles written here from docs/science.md §3 (clipped gradient, its optimum, the stationary spread of the chain).
 *
 * Why these settings: λ = 1e-3 on n = 200 rows gives m = λn = 0.2 against L ≈ 0.33, so every direction
 * contracts by at least 1 − m/L ≈ 0.4 per step and a chain forgets its start within tens of steps. The
 * burn-in is the planner's own minimum (no burn-in warning), and the accountant's K for ε = 0.5 is a few
 * hundred steps: both learning and unlearning end at stationarity, so "where the chains are" and "how
 * spread they are" can be compared with the optimum and the stationary law of the σ the planner chose.
 * Replacing S = 100 of 200 rows by random rows with random labels moves the optimum a long way.
 */
import * as accountant from "@unlearn/accountant";
import {
  type Dataset,
  datasetConstants,
  loadDataset,
  type TrainMatrix,
  withReplacedRows,
} from "@unlearn/core";
import { type Job, JobKind, type JobResult, jobId } from "@unlearn/protocol";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../src/config.ts";
import { executeJob } from "../src/execute.ts";
import { burnInWarnings, type DatasetFacts, planSweep, type SweepPlan } from "../src/planner.ts";

const DATASET = "synthetic?n=200&d=4&test=400&seed=3&sep=2";
const LAMBDA = 1e-3;
const SIGMA = 0.05;
const S = 100;
const EPSILON = 0.5;
const CHAINS = 100;
const TIMEOUT = 60_000;

/** Mean over rows of the clipped per-row gradient of docs/science.md §3 (binary), in float64. */
function clippedGradient(data: TrainMatrix, m: number, clip: number, w: Float64Array): Float64Array {
  const { X, y, n, d } = data;
  const out = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    let dot = 0;
    for (let k = 0; k < d; k++) dot += X[i * d + k]! * w[k]!;
    const c = (1 / (1 + Math.exp(-y[i]! * dot)) - 1) * y[i]!;
    const g = new Float64Array(d);
    let sq = 0;
    for (let k = 0; k < d; k++) {
      g[k] = c * X[i * d + k]! + m * w[k]!;
      sq += g[k]! ** 2;
    }
    const scale = Math.min(1, clip / Math.sqrt(sq));
    for (let k = 0; k < d; k++) out[k]! += (scale * g[k]!) / n;
  }
  return out;
}

const norm = (v: ArrayLike<number>) => Math.sqrt(Array.from(v).reduce((s, x) => s + x * x, 0));

/** The noiseless optimum: clipped gradient descent with step η from 0 until the gradient vanishes. */
function optimum(data: TrainMatrix, m: number, clip: number, eta: number): Float64Array {
  const w = new Float64Array(data.d);
  for (let it = 0; it < 20_000; it++) {
    const g = clippedGradient(data, m, clip, w);
    if (norm(g) < 1e-13) return w;
    for (let k = 0; k < w.length; k++) w[k]! -= eta * g[k]!;
  }
  throw new Error("oracle: gradient descent did not converge");
}

/**
 * Per-coordinate variance of the chain w ← w − η·ĝ(w) + √(2ησ²)·ξ at stationarity, linearised at the
 * optimum: Σ = AΣAᵀ + 2ησ²·I with A = I − ηH and H the Jacobian of the clipped mean gradient there.
 */
function stationaryVariance(
  data: TrainMatrix,
  m: number,
  clip: number,
  eta: number,
  sigma: number,
): Float64Array {
  const { d } = data;
  const w = optimum(data, m, clip, eta);
  const h = 1e-6;
  const A = Array.from({ length: d }, () => new Float64Array(d));
  for (let j = 0; j < d; j++) {
    const plus = Float64Array.from(w);
    const minus = Float64Array.from(w);
    plus[j]! += h;
    minus[j]! -= h;
    const gp = clippedGradient(data, m, clip, plus);
    const gm = clippedGradient(data, m, clip, minus);
    for (let i = 0; i < d; i++) A[i]![j] = (i === j ? 1 : 0) - (eta * (gp[i]! - gm[i]!)) / (2 * h);
  }
  let cov = Array.from({ length: d }, () => new Float64Array(d));
  for (let it = 0; it < 2000; it++) {
    const next = Array.from({ length: d }, (_, i) =>
      Float64Array.from({ length: d }, (_, j) => {
        let s = i === j ? 2 * eta * sigma * sigma : 0;
        for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) s += A[i]![a]! * cov[a]![b]! * A[j]![b]!;
        return s;
      }),
    );
    cov = next;
  }
  return Float64Array.from({ length: d }, (_, i) => cov[i]![i]!);
}

/** Chain t of a binary d×T artifact. */
function chain(W: Float32Array, d: number, T: number, t: number): Float64Array {
  return Float64Array.from({ length: d }, (_, k) => W[k * T + t]!);
}

function chainMean(W: Float32Array, d: number, T: number): Float64Array {
  const mean = new Float64Array(d);
  for (let t = 0; t < T; t++) for (let k = 0; k < d; k++) mean[k]! += W[k * T + t]! / T;
  return mean;
}

/** Across-chain variance of each coordinate (unbiased). */
function chainVariance(W: Float32Array, d: number, T: number): Float64Array {
  const mean = chainMean(W, d, T);
  const v = new Float64Array(d);
  for (let t = 0; t < T; t++) for (let k = 0; k < d; k++) v[k]! += (W[k * T + t]! - mean[k]!) ** 2 / (T - 1);
  return v;
}

function accuracy(test: TrainMatrix, w: Float64Array): number {
  let right = 0;
  for (let i = 0; i < test.n; i++) {
    let dot = 0;
    for (let k = 0; k < test.d; k++) dot += test.X[i * test.d + k]! * w[k]!;
    if (Math.sign(dot) === test.y[i]) right++;
  }
  return right / test.n;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** A job with a changed spec (and so its own id, as the planner would give it). */
function variant(job: Job, change: Partial<NonNullable<Job["spec"]>>): Job {
  const spec = { ...job.spec!, ...change };
  return { ...job, spec, id: jobId(spec) };
}

interface Run {
  ds: Dataset;
  facts: DatasetFacts;
  c: ReturnType<typeof datasetConstants>;
  Dp: TrainMatrix;
  plan: SweepPlan;
  job: Record<"learn" | "unlearn" | "retrain", Job>;
  out: Map<string, { result: JobResult; W: Float32Array }>;
  store: Map<string, Float32Array>;
}

/** Runs a planned sweep through the executor in plan (topological) order, as the pool would. */
async function runPlan(plan: SweepPlan, store: Map<string, Float32Array>) {
  const out = new Map<string, { result: JobResult; W: Float32Array }>();
  for (const job of plan.jobs) {
    const { result, artifact } = await executeJob(job, {
      loadArtifact: async (key) => store.get(key) ?? null,
    });
    expect(result.error, JobKind[job.spec!.kind]).toBe("");
    store.set(job.id, artifact!.W);
    out.set(job.id, { result, W: artifact!.W });
  }
  return out;
}

/**
 * Plans the sweep and (with `run`) runs it. Each test runs what it checks itself rather than sharing a
 * beforeAll: the mutation run (pnpm test:mutation) attributes the code a test executes to that test
 * and reruns only those tests per mutant, so work done in a hook would be checked by no test.
 */
async function setUp(run = true): Promise<Run> {
  const ds = await loadDataset(DATASET);
  const c = datasetConstants(ds, { lambda: LAMBDA });
  const facts: DatasetFacts = { n: c.n, d: c.d, classes: c.classes, L: c.L };
  const fields = {
    name: "science",
    figure: "fig5",
    dataset: DATASET,
    lambda: LAMBDA,
    engine: "reference",
    chains: CHAINS,
    removals: [S],
    epsilons: [EPSILON],
    sigma: SIGMA,
  };
  // The planner's own bound on the burn-in (1000·√d·L steps), plus a margin for the last stretch.
  const [warning] = burnInWarnings(parseConfig({ ...fields, burnIn: 1 }), facts);
  const burnIn = Number(/below (\d+) steps/.exec(warning!)![1]) + 100;
  const config = parseConfig({ ...fields, burnIn });
  const plan = planSweep(config, facts, accountant);
  const kind = (k: JobKind) => plan.jobs.find((j) => j.spec!.kind === k)!;
  const job = {
    learn: kind(JobKind.JOB_KIND_LEARN),
    unlearn: kind(JobKind.JOB_KIND_UNLEARN),
    retrain: kind(JobKind.JOB_KIND_RETRAIN),
  };
  const store = new Map<string, Float32Array>();
  const out = run ? await runPlan(plan, store) : new Map();
  return { ds, facts, c, Dp: withReplacedRows(ds.train, S, 0n), plan, job, out, store };
}

describe("the executor runs the science of a small fig5 sweep (synthetic, d = 4)", {
  timeout: TIMEOUT,
}, () => {
  it("is planned with a burn-in that reaches the optimum (no warning) and K from the accountant", async () => {
    const r = await setUp(false);
    expect(r.plan.warnings).toEqual([]);
    expect(r.plan.jobs).toHaveLength(3);
    expect(r.job.unlearn.spec).toMatchObject({ sigma: SIGMA, removals: S, parentId: r.job.learn.id });
    expect(r.job.retrain.spec).toMatchObject({ sigma: SIGMA, removals: S, parentId: "" });
    expect(r.job.unlearn.spec!.steps).toBeGreaterThan(50); // many times the ~5-step mixing time
  });

  it("learning reaches the noiseless optimum: σ = 0 lands on it, σ > 0 matches its accuracy", async () => {
    const r = await setUp();
    const { ds, c } = r;
    const wStar = optimum(ds.train, c.m, c.clip, c.eta);
    const best = accuracy(ds.test, wStar);
    expect(best).toBeGreaterThan(0.9); // the two clusters are separable enough to learn
    const noiseless = variant(r.job.learn, { sigma: 0 });
    const { result, artifact } = await executeJob(noiseless, { loadArtifact: async () => null });
    for (let t = 0; t < CHAINS; t++) {
      const w = chain(artifact!.W, c.d, CHAINS, t);
      expect(norm(w.map((v, k) => v - wStar[k]!)) / norm(wStar)).toBeLessThan(1e-4);
    }
    expect(result.accuracies.every((a) => Math.abs(a - best) < 1e-6)).toBe(true);
    // With noise the chains scatter around the optimum; their accuracy stays within a few test rows.
    const learned = r.out.get(r.job.learn.id)!;
    expect(Math.abs(mean(learned.result.accuracies) - best)).toBeLessThan(0.02);
    expect(norm(clippedGradient(ds.train, c.m, c.clip, chainMean(learned.W, c.d, CHAINS)))).toBeLessThan(
      0.03,
    );
  });

  it("an unlearning job's chains follow D′, not D (and so do retraining's)", async () => {
    const r = await setUp();
    const { ds, c, Dp } = r;
    const onD = (w: Float64Array) => norm(clippedGradient(ds.train, c.m, c.clip, w));
    const onDp = (w: Float64Array) => norm(clippedGradient(Dp, c.m, c.clip, w));
    // The replaced rows move the optimum: D's optimum has a large gradient on D′ and back.
    const moved = onDp(optimum(ds.train, c.m, c.clip, c.eta));
    expect(moved).toBeGreaterThan(0.05);
    expect(onD(optimum(Dp, c.m, c.clip, c.eta))).toBeGreaterThan(0.05);
    for (const job of [r.job.unlearn, r.job.retrain]) {
      const w = chainMean(r.out.get(job.id)!.W, c.d, CHAINS);
      // What is left is the noise of a mean over 100 chains (≈ 0.01 here), far below the move.
      expect(onDp(w), `${JobKind[job.spec!.kind]} on D′`).toBeLessThan(moved / 5);
      expect(onD(w), `${JobKind[job.spec!.kind]} on D`).toBeGreaterThan(moved / 2);
    }
  });

  it("unlearning and retraining use the planned σ: their spread is the stationary spread of σ (not 0, not 2σ)", async () => {
    const r = await setUp();
    const { c, Dp } = r;
    const reference = stationaryVariance(Dp, c.m, c.clip, c.eta, SIGMA);
    const ratios = (W: Float32Array) =>
      Array.from(chainVariance(W, c.d, CHAINS), (v, k) => v / reference[k]!);
    // 100 chains estimate a variance to ±14 % (one standard error): [0.6, 1.6] is 3 or more of them.
    const matches = (W: Float32Array) => ratios(W).every((q) => q > 0.6 && q < 1.6);
    for (const job of [r.job.unlearn, r.job.retrain]) {
      expect(
        matches(r.out.get(job.id)!.W),
        `${JobKind[job.spec!.kind]}: ${ratios(r.out.get(job.id)!.W)}`,
      ).toBe(true);
    }
    // The check is sharp: the same unlearning at σ = 0 or 2σ fails it.
    for (const sigma of [0, 2 * SIGMA]) {
      const wrong = await executeJob(variant(r.job.unlearn, { sigma }), {
        loadArtifact: async (key) => r.store.get(key) ?? null,
      });
      expect(matches(wrong.artifact!.W), `σ = ${sigma}`).toBe(false);
    }
  });

  it("a retraining job starts from the initial distribution N(1000·1, 2σ²/m), never from a parent", async () => {
    const r = await setUp(false);
    const { c } = r;
    const oneStep = variant(r.job.retrain, { steps: 1 });
    const { result, artifact } = await executeJob(oneStep, {
      loadArtifact: async (key) => {
        throw new Error(`retraining asked for the chains of ${key}`);
      },
    });
    expect(result.error).toBe("");
    // One step moves a chain by at most η·M plus noise of variance 2ησ²; the start has variance 2σ²/m.
    const sd = Math.sqrt((2 * SIGMA ** 2) / c.m + 2 * c.eta * SIGMA ** 2);
    const W = artifact!.W;
    for (const v of W) expect(Math.abs(v - 1000)).toBeLessThan(c.eta * c.clip + 6 * sd);
    const spread = mean(Array.from(chainVariance(W, c.d, CHAINS)));
    expect(spread / sd ** 2).toBeGreaterThan(0.6);
    expect(spread / sd ** 2).toBeLessThan(1.6);
  });
});
