import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { ArrayNoise, fixedNoise, makeData, weights } from "./test-fixtures.ts";
import { createTfjsEngine } from "./tfjs.ts";

// The cuda error can only be seen where @tensorflow/tfjs-node-gpu is absent (as in this workspace).
const gpuInstalled = await import(/* @vite-ignore */ ["@tensorflow", "tfjs-node-gpu"].join("/")).then(
  () => true,
  () => false,
);

describe("tfjs engine", () => {
  it("reports the backend it loaded (tfjs-node(-gpu) > wasm > cpu)", async () => {
    const engine = await createTfjsEngine();
    expect(engine.backend).toMatch(/^@tensorflow\/tfjs-(node-gpu|node|backend-wasm|backend-cpu)/);
    expect(engine.backend.includes("node-gpu")).toBe(engine.device === "cuda");
  });

  it("leaks no tensors: across runs, steps, an aborted run, and after dispose", async () => {
    const engine = await createTfjsEngine();
    const before = tf.memory().numTensors;
    for (const classes of [2, 3]) {
      const data = makeData({ n: 30, d: 5, classes, seed: 51 });
      const length = 5 * 4 * (classes === 2 ? 1 : classes);
      const stepper = await engine.createStepper(data, {
        eta: 0.5,
        m: 0.05,
        clip: 0.6,
        sigma: 0.1,
        chains: 4,
      });
      const held = tf.memory().numTensors;
      const W0 = weights(52, length, 1);
      await stepper.run(W0, 10, new ArrayNoise(fixedNoise(53, 10, length)));
      await stepper.step(W0, fixedNoise(54, 1, length)[0]);
      await stepper.run(W0, 10, new ArrayNoise(fixedNoise(55, 10, length)));
      expect(tf.memory().numTensors).toBe(held);
      const controller = new AbortController();
      const aborted = stepper.run(W0, 10, new ArrayNoise(fixedNoise(56, 10, length)), {
        signal: controller.signal,
        onProgress: (k) => k === 3 && controller.abort(),
      });
      await expect(aborted).rejects.toMatchObject({ name: "AbortError" });
      expect(tf.memory().numTensors).toBe(held);
      await stepper.dispose();
      await expect(stepper.run(W0, 1, new ArrayNoise([]))).rejects.toThrow("disposed");
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it.skipIf(gpuInstalled)('names the missing package when device "cuda" has no GPU backend', async () => {
    await expect(createTfjsEngine({ device: "cuda" })).rejects.toThrow(
      "@tensorflow/tfjs-node-gpu: not installed",
    );
  });
});
