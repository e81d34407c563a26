/**
 * executeJobs: jobs fused into one column batch give each job the result it gets alone (reference
 * engine: bit for bit; onnx: within the conformance tolerance), and their results say how wide the
 * batch was. The jobs differ in σ (Figure 3a's σ*(ε, k)), step counts (K, burn-in) and D′ (S).
 */
import * as accountant from "@unlearn/accountant";
import { datasetConstants, loadDataset } from "@unlearn/core";
import type { Job } from "@unlearn/protocol";
import { describe, expect, it } from "vitest";
import { parseConfig } from "./config.ts";
import { type ExecuteOutput, executeJob, executeJobs } from "./execute.ts";
import { type DatasetFacts, planSweep } from "./planner.ts";

const dataset = "synthetic?n=150&d=5&test=60&classes=2&seed=8";
// λ = 1e-3: m = λn large enough for K of a few dozen steps on 150 rows (λ = 1e-6 would ask for 40,000+).
const common = { dataset, chains: 3, burnIn: 300, lambda: 1e-3, alphaRange: { min: 2, max: 1e4 } };

async function plans(engine: string): Promise<Job[]> {
  const ds = await loadDataset(dataset);
  const c = datasetConstants(ds, { lambda: common.lambda, smoothness: "data" });
  const facts: DatasetFacts = { n: c.n, d: c.d, classes: c.classes, L: c.L };
  const fig3a = parseConfig({
    ...common,
    name: "f3a",
    figure: "fig3a",
    engine,
    epsilons: [0.5, 2],
    ks: [1, 5],
    d2dSteps: [2],
  });
  const fig5 = parseConfig({
    ...common,
    name: "f5",
    figure: "fig5",
    engine,
    removals: [1, 4, 12],
    epsilons: [1],
    sigma: 0.05,
  });
  const jobs = new Map<string, Job>();
  for (const config of [fig3a, fig5])
    for (const j of planSweep(config, facts, accountant).jobs) jobs.set(j.id, j);
  return [...jobs.values()];
}

describe.each([
  ["reference", 0],
  ["onnx", 1e-4],
])("executeJobs on %s", { timeout: 60_000 }, (engine, tolerance) => {
  it("fuses roots, then their children: every job's result is the one it gets alone", async () => {
    const jobs = await plans(engine);
    const alone = new Map<string, ExecuteOutput>();
    const loadArtifact = async (key: string) => alone.get(key)?.artifact?.W ?? null;
    for (const job of jobs) alone.set(job.id, await executeJob(job, { loadArtifact }));
    const roots = jobs.filter((j) => !j.spec!.parentId);
    const children = jobs.filter((j) => j.spec!.parentId);
    expect(new Set(roots.map((j) => j.spec!.sigma)).size).toBeGreaterThan(2);
    expect(new Set(roots.map((j) => j.spec!.removals)).size).toBeGreaterThan(2);
    expect(new Set(children.map((j) => j.spec!.steps)).size).toBeGreaterThan(2);
    for (const batch of [roots, children]) {
      const progress = new Map<number, number>();
      const fused = await executeJobs(batch, {
        loadArtifact,
        onJobProgress: (i, done) => progress.set(i, done),
      });
      for (const [i, job] of batch.entries()) {
        const one = alone.get(job.id)!;
        const { result, artifact } = fused[i];
        expect(result.error, job.id).toBe("");
        expect(result.fusedColumns).toBe(batch.length * 3); // every job starts in the full batch
        expect(one.result.fusedColumns).toBeUndefined();
        expect(progress.get(i)).toBe(job.spec!.steps);
        if (tolerance === 0) {
          expect(result.accuracies, job.id).toEqual(one.result.accuracies);
          expect(artifact!.W, job.id).toEqual(one.artifact!.W);
        } else {
          let worst = 0;
          for (const [k, v] of artifact!.W.entries())
            worst = Math.max(worst, Math.abs(v - one.artifact!.W[k]) / (1 + Math.abs(one.artifact!.W[k])));
          expect(worst, job.id).toBeLessThan(tolerance);
        }
      }
    }
  });
});

describe("executeJobs refusals", () => {
  it("a job that cannot start fails alone; its batch mates run", async () => {
    const [learn, other] = (await plans("reference")).filter((j) => !j.spec!.parentId);
    const out = await executeJobs([{ ...learn, engine: "torch" }, other], { loadArtifact: async () => null });
    expect(out[0].result.ok).toBe(false);
    expect(out[0].result.error).toMatch(/job engine: expected one of/);
    expect(out[1].result.ok).toBe(true);
    expect(out[1].result.fusedColumns).toBeUndefined(); // it ran alone after all
  });
});
