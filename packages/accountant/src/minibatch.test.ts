import { describe, expect, it } from "vitest";
import { accountantConstants } from "./constants.ts";
import { minibatchEpsilon, minibatchSequential, minibatchStepsFor, minibatchZ } from "./minibatch.ts";

const MNIST = accountantConstants({ n: 11982, lambda: 1e-6, L: 0.194700544 });
const eta = 1 / MNIST.L;
const rho = 1 - eta * MNIST.m;

describe("mini-batch noisy SGD accountant", () => {
  it("Z_B = 2ηM / (b(1 − ρ^{n/b}))", () => {
    for (const b of [1, 32, 128, 11982]) {
      expect(minibatchZ(b, MNIST)).toBeCloseTo((2 * eta) / (b * (1 - rho ** (MNIST.n / b))), 14);
    }
  });

  it("ε after K epochs is min_α α·Z²/(2ησ²)·ρ^{2Kn/b} + log(1/δ)/(α − 1)", () => {
    const b = 32;
    const sigma = 0.01;
    const z = minibatchZ(b, MNIST);
    for (const K of [0, 1]) {
      const A = ((z * z) / (2 * eta * sigma * sigma)) * rho ** ((2 * K * MNIST.n) / b);
      const r = minibatchEpsilon({ K, sigma, batch: b }, MNIST);
      // Linear-in-α RDP: closed-form minimiser α* = 1 + √(log(1/δ)/A), clipped to [1, 1e4].
      const alpha = Math.min(1e4, 1 + Math.sqrt(Math.log(MNIST.n) / A));
      expect(r.epsilon).toBeCloseTo(A * alpha + Math.log(MNIST.n) / (alpha - 1), 8);
    }
  });

  it("K is the fewest epochs reaching ε", () => {
    for (const [epsilon, sigma, b] of [
      [1, 0.001, 32],
      [0.5, 0.0005, 128],
      [0.1, 0.0002, 11982],
    ] as const) {
      const r = minibatchStepsFor(epsilon, sigma, b, MNIST);
      expect(r.epsilon).toBeLessThanOrEqual(epsilon);
      if (r.K > 1)
        expect(minibatchEpsilon({ K: r.K - 1, sigma, batch: b }, MNIST).epsilon).toBeGreaterThan(epsilon);
    }
  });

  it("sequential: Z(s) = Z(s−1)·ρ^{k_{s−1}n/b} + Z_B, each k_s minimal", () => {
    const b = 128;
    const r = minibatchSequential({ sigma: 0.0005, epsilon: 1, batch: b, requests: 4 }, MNIST);
    const zB = minibatchZ(b, MNIST);
    expect(r.Z[0]).toBe(zB);
    for (let s = 1; s < 4; s++) {
      expect(r.Z[s]).toBeCloseTo(r.Z[s - 1] * rho ** ((r.k[s - 1] * MNIST.n) / b) + zB, 14);
      expect(r.accumulated[s]).toBe(r.accumulated[s - 1] + r.k[s]);
    }
    expect(r.k[0]).toBe(minibatchStepsFor(1, 0.0005, b, MNIST).K);
  });

  it("rejects bad input", () => {
    expect(() => minibatchZ(0, MNIST)).toThrow(/^batch must/);
    expect(() => minibatchZ(20000, MNIST)).toThrow(/batch = 20000 exceeds/);
    expect(() => minibatchStepsFor(0, 0.01, 32, MNIST)).toThrow(/^epsilon must/);
    expect(() => minibatchEpsilon({ K: -1, sigma: 0.01, batch: 32 }, MNIST)).toThrow(/^K must/);
  });
});
