/**
 * The accountant's contract at its edges (complements the per-module tests; the mutation run of issue 11
 * found these untested): every public function validates the constants and names the bad field in
 * an AccountantError; formulas hold for multiclass constants (M = 2), not only for M = 1; K is the
 * smallest step count whose ε*(K) reaches the target (checked by a linear scan, an independent oracle).
 */
import { describe, expect, it } from "vitest";
import { type AccountantConstants, accountantConstants, checkConstants } from "./constants.ts";
import { d2dSequential, d2dSigma } from "./d2d.ts";
import { AccountantError, requireInteger, requirePositive } from "./errors.ts";
import {
  epsilon0,
  epsilonAt,
  epsilonFloor,
  epsilonStar,
  sequentialSchedule,
  sigmaFor,
  stepsFor,
} from "./langevin.ts";
import { minibatchEpsilon, minibatchSequential, minibatchStepsFor, minibatchZ } from "./minibatch.ts";

const C = accountantConstants({ n: 1000, lambda: 1e-3 }); // m = 1, L = 1.25, M = 1, δ = 1e-3
const MULTI = accountantConstants({ n: 1000, lambda: 1e-3, multiclass: true }); // M = 2, L = 2

/** The AccountantError `fn` throws, for its field and message. */
function failure(fn: () => unknown): AccountantError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AccountantError);
    expect((err as Error).name).toBe("AccountantError");
    return err as AccountantError;
  }
  throw new Error("expected an AccountantError");
}

const expectField = (fn: () => unknown, field: string, message: RegExp) => {
  const err = failure(fn);
  expect(err.field).toBe(field);
  expect(err.message).toMatch(message);
};

describe("constants", () => {
  it("names the bad constant", () => {
    const cases: [Partial<AccountantConstants>, string][] = [
      [{ n: 0 }, "n"],
      [{ n: 2.5 }, "n"],
      [{ m: 0 }, "m"],
      [{ L: 0 }, "L"],
      [{ M: -1 }, "M"],
      [{ delta: 0 }, "delta"],
      [{ delta: 1 }, "delta"],
      [{ L: 0.5 }, "L"], // L < m
    ];
    for (const [bad, field] of cases)
      expectField(() => checkConstants({ ...C, ...bad }), field, new RegExp(field));
    expectField(
      () => checkConstants(null as unknown as AccountantConstants),
      "constants",
      /must be an object/,
    );
    expectField(() => checkConstants(3 as unknown as AccountantConstants), "constants", /got 3/);
    // Edges that are allowed: δ just below 1, L = m.
    expect(() => checkConstants({ ...C, delta: 0.999 })).not.toThrow();
    expect(() => checkConstants({ ...C, L: C.m })).not.toThrow();
  });

  it("every entry point checks the constants it is given", () => {
    const bad = { ...C, m: -1 };
    const calls: (() => unknown)[] = [
      () => epsilonAt(2, { K: 1, sigma: 1, removals: 1 }, bad),
      () => epsilonFloor(bad),
      () => epsilonStar(1, 1, 1, bad),
      () => stepsFor(1, 1, 1, bad),
      () => sigmaFor(1, 1, bad),
      () => sequentialSchedule({ sigma: 1, epsilon: 1, batch: 1, total: 2 }, bad),
      () => d2dSigma(1, 1, bad),
      () => d2dSequential({ d: 2, epsilon: 1, factor: 1, total: 2 }, bad),
      () => minibatchZ(1, bad),
      () => minibatchEpsilon({ K: 1, sigma: 1, batch: 1 }, bad),
      () => minibatchStepsFor(1, 1, 1, bad),
      () => minibatchSequential({ sigma: 1, epsilon: 1, batch: 1, requests: 1 }, bad),
    ];
    for (const call of calls) expectField(call, "m", /^m must be a finite number > 0, got -1/);
  });

  it("rejects an α range that is not 1 ≤ alphaMin < alphaMax < ∞", () => {
    expectField(() => epsilonFloor(C, { alphaMin: 0.5 }), "alphaMin", /alphaMin must be a finite number ≥ 1/);
    expectField(
      () => epsilonFloor(C, { alphaMin: 2, alphaMax: 2 }),
      "alphaMax",
      /alphaMax .* > alphaMin = 2/,
    );
    expect(epsilonFloor(C, { alphaMin: 1, alphaMax: 11 })).toBeCloseTo(Math.log(1000) / 10, 14);
  });
});

