import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { minimizeScalarBounded } from "./brent.ts";
import { type AccountantConstants, accountantConstants } from "./constants.ts";
import { AccountantError } from "./errors.ts";
import {
  epsilon0,
  epsilonAt,
  epsilonFloor,
  epsilonStar,
  sequentialSchedule,
  sigmaFor,
  stepsFor,
} from "./langevin.ts";

// docs/science.md §2: MNIST 3v8, λ = 1e-6, L_data.
const MNIST = accountantConstants({ n: 11982, lambda: 1e-6, L: 0.194700544 });

/** The paper's method, as a reference: K = first, first + g, … until ε*(K) ≤ ε. */
function linearScan(epsilon: number, sigma: number, S: number, c: AccountantConstants, g = 1): number {
  let K = 1;
  while (epsilonStar(K, sigma, S, c).epsilon > epsilon) K += g;
  return K;
}

describe("constants", () => {
  it("defaults L to the bound of docs/science.md §2, binary and multiclass", () => {
    const b = accountantConstants({ n: 11982, lambda: 1e-6 });
    expect(b.m).toBeCloseTo(0.011982, 12);
    expect(b.L).toBeCloseTo(0.261982, 12);
    expect(b.M).toBe(1);
    expect(b.delta).toBe(1 / 11982);
    const mc = accountantConstants({ n: 50000, lambda: 1e-6, multiclass: true });
    expect(mc.L).toBeCloseTo(1.05, 12);
    expect(mc.M).toBe(2);
  });

  it("names the bad field", () => {
    expect(() => accountantConstants({ n: 0, lambda: 1e-6 })).toThrow(/^n must be an integer/);
    expect(() => accountantConstants({ n: 10.5, lambda: 1e-6 })).toThrow(/^n must/);
    expect(() => accountantConstants({ n: 100, lambda: -1 })).toThrow(/^lambda must/);
    expect(() => accountantConstants({ n: 100, lambda: 1, L: 50 })).toThrow(/^L \(smoothness\) must be ≥ m/);
  });
});

