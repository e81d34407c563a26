/**
 * Bounded scalar minimisation by Brent's method (golden-section search with parabolic steps), the
 * algorithm of Forsythe, Malcolm & Moler's `fmin` as used by scipy's `fminbound` /
 * `minimize_scalar(method="bounded")`. The paper computed every K with scipy; following the same
 * sequence of trial points (same start, same tolerances, same acceptance tests) is what makes our
 * K land on the same integer when ε*(K) is within rounding of the target.
 */
import { AccountantError } from "./errors.ts";

export interface MinimizeOptions {
  /** Absolute tolerance on x (scipy's `xatol`, default 1e-5). */
  xatol?: number;
  /** Maximum number of function evaluations (scipy's `maxiter`, default 500). */
  maxiter?: number;
}

export interface MinimizeResult {
  /** The minimising point found, strictly inside (lo, hi). */
  x: number;
  /** f(x). */
  fx: number;
  /** Number of function evaluations (scipy's `nfev`). */
  iterations: number;
  /** False when `maxiter` evaluations ran out before the tolerance was met. */
  converged: boolean;
}

// scipy uses sqrt(2.2e-16) (not Number.EPSILON) for the relative part of the tolerance; keep it so the
// trial points, and hence the minima, agree with the paper's numbers to the last bit that matters.
const SQRT_EPS = Math.sqrt(2.2e-16);
const GOLDEN = 0.5 * (3 - Math.sqrt(5));

export function minimizeScalarBounded(
  f: (x: number) => number,
  lo: number,
  hi: number,
  options: MinimizeOptions = {},
): MinimizeResult {
  const xatol = options.xatol ?? 1e-5;
  const maxiter = options.maxiter ?? 500;
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) {
    throw new AccountantError(`minimizeScalarBounded: bounds must be finite, got [${lo}, ${hi}]`, {
      field: "bounds",
    });
  }
  if (lo > hi) {
    throw new AccountantError(`minimizeScalarBounded: lower bound ${lo} exceeds upper bound ${hi}`, {
      field: "bounds",
    });
  }
  if (!(xatol > 0)) throw new AccountantError(`xatol must be > 0, got ${xatol}`, { field: "xatol" });
  if (!Number.isInteger(maxiter) || maxiter < 1) {
    throw new AccountantError(`maxiter must be an integer ≥ 1, got ${maxiter}`, { field: "maxiter" });
  }

  const evaluate = (x: number): number => {
    const y = f(x);
    if (Number.isNaN(y)) {
      throw new AccountantError(`minimizeScalarBounded: the objective returned NaN at x = ${x}`, {
        field: "f",
      });
    }
    return y;
  };

  let a = lo;
  let b = hi;
  // v, w, x of Brent's description: the third-best, second-best and best points so far.
  let v = a + GOLDEN * (b - a);
  let w = v;
  let x = v;
  let fx = evaluate(x);
  let fv = fx;
  let fw = fx;
  let d = 0; // the step taken last time
  let e = 0; // the step taken the time before (the parabola must beat half of it)
  let nfev = 1;
  let xm = 0.5 * (a + b);
  let tol1 = SQRT_EPS * Math.abs(x) + xatol / 3;
  let tol2 = 2 * tol1;
  let converged = true;

  while (Math.abs(x - xm) > tol2 - 0.5 * (b - a)) {
    let golden = true;
    if (Math.abs(e) > tol1) {
      // Fit a parabola through (v, fv), (w, fw), (x, fx).
      golden = false;
      let r = (x - w) * (fx - fv);
      let q = (x - v) * (fx - fw);
      let p = (x - v) * q - (x - w) * r;
      q = 2 * (q - r);
      if (q > 0) p = -p;
      q = Math.abs(q);
      r = e;
      e = d;
      // Accept the parabolic step only if it stays inside (a, b) and shrinks faster than bisection would.
      if (Math.abs(p) < Math.abs(0.5 * q * r) && p > q * (a - x) && p < q * (b - x)) {
        d = p / q;
        const u = x + d;
        // Never evaluate within tol2 of a bound: step towards the middle instead.
        if (u - a < tol2 || b - u < tol2) d = tol1 * signOrOne(xm - x);
      } else {
        golden = true;
      }
    }
    if (golden) {
      e = x >= xm ? a - x : b - x;
      d = GOLDEN * e;
    }

    // Never step by less than tol1: points closer than that cannot be told apart.
    const u = x + signOrOne(d) * Math.max(Math.abs(d), tol1);
    const fu = evaluate(u);
    nfev += 1;

    if (fu <= fx) {
      if (u >= x) a = x;
      else b = x;
      v = w;
      fv = fw;
      w = x;
      fw = fx;
      x = u;
      fx = fu;
    } else {
      if (u < x) a = u;
      else b = u;
      if (fu <= fw || w === x) {
        v = w;
        fv = fw;
        w = u;
        fw = fu;
      } else if (fu <= fv || v === x || v === w) {
        v = u;
        fv = fu;
      }
    }

    xm = 0.5 * (a + b);
    tol1 = SQRT_EPS * Math.abs(x) + xatol / 3;
    tol2 = 2 * tol1;
    if (nfev >= maxiter) {
      converged = Math.abs(x - xm) <= tol2 - 0.5 * (b - a);
      break;
    }
  }
  return { x, fx, iterations: nfev, converged };
}

/** sign(t), with sign(0) = +1 (numpy's `sign(t) + (t == 0)`). */
function signOrOne(t: number): number {
  return t < 0 ? -1 : 1;
}