describe("argument checks name the field", () => {
  it("requirePositive and requireInteger refuse non-finite and non-number values", () => {
    expectField(() => requirePositive("x", Number.POSITIVE_INFINITY), "x", /x must be a finite number > 0/);
    expectField(() => requirePositive("x", "1" as unknown as number), "x", /got 1/);
    expectField(() => requireInteger("k", 1.5, 1), "k", /k must be an integer ≥ 1, got 1.5/);
  });

  it("every public function names its bad argument", () => {
    const cases: [() => unknown, string][] = [
      [() => epsilonAt(2, { K: -1, sigma: 1, removals: 1 }, C), "K"],
      [() => epsilonAt(2, { K: 1, sigma: 0, removals: 1 }, C), "sigma"],
      [() => epsilonAt(2, { K: 1, sigma: 1, removals: 1001 }, C), "removals"],
      [() => epsilonAt(1, { K: 1, sigma: 1, removals: 1 }, C), "alpha"],
      [() => stepsFor(0, 1, 1, C), "epsilon"],
      [() => stepsFor(1, 1, 1, C, { granularity: 0 }), "granularity"],
      [() => sigmaFor(0, 1, C), "epsilon"],
      [() => sigmaFor(1, 0, C), "k"],
      [() => sequentialSchedule({ sigma: 0, epsilon: 1, batch: 1, total: 2 }, C), "sigma"],
      [() => sequentialSchedule({ sigma: 1, epsilon: 0, batch: 1, total: 2 }, C), "epsilon"],
      [() => sequentialSchedule({ sigma: 1, epsilon: 1, batch: 3, total: 2 }, C), "batch"],
      [() => sequentialSchedule({ sigma: 1, epsilon: 1, batch: 1, total: 1001 }, C), "total"],
      [() => d2dSigma(1, 1, { ...C, L: C.m }), "L"],
      [() => d2dSequential({ d: 2, epsilon: 0, factor: 1, total: 2 }, C), "epsilon"],
      [() => minibatchEpsilon({ K: 1, sigma: 0, batch: 1 }, C), "sigma"],
      [() => minibatchStepsFor(1, 0, 1, C), "sigma"],
      [() => minibatchSequential({ sigma: 0, epsilon: 1, batch: 1, requests: 1 }, C), "sigma"],
      [() => minibatchSequential({ sigma: 1, epsilon: 0, batch: 1, requests: 1 }, C), "epsilon"],
      [() => minibatchSequential({ sigma: 1, epsilon: 1, batch: 1, requests: 0 }, C), "requests"],
    ];
    for (const [call, field] of cases) expectField(call, field, new RegExp(`^${field}|${field} `));
    // "removals (S)" in words for the removal count; the floor travels with an unreachable ε.
    expect(failure(() => stepsFor(1, 1, 1001, C)).message).toMatch(
      /removals \(S\) = 1001 exceeds .* n = 1000/,
    );
    const floor = epsilonFloor(C);
    const below = failure(() => stepsFor(floor, 1, 1, C));
    expect([below.field, below.floor]).toEqual(["epsilon", floor]);
    expect(below.message).toMatch(/is unreachable.*ask for a larger epsilon or a larger alphaMax/);
  });
});

