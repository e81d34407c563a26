import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import * as accountant from "@unlearn/accountant";
import { type Job, JobKind, jobId } from "@unlearn/protocol";
import { describe, expect, it } from "vitest";
import { findSweepsDir, parseConfig } from "./config.ts";
import {
  type AccountantApi,
  burnInWarnings,
  canonicalJson,
  type DatasetFacts,
  estimatedSeconds,
  formatDuration,
  planSweep,
  sweepIdOf,
} from "./planner.ts";

// MNIST 3 vs 8 (docs/science.md §2): n, d and L_data = λ_max(XᵀX/n)/4 + λn for λ = 1e-6.
const MNIST: DatasetFacts = { n: 11982, d: 784, classes: 2, L: 0.194700544 };
const base = { dataset: "mnist-3v8", chains: 100, burnIn: 10000 };
const fig5 = parseConfig({
  ...base,
  name: "f5",
  figure: "fig5",
  removals: [1, 10, 50, 100, 500, 1000],
  epsilons: [0.5, 1, 2],
  sigma: 0.03,
  granularity: 10,
});
const fig4 = parseConfig({
  ...base,
  name: "f4",
  figure: "fig4",
  epsilons: [0.1, 0.5, 1, 2, 5],
  removals: [1, 50, 100],
  sigma: 0.03,
  granularity: 10,
});
const fig3a = parseConfig({
  ...base,
  name: "f3a",
  figure: "fig3a",
  epsilons: [0.05, 0.1, 0.5, 1, 2, 5],
  ks: [1, 2, 5],
  d2dSteps: [1, 2, 5],
  alphaRange: { min: 2, max: 1e4 },
});
const fig3b = parseConfig({
  ...base,
  name: "f3b",
  figure: "fig3b",
  total: 100,
  batches: [5, 10, 20],
  epsilon: 1,
  sigma: 0.03,
  d2dFactors: [1, 1.5, 2],
});
const fig3c = parseConfig({
  ...base,
  name: "f3c",
  figure: "fig3c",
  sigmas: [0.05, 0.1, 0.2, 0.5, 1],
  removals: 100,
  epsilon: 1,
});

const kinds = (jobs: Job[]) => {
  const count: Record<string, number> = {};
  for (const j of jobs) count[JobKind[j.spec!.kind]] = (count[JobKind[j.spec!.kind]] ?? 0) + 1;
  return count;
};
const c = accountant.accountantConstants({ n: MNIST.n, lambda: 1e-6, L: MNIST.L });

/** Every parent appears before its children and every id is the hash of its spec. */
function expectDag(jobs: Job[]) {
  const seen = new Set<string>();
  for (const j of jobs) {
    expect(j.id).toBe(jobId(j.spec!));
    if (j.spec!.parentId) expect(seen.has(j.spec!.parentId), `parent of ${j.id} planned first`).toBe(true);
    expect(seen.has(j.id)).toBe(false);
    seen.add(j.id);
  }
}

