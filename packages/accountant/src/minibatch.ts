/**
 * Mini-batch noisy SGD unlearning, the companion paper (Chien et al., "Certified Machine Unlearning via
 * Noisy Stochastic Gradient Descent", NeurIPS 2024), as docs/science.md §5 states it. With batch size b, one epoch
 * is n/b steps and each step contracts by ρ = 1 − η·m; Z_B bounds the W∞ distance between the
 * learned chains on D and D', and K epochs of unlearning shrink it by ρ^{K·n/b}.
 */
import {
  type AccountantConstants,
  type AlphaRange,
  checkConstants,
  DEFAULT_ALPHA_RANGE,
  requireRemovals,
  resolveRange,
} from "./constants.ts";
import { requireInteger, requirePositive } from "./errors.ts";
import { type EpsilonAlpha, minimizeOverAlpha, type StepsResult, smallestSteps } from "./search.ts";

function checkBatch(batch: number, c: AccountantConstants): void {
  checkConstants(c);
  requireRemovals(batch, c, "batch"); // 1 ≤ b ≤ n, the same bounds as a removal count
}

/** Z_B = 2ηM / (b·(1 − ρ^{n/b})), ρ = 1 − ηm, η = 1/L. */
export function minibatchZ(batch: number, c: AccountantConstants): number {
  checkBatch(batch, c);
  const eta = 1 / c.L;
  const rho = 1 - eta * c.m;
  return (2 * eta * c.M) / (batch * (1 - rho ** (c.n / batch)));
}

/** The RDP curve α·Z²/(2ησ²)·ρ^{2Kn/b} after K epochs, starting from a W∞ distance Z. */
function minibatchRdp(K: number, sigma: number, batch: number, z: number, c: AccountantConstants) {
  const eta = 1 / c.L;
  const rho = 1 - eta * c.m;
  const coefficient = ((z * z) / (2 * eta * sigma * sigma)) * rho ** ((2 * K * c.n) / batch);
  return (alpha: number) => alpha * coefficient;
}

export interface MinibatchRequest {
  /** Unlearning epochs K ≥ 0 (each n/b steps). */
  K: number;
  sigma: number;
  /** Batch size b, 1 ≤ b ≤ n (b = n is full-batch gradient descent). */
  batch: number;
}

/** min over α of α·Z_B²/(2ησ²)·ρ^{2Kn/b} + log(1/δ)/(α − 1): one request of changes, after K epochs. */
export function minibatchEpsilon(
  request: MinibatchRequest,
  c: AccountantConstants,
  range?: AlphaRange,
): EpsilonAlpha {
  const { K, sigma, batch } = request;
  const z = minibatchZ(batch, c);
  requireInteger("K", K, 0);
  requirePositive("sigma", sigma);
  return minimizeOverAlpha(minibatchRdp(K, sigma, batch, z, c), c, resolveRange(range, DEFAULT_ALPHA_RANGE));
}

/** The smallest number of epochs K ≥ 1 with minibatchEpsilon ≤ ε (doubling + bisection). */
export function minibatchStepsFor(
  epsilon: number,
  sigma: number,
  batch: number,
  c: AccountantConstants,
  range?: AlphaRange,
): StepsResult {
  const z = minibatchZ(batch, c);
  requirePositive("epsilon", epsilon);
  requirePositive("sigma", sigma);
  return smallestSteps(
    epsilon,
    (K) => minibatchRdp(K, sigma, batch, z, c),
    c,
    resolveRange(range, DEFAULT_ALPHA_RANGE),
    { what: `mini-batch K(epsilon=${epsilon}, sigma=${sigma}, batch=${batch})` },
  );
}

/**
 * Sequential requests: the W∞ bound carries over, Z(1) = Z_B and
 * Z(s) = Z(s−1)·ρ^{k_{s−1}·n/b} + Z_B, and k_s is the fewest epochs bringing request s to ε.
 */
export function minibatchSequential(
  request: { sigma: number; epsilon: number; batch: number; requests: number },
  c: AccountantConstants,
  range?: AlphaRange,
): { k: number[]; accumulated: number[]; Z: number[]; alpha: number[]; epsilon: number[] } {
  const { sigma, epsilon, batch, requests } = request;
  const zB = minibatchZ(batch, c);
  requirePositive("sigma", sigma);
  requirePositive("epsilon", epsilon);
  requireInteger("requests", requests, 1);
  const resolved = resolveRange(range, DEFAULT_ALPHA_RANGE);
  const rho = 1 - c.m / c.L;
  const out = {
    k: [] as number[],
    accumulated: [] as number[],
    Z: [] as number[],
    alpha: [] as number[],
    epsilon: [] as number[],
  };
  let z = zB;
  for (let s = 1; s <= requests; s++) {
    if (s > 1) z = z * rho ** ((out.k[s - 2] * c.n) / batch) + zB;
    const zs = z;
    const step = smallestSteps(epsilon, (K) => minibatchRdp(K, sigma, batch, zs, c), c, resolved, {
      what: `mini-batch sequential request ${s}`,
    });
    out.k.push(step.K);
    out.accumulated.push((out.accumulated[s - 2] ?? 0) + step.K);
    out.Z.push(zs);
    out.alpha.push(step.alpha);
    out.epsilon.push(step.epsilon);
  }
  return out;
}