describe("formulas with multiclass constants (M = 2)", () => {
  const logInvDelta = Math.log(1 / MULTI.delta);
  const gamma = (MULTI.L - MULTI.m) / (MULTI.L + MULTI.m);

  it("σ_D2D is docs/science.md §4's formula, linear in M", () => {
    const I = 3;
    const want =
      (4 * Math.SQRT2 * MULTI.M * gamma ** I) /
      (MULTI.m * MULTI.n * (1 - gamma ** I) * (Math.sqrt(logInvDelta + 0.5) - Math.sqrt(logInvDelta)));
    expect(d2dSigma(I, 0.5, MULTI)).toBeCloseTo(want, 14);
  });

  it("sequential D2D noise is σ2(I) of docs/science.md §4", () => {
    const eps = 0.5;
    const out = d2dSequential({ d: 4, epsilon: eps, factor: 1, total: 2 }, MULTI);
    const twoLog = 2 * Math.log(2 / MULTI.delta);
    out.I.forEach((I, i) => {
      const want =
        (8 * MULTI.M * gamma ** I) /
        (MULTI.m * MULTI.n * (1 - gamma ** I) * (Math.sqrt(twoLog + 3 * eps) - Math.sqrt(twoLog + 2 * eps)));
      expect(out.sigma[i]).toBeCloseTo(want, 14);
    });
  });

  it("Z_B = 2ηM/(b(1 − ρ^{n/b})) and the mini-batch RDP decays as ρ^{2Kn/b}", () => {
    const eta = 1 / MULTI.L;
    const rho = 1 - eta * MULTI.m;
    const b = 10;
    const z = (2 * eta * MULTI.M) / (b * (1 - rho ** (MULTI.n / b)));
    expect(minibatchZ(b, MULTI)).toBeCloseTo(z, 14);
    // With α pinned (alphaMin = alphaMax − tiny), ε = α·Z²/(2ησ²)·ρ^{2Kn/b} + log(1/δ)/(α − 1).
    const alpha = 5;
    const r = minibatchEpsilon({ K: 1, sigma: 2, batch: b }, MULTI, {
      alphaMin: alpha,
      alphaMax: alpha + 1e-9,
    });
    const want = ((alpha * z * z) / (2 * eta * 4)) * rho ** ((2 * MULTI.n) / b) + logInvDelta / (alpha - 1);
    expect(r.epsilon).toBeCloseTo(want, 6);
    const seq = minibatchSequential({ sigma: 2, epsilon: 2, batch: b, requests: 3 }, MULTI);
    expect(seq.accumulated).toEqual([seq.k[0], seq.k[0]! + seq.k[1]!, seq.k[0]! + seq.k[1]! + seq.k[2]!]);
    expect(seq.alpha).toHaveLength(3);
    expect(seq.epsilon.every((e) => e <= 2)).toBe(true);
    expect(seq.Z[1]).toBeCloseTo(z * rho ** ((seq.k[0]! * MULTI.n) / b) + z, 12);
  });
});

describe("K is the smallest step count that reaches ε (linear scan oracle)", () => {
  it("stepsFor agrees with scanning K = 1, 2, … for many targets", () => {
    const sigma = 0.05;
    const S = 3;
    const eps = (K: number) => epsilonStar(K, sigma, S, C).epsilon;
    const e0 = epsilon0(sigma, S, C).epsilon0;
    for (let t = 1; t <= 12; t++) {
      const target = e0 * 0.97 ** (t * 3);
      let K = 1;
      while (eps(K) > target) K++;
      const r = stepsFor(target, sigma, S, C);
      expect(r.K, `target ${target}`).toBe(K);
      expect(r.epsilon).toBe(eps(K));
      expect(r.epsilon).toBeLessThanOrEqual(target);
    }
  });

  it("sequential schedules: the last request removes only the remainder", () => {
    const req = { sigma: 0.05, epsilon: 1, batch: 3 };
    const seven = sequentialSchedule({ ...req, total: 7 }, C);
    const nine = sequentialSchedule({ ...req, total: 9 }, C);
    expect(seven.k.slice(0, 2)).toEqual(nine.k.slice(0, 2));
    expect(seven.k[2]).toBeLessThan(nine.k[2]!); // 1 point, not 3
    expect(seven.accumulated).toEqual([
      seven.k[0],
      seven.k[0]! + seven.k[1]!,
      seven.k[0]! + seven.k[1]! + seven.k[2]!,
    ]);
  });

  it("σ*(ε, k) above 1 is bracketed from above: the smallest σ whose K is k", () => {
    const k = 1;
    const target = 2 * epsilonFloor(C); // so close to the floor that only a large σ reaches it in one step
    const { sigma, K } = sigmaFor(target, k, C);
    expect(sigma).toBeGreaterThan(1);
    expect(K).toBe(k);
    expect(stepsFor(target, sigma, 1, C).K).toBe(k);
    expect(stepsFor(target, sigma * 0.999, 1, C).K).toBeGreaterThan(k);
  });
});
