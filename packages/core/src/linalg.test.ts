import { describe, expect, it } from "vitest";
import { lambdaMaxGram, largestEigenpair, normalizeRows } from "./linalg.ts";
import { GaussianStream } from "./rng.ts";

describe("largestEigenpair (Jacobi)", () => {
  it("finds the top eigenpair of the k×k second-difference matrix: 2 − 2cos(kπ/(k+1))", () => {
    const k = 12;
    const A = new Float64Array(k * k);
    for (let i = 0; i < k; i++) {
      A[i * k + i] = 2;
      if (i + 1 < k) A[i * k + i + 1] = A[(i + 1) * k + i] = -1;
    }
    const { value, vector } = largestEigenpair(A, k);
    expect(value).toBeCloseTo(2 - 2 * Math.cos((k * Math.PI) / (k + 1)), 13);
    for (let i = 0; i < k; i++) {
      let Av = 0;
      for (let j = 0; j < k; j++) Av += A[i * k + j] * vector[j];
      expect(Av).toBeCloseTo(value * vector[i], 12);
    }
  });
});

describe("lambdaMaxGram (Lanczos)", () => {
  it("matches a known spectrum: rows of orthogonal directions with chosen weights", () => {
    // X has rows a_j·e_j (j = 0…d−1, repeated r times): XᵀX/n = diag(r·a_j²)/n exactly.
    const d = 100;
    const r = 3;
    const n = d * r;
    const a = Array.from({ length: d }, (_, j) => 1 + 0.001 * j); // close eigenvalues: a hard case for power iteration
    const X = new Float32Array(n * d);
    for (let i = 0; i < n; i++) X[i * d + (i % d)] = a[i % d];
    const expected = (r * Math.fround(a[d - 1]) ** 2) / n;
    expect(lambdaMaxGram(X, n, d)).toBeCloseTo(expected, 12);
    // A basis of 6 vectors forces many explicit restarts; they must converge to the same value.
    expect(lambdaMaxGram(X, n, d, { maxBasis: 6, maxRestarts: 500 })).toBeCloseTo(expected, 12);
    expect(() => lambdaMaxGram(X, n, d, { maxBasis: 2, maxRestarts: 1 })).toThrow(/did not converge/);
  });

  it("agrees with long power iteration on a random matrix", () => {
    const n = 300;
    const d = 25;
    const X = new Float32Array(n * d);
    new GaussianStream(11n).fill(X);
    normalizeRows(X, n, d, "random");
    const G = new Float64Array(d * d);
    for (let i = 0; i < n; i++)
      for (let p = 0; p < d; p++)
        for (let q = 0; q < d; q++) G[p * d + q] += (X[i * d + p] * X[i * d + q]) / n;
    let v = new Float64Array(d).fill(1);
    let lambda = 0;
    for (let it = 0; it < 20_000; it++) {
      const w = new Float64Array(d);
      for (let p = 0; p < d; p++) for (let q = 0; q < d; q++) w[p] += G[p * d + q] * v[q];
      lambda = Math.hypot(...w);
      v = w.map((x) => x / lambda);
    }
    expect(lambdaMaxGram(X, n, d)).toBeCloseTo(lambda, 11);
  });

  it("handles d = 1 and rank-one data", () => {
    expect(lambdaMaxGram(Float32Array.of(1, -1, 1), 3, 1)).toBeCloseTo(1, 14);
    const X = new Float32Array(4 * 3);
    for (let i = 0; i < 4; i++) X.set([0.6, 0.8, 0], i * 3);
    expect(lambdaMaxGram(X, 4, 3)).toBeCloseTo(1, 7);
  });
});

describe("normalizeRows", () => {
  it("scales rows to unit norm and names the source of an all-zero row", () => {
    const X = Float32Array.of(3, 4, 0, 5);
    normalizeRows(X, 2, 2, "here");
    expect(Array.from(X)).toEqual([0.6, 0.8, 0, 1].map(Math.fround));
    expect(() => normalizeRows(Float32Array.of(1, 0, 0, 0), 2, 2, "file.npy")).toThrow(
      /file\.npy: row 1 has L2 norm 0/,
    );
  });
});
