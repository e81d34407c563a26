import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { minimizeScalarBounded } from "./brent.ts";
import { AccountantError } from "./errors.ts";

// Reference values from scipy 1.17.1: minimize_scalar(f, bounds=(lo, hi), method="bounded") → (x, nfev).
// Matching nfev shows the same sequence of trial points, not merely a nearby answer.
const SCIPY_CASES: {
  name: string;
  f: (x: number) => number;
  lo: number;
  hi: number;
  x: number;
  nfev: number;
}[] = [
  { name: "parabola", f: (x) => (x - 2) ** 2, lo: 0, hi: 5, x: 2.0, nfev: 6 },
  { name: "cos near π", f: Math.cos, lo: 3, hi: 4, x: 3.1415914219206917, nfev: 8 },
  { name: "flat", f: () => 1, lo: 0, hi: 1, x: 0.9999940391390134, nfev: 25 },
  { name: "boundary minimum at lo", f: (x) => x, lo: 1, hi: 3, x: 1.0000040198635443, nfev: 27 },
  { name: "boundary minimum at hi", f: (x) => -x, lo: 1, hi: 3, x: 2.999996009801031, nfev: 27 },
  { name: "kink |x − 0.3|", f: (x) => Math.abs(x - 0.3), lo: 0, hi: 1, x: 0.2999998667617435, nfev: 18 },
  { name: "flat-bottomed quartic", f: (x) => (x - 1.5) ** 4, lo: 0, hi: 10, x: 1.500000857956888, nfev: 15 },
];

describe("minimizeScalarBounded (Brent, as scipy's fminbound)", () => {
  for (const c of SCIPY_CASES) {
    it(`matches scipy on ${c.name}`, () => {
      const r = minimizeScalarBounded(c.f, c.lo, c.hi);
      expect(r.x).toBeCloseTo(c.x, 12);
      expect(r.fx).toBe(c.f(r.x));
      expect(r.iterations).toBe(c.nfev);
      expect(r.converged).toBe(true);
    });
  }

  it("finds the minimum of a shifted parabola anywhere in the interval to within xatol", () => {
    fc.assert(
      fc.property(
        fc.double({ min: -100, max: 100, noNaN: true }),
        fc.double({ min: 0.01, max: 50, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (lo, width, where) => {
          const hi = lo + width;
          const target = lo + where * width;
          const r = minimizeScalarBounded((x) => (x - target) ** 2, lo, hi);
          expect(r.x).toBeGreaterThan(lo);
          expect(r.x).toBeLessThan(hi);
          // Boundary minima are approached to within the tolerance scipy allows (tol1 ≈ xatol/3 + √ε·|x|).
          expect(Math.abs(r.x - target)).toBeLessThan(1e-5 + 3e-8 * Math.abs(target) + 1e-5);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("honours a looser xatol with fewer evaluations", () => {
    const tight = minimizeScalarBounded((x) => x, 0, 1);
    const loose = minimizeScalarBounded((x) => x, 0, 1, { xatol: 1e-2 });
    expect(loose.iterations).toBeLessThan(tight.iterations);
    expect(loose.x).toBeLessThan(1e-2);
  });

  it("reports running out of evaluations", () => {
    const r = minimizeScalarBounded((x) => x, 0, 1, { maxiter: 3 });
    expect(r.iterations).toBe(3);
    expect(r.converged).toBe(false);
  });

  it("rejects bad bounds and NaN objectives with a clear error", () => {
    expect(() => minimizeScalarBounded((x) => x, 2, 1)).toThrow(/lower bound 2 exceeds upper bound 1/);
    expect(() => minimizeScalarBounded((x) => x, 0, Number.POSITIVE_INFINITY)).toThrow(/finite/);
    expect(() => minimizeScalarBounded(() => Number.NaN, 0, 1)).toThrow(AccountantError);
    expect(() => minimizeScalarBounded(() => Number.NaN, 0, 1)).toThrow(/NaN at x = /);
    expect(() => minimizeScalarBounded((x) => x, 0, 1, { xatol: 0 })).toThrow(/xatol/);
  });
});
