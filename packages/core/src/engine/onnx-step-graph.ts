/**
 * The onnx engine's step graph (docs/science.md §3) over a column batch: blocks of columns side by side,
 * each with its own η, m, M, σ (as per-column constants) and its own D′.
 *
 * Binary rows enter the graph with their label's sign folded in (x̃_i = −y_i·x_i, `graphRows`): then
 * X̃·W is u = −y∘z directly, c = −y·σ(u), ‖g_i‖² = σ(u)·(σ(u) + 2m·u) + m²‖w‖², and Xᵀ·(s∘c) = X̃ᵀ·(s∘σ(u)),
 * so no label is multiplied on n×T values (the elementwise passes are most of a step's cost besides
 * the two products).
 *
 * Every D′ is D with its last rows replaced, so the rows are split at n − R (R: the most rows any
 * block replaces). Head rows 0…n−R−1 are shared by every block: one X_head·W and one X_headᵀ·R_head for
 * all columns. The tail is computed for each distinct replacement ("source") at once: the tail rows
 * of D and of every source stacked as P ((1+S)·R × d), Z_tail = Σ_s mask_s ∘ (P_s·W), where mask_s
 * picks, per row and column, the version of the row that column's block sees (one mask is 1, the
 * others 0, so the sum is exact); the backward product is Pᵀ·(mask ∘ R_tail). Blocks whose
 * replacements are suffixes of one another (one sweep: row j depends on (seed, j) only) share a source.
 * Without replaced rows the graph is two matrix products and elementwise work, as for a single job.
 */
import { GraphBuilder } from "./onnx-graph.ts";
import type { ColumnBlock, StepParams, TrainMatrix } from "./types.ts";
import { weightColumns } from "./validate.ts";

/** How the n×d training matrix reaches the graph. */
export type XPlacement = "initializer" | "input";
/** How Xᵀ·R is computed: Gemm with transA on X, or MatMul with a transposed copy Xᵀ (d×n). */
export type BackwardProduct = "gemm-transA" | "matmul-xt";

export interface OnnxEngineTuning {
  /**
   * CPU default "input": as fast as an initializer on this 2-core machine and ~60 MB less resident
   * memory (measured, MNIST T = 100). CUDA default "initializer": an input would be copied from the
   * host to the GPU on every step, an initializer stays on the GPU.
   */
  xAs?: XPlacement;
  /**
   * CPU default "matmul-xt": 5–10% faster than Gemm(transA) for MNIST T = 100 (measured) for a d×n
   * copy of X. CUDA default "gemm-transA": cuBLAS takes the transpose for free, no second copy on the GPU.
   */
  backward?: BackwardProduct;
  /**
   * When ξ of a step is drawn on the main thread: "overlapped" (default; the run loop draws step k + 1's
   * while onnxruntime runs step k) or "before-step" (just before the step that reads it; see onnx.ts's
   * drawBeforeStep). The graph is the same; only the engine reads this.
   */
  noise?: "overlapped" | "before-step";
}

/** What the graph depends on. */
export type GraphTuning = Required<Pick<OnnxEngineTuning, "xAs" | "backward">>;

export interface OnnxStepGraph {
  bytes: Uint8Array;
  /** Whether the graph takes ξ (only when some block has σ > 0). */
  hasNoise: boolean;
  /** Rows at the end of D that some block replaces (the graph's X input is rows 0…n − tail − 1). */
  tail: number;
}

/** The single-job graph: a batch of one block. Inputs X (n×d), Xt (d×n, matmul-xt), W, ξ. */
export function buildStepGraph(data: TrainMatrix, params: StepParams, tuning: GraphTuning): OnnxStepGraph {
  return buildBatchGraph(data, [{ params, noiseKey: 0n }], tuning);
}

/**
 * The batch graph. Inputs: X (head rows × d) and, with matmul-xt, Xt (its transpose) when `xAs` is
 * "input"; W (d×cols); ξ (d×cols, unscaled, when some σ > 0). Output: W_next (d×cols).
 */