describe("ε(α; K, σ, S) and ε*(K)", () => {
  it("evaluates the formula of docs/science.md §5", () => {
    const { m, L, n, M } = MNIST;
    const alpha = 10;
    const expected =
      Math.exp((-100 * m) / L / alpha) * ((4 * alpha * 50 ** 2 * M ** 2) / (m * 0.03 ** 2 * n ** 2)) +
      Math.log(n) / (alpha - 1);
    expect(epsilonAt(alpha, { K: 100, sigma: 0.03, removals: 50 }, MNIST)).toBeCloseTo(expected, 12);
    expect(() => epsilonAt(1, { K: 1, sigma: 0.03, removals: 1 }, MNIST)).toThrow(/alpha must be .* > 1/);
  });

  it("reproduces scipy's minimiser at the K = 1485 boundary", () => {
    // scipy: minimize_scalar(…, bounds=(1, 1e4), method="bounded") gives these for K = 1485 and 1484.
    const at = epsilonStar(1485, 0.03, 100, MNIST);
    expect(at.alpha).toBeCloseTo(11.55083847526311, 9);
    expect(at.epsilon).toBeCloseTo(0.9994303405986441, 12);
    expect(epsilonStar(1484, 0.03, 100, MNIST).epsilon).toBeCloseTo(1.000013271745301, 12);
  });

  it("is the minimum over α: no α on a dense grid does better", () => {
    const { epsilon, alpha } = epsilonStar(500, 0.05, 10, MNIST);
    let best = Number.POSITIVE_INFINITY;
    for (let a = 1.001; a < 1e4; a *= 1.001)
      best = Math.min(best, epsilonAt(a, { K: 500, sigma: 0.05, removals: 10 }, MNIST));
    expect(epsilon).toBeLessThanOrEqual(best + 1e-9);
    expect(epsilonAt(alpha, { K: 500, sigma: 0.05, removals: 10 }, MNIST)).toBeCloseTo(epsilon, 14);
  });

  it("ε*(K) is non-increasing in K (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 20000 }),
        fc.integer({ min: 1, max: 5000 }),
        fc.double({ min: 0.005, max: 2, noNaN: true }),
        fc.integer({ min: 1, max: 1000 }),
        (K, dK, sigma, S) => {
          const a = epsilonStar(K, sigma, S, MNIST).epsilon;
          const b = epsilonStar(K + dK, sigma, S, MNIST).epsilon;
          expect(b).toBeLessThanOrEqual(a * (1 + 1e-9));
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("K(ε, σ, S)", () => {
  it("docs/science.md §5 check: K(ε=1, σ=0.03, S=100) = 1485, and 1491 with granularity 10", () => {
    expect(stepsFor(1, 0.03, 100, MNIST)).toMatchObject({ K: 1485 });
    expect(stepsFor(1, 0.03, 100, MNIST).epsilon).toBeLessThanOrEqual(1);
    expect(stepsFor(1, 0.03, 100, MNIST, { granularity: 10 })).toMatchObject({ K: 1491 });
  });

  it("agrees with the paper's linear scan", () => {
    for (const [e, s, S] of [
      [0.5, 0.03, 1],
      [2, 0.1, 50],
      [1, 0.5, 100],
      [0.1, 1, 1],
    ] as const) {
      expect(stepsFor(e, s, S, MNIST).K).toBe(linearScan(e, s, S, MNIST));
    }
    expect(stepsFor(0.5, 0.05, 100, MNIST, { granularity: 10 }).K).toBe(
      linearScan(0.5, 0.05, 100, MNIST, 10),
    );
  });

  it("is the smallest K reaching ε (property)", () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0.05, max: 10, noNaN: true }),
        fc.double({ min: 0.005, max: 2, noNaN: true }),
        fc.integer({ min: 1, max: 2000 }),
        fc.integer({ min: 1, max: 20 }),
        (epsilon, sigma, S, g) => {
          const r = stepsFor(epsilon, sigma, S, MNIST, { granularity: g });
          expect((r.K - 1) % g).toBe(0);
          expect(r.epsilon).toBeLessThanOrEqual(epsilon);
          expect(r.epsilon).toBe(epsilonStar(r.K, sigma, S, MNIST).epsilon);
          if (r.K > 1) expect(epsilonStar(r.K - g, sigma, S, MNIST).epsilon).toBeGreaterThan(epsilon);
        },
      ),
      { numRuns: 100 },
    );
  });

  it("K is non-increasing in σ (property)", () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0.005, max: 1, noNaN: true }),
        fc.double({ min: 1, max: 10, noNaN: true }),
        fc.constantFrom(0.1, 0.5, 1, 2, 5),
        fc.constantFrom(1, 10, 100, 1000),
        (sigma, factor, epsilon, S) => {
          expect(stepsFor(epsilon, sigma * factor, S, MNIST).K).toBeLessThanOrEqual(
            stepsFor(epsilon, sigma, S, MNIST).K,
          );
        },
      ),
      { numRuns: 100 },
    );
  });

  it("refuses impossible requests with the reason", () => {
    expect(() => stepsFor(0, 0.03, 1, MNIST)).toThrow(/^epsilon must be a finite number > 0, got 0/);
    expect(() => stepsFor(1, -0.1, 1, MNIST)).toThrow(/^sigma must/);
    expect(() => stepsFor(1, 0.03, 11983, MNIST)).toThrow(/removals \(S\) = 11983 exceeds .* n = 11982/);
    expect(() => stepsFor(1, 0.03, 1.5, MNIST)).toThrow(/^removals must be an integer/);
    expect(() => stepsFor(1, 0.03, 1, MNIST, { granularity: 0 })).toThrow(/^granularity/);
    expect(() => stepsFor(1, 0.03, 1, MNIST, { alphaMin: 0.5 })).toThrow(/^alphaMin/);
    expect(() => stepsFor(1, 0.03, 1, MNIST, { alphaMax: 1 })).toThrow(/^alphaMax/);
    const floor = Math.log(11982) / (1e4 - 1);
    expect(epsilonFloor(MNIST)).toBeCloseTo(floor, 15);
    let error: unknown;
    try {
      stepsFor(floor * 0.99, 0.03, 1, MNIST);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(AccountantError);
    expect((error as AccountantError).floor).toBeCloseTo(floor, 15);
    expect((error as AccountantError).message).toMatch(
      /unreachable.*floor log\(1\/δ\)\/\(α_hi − 1\) = 0\.000939/,
    );
    // Just above the floor is reachable, in finitely many (many) steps.
    const near = stepsFor(floor * 1.5, 0.03, 1, MNIST);
    expect(near.epsilon).toBeLessThanOrEqual(floor * 1.5);
  });
});

describe("σ*(ε, k)", () => {
  it("docs/science.md §5 check values for k = 2, α in [2, 1e4], to 4 significant digits", () => {
    const expected: [number, number][] = [
      [0.05, 0.18714],
      [0.1, 0.093678],
      [0.5, 0.018908],
      [1, 0.0095594],
      [2, 0.004882],
      [5, 0.0020668],
    ];
    for (const [epsilon, sigma] of expected) {
      const r = sigmaFor(epsilon, 2, MNIST, { alphaMin: 2 });
      expect(Math.abs(r.sigma - sigma) / sigma).toBeLessThan(5e-5);
      expect(r.K).toBeLessThanOrEqual(2);
    }
  });

  it("is the smallest such σ: a hair less needs more than k steps", () => {
    for (const k of [1, 5, 50]) {
      const r = sigmaFor(1, k, MNIST);
      expect(r.K).toBeLessThanOrEqual(k);
      expect(stepsFor(1, r.sigma * (1 - 1e-7), 1, MNIST).K).toBeGreaterThan(k);
    }
  });

  it("refuses an unreachable ε", () => {
    expect(() => sigmaFor(1e-4, 2, MNIST)).toThrow(/unreachable/);
    expect(() => sigmaFor(1, 0, MNIST)).toThrow(/^k must be an integer ≥ 1/);
  });
});

