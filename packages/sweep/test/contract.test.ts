/**
 * The executor's and the planner's contracts at their edges (complements src/*.test.ts and the science
 * tests; the mutation run of issue 11 found these untested): each refusal names the job and field,
 * timing fields are consistent with the wall clock, caches never mix datasets or engines, and the
 * planner's series names, labels, errors and warnings say what they claim.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as accountant from "@unlearn/accountant";
import { FEATURE_FILES, loadDataset, writeNpy } from "@unlearn/core";
import { type Job, JobKind, jobId, Smoothness } from "@unlearn/protocol";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../src/config.ts";
import { disposeEngines, executeJob, JobInputError, jobConstants } from "../src/execute.ts";
import {
  type AccountantApi,
  burnInWarnings,
  canonicalJson,
  type DatasetFacts,
  formatDuration,
  PlanError,
  planSweep,
  stepsWarnings,
} from "../src/planner.ts";

const DATASET = "synthetic?n=40&d=3&test=20&seed=5";
const FACTS: DatasetFacts = { n: 40, d: 3, classes: 2, L: 0.3 };
const base = { name: "contract", dataset: DATASET, engine: "reference", chains: 2, burnIn: 20 };
const fig5 = parseConfig({ ...base, figure: "fig5", removals: [2], epsilons: [1], sigma: 0.1 });
const noParent = async () => null;

function withSpec(job: Job, change: Partial<NonNullable<Job["spec"]>>): Job {
  const spec = { ...job.spec!, ...change };
  return { ...job, spec, id: jobId(spec) };
}

const plan = planSweep(fig5, FACTS, accountant);
const learn = plan.jobs.find((j) => j.spec!.kind === JobKind.JOB_KIND_LEARN)!;
const unlearn = plan.jobs.find((j) => j.spec!.kind === JobKind.JOB_KIND_UNLEARN)!;

describe("executeJob refusals name the job and the field", { timeout: 30_000 }, () => {
  const cases: [string, Job, RegExp][] = [
    ["no spec", { ...learn, spec: undefined }, /^JobInputError: job [0-9a-f]{64}: no spec$/],
    ["no chains", withSpec(learn, { chains: 0 }), /: chains must be ≥ 1, got 0$/],
    ["no steps", withSpec(learn, { steps: 0 }), /: steps must be ≥ 1, got 0$/],
    [
      "a parent for learning",
      withSpec(learn, { parentId: unlearn.id }),
      /parent_id must be empty for kind JOB_KIND_LEARN/,
    ],
    [
      "no parent for unlearning",
      withSpec(unlearn, { parentId: "" }),
      /parent_id is required for kind JOB_KIND_UNLEARN/,
    ],
    [
      "no smoothness",
      withSpec(learn, { smoothness: Smoothness.SMOOTHNESS_UNSPECIFIED }),
      /job spec smoothness: expected DATA or BOUND, got 0/,
    ],
    ["an unknown kind", withSpec(learn, { kind: 42 as JobKind }), /: unknown kind 42$/],
    [
      "a spec of the noise before philox-v1",
      withSpec(learn, { noise: "" }),
      /: noise "" is not computed here \(this worker computes "philox-v1"\); plan the sweep again$/,
    ],
  ];
  for (const [what, job, message] of cases) {
    it(`refuses ${what}`, async () => {
      const started = performance.now();
      const { result, artifact } = await executeJob(job, { loadArtifact: noParent, worker: "w" });
      const elapsed = performance.now() - started;
      expect(result.ok).toBe(false);
      expect(result.error).toMatch(message);
      expect(result.error.startsWith("JobInputError: ")).toBe(true);
      expect(result).toMatchObject({ jobId: job.id, worker: "w", accuracies: [], stepsRun: 0 });
      expect(result.wallMs).toBeGreaterThanOrEqual(0);
      expect(result.wallMs).toBeLessThanOrEqual(elapsed + 1);
      expect(artifact).toBeUndefined();
    });
  }
  it("JobInputError is named", () => {
    expect(new JobInputError("x").name).toBe("JobInputError");
  });
});

// A loaded 2-core machine: jobs that load datasets and engines get room (no timing is asserted).
describe("executeJob runs", { timeout: 30_000 }, () => {
  it("one chain; timing fields agree with the wall clock; progress reaches the step count", async () => {
    const one = withSpec(learn, { chains: 1 });
    const progress: [number, number][] = [];
    const started = performance.now();
    const { result, artifact } = await executeJob(one, {
      loadArtifact: noParent,
      onProgress: (done, total) => progress.push([done, total]),
    });
    const elapsed = performance.now() - started;
    expect(result.error).toBe("");
    expect(artifact!.shape).toEqual([3, 1]);
    expect(result.wallMs).toBeGreaterThan(0);
    expect(result.wallMs).toBeLessThanOrEqual(elapsed + 1);
    // msPerStep is the stepping time over the steps: at most the job's wall time per step.
    expect(result.msPerStep).toBeGreaterThan(0);
    expect(result.msPerStep * one.spec!.steps).toBeLessThanOrEqual(result.wallMs + 1e-9);
    expect(progress.at(-1)).toEqual([one.spec!.steps, one.spec!.steps]);
  });

  it("uses the spec's smoothness: L of the bound, not of the data, for SMOOTHNESS_BOUND", async () => {
    const ds = await loadDataset(DATASET);
    const bound = withSpec(learn, { smoothness: Smoothness.SMOOTHNESS_BOUND });
    expect(jobConstants(ds, bound.spec!).L).toBeCloseTo(0.25 + 1e-6 * 40, 12);
    expect(jobConstants(ds, learn.spec!).L).toBeCloseTo(ds.lambdaMax / 4 + 1e-6 * 40, 12);
    const a = await executeJob(learn, { loadArtifact: noParent });
    const b = await executeJob(bound, { loadArtifact: noParent });
    expect(Array.from(b.artifact!.W)).not.toEqual(Array.from(a.artifact!.W));
  });

  it("keeps datasets and engines apart in its caches, and recreates engines after disposeEngines", async () => {
    const other = withSpec(learn, { dataset: "synthetic?n=30&d=5&test=10&seed=5" });
    expect((await executeJob(learn, { loadArtifact: noParent })).artifact!.shape).toEqual([3, 2]);
    expect((await executeJob(other, { loadArtifact: noParent })).artifact!.shape).toEqual([5, 2]);
    const onnx = await executeJob({ ...learn, engine: "onnx" }, { loadArtifact: noParent });
    const ref = await executeJob(learn, { loadArtifact: noParent });
    expect([onnx.result.engine, ref.result.engine]).toEqual(["onnx", "reference"]);
    await disposeEngines();
    const again = await executeJob(learn, { loadArtifact: noParent });
    expect(again.result.error).toBe("");
    expect(Array.from(again.artifact!.W)).toEqual(Array.from(ref.artifact!.W));
  });

  it("reads a features folder from the spec, and retries a folder that failed to load", async () => {
    const dir = await mkdtemp(join(tmpdir(), "exec-features-"));
    const features = withSpec(learn, { dataset: "cifar10-3v8", featuresPath: dir });
    const missing = await executeJob(features, { loadArtifact: noParent });
    // The folder lacks every file; the loader reads them together, so either train file may be named first.
    expect(missing.result.error).toMatch(/train_(features|labels)\.npy: cannot read/);
    const X = Float32Array.from({ length: 24 }, (_, k) => 1 + (k % 7));
    await writeNpy(join(dir, FEATURE_FILES.trainFeatures), X, [8, 3]);
    await writeNpy(join(dir, FEATURE_FILES.trainLabels), Int32Array.of(3, 8, 3, 8, 3, 8, 3, 8), [8]);
    await writeNpy(join(dir, FEATURE_FILES.testFeatures), X.subarray(0, 6), [2, 3]);
    await writeNpy(join(dir, FEATURE_FILES.testLabels), Int32Array.of(3, 8), [2]);
    const found = await executeJob(features, { loadArtifact: noParent });
    expect(found.result.error).toBe("");
    expect(found.result.accuracies).toHaveLength(2);
    await rm(dir, { recursive: true });
  });
});

describe("planner contract", () => {
  /** The real accountant with one function replaced by a failing one. */
  const failing = (name: keyof AccountantApi): AccountantApi => ({
    ...accountant,
    [name]: () => {
      throw new Error("boom");
    },
  });
  const fig3a = parseConfig({ ...base, figure: "fig3a", epsilons: [1], ks: [2], d2dSteps: [3] });
  const fig3b = parseConfig({
    ...base,
    figure: "fig3b",
    total: 4,
    batches: [2],
    epsilon: 1,
    sigma: 0.1,
    d2dFactors: [1],
  });
  const fig3c = parseConfig({
    ...base,
    figure: "fig3c",
    sigmas: [0.1],
    removals: 2,
    epsilon: 1,
    granularity: 10,
  });

  it("names the grid point when the accountant fails", () => {
    const cases: [ReturnType<typeof parseConfig>, keyof AccountantApi, string][] = [
      [fig3a, "sigmaFor", "fig3a ε=1, k=2: σ*: boom"],
      [fig3a, "d2dSigma", "fig3a ε=1, I=3: D2D noise: boom"],
      [fig3b, "sequentialSchedule", "fig3b batch 2: sequential schedule: boom"],
      [fig3b, "d2dSequential", "fig3b D2D f=1: boom"],
      [fig3c, "epsilon0", "fig3c σ=0.1: ε0: boom"],
      [fig3c, "stepsFor", "fig3c σ=0.1: K: boom"],
    ];
    for (const [config, name, message] of cases) {
      let error: unknown;
      try {
        planSweep(config, FACTS, failing(name));
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(PlanError);
      expect((error as Error).name).toBe("PlanError");
      expect((error as Error).message).toBe(message);
    }
  });

  it("refuses removals that would replace every row, naming the field", () => {
    const all = { ...FACTS, n: 4 };
    expect(() => planSweep(parseConfig({ ...fig5, removals: [4] }), all, accountant)).toThrow(
      /^removals: 4 removals, but the training set has only 4 rows$/,
    );
    expect(() => planSweep(fig3b, all, accountant)).toThrow(/^total: 4 removals/);
    expect(() => planSweep(parseConfig({ ...fig3c, removals: 4 }), all, accountant)).toThrow(/^removals: 4/);
    expect(() => planSweep(parseConfig({ ...fig3a, removals: 4 }), all, accountant)).toThrow(/^removals: 4/);
  });

  it("passes the config's α range, granularity, smoothness and the multiclass flag on", () => {
    const calls: unknown[][] = [];
    const spy: AccountantApi = {
      ...accountant,
      accountantConstants: (o) => {
        calls.push(["constants", o]);
        return accountant.accountantConstants(o);
      },
      sigmaFor: (...a) => {
        calls.push(["sigmaFor", a[3]]);
        return accountant.sigmaFor(...a);
      },
      d2dSequential: (...a) => {
        calls.push(["d2dSequential", a[0].d]);
        return accountant.d2dSequential(...a);
      },
    };
    planSweep(parseConfig({ ...fig3a, alphaRange: { min: 2, max: 500 } }), FACTS, spy);
    expect(calls).toContainEqual(["sigmaFor", { alphaMin: 2, alphaMax: 500 }]);
    planSweep(fig3b, { ...FACTS, classes: 10 }, spy);
    expect(calls).toContainEqual(["constants", { n: 40, lambda: 1e-6, L: 0.3, multiclass: true }]);
    expect(calls).toContainEqual(["d2dSequential", 30]); // d·C, W is d×C
    const c3 = planSweep(fig3c, FACTS, accountant);
    const K = c3.links.find((l) => l.series === "unlearning")!.labels.K!;
    expect((K - 1) % 10).toBe(0);
    const bound = planSweep(parseConfig({ ...fig5, smoothness: "bound" }), FACTS, accountant);
    expect(bound.jobs.every((j) => j.spec!.smoothness === Smoothness.SMOOTHNESS_BOUND)).toBe(true);
    expect(
      plan.jobs.every((j) => j.spec!.smoothness === Smoothness.SMOOTHNESS_DATA && j.device === "cpu"),
    ).toBe(true);
  });

  it("names series and labels the points of fig3a, fig3b and fig3c", () => {
    const a = planSweep(fig3a, FACTS, accountant);
    const series = (p: typeof a) => p.links.map((l) => [l.series, l.figure, l.labels]);
    const sa = series(a);
    expect(sa).toContainEqual(["D2D learning on D", "", {}]);
    expect(sa).toContainEqual(["learning on D k=2", "", { epsilon: 1 }]);
    expect(sa).toContainEqual(["retraining k=2", "fig3a", { epsilon: 1 }]);
    const sb = series(planSweep(fig3b, FACTS, accountant));
    expect(sb).toContainEqual(["Langevin S=2", "fig3b", { epsilon: 1, batch: 0, K: 0 }]);
    expect(sb).toContainEqual(["D2D f=1", "fig3b", { epsilon: 1, batch: 0, K: 0 }]);
    const c = planSweep(fig3c, FACTS, accountant);
    const e0 = accountant.epsilon0(
      0.1,
      2,
      accountant.accountantConstants({ n: 40, lambda: 1e-6, L: 0.3 }),
    ).epsilon0;
    expect(series(c)).toContainEqual(["learning", "fig3c", { epsilon0: e0 }]);
    expect(series(c)).toContainEqual(["retraining", "fig3c", { epsilon0: e0 }]);
    expect(series(plan)).toContainEqual(["learning on D", "", {}]);
    // A repeated grid value adds no second link for the same point.
    const twice = planSweep(parseConfig({ ...fig5, epsilons: [1, 1] }), FACTS, accountant);
    expect(twice.links).toEqual(plan.links);
  });

  it("keys a features folder by content only when its key is known", () => {
    const cifar = parseConfig({ ...fig5, dataset: "cifar10-3v8", featuresDir: "/data/f" });
    expect(planSweep(cifar, FACTS, accountant).jobs.every((j) => j.spec!.featuresKey === "")).toBe(true);
    const keyed = planSweep(cifar, { ...FACTS, featuresKey: "k".repeat(64) }, accountant);
    expect(keyed.jobs.every((j) => j.spec!.featuresKey === "k".repeat(64))).toBe(true);
  });

  it("canonicalJson sorts keys at every depth and keeps null", () => {
    expect(canonicalJson({ e: 1, b: { z: null, a: [3, { y: 1, x: 2 }] }, d: 4, a: 5, c: 6 })).toBe(
      '{"a":5,"b":{"a":[3,{"x":2,"y":1}],"z":null},"c":6,"d":4,"e":1}',
    );
    expect(canonicalJson(null)).toBe("null");
  });
});

