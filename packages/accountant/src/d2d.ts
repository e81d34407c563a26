/**
 * Descent-to-Delete (Neel, Roth & Sharifi-Malvajerdi 2021), the paper's baseline (docs/science.md §4): noiseless
 * gradient descent with step 2/(L+m) contracts by γ = (L − m)/(L + m) per step, and the published
 * weights get Gaussian noise large enough to hide the remaining distance.
 */
import { type AccountantConstants, checkConstants } from "./constants.ts";
import { AccountantError, requireInteger, requirePositive } from "./errors.ts";

function contraction(c: AccountantConstants): number {
  const gamma = (c.L - c.m) / (c.L + c.m);
  if (!(gamma > 0 && gamma < 1)) {
    // L = m makes γ = 0: one step reaches the optimum and no noise is needed; the formulas divide by log(1/γ).
    throw new AccountantError(`D2D needs L > m for a contraction γ in (0, 1); got L = ${c.L}, m = ${c.m}`, {
      field: "L",
    });
  }
  return gamma;
}

/**
 * σ_D2D(I, ε) = 4√2·M·γ^I / (m·n·(1 − γ^I)·(√(log(1/δ) + ε) − √(log(1/δ)))): the noise published
 * after I descent steps on D' for an (ε, δ) guarantee on one removal request.
 */
export function d2dSigma(I: number, epsilon: number, c: AccountantConstants): number {
  checkConstants(c);
  requireInteger("I", I, 1);
  requirePositive("epsilon", epsilon);
  const gamma = contraction(c);
  const logInvDelta = Math.log(1 / c.delta);
  const gI = gamma ** I;
  return (
    (4 * Math.SQRT2 * c.M * gI) /
    (c.m * c.n * (1 - gI) * (Math.sqrt(logInvDelta + epsilon) - Math.sqrt(logInvDelta)))
  );
}

export interface D2DSequentialRequest {
  /** Model dimension (784 for MNIST, 512 for CIFAR-10 features). */
  d: number;
  epsilon: number;
  /** f in I_i = ⌊f·I_min⌋ + …; the paper used 1, 1.5 and 2. */
  factor: number;
  /** Number of single removals, one after another. */
  total: number;
}

/**
 * Sequential D2D, the i-th single removal for i = 1 … total (docs/science.md §4):
 *   I_min = ⌈log(√(2d)/(1 − γ) / (√(2log(2/δ) + ε) − √(2log(2/δ)))) / log(1/γ)⌉,
 *   I_i   = ⌊f·I_min⌋ + ⌈log(log(4·d·i/δ)) / log(1/γ)⌉,
 *   σ_i   = 8·M·γ^{I_i} / (m·n·(1 − γ^{I_i})·(√(2log(2/δ) + 3ε) − √(2log(2/δ) + 2ε))).
 */
export function d2dSequential(
  request: D2DSequentialRequest,
  c: AccountantConstants,
): { I: number[]; sigma: number[] } {
  const { d, epsilon, factor, total } = request;
  checkConstants(c);
  requireInteger("d", d, 1);
  requirePositive("epsilon", epsilon);
  requirePositive("factor", factor);
  requireInteger("total", total, 1);
  const gamma = contraction(c);
  const logInvGamma = Math.log(1 / gamma);
  const twoLog = 2 * Math.log(2 / c.delta);
  const iMin = Math.ceil(
    Math.log(Math.sqrt(2 * d) / (1 - gamma) / (Math.sqrt(twoLog + epsilon) - Math.sqrt(twoLog))) /
      logInvGamma,
  );
  const noiseDenominator = c.m * c.n * (Math.sqrt(twoLog + 3 * epsilon) - Math.sqrt(twoLog + 2 * epsilon));
  const I: number[] = [];
  const sigma: number[] = [];
  for (let i = 1; i <= total; i++) {
    const steps =
      Math.floor(factor * iMin) + Math.ceil(Math.log(Math.log((4 * d * i) / c.delta)) / logInvGamma);
    if (steps < 1) {
      throw new AccountantError(
        `sequential D2D gives I_${i} = ${steps} < 1 steps (I_min = ${iMin}); check d, epsilon and factor`,
        { field: "factor" },
      );
    }
    const gI = gamma ** steps;
    I.push(steps);
    sigma.push((8 * c.M * gI) / ((1 - gI) * noiseDenominator));
  }
  return { I, sigma };
}