describe("planSweep", () => {
  it("fig5: one learn on D, unlearning per (S, ε) with K from the accountant, retraining per S", () => {
    const plan = planSweep(fig5, MNIST, accountant);
    expectDag(plan.jobs);
    // S = 1 needs K = 1 for every ε ≥ 0.5 (ε0 ≈ 0.31 < ε): those three points are one job, three links.
    expect(kinds(plan.jobs)).toEqual({ JOB_KIND_LEARN: 1, JOB_KIND_UNLEARN: 16, JOB_KIND_RETRAIN: 6 });
    expect(plan.links.filter((l) => l.series.startsWith("unlearning")).length).toBe(18);
    const learn = plan.jobs.find((j) => j.spec!.kind === JobKind.JOB_KIND_LEARN)!;
    expect(learn.spec).toMatchObject({ sigma: 0.03, steps: 10000, removals: 0, chains: 100, parentId: "" });
    const u = plan.links.find(
      (l) => l.series === "unlearning ε=1" && plan.jobs.find((j) => j.id === l.jobId)!.spec!.removals === 100,
    )!;
    // docs/science.md §5 check: K(ε=1, σ=0.03, S=100) = 1491 with granularity 10.
    expect(u.labels.K).toBe(1491);
    const job = plan.jobs.find((j) => j.id === u.jobId)!;
    expect(job.spec).toMatchObject({ steps: 1491, removals: 100, parentId: learn.id, sigma: 0.03 });
    for (const l of plan.links.filter((l) => l.series.startsWith("unlearning"))) {
      const j = plan.jobs.find((x) => x.id === l.jobId)!;
      expect(l.labels.K).toBe(
        accountant.stepsFor(l.labels.epsilon!, 0.03, j.spec!.removals, c, { granularity: 10 }).K,
      );
    }
    expect(plan.links.filter((l) => l.series === "retraining").length).toBe(6);
    expect(plan.links.find((l) => l.jobId === learn.id)!.figure).toBe("");
  });

  it("ids and sweep id are stable; the engine changes neither", () => {
    const a = planSweep(fig5, MNIST, accountant);
    const b = planSweep(parseConfig({ ...fig5, engine: "reference" }), MNIST, accountant);
    expect(b.sweepId).toBe(a.sweepId);
    expect(b.jobs.map((j) => j.id)).toEqual(a.jobs.map((j) => j.id));
    expect(b.jobs[0]!.engine).toBe("reference");
    const other = planSweep(parseConfig({ ...fig5, seed: 1 }), MNIST, accountant);
    expect(other.sweepId).not.toBe(a.sweepId);
    expect(other.jobs[0]!.id).not.toBe(a.jobs[0]!.id);
    expect(sweepIdOf(fig5)).toMatch(/^[0-9a-f]{16}$/);
    expect(canonicalJson({ b: 1, a: [1, { d: 2, c: undefined }] })).toBe('{"a":[1,{"d":2}],"b":1}');
  });

  it("shares jobs between figures: the learn on D of fig4 and fig5, and equal unlearning jobs", () => {
    const f4 = planSweep(fig4, MNIST, accountant);
    const f5 = planSweep(fig5, MNIST, accountant);
    const learn4 = f4.jobs.find((j) => j.spec!.kind === JobKind.JOB_KIND_LEARN)!;
    const learn5 = f5.jobs.find((j) => j.spec!.kind === JobKind.JOB_KIND_LEARN)!;
    expect(learn4.id).toBe(learn5.id);
    const ids5 = new Set(f5.jobs.map((j) => j.id));
    // (S, ε) ∈ {1, 50, 100} × {0.5, 1, 2} are in both grids; at S = 1 they are one job (K = 1).
    expect(f4.jobs.filter((j) => ids5.has(j.id)).length).toBe(1 + 1 + 3 + 3);
    // S = 1: ε ∈ {0.5, 1, 2, 5} all give K = 1, one job…
    expect(kinds(f4.jobs)).toEqual({ JOB_KIND_LEARN: 1, JOB_KIND_UNLEARN: 12 });
    // …which is still a point of the S=1 line at each of those ε.
    const s1 = f4.links.filter((l) => l.series === "S=1");
    expect(s1.map((l) => l.labels.epsilon)).toEqual([0.1, 0.5, 1, 2, 5]);
    expect(new Set(s1.slice(1).map((l) => l.jobId)).size).toBe(1);
    expect(f4.links.filter((l) => l.figure === "fig4")).toHaveLength(15);
  });

  it("fig3a: σ*(ε, k), k unlearning steps, retraining, noiseless and D2D with its noise", () => {
    const plan = planSweep(fig3a, MNIST, accountant);
    expectDag(plan.jobs);
    expect(kinds(plan.jobs)).toEqual({
      JOB_KIND_LEARN: 19,
      JOB_KIND_UNLEARN: 18,
      JOB_KIND_RETRAIN: 18,
      JOB_KIND_D2D_LEARN: 1,
      JOB_KIND_D2D_UNLEARN: 18,
    });
    const u = plan.links.find((l) => l.series === "unlearning k=2" && l.labels.epsilon === 1)!;
    const job = plan.jobs.find((j) => j.id === u.jobId)!;
    // docs/science.md §5 check: σ*(ε=1, k=2) = 0.0095594 with α in [2, 1e4].
    expect(job.spec!.sigma).toBeCloseTo(0.0095594, 6);
    expect(job.spec).toMatchObject({ steps: 2, removals: 1 });
    expect(plan.jobs.find((j) => j.id === job.spec!.parentId)!.spec).toMatchObject({
      sigma: job.spec!.sigma,
      removals: 0,
    });
    const d2d = plan.links.find((l) => l.series === "D2D I=5" && l.labels.epsilon === 0.5)!;
    const d2dJob = plan.jobs.find((j) => j.id === d2d.jobId)!;
    expect(d2dJob.spec!.publishSigma).toBe(accountant.d2dSigma(5, 0.5, c));
    expect(plan.links.find((l) => l.series === "noiseless (σ=0)")!.figure).toBe("fig3a");
  });

  it("fig3b: sequential chains; batch s replaces s·S rows, K from the sequential schedule", () => {
    const plan = planSweep(fig3b, MNIST, accountant);
    expectDag(plan.jobs);
    expect(kinds(plan.jobs)).toEqual({
      JOB_KIND_LEARN: 1,
      JOB_KIND_UNLEARN: 20 + 10 + 5,
      JOB_KIND_D2D_LEARN: 1,
      JOB_KIND_D2D_UNLEARN: 300,
    });
    const byId = new Map(plan.jobs.map((j) => [j.id, j]));
    const chain = plan.links.filter((l) => l.series === "Langevin S=10" && l.labels.batch! > 0);
    const { k } = accountant.sequentialSchedule({ sigma: 0.03, epsilon: 1, batch: 10, total: 100 }, c);
    expect(chain.map((l) => l.labels.K)).toEqual(k);
    expect(chain.map((l) => byId.get(l.jobId)!.spec!.removals)).toEqual([
      10, 20, 30, 40, 50, 60, 70, 80, 90, 100,
    ]);
    for (let i = 1; i < chain.length; i++)
      expect(byId.get(chain[i]!.jobId)!.spec!.parentId).toBe(chain[i - 1]!.jobId);
    const d2d = plan.links.filter((l) => l.series === "D2D f=1.5" && l.labels.batch! > 0);
    const seq = accountant.d2dSequential({ d: 784, epsilon: 1, factor: 1.5, total: 100 }, c);
    expect(d2d.map((l) => byId.get(l.jobId)!.spec!.steps)).toEqual(seq.I);
    expect(d2d.map((l) => byId.get(l.jobId)!.spec!.publishSigma)).toEqual(seq.sigma);
  });

  it("fig3c: ε0 per σ on learn / unlearn / retrain", () => {
    const plan = planSweep(fig3c, MNIST, accountant);
    expect(kinds(plan.jobs)).toEqual({ JOB_KIND_LEARN: 5, JOB_KIND_UNLEARN: 5, JOB_KIND_RETRAIN: 5 });
    for (const series of ["learning", "unlearning", "retraining"])
      expect(plan.links.filter((l) => l.series === series).length).toBe(5);
    const l = plan.links.find(
      (x) => x.series === "unlearning" && plan.jobs.find((j) => j.id === x.jobId)!.spec!.sigma === 0.2,
    )!;
    expect(l.labels.epsilon0).toBe(accountant.epsilon0(0.2, 100, c).epsilon0);
    expect(l.labels.K).toBe(accountant.stepsFor(1, 0.2, 100, c).K);
  });

  it("is deterministic and calls the injected accountant", () => {
    let calls = 0;
    const counting: AccountantApi = {
      ...accountant,
      stepsFor: (...args) => {
        calls++;
        return accountant.stepsFor(...args);
      },
    };
    const a = planSweep(fig5, MNIST, counting);
    expect(calls).toBe(18);
    expect(planSweep(fig5, MNIST, accountant)).toEqual(a);
  });

  it("leaves out removals the training set cannot hold, saying so; rejects a grid with none left", () => {
    // fig5 here removes S ∈ {1, 10, 50, 100, 500, 1000}: on n = 300 only S < 300 can be made.
    const small = { ...MNIST, n: 300 };
    const plan = planSweep(fig5, small, accountant);
    const removed = new Set(plan.jobs.map((j) => j.spec!.removals).filter((S) => S > 0));
    expect([...removed].sort((x, y) => x - y)).toEqual([1, 10, 50, 100]);
    expect(plan.warnings).toContainEqual(
      expect.stringMatching(/^removals 500, 1000 left out: the training set of mnist-3v8 has only 300 rows/),
    );
    expect(planSweep(fig5, MNIST, accountant).warnings.join("\n")).not.toContain("left out");
    const big = parseConfig({ ...fig5, removals: [500, 1000] });
    expect(() => planSweep(big, small, accountant)).toThrow(
      /removals: 500 removals, but the training set has only 300 rows/,
    );
  });

  it("rejects impossible budgets, naming the grid point", () => {
    const tiny = parseConfig({ ...fig5, epsilons: [1e-6] });
    expect(() => planSweep(tiny, MNIST, accountant)).toThrow(
      /fig5 ε=0.000001, S=1: K: |fig5 ε=1e-6, S=1: K: /,
    );
  });

  it("plans every preset in sweeps/ (paper grids; the accountant answers every point)", () => {
    const sweeps = findSweepsDir(import.meta.dirname)!;
    // CIFAR-10 ResNet-18 features: n and d from docs/science.md §1; L = the bound of docs/science.md §2 stands in for λ_max.
    const facts: Record<string, DatasetFacts> = {
      "mnist-3v8": MNIST,
      "cifar10-3v8": { n: 10000, d: 512, classes: 2, L: 0.25 + 0.01 },
      "cifar10-multi": { n: 50000, d: 512, classes: 10, L: 1 + 0.05 },
    };
    const expected: Record<string, number> = { fig3a: 74, fig3b: 337, fig3c: 15, fig4: 13, fig5: 23 };
    for (const file of readdirSync(sweeps).filter((f) => f.endsWith(".json"))) {
      const config = parseConfig(JSON.parse(readFileSync(join(sweeps, file), "utf8")), file);
      const plan = planSweep(config, facts[config.dataset]!, accountant);
      expectDag(plan.jobs);
      expect(
        plan.jobs.every((j) => j.spec!.steps >= 1 && j.spec!.chains === 100),
        file,
      ).toBe(true);
      if (config.dataset === "mnist-3v8") expect(plan.jobs.length, file).toBe(expected[config.figure]);
      // The paper's grids ask for no absurd K (the largest, Figure 4's ε = 0.1, is about 2× the burn-in).
      expect(
        plan.warnings.filter((w) => w.includes("× the burn-in")),
        file,
      ).toEqual([]);
    }
  });
});

