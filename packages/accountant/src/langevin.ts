/**
 * The Langevin unlearning accountant (docs/science.md §5): full-batch noisy gradient descent, one removal
 * request of S points, and the sequential schedule for repeated requests.
 */
import {
  type AccountantConstants,
  type AlphaRange,
  checkConstants,
  DEFAULT_ALPHA_RANGE,
  type ResolvedRange,
  requireRemovals,
  resolveRange,
  SEQUENTIAL_ALPHA_RANGE,
} from "./constants.ts";
import { AccountantError, requireInteger, requirePositive } from "./errors.ts";
import {
  type EpsilonAlpha,
  floorOf,
  minimizeOverAlpha,
  requireReachable,
  type StepsResult,
  smallestSteps,
} from "./search.ts";

export interface UnlearningRequest {
  /** Unlearning steps K ≥ 0 (0: the loss before any step, ε0). */
  K: number;
  sigma: number;
  /** S, the number of points removed (replaced). */
  removals: number;
}

/**
 * ε0(α) = 4·α·S²·M² / (m·σ²·n²): the RDP between the chains learned on D and on D' (S rows differ),
 * before any unlearning step.
 */
function initialRdp(sigma: number, removals: number, c: AccountantConstants): (alpha: number) => number {
  const coefficient = (4 * removals * removals * c.M * c.M) / (c.m * sigma * sigma * c.n * c.n);
  return (alpha) => coefficient * alpha;
}

/** The RDP after K steps: each step contracts it by exp(−η·m/α) (η = 1/L), the LSI of the Gibbs measure. */
function unlearningRdp(K: number, sigma: number, removals: number, c: AccountantConstants) {
  const eps0 = initialRdp(sigma, removals, c);
  const rate = (K * c.m) / c.L;
  return (alpha: number) => Math.exp(-rate / alpha) * eps0(alpha);
}

function checkRequest({ K, sigma, removals }: UnlearningRequest, c: AccountantConstants): void {
  checkConstants(c);
  requireInteger("K", K, 0);
  requirePositive("sigma", sigma);
  requireRemovals(removals, c);
}

/**
 * ε(α; K, σ, S) = exp(−K·m·η/α)·4αS²M²/(mσ²n²) + log(1/δ)/(α − 1): the (ε, δ) guarantee from
 * the order-α RDP bound after K unlearning steps.
 */
export function epsilonAt(alpha: number, request: UnlearningRequest, c: AccountantConstants): number {
  checkRequest(request, c);
  if (!Number.isFinite(alpha) || alpha <= 1) {
    throw new AccountantError(`alpha must be a finite number > 1, got ${alpha}`, { field: "alpha" });
  }
  const { K, sigma, removals } = request;
  return unlearningRdp(K, sigma, removals, c)(alpha) + Math.log(1 / c.delta) / (alpha - 1);
}

/** The floor log(1/δ)/(alphaMax − 1): every reachable ε lies strictly above it. */
export function epsilonFloor(c: AccountantConstants, range?: AlphaRange): number {
  checkConstants(c);
  return floorOf(c, resolveRange(range, DEFAULT_ALPHA_RANGE));
}

/** ε*(K) = min over α in the range of ε(α; K, σ, S), with the minimising α. */
export function epsilonStar(
  K: number,
  sigma: number,
  removals: number,
  c: AccountantConstants,
  range?: AlphaRange,
): EpsilonAlpha {
  checkRequest({ K, sigma, removals }, c);
  return minimizeOverAlpha(unlearningRdp(K, sigma, removals, c), c, resolveRange(range, DEFAULT_ALPHA_RANGE));
}

/** ε0(σ, S) = ε*(0): the privacy loss before any unlearning step. */
export function epsilon0(
  sigma: number,
  removals: number,
  c: AccountantConstants,
  range?: AlphaRange,
): { epsilon0: number; alpha: number } {
  const { epsilon, alpha } = epsilonStar(0, sigma, removals, c, range);
  return { epsilon0: epsilon, alpha };
}

export interface StepsOptions extends AlphaRange {
  /** Search K in {1, 1+g, 1+2g, …} only (the paper's Figures 4–5 scanned with g = 10). Default 1. */
  granularity?: number;
}

/** K(ε, σ, S): the smallest K ≥ 1 (on the granularity grid) with ε*(K) ≤ ε, by doubling + bisection. */
export function stepsFor(
  epsilon: number,
  sigma: number,
  removals: number,
  c: AccountantConstants,
  options: StepsOptions = {},
): StepsResult {
  checkRequest({ K: 0, sigma, removals }, c);
  requirePositive("epsilon", epsilon);
  const granularity = options.granularity ?? 1;
  requireInteger("granularity", granularity, 1);
  const range = resolveRange(options, DEFAULT_ALPHA_RANGE);
  return smallestSteps(epsilon, (K) => unlearningRdp(K, sigma, removals, c), c, range, {
    granularity,
    what: `K(epsilon=${epsilon}, sigma=${sigma}, removals=${removals})`,
  });
}

/** Relative width at which the σ bisection stops: far below the 5 significant digits reported. */
const SIGMA_RTOL = 1e-10;

