/**
 * The searches every accountant quantity is built from: RDP → (ε, δ) conversion minimised over α,
 * the unreachable-target floor, and "smallest integer step count" by doubling + bisection.
 */
import { minimizeScalarBounded } from "./brent.ts";
import type { AccountantConstants, ResolvedRange } from "./constants.ts";
import { AccountantError } from "./errors.ts";

/** scipy's default xatol: the paper's K values depend on the minimiser stopping where scipy's does. */
export const ALPHA_XATOL = 1e-5;

export interface EpsilonAlpha {
  epsilon: number;
  alpha: number;
}

/**
 * min over α in [lo, hi] of rdp(α) + log(1/δ)/(α − 1): the (ε, δ)-DP guarantee implied by an
 * (α, rdp(α))-RDP curve (Mironov 2017, Prop. 3), with the best α for it.
 */
export function minimizeOverAlpha(
  rdp: (alpha: number) => number,
  c: AccountantConstants,
  range: ResolvedRange,
): EpsilonAlpha {
  const logInvDelta = Math.log(1 / c.delta);
  const { x, fx } = minimizeScalarBounded(
    (alpha) => rdp(alpha) + logInvDelta / (alpha - 1),
    range.lo,
    range.hi,
    {
      xatol: ALPHA_XATOL,
    },
  );
  return { epsilon: fx, alpha: x };
}

/**
 * The infimum of every ε this accountant can certify: the conversion term log(1/δ)/(α − 1) at the
 * largest allowed α. The RDP part only adds to it, so a target ε at or below the floor is unreachable
 * with any number of steps or any noise.
 */
export function floorOf(c: AccountantConstants, range: ResolvedRange): number {
  return Math.log(1 / c.delta) / (range.hi - 1);
}

export function requireReachable(epsilon: number, c: AccountantConstants, range: ResolvedRange): void {
  const floor = floorOf(c, range);
  if (!(epsilon > floor)) {
    throw new AccountantError(
      `target epsilon = ${epsilon} is unreachable: no number of steps reaches it, because ε*(K) only ` +
        `falls to the floor log(1/δ)/(α_hi − 1) = ${floor} (δ = ${c.delta}, α_hi = ${range.hi}); ` +
        "ask for a larger epsilon or a larger alphaMax",
      { field: "epsilon", floor },
    );
  }
}

/** Bisection stops doubling here (2^40 steps): past it the target is closer to the floor than Brent resolves. */
const MAX_INDEX = 2 ** 40;

/**
 * The smallest index j ≥ 0 with `ok(j)`, for a predicate that is false up to some j* and true from
 * there on. Doubling finds a true index in O(log j*) calls, bisection then pins j* down in as many
 * again: about 2·log2(j*) evaluations where a linear scan needs j*.
 */
export function smallestTrueIndex(ok: (j: number) => boolean, what: string): number {
  if (ok(0)) return 0;
  let bad = 0;
  let good = 1;
  while (!ok(good)) {
    bad = good;
    good *= 2;
    if (good > MAX_INDEX) {
      throw new AccountantError(
        `${what}: not reached within ${MAX_INDEX} steps; the target is too close to the floor for the ` +
          "α minimiser to certify it (raise epsilon slightly)",
        { field: "epsilon" },
      );
    }
  }
  while (good - bad > 1) {
    const mid = bad + Math.floor((good - bad) / 2);
    if (ok(mid)) good = mid;
    else bad = mid;
  }
  return good;
}

export interface StepsResult {
  K: number;
  alpha: number;
  epsilon: number;
}

/**
 * The smallest K in {first, first + g, first + 2g, …} with min_α ε(α; K) ≤ target, where
 * `rdpForK(K)` is the RDP curve after K steps and decreases in K. Shared by the full-batch,
 * sequential and mini-batch accountants.
 */
export function smallestSteps(
  target: number,
  rdpForK: (K: number) => (alpha: number) => number,
  c: AccountantConstants,
  range: ResolvedRange,
  options: { granularity?: number; first?: number; what: string },
): StepsResult {
  requireReachable(target, c, range);
  const g = options.granularity ?? 1;
  const first = options.first ?? 1;
  let found: StepsResult | undefined;
  const j = smallestTrueIndex((index) => {
    const K = first + index * g;
    const r = minimizeOverAlpha(rdpForK(K), c, range);
    const ok = r.epsilon <= target;
    // Bisection's last true evaluation is not always at the answer: remember each true one by K.
    if (ok && (found === undefined || K < found.K)) found = { K, alpha: r.alpha, epsilon: r.epsilon };
    return ok;
  }, options.what);
  const K = first + j * g;
  if (found === undefined || found.K !== K) {
    // Unreachable for a monotone predicate (the smallest true index was evaluated true); guard anyway.
    throw new AccountantError(`${options.what}: internal search error at K = ${K}`);
  }
  return found;
}