describe("burnInWarnings", () => {
  it("warns when the burn-in cannot carry a chain from the paper's initialisation to the optimum", () => {
    // MNIST: 1000·√784·L_data ≈ 5451.6 steps of at most η·M = 1/L each.
    expect(planSweep(fig5, MNIST, accountant).warnings).toEqual([]);
    const short = parseConfig({ ...fig5, burnIn: 1500 });
    const [warning, ...rest] = burnInWarnings(short, MNIST);
    expect(rest).toEqual([]);
    expect(warning).toMatch(/burnIn 1500 is below 5452 steps/);
    expect(burnInWarnings(parseConfig({ ...fig5, burnIn: 5452 }), MNIST)).toEqual([]);
    expect(burnInWarnings(short, { ...MNIST, classes: 10 })).toEqual([]);
  });
});

describe("stepsWarnings", () => {
  it("warns, with the estimated time, when ε near its floor makes K absurd", () => {
    const floor = accountant.epsilonFloor(c);
    const near = parseConfig({ ...fig4, epsilons: [floor * 1.01, 1], removals: [100] });
    const plan = planSweep(near, MNIST, accountant);
    const K = Math.max(...plan.jobs.map((j) => j.spec!.steps));
    expect(K).toBeGreaterThan(1e6);
    const [warning, ...rest] = plan.warnings;
    expect(rest).toEqual([]);
    // 16.8 ms per MNIST step of 100 chains (pnpm bench:step): K steps take K·16.8 ms.
    const hours = (K * 0.0168) / 3600;
    expect(estimatedSeconds(K, MNIST, 100) / 3600).toBeCloseTo(hours, 1);
    expect(warning).toContain(`unlearn job with ${K.toLocaleString("en-US")} steps (σ = 0.03, 100 removals)`);
    expect(warning).toContain(`${Math.round(K / 10000)}× the burn-in of 10,000: about ${hours.toFixed(1)} h`);
    // Two absurd jobs: the longest is named and the total given.
    const two = planSweep(parseConfig({ ...near, removals: [50, 100] }), MNIST, accountant);
    expect(two.warnings[0]).toMatch(/\(2 jobs above 100,000 steps: [\d.]+ (h|days) together\)/);
    // At ε = 1 (K = 1485) nothing is said.
    expect(planSweep(parseConfig({ ...near, epsilons: [1] }), MNIST, accountant).warnings).toEqual([]);
  });

  it("formats durations from seconds to days", () => {
    expect([0.2, 59, 61, 3599, 7200, 86400 * 3].map(formatDuration)).toEqual([
      "1 s",
      "59 s",
      "1 min",
      "60 min",
      "2.0 h",
      "3.0 days",
    ]);
    // Multiclass W has C columns per chain: C times the work.
    expect(estimatedSeconds(10, { ...MNIST, classes: 10 }, 100)).toBeCloseTo(
      10 * estimatedSeconds(10, MNIST, 100),
      9,
    );
  });
});
