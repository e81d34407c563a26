import { describe, expect, it } from "vitest";
import { accountantConstants } from "./constants.ts";
import { d2dSequential, d2dSigma } from "./d2d.ts";

const MNIST = accountantConstants({ n: 11982, lambda: 1e-6, L: 0.194700544 });

// Reference numbers from an independent Python transcription of docs/science.md §4's formulas.
describe("D2D noise", () => {
  it("σ_D2D(I, ε) matches the reference", () => {
    expect(d2dSigma(1, 1, MNIST)).toBeCloseTo(1.8890978210920082, 12);
    expect(d2dSigma(2, 1, MNIST)).toBeCloseTo(0.8864207470922738, 12);
    expect(d2dSigma(5, 0.5, MNIST)).toBeCloseTo(0.5744354714379053, 12);
  });

  it("falls with more descent steps and a looser ε", () => {
    for (let I = 1; I < 30; I++) expect(d2dSigma(I + 1, 1, MNIST)).toBeLessThan(d2dSigma(I, 1, MNIST));
    expect(d2dSigma(3, 2, MNIST)).toBeLessThan(d2dSigma(3, 1, MNIST));
  });

  it("rejects bad input", () => {
    expect(() => d2dSigma(0, 1, MNIST)).toThrow(/^I must be an integer ≥ 1/);
    expect(() => d2dSigma(1, 0, MNIST)).toThrow(/^epsilon must/);
    expect(() => d2dSigma(1, 1, { ...MNIST, L: MNIST.m })).toThrow(/L > m/);
  });
});

describe("sequential D2D", () => {
  it("matches the reference for f = 1, 1.5, 2 (I_min = 66 for MNIST, d = 784, ε = 1)", () => {
    const cases: [number, number, number, number, number][] = [
      [1, 90, 92, 8.088137433734086e-6, 6.321275676279797e-6],
      [1.5, 123, 125, 1.3856173678110225e-7, 1.0829314045752706e-7],
      [2, 156, 158, 2.3738021010770872e-9, 1.855248820750978e-9],
    ];
    for (const [factor, first, last, sigmaFirst, sigmaLast] of cases) {
      const r = d2dSequential({ d: 784, epsilon: 1, factor, total: 100 }, MNIST);
      expect(r.I).toHaveLength(100);
      expect(r.I[0]).toBe(first);
      expect(r.I[99]).toBe(last);
      expect(r.sigma[0] / sigmaFirst).toBeCloseTo(1, 10);
      expect(r.sigma[99] / sigmaLast).toBeCloseTo(1, 10);
      for (let i = 1; i < 100; i++) expect(r.I[i]).toBeGreaterThanOrEqual(r.I[i - 1]);
    }
  });

  it("rejects bad input", () => {
    expect(() => d2dSequential({ d: 0, epsilon: 1, factor: 1, total: 10 }, MNIST)).toThrow(/^d must/);
    expect(() => d2dSequential({ d: 784, epsilon: 1, factor: -1, total: 10 }, MNIST)).toThrow(/^factor must/);
    expect(() => d2dSequential({ d: 784, epsilon: 1, factor: 1, total: 0 }, MNIST)).toThrow(/^total must/);
  });
});
