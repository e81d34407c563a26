/**
 * Figure 3c runs the paper's experiment: K on the grid 1, 11, 21, … (granularity 10), with L_data.
 * The seed repository's result arrays were produced with K = 1301, 1031, 751, 351, 1 for
 * σ = 0.05, 0.1, 0.2, 0.5, 1; the K annotated on its plotted figure (1741, 1381, 1011, 481, 1) is the
 * same grid with the bound smoothness L = 1/4 + λn (docs/science.md, "Which K does Figure 3c show?").
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as accountant from "@unlearn/accountant";
import { JobKind } from "@unlearn/protocol";
import { describe, expect, it } from "vitest";
import { findSweepsDir, parseConfig } from "./config.ts";
import { type DatasetFacts, planSweep } from "./planner.ts";

const MNIST_N = 11982;
const LAMBDA = 1e-6;
// L_data = λ_max(XᵀX/n)/4 + λn for MNIST 3 vs 8 (docs/science.md §2); L_bound = 1/4 + λn.
const L_DATA = 0.194700544;
const L_BOUND = 0.25 + LAMBDA * MNIST_N;

function presetKs(overrides: Record<string, unknown>, L: number) {
  const file = join(findSweepsDir(import.meta.dirname)!, "fig3c.json");
  const config = parseConfig({ ...JSON.parse(readFileSync(file, "utf8")), ...overrides }, file);
  const facts: DatasetFacts = { n: MNIST_N, d: 784, classes: 2, L };
  const plan = planSweep(config, facts, accountant);
  const unlearning = plan.jobs.filter((j) => j.spec!.kind === JobKind.JOB_KIND_UNLEARN);
  return unlearning
    .map((j) => ({ sigma: j.spec!.sigma, K: j.spec!.steps }))
    .sort((a, b) => a.sigma - b.sigma);
}

describe("the fig3c preset's K", () => {
  it("is the paper's run: data smoothness on the grid of 10", () => {
    expect(presetKs({}, L_DATA)).toEqual([
      { sigma: 0.05, K: 1301 },
      { sigma: 0.1, K: 1031 },
      { sigma: 0.2, K: 751 },
      { sigma: 0.5, K: 351 },
      { sigma: 1, K: 1 },
    ]);
  });

  it("with --smoothness bound gives the K annotated on the paper's plotted figure", () => {
    expect(presetKs({ smoothness: "bound" }, L_BOUND).map((p) => p.K)).toEqual([1741, 1381, 1011, 481, 1]);
  });

  it("without the grid gives the exact K, which is not the paper's run", () => {
    expect(presetKs({ granularity: undefined }, L_DATA).map((p) => p.K)).toEqual([1292, 1024, 748, 351, 1]);
  });
});