/**
 * σ*(ε, k): the smallest σ with K(ε, σ, S = 1) ≤ k, with the K it achieves. K is non-increasing in σ
 * and K ≤ k exactly when ε*(k) ≤ ε, so the bisection tests ε*(k; σ) ≤ ε directly (one minimisation per
 * trial σ instead of a whole K search).
 */
export function sigmaFor(
  epsilon: number,
  k: number,
  c: AccountantConstants,
  range?: AlphaRange,
): { sigma: number; K: number } {
  checkConstants(c);
  requirePositive("epsilon", epsilon);
  requireInteger("k", k, 1);
  const resolved = resolveRange(range, DEFAULT_ALPHA_RANGE);
  requireReachable(epsilon, c, resolved);
  const ok = (sigma: number) =>
    minimizeOverAlpha(unlearningRdp(k, sigma, 1, c), c, resolved).epsilon <= epsilon;

  // Bracket: σ → ∞ drives the RDP part to 0 (ok, since ε is above the floor); σ → 0 drives it to ∞.
  let hi = 1;
  let lo = 1;
  if (ok(hi)) {
    lo = hi / 2;
    while (ok(lo)) {
      hi = lo;
      lo /= 2;
      if (lo < 1e-300) throw new AccountantError("sigma search: no lower bracket found", { field: "sigma" });
    }
  } else {
    hi = 2;
    while (!ok(hi)) {
      lo = hi;
      hi *= 2;
      if (hi > 1e300) {
        throw new AccountantError(`sigma search: no σ reaches epsilon = ${epsilon} in k = ${k} steps`, {
          field: "epsilon",
        });
      }
    }
  }
  while (hi - lo > SIGMA_RTOL * hi) {
    const mid = 0.5 * (lo + hi);
    if (ok(mid)) hi = mid;
    else lo = mid;
  }
  const { K } = stepsFor(epsilon, hi, 1, c, range);
  return { sigma: hi, K };
}

export interface SequentialRequest {
  sigma: number;
  /** Target ε after every request. */
  epsilon: number;
  /** Points removed per request (S). */
  batch: number;
  /** Points removed in all; the last request removes the remainder when batch does not divide it. */
  total: number;
}

export interface SequentialSchedule {
  /** k_s: steps run after request s. */
  k: number[];
  /** k_1 + … + k_s. */
  accumulated: number[];
  /** The minimising α of each request's guarantee. */
  alpha: number[];
  /** The ε each request achieves (≤ the target). */
  epsilon: number[];
}

/**
 * The sequential unlearning schedule (docs/science.md §5), α in [2, 1e5] by default:
 *   ε_1(α) = exp(−ηm·k_1/α)·ε0(α),
 *   ε_s(α) = exp(−ηm·k_s/α)·(α − ½)/(α − 1)·(ε0(2α) + ε_{s−1}(2α)),  s ≥ 2
 * (weak triangle inequality of Rényi divergence between the old chain and the new target), and k_s is
 * the smallest integer ≥ 1 with min_α ε_s(α) + log(1/δ)/(α − 1) ≤ ε, chosen for s = 1, 2, … in turn.
 */
export function sequentialSchedule(
  request: SequentialRequest,
  c: AccountantConstants,
  range?: AlphaRange,
): SequentialSchedule {
  const { sigma, epsilon, batch, total } = request;
  checkConstants(c);
  requirePositive("sigma", sigma);
  requirePositive("epsilon", epsilon);
  requireRemovals(batch, c, "batch");
  requireRemovals(total, c, "total");
  if (batch > total) {
    throw new AccountantError(`batch = ${batch} exceeds total = ${total}`, { field: "batch" });
  }
  const resolved: ResolvedRange = resolveRange(range, SEQUENTIAL_ALPHA_RANGE);
  const rate = c.m / c.L;
  const requests = Math.ceil(total / batch);
  const schedule: SequentialSchedule = { k: [], accumulated: [], alpha: [], epsilon: [] };

  // previous(α) = ε_{s−1}(α) with k_1 … k_{s−1} fixed; undefined before the first request.
  let previous: ((alpha: number) => number) | undefined;
  for (let s = 1; s <= requests; s++) {
    const removed = Math.min(batch, total - (s - 1) * batch);
    const eps0 = initialRdp(sigma, removed, c);
    const before = previous;
    const rdpForK = (k: number) =>
      before === undefined
        ? (alpha: number) => Math.exp((-rate * k) / alpha) * eps0(alpha)
        : (alpha: number) =>
            ((Math.exp((-rate * k) / alpha) * (alpha - 0.5)) / (alpha - 1)) *
            (eps0(2 * alpha) + before(2 * alpha));
    const step = smallestSteps(epsilon, rdpForK, c, resolved, {
      what: `sequential request ${s} (sigma=${sigma}, epsilon=${epsilon}, batch=${batch})`,
    });
    schedule.k.push(step.K);
    schedule.accumulated.push((schedule.accumulated[s - 2] ?? 0) + step.K);
    schedule.alpha.push(step.alpha);
    schedule.epsilon.push(step.epsilon);
    previous = rdpForK(step.K);
  }
  return schedule;
}