export function buildBatchGraph(
  data: TrainMatrix,
  blocks: readonly ColumnBlock[],
  tuning: GraphTuning,
): OnnxStepGraph {
  const { n, d, classes } = data;
  const cols = blocks.map((b) => weightColumns(data, b.params));
  const total = cols.reduce((a, b) => a + b, 0);
  const tail = Math.max(...blocks.map((b) => b.replaced?.y.length ?? 0));
  const head = n - tail;
  const g = new GraphBuilder("langevin_step");
  const perColumn = (name: string, value: (p: StepParams) => number) =>
    columnConst(g, name, blocks, cols, value);
  const useXt = tuning.backward === "matmul-xt";
  const headX = head === 0 || tuning.xAs === "input" ? null : graphRows(data, 0, head);
  const X = head === 0 ? null : headX ? g.floatConst("X", headX, [head, d]) : g.input("X", [head, d]);
  const Xt =
    head === 0 || !useXt
      ? null
      : headX
        ? g.floatConst("Xt", transposeRows(headX, 0, head, d), [d, head])
        : g.input("Xt", [d, head]);
  const W = g.input("W", [d, total]);
  const hasNoise = blocks.some((b) => b.params.sigma > 0);
  const xi = hasNoise ? g.input("xi", [d, total]) : null;
  const region = classes === 2 ? binaryRegion(g, perColumn, W) : multiclassRegion(g, blocks, cols, classes);

  // Head: shared by every column.
  const parts: { R: string; sSum: string | null }[] = [];
  let G: string | null = null;
  if (X) {
    const Zh = g.node("MatMul", [X, W]);
    const part = region(Zh, head, classes === 2 ? "" : headLabels(g, data, head));
    parts.push(part);
    G = Xt ? g.node("MatMul", [Xt, part.R]) : null;
    if (!G) G = g.node("Gemm", [X, part.R], { transA: 1 }); // Xᵀ·R
  }
  // Tail: each column sees its own version of the last rows.
  if (tail > 0) {
    const t = tailSources(data, blocks, cols, tail);
    const S1 = t.sources;
    const P = g.floatConst("tail_rows", t.rows, [S1 * tail, d]);
    const Pt = g.floatConst("tail_rows_t", transposeRows(t.rows, 0, S1 * tail, d), [d, S1 * tail]);
    const mask = g.floatConst("tail_mask", t.mask, [S1, tail, total]);
    const Zall = g.node("Reshape", [g.node("MatMul", [P, W]), g.int64Const("shape_tail", [S1, tail, total])]);
    const Zt = g.node("ReduceSum", [g.node("Mul", [mask, Zall]), g.int64Const("axis0", [0])], {
      keepdims: 0,
    });
    const labels = classes === 2 ? "" : g.floatConst("y_tail", t.oneHot, [tail, total / classes, classes]);
    const part = region(Zt, tail, labels);
    parts.push(part);
    const Rall = g.node("Reshape", [
      g.node("Mul", [mask, part.R]),
      g.int64Const("shape_tail_rows", [S1 * tail, total]),
    ]);
    const Gt = g.node("MatMul", [Pt, Rall]);
    G = G ? g.node("Add", [G, Gt]) : Gt;
  }

  // The factor on W from the regulariser: binary 1 − η·m·mean_i(s) (clipped with g_i), multiclass 1 − η·m.
  let decay: string;
  if (classes === 2) {
    const sums = parts.map((p) => p.sSum!);
    const sSum = sums.length === 1 ? sums[0] : g.node("Add", sums);
    const meanS = g.node("Mul", [sSum, g.floatConst("inv_n", 1 / n)]);
    decay = g.node("Sub", [
      g.floatConst("one_decay", 1),
      g.node("Mul", [meanS, perColumn("eta_m", (p) => p.eta * p.m)]),
    ]);
  } else {
    decay = perColumn("decay", (p) => 1 - p.eta * p.m);
  }
  let base = g.node("Mul", [W, decay]);
  if (xi)
    base = g.node("Add", [
      base,
      g.node("Mul", [xi, perColumn("noise_scale", (p) => Math.sqrt(2 * p.eta * p.sigma * p.sigma))]),
    ]);
  // W' = base − (η/n)·Xᵀ·R
  g.node("Add", [base, g.node("Mul", [G!, perColumn("minus_eta_over_n", (p) => -p.eta / n)])], {}, "W_next");
  g.output("W_next", [d, total]);
  return { bytes: g.toBytes(), hasNoise, tail };
}

