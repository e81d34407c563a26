import { existsSync } from "node:fs";
import onnxProto from "onnx-proto";
import { describe, expect, it } from "vitest";
import { replacedRows } from "../removal.ts";
import { PhiloxNoise, philoxKey, philoxNormals, referenceStep } from "./index.ts";
import {
  buildBatchGraph,
  buildStepGraph,
  createOnnxEngine,
  cudaProviderPath,
  drawBeforeStep,
} from "./onnx.ts";
import { tailSources } from "./onnx-step-graph.ts";
import { fixedNoise, makeData, weights } from "./test-fixtures.ts";
import type { StepParams } from "./types.ts";

const data = makeData({ n: 50, d: 5, classes: 2, seed: 41 });
const params: StepParams = { eta: 0.9, m: 0.05, clip: 0.5, sigma: 0.1, chains: 3 };

describe("onnx step graph", () => {
  it("holds exactly two matrix products and never an n×d-per-chain tensor", () => {
    for (const backward of ["gemm-transA", "matmul-xt"] as const) {
      const { bytes } = buildStepGraph(data, params, { xAs: "input", backward });
      const model = onnxProto.onnx.ModelProto.decode(bytes);
      const ops = (model.graph!.node ?? []).map((node) => node.opType);
      expect(ops.filter((op) => op === "MatMul" || op === "Gemm")).toHaveLength(2);
      expect((model.graph!.input ?? []).map((v) => v.name)).toEqual(
        backward === "matmul-xt" ? ["X", "Xt", "W", "xi"] : ["X", "W", "xi"],
      );
    }
  });

  it("every placement of X and every backward product gives the reference step", async () => {
    const W = weights(42, 15, 1.5);
    const xi = fixedNoise(43, 1, 15)[0];
    const expected = referenceStep(data, params, Float64Array.from(W), xi);
    for (const xAs of ["input", "initializer"] as const)
      for (const backward of ["gemm-transA", "matmul-xt"] as const) {
        const engine = await createOnnxEngine({ threads: 1 }, { xAs, backward });
        const out = await (await engine.createStepper(data, params)).step(W, xi);
        for (let i = 0; i < out.length; i++) expect(out[i]).toBeCloseTo(expected[i], 5);
        expect(engine.backend).toContain(`X as ${xAs}, ${backward}`);
        await engine.dispose();
      }
  });

  it("takes no ξ input when σ = 0", () => {
    const { bytes, hasNoise } = buildStepGraph(
      data,
      { ...params, sigma: 0 },
      { xAs: "input", backward: "matmul-xt" },
    );
    expect(hasNoise).toBe(false);
    expect((onnxProto.onnx.ModelProto.decode(bytes).graph!.input ?? []).map((v) => v.name)).not.toContain(
      "xi",
    );
  });
});

describe("onnx batch graph", () => {
  const tune = { xAs: "input", backward: "matmul-xt" } as const;
  const block = (sigma: number, removals: number, seed = 1) => ({
    params: { ...params, sigma },
    noiseKey: 1n,
    replaced: removals ? replacedRows(data, removals, seed) : undefined,
  });
  const matmuls = (bytes: Uint8Array) =>
    (onnxProto.onnx.ModelProto.decode(bytes).graph!.node ?? []).filter((n) => n.opType === "MatMul").length;

  it("shares the rows no block replaces: two products without D′, two more for all the replaced rows", () => {
    expect(matmuls(buildBatchGraph(data, [block(0.1, 0), block(0.2, 0)], tune).bytes)).toBe(2);
    const graph = buildBatchGraph(data, [block(0.1, 0), block(0.2, 3), block(0, 7)], tune);
    expect(matmuls(graph.bytes)).toBe(4);
    expect(graph.tail).toBe(7);
  });

  it("one source per distinct replacement: a sweep's nested D′s share one", () => {
    const blocks = [block(0.1, 3), block(0.1, 7), block(0.1, 2, 5), block(0.1, 0)];
    const t = tailSources(data, blocks, [3, 3, 3, 3], 7);
    expect(t.sources).toBe(3); // D's own rows, seed 1's (3 and 7 rows), seed 5's
    // Every (row, column) sees exactly one version of the row.
    for (let i = 0; i < 7 * 12; i++) expect(t.mask[i] + t.mask[84 + i] + t.mask[168 + i]).toBe(1);
  });
});

describe("onnx noise draws", () => {
  it("ξ overlapped with the step or drawn just before it: the same draws, in order, as step by step", async () => {
    for (const noise of ["overlapped", "before-step"] as const) {
      const engine = await createOnnxEngine({}, { noise });
      expect(engine.backend).toContain(`ξ ${noise}`);
      const stepper = await engine.createStepper(data, params);
      const W0 = weights(45, 15, 1.5);
      const run = await stepper.run(W0, 3, new PhiloxNoise(99n, 4));
      let W = W0;
      const xi = new Float32Array(15);
      for (let k = 4; k < 7; k++) {
        philoxNormals(philoxKey(99n), k, xi);
        W = await stepper.step(W, xi);
      }
      expect(run).toEqual(W);
      await engine.dispose();
    }
  });

  it("drawBeforeStep fills each buffer right before the step that reads it, in the order asked", async () => {
    const events: string[] = [];
    let n = 0;
    const { noise, advance } = drawBeforeStep<number>(
      { fill: (out) => void events.push(`fill ${(out[0] = n++)}`) },
      (state, xi) => {
        events.push(`step ${state} reads ${xi?.[0]}`);
        return state + 1;
      },
    );
    const [a, b] = [new Float32Array(1), new Float32Array(1)];
    noise.fill(a);
    expect(events).toEqual([]); // deferred
    await advance(0, a);
    noise.fill(b);
    await advance(1, b);
    noise.fill(a);
    await advance(2, a);
    expect(events).toEqual([
      "fill 0",
      "step 0 reads 0",
      "fill 1",
      "step 1 reads 1",
      "fill 2",
      "step 2 reads 2",
    ]);
  });
});

describe("onnx engine lifecycle", () => {
  it("a disposed stepper refuses to run; disposing twice is harmless; engine.dispose frees the rest", async () => {
    const engine = await createOnnxEngine({ threads: 1 });
    const a = await engine.createStepper(data, params);
    const b = await engine.createStepper(data, params);
    await a.dispose();
    await a.dispose();
    await expect(a.step(weights(44, 15, 1), new Float32Array(15))).rejects.toThrow("disposed");
    await engine.dispose();
    await expect(b.step(weights(44, 15, 1), new Float32Array(15))).rejects.toThrow("disposed");
  });
});

describe("onnx engine options", () => {
  it("names a bad thread count", async () => {
    await expect(createOnnxEngine({ threads: 0 })).rejects.toThrow("EngineOptions.threads");
  });

  it.skipIf(existsSync(cudaProviderPath()))("explains that the CUDA provider is not installed", async () => {
    await expect(createOnnxEngine({ device: "cuda" })).rejects.toThrow(
      /CUDA execution provider, which is not installed/,
    );
  });
});
