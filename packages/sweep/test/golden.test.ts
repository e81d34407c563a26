/**
 * Golden values of the planner: a rerun finds its sweep by `sweepId` and every stored result by its job
 * id, so a change to config normalisation, canonical JSON or the spec silently orphans stored sweeps.
 * These pins fail first; change them only deliberately (with a schema version). Both changed
 * deliberately with the noise definition philox-v1 (part of the sweep id and of every job spec).
 */
import { mkdtemp, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as accountant from "@unlearn/accountant";
import { FEATURE_FILES, featuresKey, writeFeaturesManifest, writeNpy } from "@unlearn/core";
import { JobKind } from "@unlearn/protocol";
import { describe, expect, it } from "vitest";
import { findSweepsDir, loadConfig, parseConfig } from "../src/config.ts";
import { type DatasetFacts, planSweep } from "../src/planner.ts";
import { datasetFacts } from "../src/run.ts";

const MNIST: DatasetFacts = { n: 11982, d: 784, classes: 2, L: 0.194700544 };

describe("golden sweep and job ids", () => {
  it("pins the sweep id of the fig5 preset and the id of its learn on D", () => {
    const sweeps = findSweepsDir(import.meta.dirname)!;
    const { config } = loadConfig(join(sweeps, "fig5.json"), {});
    const plan = planSweep(config, MNIST, accountant);
    expect(plan.sweepId).toBe("14489c7df761782c");
    const learn = plan.jobs.find((j) => j.spec!.kind === JobKind.JOB_KIND_LEARN)!;
    expect(learn.spec!.noise).toBe("philox-v1");
    expect(learn.id).toBe("69b9cec185ca9b91fa1804e852ffc8e8caeea6c99e1f5740ba7a46cb3f2f058a");
  });
});

/** A small features directory; `shift` changes one training feature (regenerated features). */
async function featuresDir(shift = 0): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "golden-features-"));
  const X = Float32Array.from({ length: 24 }, (_, k) => 1 + (k % 5) + (k === 0 ? shift : 0));
  await writeNpy(join(dir, FEATURE_FILES.trainFeatures), X, [8, 3]);
  await writeNpy(join(dir, FEATURE_FILES.trainLabels), Int32Array.of(3, 8, 3, 8, 3, 8, 3, 8), [8]);
  await writeNpy(join(dir, FEATURE_FILES.testFeatures), X.subarray(0, 6), [2, 3]);
  await writeNpy(join(dir, FEATURE_FILES.testLabels), Int32Array.of(3, 8), [2]);
  return dir;
}

describe("features datasets are keyed by content", { timeout: 30_000 }, () => {
  const cifarConfig = (dir: string) =>
    parseConfig({
      name: "cifar",
      figure: "fig5",
      dataset: "cifar10-3v8",
      featuresDir: dir,
      removals: [1],
      epsilons: [1],
      sigma: 0.03,
      chains: 2,
      burnIn: 100,
    });
  // The facts runSweep plans with: the dataset loaded from the folder, and the folder's content key.
  const facts = (dir: string) => datasetFacts(cifarConfig(dir));

  it("a moved folder plans the same sweep and jobs; regenerated features plan new ones", async () => {
    const dir = await featuresDir();
    await writeFeaturesManifest(dir);
    const before = planSweep(cifarConfig(dir), await facts(dir), accountant);
    expect((await facts(dir)).featuresKey).toBe(await featuresKey(dir));
    expect(before.jobs.every((j) => j.spec!.featuresPath === dir && j.spec!.featuresKey.length === 64)).toBe(
      true,
    );

    const parent = await mkdtemp(join(tmpdir(), "golden-moved-"));
    const moved = join(parent, "features");
    await rename(dir, moved);
    const after = planSweep(cifarConfig(moved), await facts(moved), accountant);
    expect(after.sweepId).toBe(before.sweepId);
    expect(after.jobs.map((j) => j.id)).toEqual(before.jobs.map((j) => j.id));
    // The spec still says where to read the files now (the executor loads them from there).
    expect(after.jobs.every((j) => j.spec!.featuresPath === moved)).toBe(true);

    const regenerated = await featuresDir(0.5);
    await writeFeaturesManifest(regenerated);
    const fresh = planSweep(cifarConfig(regenerated), await facts(regenerated), accountant);
    expect(fresh.sweepId).not.toBe(before.sweepId);
    const old = new Set(before.jobs.map((j) => j.id));
    expect(fresh.jobs.filter((j) => old.has(j.id))).toEqual([]);
    await rm(parent, { recursive: true });
    await rm(regenerated, { recursive: true });
  });
});