/** A per-column constant: a scalar when every block has the same value, else a 1×cols row. */
function columnConst(
  g: GraphBuilder,
  name: string,
  blocks: readonly ColumnBlock[],
  cols: readonly number[],
  value: (p: StepParams) => number,
): string {
  const values = blocks.map((b) => value(b.params));
  if (values.every((v) => v === values[0])) return g.floatConst(name, values[0]);
  const row = new Float32Array(cols.reduce((a, b) => a + b, 0));
  let at = 0;
  values.forEach((v, b) => {
    row.fill(v, at, at + cols[b]);
    at += cols[b];
  });
  return g.floatConst(name, row, [1, row.length]);
}

type Region = (Z: string, rows: number, labels: string) => { R: string; sSum: string | null };

/**
 * Binary rows, from u = −y∘z (signed rows): p = σ(u), ‖g_i‖² = p·(p + 2m·u) + m²‖w‖² (‖x_i‖ = 1),
 * R = s∘p (the signed rows turn it into s∘c), and Σ_i s for the regulariser's weight.
 */
function binaryRegion(
  g: GraphBuilder,
  perColumn: (name: string, value: (p: StepParams) => number) => string,
  W: string,
): Region {
  const wNormSq = g.node("ReduceSumSquare", [W], { axes: [0], keepdims: 1 }); // 1×cols
  const twoM = perColumn("two_m", (p) => 2 * p.m);
  const mSq = g.node("Mul", [wNormSq, perColumn("m_sq", (p) => p.m * p.m)]);
  const clip = perColumn("clip", (p) => p.clip);
  const clipSq = perColumn("clip_sq", (p) => p.clip * p.clip);
  const axis0 = g.int64Const("sum_axis0", [0]);
  return (U) => {
    const p = g.node("Sigmoid", [U]);
    const normSq = g.node("Add", [g.node("Mul", [p, g.node("Add", [p, g.node("Mul", [U, twoM])])]), mSq]);
    const s = clipFactor(g, normSq, clip, clipSq);
    return { R: g.node("Mul", [s, p]), sSum: g.node("ReduceSum", [s, axis0], { keepdims: 1 }) };
  };
}

/** Multiclass rows: D = softmax(z) − y, clipped in Frobenius norm (‖G_i‖_F = ‖D_i‖), R = s∘D. */
function multiclassRegion(
  g: GraphBuilder,
  blocks: readonly ColumnBlock[],
  cols: readonly number[],
  C: number,
): Region {
  const T = cols.reduce((a, b) => a + b, 0) / C;
  const clipValues = blocks.flatMap((b) => Array<number>(b.params.chains).fill(b.params.clip));
  const chainConst = (name: string, values: number[]) =>
    values.every((v) => v === values[0])
      ? g.floatConst(name, values[0])
      : g.floatConst(name, Float32Array.from(values), [1, T, 1]);
  const clip = chainConst("clip", clipValues);
  const clipSq = chainConst(
    "clip_sq",
    clipValues.map((v) => v * v),
  );
  let k = 0;
  return (Z, rows, Y) => {
    const id = k++;
    const Z3 = g.node("Reshape", [Z, g.int64Const(`shape_rtc_${id}`, [rows, T, C])]);
    const D = g.node("Sub", [g.node("Softmax", [Z3], { axis: 2 }), Y]);
    const s = clipFactor(g, g.node("ReduceSumSquare", [D], { axes: [2], keepdims: 1 }), clip, clipSq);
    return {
      R: g.node("Reshape", [g.node("Mul", [D, s]), g.int64Const(`shape_rc_${id}`, [rows, T * C])]),
      sSum: null,
    };
  };
}

/** Multiclass: the one-hot labels (rows×1×C) of D's first `rows` rows. */
function headLabels(g: GraphBuilder, data: TrainMatrix, rows: number): string {
  const C = data.classes;
  const oneHot = new Float32Array(rows * C);
  for (let i = 0; i < rows; i++) oneHot[i * C + data.y[i]] = 1;
  return g.floatConst("y_onehot", oneHot, [rows, 1, C]);
}

/**
 * s = min(1, M/‖g‖) as M/√max(‖g‖², M²): three passes, exactly 1 for ‖g‖ ≤ M up to the rounding of
 * √(M²), and a tiny negative ‖g‖² from rounding gives s = 1 (no NaN).
 */
function clipFactor(g: GraphBuilder, normSq: string, clip: string, clipSq: string): string {
  return g.node("Div", [clip, g.node("Sqrt", [g.node("Max", [normSq, clipSq])])]);
}