describe("planner warnings", () => {
  const job = (steps: number): Job => withSpec(learn, { steps });
  it("calls out jobs beyond 10× the burn-in, naming the longest first", () => {
    const limit = 10 * fig5.burnIn;
    expect(stepsWarnings(fig5, FACTS, [job(limit)])).toEqual([]);
    const [one] = stepsWarnings(fig5, FACTS, [job(limit + 1)]);
    expect(one).toMatch(
      /^learn job with 201 steps \(σ = 0\.1, 0 removals\) is 10× the burn-in of 20: about 1 s at 224 GFLOP\/s; /,
    );
    expect(one).not.toContain("jobs above");
    expect(one).toMatch(
      /an ε this close to its floor \(or a small σ\) makes K explode: retraining is cheaper$/,
    );
    const [two] = stepsWarnings(fig5, FACTS, [job(300), job(900), job(500)]);
    expect(two).toMatch(/^learn job with 900 steps .* \(3 jobs above 200 steps: 1 s together\)/);
  });

  it("formats durations at their boundaries", () => {
    expect([60, 3600, 86400 * 2].map(formatDuration)).toEqual(["1 min", "1.0 h", "2.0 days"]);
  });

  it("says how far a clipped step moves a chain in the burn-in warning", () => {
    const [w] = burnInWarnings(fig5, { ...FACTS, d: 784, L: 0.194700544 });
    expect(w).toMatch(/^burnIn 20 is below 5452 steps, .*‖w0‖ ≈ 1000·√784.* η·M = 5\.14 per step: /);
    expect(w).toMatch(/learning and retraining will not converge and accuracies will not match the paper$/);
  });
});
