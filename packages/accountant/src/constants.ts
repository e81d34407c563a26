/**
 * The problem constants the accountant needs (docs/science.md §2) and the Rényi-order range it optimises over.
 */
import { AccountantError, requireInteger, requirePositive } from "./errors.ts";

export interface AccountantConstants {
  /** Number of training rows. */
  n: number;
  /** Strong convexity m = λ·n (also the regulariser weight). */
  m: number;
  /** Smoothness L; the Langevin step is η = 1/L. */
  L: number;
  /** Clip bound / Lipschitz constant: 1 for binary, 2 for multiclass. */
  M: number;
  /** δ of the (ε, δ) guarantee: 1/n. */
  delta: number;
}

export interface AlphaRange {
  /** Lower end of the Rényi orders searched (default 1; the order itself must be > 1). */
  alphaMin?: number;
  /** Upper end (default 1e4). It sets the floor log(1/δ)/(alphaMax − 1) below which no ε is reachable. */
  alphaMax?: number;
}

/** The paper's default range [1, 1e4]. */
export const DEFAULT_ALPHA_RANGE = { alphaMin: 1, alphaMax: 1e4 } as const;
/** The sequential schedule's range [2, 1e5] (docs/science.md §5): ε_s(α) reads ε_{s−1}(2α). */
export const SEQUENTIAL_ALPHA_RANGE = { alphaMin: 2, alphaMax: 1e5 } as const;

export interface ResolvedRange {
  lo: number;
  hi: number;
}

/**
 * Constants from n, λ and (optionally) L. Without L, L is the bound of docs/science.md §2: 1/4 + λn for binary
 * logistic regression, 1 + λn for multiclass (softmax) regression.
 */
export function accountantConstants(options: {
  n: number;
  lambda: number;
  L?: number;
  multiclass?: boolean;
}): AccountantConstants {
  const { n, lambda, multiclass = false } = options;
  requireInteger("n", n, 1);
  requirePositive("lambda", lambda);
  const m = lambda * n;
  const L = options.L ?? (multiclass ? 1 : 0.25) + m;
  const c = { n, m, L, M: multiclass ? 2 : 1, delta: 1 / n };
  checkConstants(c);
  return c;
}

/**
 * Validates constants that may come from elsewhere (e.g. @unlearn/core's datasetConstants): every
 * formula divides by m, n and σ and takes log(1/δ), and η = 1/L must satisfy ηm ≤ 1 (L ≥ m).
 */
export function checkConstants(c: AccountantConstants): void {
  if (c === null || typeof c !== "object") {
    throw new AccountantError(`constants must be an object, got ${String(c)}`, { field: "constants" });
  }
  requireInteger("n", c.n, 1);
  requirePositive("m", c.m);
  requirePositive("L", c.L);
  requirePositive("M", c.M);
  requirePositive("delta", c.delta);
  if (c.delta >= 1) {
    throw new AccountantError(`delta must be < 1 (δ = 1/n), got ${c.delta}`, { field: "delta" });
  }
  if (c.L < c.m) {
    throw new AccountantError(
      `L (smoothness) must be ≥ m (strong convexity) = ${c.m}, got L = ${c.L}; did you pass λ·n as L?`,
      { field: "L" },
    );
  }
}

export function resolveRange(range: AlphaRange | undefined, defaults: Required<AlphaRange>): ResolvedRange {
  const lo = range?.alphaMin ?? defaults.alphaMin;
  const hi = range?.alphaMax ?? defaults.alphaMax;
  if (!Number.isFinite(lo) || lo < 1) {
    throw new AccountantError(`alphaMin must be a finite number ≥ 1, got ${lo}`, { field: "alphaMin" });
  }
  if (!Number.isFinite(hi) || hi <= lo) {
    throw new AccountantError(`alphaMax must be a finite number > alphaMin = ${lo}, got ${hi}`, {
      field: "alphaMax",
    });
  }
  return { lo, hi };
}

/** A count of rows (S, a batch size, a total) must be an integer in [1, n]. */
export function requireRemovals(removals: number, c: AccountantConstants, field = "removals"): void {
  requireInteger(field, removals, 1);
  if (removals > c.n) {
    const label = field === "removals" ? "removals (S)" : field;
    throw new AccountantError(`${label} = ${removals} exceeds the number of training rows n = ${c.n}`, {
      field,
    });
  }
}