describe("ε0(σ, S)", () => {
  it("matches the closed-form minimiser α* = 1 + √(log(1/δ)/A) of A·α + log(1/δ)/(α − 1)", () => {
    for (const [sigma, S] of [
      [0.05, 100],
      [1, 100],
      [0.03, 1],
    ] as const) {
      const A = (4 * S * S) / (MNIST.m * sigma * sigma * MNIST.n * MNIST.n);
      const logInvDelta = Math.log(MNIST.n);
      const alpha = Math.min(1e4, 1 + Math.sqrt(logInvDelta / A));
      const r = epsilon0(sigma, S, MNIST);
      expect(r.epsilon0).toBeCloseTo(A * alpha + logInvDelta / (alpha - 1), 8);
      expect(r.alpha).toBeCloseTo(alpha, 3);
    }
  });

  it("multiclass (M = 2) quadruples the RDP part", () => {
    const mc = accountantConstants({ n: 11982, lambda: 1e-6, multiclass: true });
    const bin = { ...mc, M: 1 };
    const a = epsilonAt(5, { K: 0, sigma: 0.1, removals: 10 }, mc) - Math.log(mc.n) / 4;
    const b = epsilonAt(5, { K: 0, sigma: 0.1, removals: 10 }, bin) - Math.log(mc.n) / 4;
    expect(a / b).toBeCloseTo(4, 10);
  });
});

describe("sequential schedule", () => {
  // An independent brute force: the recursion of docs/science.md §5 written out plainly, and k_s by linear scan.
  function bruteForce(
    sigma: number,
    epsilon: number,
    S: number,
    steps: number,
    c: AccountantConstants,
  ): number[] {
    const eps0 = (a: number) => (4 * a * S * S * c.M * c.M) / (c.m * sigma * sigma * c.n * c.n);
    const ks: number[] = [];
    const epsS = (s: number, a: number): number => {
      const decay = Math.exp((-(c.m / c.L) * ks[s - 1]) / a);
      if (s === 1) return decay * eps0(a);
      return decay * ((a - 0.5) / (a - 1)) * (eps0(2 * a) + epsS(s - 1, 2 * a));
    };
    for (let s = 1; s <= steps; s++) {
      ks.push(0);
      for (let k = 1; ; k++) {
        ks[s - 1] = k;
        const best = minimizeScalarBounded((a) => epsS(s, a) + Math.log(1 / c.delta) / (a - 1), 2, 1e5).fx;
        if (best <= epsilon) break;
      }
    }
    return ks;
  }

  it("its first steps equal a brute-force linear scan", () => {
    const r = sequentialSchedule({ sigma: 0.03, epsilon: 1, batch: 5, total: 100 }, MNIST);
    expect(r.k).toHaveLength(20);
    expect(r.k.slice(0, 3)).toEqual(bruteForce(0.03, 1, 5, 3, MNIST));
    const cifar = accountantConstants({ n: 10000, lambda: 1e-6 });
    const r2 = sequentialSchedule({ sigma: 0.1, epsilon: 0.5, batch: 20, total: 60 }, cifar);
    expect(r2.k).toEqual(bruteForce(0.1, 0.5, 20, 3, cifar));
  });

  it("accumulates, and each request meets the target", () => {
    const r = sequentialSchedule({ sigma: 0.03, epsilon: 1, batch: 10, total: 100 }, MNIST);
    let sum = 0;
    r.k.forEach((k, i) => {
      sum += k;
      expect(r.accumulated[i]).toBe(sum);
      expect(r.epsilon[i]).toBeLessThanOrEqual(1);
      expect(r.alpha[i]).toBeGreaterThanOrEqual(2);
    });
  });

  it("the first request is K(ε, σ, S) over α in [2, 1e5]", () => {
    const r = sequentialSchedule({ sigma: 0.05, epsilon: 1, batch: 20, total: 20 }, MNIST);
    expect(r.k).toEqual([stepsFor(1, 0.05, 20, MNIST, { alphaMin: 2, alphaMax: 1e5 }).K]);
  });

  it("rejects bad batches", () => {
    expect(() => sequentialSchedule({ sigma: 0.03, epsilon: 1, batch: 0, total: 100 }, MNIST)).toThrow(
      /^batch must be an integer/,
    );
    expect(() => sequentialSchedule({ sigma: 0.03, epsilon: 1, batch: 50, total: 10 }, MNIST)).toThrow(
      /batch = 50 exceeds total = 10/,
    );
  });
});