/**
 * Rows from…to−1 of D as the graph multiplies them: binary rows signed (−y_i·x_i, a copy), multiclass
 * rows as they are (a view).
 */
export function graphRows(data: TrainMatrix, from: number, to: number): Float32Array {
  return signRows(
    data.X.subarray(from * data.d, to * data.d),
    data.y.subarray(from, to),
    data.d,
    data.classes,
  );
}

function signRows(X: Float32Array, y: Float32Array, d: number, classes: number): Float32Array {
  if (classes !== 2) return X;
  const out = new Float32Array(X.length);
  for (let i = 0; i < y.length; i++) {
    const sign = -y[i];
    for (let j = i * d; j < (i + 1) * d; j++) out[j] = sign * X[j];
  }
  return out;
}

interface TailSources {
  /** 1 + distinct replacements: source 0 is D's own last rows. */
  sources: number;
  /** sources·tail × d: the tail rows of each source, stacked (binary: signed, see graphRows). */
  rows: Float32Array;
  /** sources × tail × cols: 1 where a column's block sees that source's version of the row. */
  mask: Float32Array;
  /** Multiclass: one-hot label per tail row, chain and class (tail × T × C). */
  oneHot: Float32Array;
}

/**
 * The tail's sources: D's last `tail` rows, then one per distinct replacement (a block whose replaced
 * rows are the last rows of another block's shares its source), each aligned to end at row n − 1.
 */
export function tailSources(
  data: TrainMatrix,
  blocks: readonly ColumnBlock[],
  cols: readonly number[],
  tail: number,
): TailSources {
  const { n, d, classes } = data;
  const total = cols.reduce((a, b) => a + b, 0);
  const byRows = blocks
    .map((b, i) => ({ i, r: b.replaced?.y.length ?? 0 }))
    .filter((e) => e.r > 0)
    .sort((a, b) => b.r - a.r);
  const distinct: { X: Float32Array; y: Float32Array }[] = [];
  const sourceOf = new Map<number, number>();
  for (const { i } of byRows) {
    const rep = blocks[i].replaced!;
    const found = distinct.findIndex((s) => isSuffix(rep.X, s.X) && isSuffix(rep.y, s.y));
    // Source 0 is D itself; push returns the new source's number.
    sourceOf.set(i, found >= 0 ? found + 1 : distinct.push(rep));
  }
  const sources = 1 + distinct.length;
  const rows = new Float32Array(sources * tail * d);
  rows.set(graphRows(data, n - tail, n), 0);
  for (const [k, s] of distinct.entries())
    rows.set(signRows(s.X, s.y, d, classes), ((k + 1) * tail + tail - s.y.length) * d);
  const mask = new Float32Array(sources * tail * total);
  const C = classes === 2 ? 1 : classes;
  const oneHot = new Float32Array(classes === 2 ? 0 : tail * total);
  let at = 0;
  blocks.forEach((block, b) => {
    const r = block.replaced?.y.length ?? 0;
    const source = sourceOf.get(b) ?? 0;
    for (let row = 0; row < tail; row++) {
      const replaced = row >= tail - r;
      const src = replaced ? source : 0;
      const label = replaced ? block.replaced!.y[row - (tail - r)] : data.y[n - tail + row];
      for (let k = at; k < at + cols[b]; k++) mask[(src * tail + row) * total + k] = 1;
      if (C > 1)
        for (let t = at / C; t < (at + cols[b]) / C; t++) oneHot[(row * (total / C) + t) * C + label] = 1;
    }
    at += cols[b];
  });
  return { sources, rows, mask, oneHot };
}

/** Whether `a` equals the last a.length values of `b`. */
function isSuffix(a: Float32Array, b: Float32Array): boolean {
  if (a.length > b.length) return false;
  const off = b.length - a.length;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[off + i]) return false;
  return true;
}

/** The transpose (d × (to − from), row-major) of rows from…to−1 of a row-major matrix with d columns. */
export function transposeRows(X: Float32Array, from: number, to: number, d: number): Float32Array {
  const rows = to - from;
  const out = new Float32Array(rows * d);
  for (let i = 0; i < rows; i++) for (let j = 0; j < d; j++) out[j * rows + i] = X[(from + i) * d + j];
  return out;
}
