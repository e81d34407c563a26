import { describe, expect, it } from "vitest";
import { createEngine } from "./index.ts";
import { selectEngine } from "./select.ts";
import { makeData, weights } from "./test-fixtures.ts";
import type { Engine, EngineName, EngineOptions } from "./types.ts";

const small = { n: 256, d: 32, chains: 8 };

describe("auto engine selection", () => {
  it("times every candidate, keeps the fastest and says which and why", async () => {
    const lines: string[] = [];
    const choice = await selectEngine(createEngine, {
      candidates: ["reference", "onnx"],
      budgetMs: 1500,
      probe: small,
      threads: 1,
      onChoice: (line) => lines.push(line),
    });
    expect(choice.probes.map((p) => p.name)).toEqual(["reference", "onnx"]);
    const times = choice.probes.map((p) => p.msPerStep!);
    expect(times.every((t) => t > 0)).toBe(true);
    const fastest = choice.probes[times.indexOf(Math.min(...times))].name;
    expect(choice.engine.name).toBe(fastest);
    expect(lines).toEqual([choice.reason]);
    expect(choice.reason).toMatch(new RegExp(`^auto: ${fastest} \\(.+\\), the fastest on a 1.5 s probe`));
    expect(choice.reason).toMatch(/reference [\d.]+ ms\/step, onnx [\d.]+ ms\/step$/);
    expect(choice.engine.backend).toBe(choice.reason);
    // The chosen engine works like the one it wraps.
    const data = makeData({ n: 20, d: 4, classes: 2, seed: 91 });
    const stepper = await choice.engine.createStepper(data, {
      eta: 0.5,
      m: 0.1,
      clip: 1,
      sigma: 0,
      chains: 2,
    });
    expect(await stepper.step(weights(92, 8, 1), new Float32Array(8))).toHaveLength(8);
    await stepper.dispose();
    await choice.engine.dispose();
  });

  it("passes over a candidate that fails to load, naming why", async () => {
    const create = async (name: EngineName, options: EngineOptions) => {
      if (name === "webgpu") throw new Error("webgpu engine: no WebGPU adapter found; install …");
      return createEngine(name, options);
    };
    const choice = await selectEngine(create, {
      candidates: ["webgpu", "reference"],
      budgetMs: 500,
      probe: small,
      onChoice: () => {},
    });
    expect(choice.engine.name).toBe("reference");
    expect(choice.reason).toContain("webgpu (Error: webgpu engine: no WebGPU adapter found; install …)");
    await choice.engine.dispose();
  });

  it("fails with every candidate's reason when none completes a step in the budget", async () => {
    // An engine whose steps come back after 3 s, as a slow GPU's would (the event loop stays free).
    const stalled = async (name: EngineName, options: EngineOptions): Promise<Engine> => {
      const inner = await createEngine(name, options);
      return {
        ...inner,
        async createStepper(data, params) {
          const stepper = await inner.createStepper(data, params);
          const later = <T>(value: T) => new Promise<T>((resolve) => setTimeout(() => resolve(value), 3000));
          return { ...stepper, run: async (W) => later(W.slice()) };
        },
      };
    };
    await expect(
      selectEngine(stalled, { candidates: ["reference"], budgetMs: 200, probe: small, onChoice: () => {} }),
    ).rejects.toThrow(
      /^auto engine: no candidate completed a probe step: reference \(no step within its 200 ms share\)$/,
    );
  });

  it("createEngine('auto') goes through the probe", async () => {
    const engine = await createEngine("auto", {
      candidates: ["reference"],
      probe: small,
      budgetMs: 300,
      onChoice: () => {},
    });
    expect(engine.name).toBe("reference");
    expect(engine.backend).toMatch(/^auto: reference/);
    await engine.dispose();
  });
});
