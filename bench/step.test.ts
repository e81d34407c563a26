/**
 * The python references of bench/step.ts compute docs/science.md §3's step: their one noiseless step equals the
 * float64 reference engine's on a small synthetic task. Skipped where python3/numpy/torch are missing.
 */
import { spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { deriveSeed, GaussianStream, loadDataset, referenceStep } from "@unlearn/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findPython, readOutput, runPython, writeReferenceInputs } from "./reference/python.ts";

const numpy = findPython(["numpy"]);
const torch = findPython(["numpy", "torch"]);
const params = { eta: 1.5, m: 0.05, clip: 0.4, sigma: 0.1, chains: 4 };
let dir = "";
let expected: Float64Array;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "unlearn-bench-test-"));
  const ds = await loadDataset("synthetic?n=300&d=12&test=10&classes=2&seed=5", { cacheDir: dir });
  const W0 = new Float32Array(12 * params.chains);
  new GaussianStream(deriveSeed(5, "bench-test")).fill(W0);
  // Standard normal weights (norm ~3.5): some rows' gradients are clipped at M = 0.4, some not.
  // The check step starts from W0 too.
  await writeReferenceInputs(dir, ds.train, W0, W0, params, 5);
  expected = referenceStep(ds.train, { ...params, sigma: 0 }, Float64Array.from(W0), null);
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

function worst(actual: Float32Array, stride: number, column: number, count: number): number {
  let w = 0;
  for (let j = 0; j < count; j++) w = Math.max(w, Math.abs(actual[j] - expected[j * stride + column]));
  return w;
}

describe("python references of the step benchmark", () => {
  it.skipIf(!("python" in numpy))("numpy batched step equals the float64 reference", async () => {
    const out = runPython((numpy as { python: string }).python, "step_numpy.py", [dir, "3", "1"]);
    expect(out.msPerStep).toBeGreaterThan(0);
    const W = await readOutput(dir, "check_numpy.npy");
    expect(W.length).toBe(expected.length);
    expect(worst(W, 1, 0, W.length)).toBeLessThan(1e-5);
  });

  it.skipIf(!("python" in torch))("torch one-chain-at-a-time step equals the float64 reference", async () => {
    const out = runPython((torch as { python: string }).python, "step_torch_original.py", [
      dir,
      "2",
      "2",
      "1",
    ]);
    expect(out.msPerChainStep).toBeGreaterThan(0);
    const w = await readOutput(dir, "check_torch.npy");
    expect(w.length).toBe(12);
    expect(worst(w, params.chains, 0, 12)).toBeLessThan(1e-5);
  });
});

describe("bench:step's command line", () => {
  it("--chains takes a list of widths and names a bad one (exit 2, before any data is loaded)", () => {
    const run = (chains: string) =>
      spawnSync(
        process.execPath,
        ["--import", "tsx", path.join(import.meta.dirname, "step.ts"), "--chains", chains],
        {
          encoding: "utf8",
        },
      );
    for (const bad of ["10,0", "10,x", ""]) {
      const out = run(bad);
      expect(out.status, out.stderr).toBe(2);
      expect(out.stderr).toMatch(/--chains: expected an integer ≥ 1/);
    }
    const help = spawnSync(
      process.execPath,
      ["--import", "tsx", path.join(import.meta.dirname, "step.ts"), "--help"],
      {
        encoding: "utf8",
      },
    );
    expect(help.status).toBe(0);
    expect(help.stdout).toContain("--chains LIST");
  });
});
