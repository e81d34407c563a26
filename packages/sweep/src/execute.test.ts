import * as accountant from "@unlearn/accountant";
import { datasetConstants, loadDataset } from "@unlearn/core";
import { JobKind } from "@unlearn/protocol";
import { describe, expect, it } from "vitest";
import { parseConfig } from "./config.ts";
import { executeJob } from "./execute.ts";
import { burnInWarnings, type DatasetFacts, planSweep } from "./planner.ts";

const config = parseConfig({
  name: "exec",
  figure: "fig3a",
  dataset: "synthetic?n=200&d=6&test=100&classes=2&seed=3",
  engine: "reference",
  chains: 4,
  // The planner's least burn-in for this dataset is 226 steps (1000·√6·L, no warning above it), but
  // the noiseless chain needs about 1,000 to arrive (0.55 accuracy at 226, 0.76 at 1,000) and has
  // converged by 2,000 (4,000 steps give the same chain). test/executor-science.test.ts checks the science.
  burnIn: 2000,
  epsilons: [1],
  ks: [2],
  d2dSteps: [2],
  alphaRange: { min: 2, max: 1e4 },
});

describe("executeJob", async () => {
  const ds = await loadDataset(config.dataset);
  const c = datasetConstants(ds, { lambda: config.lambda, smoothness: config.smoothness });
  const facts: DatasetFacts = { n: c.n, d: c.d, classes: c.classes, L: c.L };
  const plan = planSweep(config, facts, accountant);
  const byKind = (k: JobKind) => plan.jobs.filter((j) => j.spec!.kind === k);
  const store = new Map<string, Float32Array>();
  const loadArtifact = async (key: string) => store.get(key) ?? null;

  it("runs every kind, chaining unlearning from the stored parent, deterministically", async () => {
    for (const job of plan.jobs) {
      const progress: number[] = [];
      const { result, artifact } = await executeJob(job, {
        loadArtifact,
        worker: "t",
        onProgress: (d) => progress.push(d),
      });
      expect(result.error).toBe("");
      expect(result).toMatchObject({
        ok: true,
        jobId: job.id,
        artifactKey: job.id,
        stepsRun: job.spec!.steps,
        engine: "reference",
        worker: "t",
      });
      expect(result.accuracies).toHaveLength(4);
      for (const a of result.accuracies) expect(a >= 0 && a <= 1).toBe(true);
      expect(artifact!.shape).toEqual([6, 4]);
      expect(artifact!.W.length).toBe(24);
      store.set(job.id, artifact!.W);
    }
    // The burn-in reaches the optimum: the noiseless run (every chain the same run from exactly 1000·1)
    // ends at the accuracy of the noiseless optimum.
    expect(plan.warnings).toEqual([]);
    expect(burnInWarnings({ ...config, burnIn: 225 }, facts)).toHaveLength(1);
    const noiseless = byKind(JobKind.JOB_KIND_LEARN).find((j) => j.spec!.sigma === 0)!;
    const again = await executeJob(noiseless, { loadArtifact });
    // 0.78: the accuracy of the noiseless optimum on these 100 test rows (a chain near 1000·1 gets 0.55).
    for (const a of again.result.accuracies) expect(a).toBeCloseTo(0.78, 6);
    expect(Array.from(again.artifact!.W)).toEqual(Array.from(store.get(noiseless.id)!));
    const unlearn = byKind(JobKind.JOB_KIND_UNLEARN)[0]!;
    const u1 = await executeJob(unlearn, { loadArtifact });
    const u2 = await executeJob(unlearn, { loadArtifact });
    expect(u1.result.accuracies).toEqual(u2.result.accuracies);
    expect(Array.from(u1.artifact!.W)).toEqual(Array.from(u2.artifact!.W));
  });

  it("D2D unlearning publishes a noisy copy but hands on the unpublished chains", async () => {
    const d2d = byKind(JobKind.JOB_KIND_D2D_UNLEARN)[0]!;
    expect(d2d.spec!.publishSigma).toBeGreaterThan(0);
    const out = await executeJob(d2d, { loadArtifact });
    const again = await executeJob({ ...d2d, spec: { ...d2d.spec!, publishSigma: 0 } }, { loadArtifact });
    expect(Array.from(out.artifact!.W)).toEqual(Array.from(again.artifact!.W));
  });

  it("fails with a clear error when the parent's chains are missing or the engine is unknown", async () => {
    const unlearn = byKind(JobKind.JOB_KIND_UNLEARN)[0]!;
    const { result, artifact } = await executeJob(unlearn, { loadArtifact: async () => null });
    expect(result.ok).toBe(false);
    expect(result.error).toMatch(new RegExp(`parent ${unlearn.spec!.parentId} are not stored`));
    expect(artifact).toBeUndefined();
    const bad = await executeJob({ ...unlearn, engine: "torch" }, { loadArtifact });
    expect(bad.result.error).toMatch(
      /job engine: expected one of "onnx" \| "tfjs" \| "reference" \| "webgpu", got "torch"/,
    );
  });
});
