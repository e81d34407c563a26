/**
 * Float64 linear algebra the datasets need: row normalisation and λ_max(XᵀX/n) (docs/science.md §2, L_data).
 */
import { DatasetError } from "./errors.ts";
import { deriveSeed, GaussianStream } from "./rng.ts";

/**
 * Scales every row of the n×d matrix `X` (float64 work, float32 result) to unit L2 norm, in place.
 * `what` names the source in the error for an all-zero row, which has no direction to keep.
 */
export function normalizeRows(X: Float32Array, n: number, d: number, what: string): void {
  for (let i = 0; i < n; i++) {
    const o = i * d;
    let sq = 0;
    for (let k = 0; k < d; k++) sq += X[o + k] * X[o + k];
    if (!(sq > 0) || !Number.isFinite(sq)) {
      throw new DatasetError(
        `${what}: row ${i} has L2 norm ${Math.sqrt(sq)}; it cannot be scaled to unit norm`,
      );
    }
    const inv = 1 / Math.sqrt(sq);
    for (let k = 0; k < d; k++) X[o + k] *= inv;
  }
}

/** y ← Xᵀ(X·v)/n in one pass over X (row i is reused from cache for both products). */
function gramTimes(X: Float32Array, n: number, d: number, v: Float64Array, out: Float64Array): void {
  out.fill(0);
  for (let i = 0; i < n; i++) {
    const o = i * d;
    let u = 0;
    for (let k = 0; k < d; k++) u += X[o + k] * v[k];
    u /= n;
    for (let k = 0; k < d; k++) out[k] += u * X[o + k];
  }
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let k = 0; k < a.length; k++) s += a[k] * b[k];
  return s;
}

/**
 * Eigen-decomposition of a small dense symmetric matrix (k×k, row-major) by cyclic Jacobi rotations.
 * Returns the largest eigenvalue and its unit eigenvector. Jacobi is slow in k but exact to rounding
 * and needs no care: k here is the Lanczos dimension (≤ 64).
 */
export function largestEigenpair(A: Float64Array, k: number): { value: number; vector: Float64Array } {
  const a = Float64Array.from(A);
  const V = new Float64Array(k * k);
  for (let i = 0; i < k; i++) V[i * k + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    let diag = 0;
    for (let p = 0; p < k; p++) {
      diag += a[p * k + p] ** 2;
      for (let q = p + 1; q < k; q++) off += a[p * k + q] ** 2;
    }
    if (off <= 1e-32 * diag || off === 0) break;
    for (let p = 0; p < k; p++) {
      for (let q = p + 1; q < k; q++) {
        const apq = a[p * k + q];
        if (apq === 0) continue;
        const theta = (a[q * k + q] - a[p * k + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let r = 0; r < k; r++) {
          const arp = a[r * k + p];
          const arq = a[r * k + q];
          a[r * k + p] = c * arp - s * arq;
          a[r * k + q] = s * arp + c * arq;
        }
        for (let r = 0; r < k; r++) {
          const apr = a[p * k + r];
          const aqr = a[q * k + r];
          a[p * k + r] = c * apr - s * aqr;
          a[q * k + r] = s * apr + c * aqr;
        }
        for (let r = 0; r < k; r++) {
          const vrp = V[r * k + p];
          const vrq = V[r * k + q];
          V[r * k + p] = c * vrp - s * vrq;
          V[r * k + q] = s * vrp + c * vrq;
        }
      }
    }
  }
  let best = 0;
  for (let i = 1; i < k; i++) if (a[i * k + i] > a[best * k + best]) best = i;
  const vector = new Float64Array(k);
  for (let r = 0; r < k; r++) vector[r] = V[r * k + best];
  return { value: a[best * k + best], vector };
}

export interface LambdaMaxOptions {
  /** Stop when the Ritz residual ‖Av − θv‖ ≤ tol·θ; the eigenvalue error is at most that (and usually far less). */
  tol?: number;
  /** Lanczos vectors kept before a restart from the current Ritz vector. */
  maxBasis?: number;
  maxRestarts?: number;
}

/**
 * λ_max(XᵀX/n) for an n×d float32 matrix, in float64, by Lanczos with full reorthogonalisation and
 * explicit restarts. The start vector is a fixed seeded Gaussian, so the result is reproducible.
 */
export function lambdaMaxGram(X: Float32Array, n: number, d: number, options: LambdaMaxOptions = {}): number {
  const tol = options.tol ?? 1e-11;
  const maxBasis = Math.min(options.maxBasis ?? 64, d);
  const maxRestarts = options.maxRestarts ?? 50;
  if (X.length !== n * d)
    throw new DatasetError(`lambdaMaxGram: X has length ${X.length}, expected ${n}·${d}`);

  const start = new Float32Array(d);
  new GaussianStream(deriveSeed("lambda-max-start", d)).fill(start);
  let q = Float64Array.from(start);
  const w = new Float64Array(d);
  let theta = 0;
  for (let restart = 0; restart <= maxRestarts; restart++) {
    const qNorm = Math.sqrt(dot(q, q));
    for (let k = 0; k < d; k++) q[k] /= qNorm;
    const basis: Float64Array[] = [q];
    const alpha: number[] = [];
    const beta: number[] = [];
    let ritz = q;
    for (let j = 0; ; j++) {
      gramTimes(X, n, d, basis[j], w);
      const a = dot(w, basis[j]);
      alpha.push(a);
      // Full reorthogonalisation, twice ("twice is enough", Kahan/Parlett): keeps the basis
      // orthogonal to rounding so no spurious copies of λ_max appear.
      for (let pass = 0; pass < 2; pass++) {
        for (const b of basis) {
          const c = dot(w, b);
          for (let k = 0; k < d; k++) w[k] -= c * b[k];
        }
      }
      const b = Math.sqrt(dot(w, w));
      const size = j + 1;
      const T = new Float64Array(size * size);
      for (let i = 0; i < size; i++) {
        T[i * size + i] = alpha[i];
        if (i + 1 < size) T[i * size + i + 1] = T[(i + 1) * size + i] = beta[i];
      }
      const pair = largestEigenpair(T, size);
      theta = pair.value;
      const residual = Math.abs(b * pair.vector[size - 1]);
      if (residual <= tol * Math.abs(theta) || b <= 1e-14 * Math.abs(theta) || size === d) return theta;
      if (size === maxBasis) {
        // Restart from the Ritz vector: it carries everything learned about the top eigenvector.
        ritz = new Float64Array(d);
        for (let i = 0; i < size; i++) for (let k = 0; k < d; k++) ritz[k] += pair.vector[i] * basis[i][k];
        break;
      }
      beta.push(b);
      basis.push(Float64Array.from(w, (x) => x / b));
    }
    q = ritz;
  }
  throw new DatasetError(
    `lambdaMaxGram: Lanczos did not converge to relative residual ${tol} after ${maxRestarts} restarts (last estimate ${theta})`,
  );
}
