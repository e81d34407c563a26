/**
 * WGSL compute kernels of the `webgpu` engine (docs/science.md §3). One step is, per block of rows of X:
 *   Z = X_b·W (tiled matmul) → R = s∘c in place (sigmoid / softmax and the clip factor, fused) →
 *   G += X_bᵀ·R (tiled matmul, split over rows so that a short d×cols output still fills the GPU)
 * and then one update kernel W' = W·(1 − η·m·reg) − (η/n)·G + √(2η)·σ_t·ξ.
 * Never an n×d-per-chain tensor; X stays on the GPU for the stepper's life.
 *
 * η, m, M, the noise scale and the last step are per chain (./webgpu.ts's ChainParams, indexed by
 * chain), so that one dispatch serves several jobs' columns side by side (job fusion, ./batch.ts). The
 * matmuls take row strides and column offsets for B and C, so that a block of columns of W or G is
 * multiplied in place (a block's replaced rows, see webgpu.ts's batch program).
 */

/** Threads of a matmul workgroup (16×16) and outputs per thread (TM×TN): the tile is 16·TM × 16·TN. */
export interface MatmulShape {
  tm: number;
  tn: number;
}

const WG = 16;
const TK = 16;

/** Rows of one block of the binary coefficient kernel; row chunks are multiples of it. */
export const COEF_ROWS = 64;

/**
 * C (+)= op(A)·B with op(A) = A (M×K, row-major) or Aᵀ (A stored K×M). B is K×N within a row-major
 * matrix of row stride ldb, from column bOff; C likewise (ldc, cOff). The z dimension of the dispatch
 * splits K: slice z writes C[z·M·ldc …]. `accumulate` adds to C (row chunks of the backward product
 * add up in the same partial buffers). Dims: M, N, K, kSplit, accumulate, ldb, bOff, ldc, cOff.
 */
export function matmulShader(transA: boolean, { tm, tn }: MatmulShape): string {
  const tsm = WG * tm;
  const tsn = WG * tn;
  // Without transpose, 16 neighbouring threads store one row's 16 k values into As[k][m]: with a
  // row stride of tsm (a multiple of 32 floats) they would all hit one shared-memory bank; one float
  // of padding spreads them over 16 banks.
  const as = transA ? tsm : tsm + 1;
  // A tile element (m, k): A[(row0+m)·K + k] without transpose, A[k·M + row0+m] with it.
  const aIndex = transA ? "k * d.M + m" : "m * d.K + k";
  // Loads: each of the 256 threads fetches (tile size / 256) elements; the index order makes
  // neighbouring threads read neighbouring addresses (k fastest without transpose, m fastest with it).
  const aLoad = transA
    ? `let mm = e % ${tsm}u; let kk = e / ${tsm}u;`
    : `let kk = e % ${TK}u; let mm = e / ${TK}u;`;
  // The inner product is written out as scalars (no private arrays indexed in loops), so that the
  // accumulators live in registers whatever the driver's compiler does about unrolling.
  const range = (k: number) => Array.from({ length: k }, (_, i) => i);
  const pairs = range(tm).flatMap((i) => range(tn).map((j) => [i, j] as const));
  const declare = pairs.map(([i, j]) => `var c${i}_${j} = 0.0;`).join(" ");
  const loadA = range(tm)
    .map((i) => `let a${i} = As[kk * ${as}u + lid.y + ${i * WG}u];`)
    .join(" ");
  const loadB = range(tn)
    .map((j) => `let b${j} = Bs[kk * ${tsn}u + lid.x + ${j * WG}u];`)
    .join(" ");
  const fmas = pairs.map(([i, j]) => `c${i}_${j} = fma(a${i}, b${j}, c${i}_${j});`).join("\n      ");
  const stores = pairs
    .map(([i, j]) => `store(row0 + lid.y + ${i * WG}u, col0 + lid.x + ${j * WG}u, base, c${i}_${j});`)
    .join("\n  ");
  return /* wgsl */ `
struct Dims { M: u32, N: u32, K: u32, kSplit: u32, accumulate: u32, ldb: u32, bOff: u32, ldc: u32,
  cOff: u32, _p0: u32, _p1: u32, _p2: u32 }
@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read_write> C: array<f32>;
@group(0) @binding(3) var<uniform> d: Dims;

var<workgroup> As: array<f32, ${TK * as}>; // [k][m], row stride ${as}
var<workgroup> Bs: array<f32, ${TK * tsn}>; // [k][n]

fn store(m: u32, n: u32, base: u32, v: f32) {
  if (m >= d.M || n >= d.N) { return; }
  let at = base + m * d.ldc + d.cOff + n;
  if (d.accumulate != 0u) { C[at] = C[at] + v; } else { C[at] = v; }
}

@compute @workgroup_size(${WG}, ${WG})
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let row0 = wid.y * ${tsm}u;
  let col0 = wid.x * ${tsn}u;
  let kBegin = wid.z * d.kSplit;
  let kEnd = min(kBegin + d.kSplit, d.K);
  ${declare}
  for (var k0 = kBegin; k0 < kEnd; k0 += ${TK}u) {
    for (var e = li; e < ${TK * tsm}u; e += 256u) {
      ${aLoad}
      let m = row0 + mm; let k = k0 + kk;
      As[kk * ${as}u + mm] = select(0.0, A[${aIndex}], m < d.M && k < kEnd);
    }
    for (var e = li; e < ${TK * tsn}u; e += 256u) {
      let nn = e % ${tsn}u; let kk = e / ${tsn}u;
      let n = col0 + nn; let k = k0 + kk;
      Bs[kk * ${tsn}u + nn] = select(0.0, B[k * d.ldb + d.bOff + n], n < d.N && k < kEnd);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < ${TK}u; kk++) {
      ${loadA}
      ${loadB}
      ${fmas}
    }
    workgroupBarrier();
  }
  let base = wid.z * d.M * d.ldc;
  ${stores}
}`;
}

/** Workgroup memory of a matmul kernel (bytes): the device must allow it. */
export function matmulSharedBytes({ tm, tn }: MatmulShape): number {
  return 4 * TK * (WG * tm + 1 + WG * tn);
}

export function matmulTile({ tm, tn }: MatmulShape): { rows: number; cols: number } {
  return { rows: WG * tm, cols: WG * tn };
}

/**
 * Shared by the coefficient kernels: rows of this chunk, chains, first row; row i's label for chain t
 * is y[(rowOffset + i)·yStride + t·yPerChain] (D's rows: 1, 0; a batch's replaced rows: a label per
 * row and chain); sBlock: the first COEF_ROWS block of these rows in sPart. Per chain (q[t]): η, m, M,
 * noise scale.
 */
const COEF_PARAMS = /* wgsl */ `
struct P { rows: u32, T: u32, rowOffset: u32, yStride: u32, yPerChain: u32, sBlock: u32, _p1: u32, _p2: u32 }`;

/**
 * Binary: c = −y·sigmoid(−y·z), ‖g‖² = c·(c + 2m·z) + m²‖w_t‖², s = min(1, M/‖g‖); R = s·c replaces
 * Z, and each workgroup writes the sum of s over its COEF_ROWS rows per chain (the regulariser is
 * clipped with g_i, so its weight is m·mean_i s). Workgroup: 64 chains × 4 row lanes.
 */
export const COEF_BINARY = /* wgsl */ `${COEF_PARAMS}
@group(0) @binding(0) var<storage, read_write> Z: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> wsq: array<f32>;
@group(0) @binding(3) var<storage, read_write> sPart: array<f32>;
@group(0) @binding(4) var<storage, read> q: array<vec4f>;
@group(0) @binding(5) var<uniform> p: P;

var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(64, 4)
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let t = wid.x * 64u + lid.x;
  let block = wid.y;
  var sum = 0.0;
  if (t < p.T) {
    let m = q[t].y;
    let clip = q[t].z;
    let mw = m * m * wsq[t];
    let first = block * ${COEF_ROWS}u;
    let last = min(first + ${COEF_ROWS}u, p.rows);
    for (var i = first + lid.y; i < last; i += 4u) {
      let at = i * p.T + t;
      let z = Z[at];
      let yi = y[(p.rowOffset + i) * p.yStride + t * p.yPerChain];
      // −y·sigmoid(−y·z) = −y / (1 + exp(y·z)); exp overflows to +inf for y·z > 88 and c → −0.
      let c = -yi / (1.0 + exp(yi * z));
      let norm = sqrt(max(0.0, c * (c + 2.0 * m * z) + mw));
      let s = select(1.0, clip / norm, norm > clip);
      Z[at] = s * c;
      sum += s;
    }
  }
  partial[lid.y * 64u + lid.x] = sum;
  workgroupBarrier();
  if (lid.y == 0u && t < p.T) {
    let total = partial[lid.x] + partial[64u + lid.x] + partial[128u + lid.x] + partial[192u + lid.x];
    sPart[(p.sBlock + block) * p.T + t] = total;
  }
}`;

/**
 * Multiclass (C classes): D = softmax(z) − onehot(y), s = min(1, M/‖D‖) (‖G_i‖_F = ‖D‖ as ‖x_i‖ = 1),
 * R = s·D replaces Z. One thread per (row, chain).
 */
export function coefMulticlassShader(classes: number): string {
  return /* wgsl */ `${COEF_PARAMS}
@group(0) @binding(0) var<storage, read_write> Z: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> q: array<vec4f>;
@group(0) @binding(3) var<uniform> p: P;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let idx = gid.x + gid.y * nwg.x * 64u;
  if (idx >= p.rows * p.T) { return; }
  let i = idx / p.T;
  let t = idx % p.T;
  let base = i * p.T * ${classes}u + t * ${classes}u;
  let label = u32(y[(p.rowOffset + i) * p.yStride + t * p.yPerChain]);
  let clip = q[t].z;
  var e: array<f32, ${classes}>;
  var mx = Z[base];
  for (var k = 1u; k < ${classes}u; k++) { mx = max(mx, Z[base + k]); }
  var sum = 0.0;
  for (var k = 0u; k < ${classes}u; k++) { e[k] = exp(Z[base + k] - mx); sum += e[k]; }
  var normSq = 0.0;
  for (var k = 0u; k < ${classes}u; k++) {
    e[k] = e[k] / sum - select(0.0, 1.0, k == label);
    normSq += e[k] * e[k];
  }
  let norm = sqrt(normSq);
  let s = select(1.0, clip / norm, norm > clip);
  for (var k = 0u; k < ${classes}u; k++) { Z[base + k] = s * e[k]; }
}`;
}

/**
 * Binary: ‖w_t‖² per chain, before the step (the clip norm needs it). Workgroup: 64 chains × 4 lanes
 * over the d rows of W.
 */
export const COLUMN_NORMS = /* wgsl */ `
struct P { d: u32, T: u32, _p0: u32, _p1: u32 }
@group(0) @binding(0) var<storage, read> W: array<f32>;
@group(0) @binding(1) var<storage, read_write> wsq: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(64, 4)
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let t = wid.x * 64u + lid.x;
  var sum = 0.0;
  if (t < p.T) {
    for (var j = lid.y; j < p.d; j += 4u) { let w = W[j * p.T + t]; sum = fma(w, w, sum); }
  }
  partial[lid.y * 64u + lid.x] = sum;
  workgroupBarrier();
  if (lid.y == 0u && t < p.T) {
    wsq[t] = partial[lid.x] + partial[64u + lid.x] + partial[128u + lid.x] + partial[192u + lid.x];
  }
}`;

/** Binary: reg_t = mean_i s_it from the per-block sums the coefficient kernel wrote. */
export const REG_WEIGHTS = /* wgsl */ `
struct P { blocks: u32, T: u32, n: f32, _p: u32 }
@group(0) @binding(0) var<storage, read> sPart: array<f32>;
@group(0) @binding(1) var<storage, read_write> reg: array<f32>;
@group(0) @binding(2) var<uniform> p: P;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let t = gid.x;
  if (t >= p.T) { return; }
  var sum = 0.0;
  for (var b = 0u; b < p.blocks; b++) { sum += sPart[b * p.T + t]; }
  reg[t] = sum / p.n;
}`;

/**
 * The update, one thread per entry of W (d×cols): sums the split-K partials of G and applies
 * W' = W − η_t·(G/n + m_t·reg_t·W) + noiseScale_t·ξ, or W' = W for a chain past its last step.
 * Chain t of column k is k / C (C = 1 binary). reg_t is mean_i s_it (binary) or 1 (multiclass; read
 * from a buffer of ones all the same, so both kinds have one bind group layout).
 */
export function updateShader(classes: number): string {
  return /* wgsl */ `
struct P { total: u32, cols: u32, splits: u32, step: u32, _p0: f32, _p1: f32, n: f32, hasNoise: u32 }
@group(0) @binding(0) var<storage, read> Win: array<f32>;
@group(0) @binding(1) var<storage, read_write> Wout: array<f32>;
@group(0) @binding(2) var<storage, read> G: array<f32>;
@group(0) @binding(3) var<storage, read> xi: array<f32>;
@group(0) @binding(4) var<storage, read> q: array<vec4f>;
@group(0) @binding(5) var<storage, read> lastStep: array<u32>;
@group(0) @binding(6) var<storage, read> reg: array<f32>;
@group(0) @binding(7) var<uniform> p: P;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let idx = gid.x + gid.y * nwg.x * 64u;
  if (idx >= p.total) { return; }
  let t = (idx % p.cols) / ${classes === 2 ? 1 : classes}u;
  let w = Win[idx];
  if (p.step >= lastStep[t]) { Wout[idx] = w; return; }
  var g = 0.0;
  for (var z = 0u; z < p.splits; z++) { g += G[z * p.total + idx]; }
  let c = q[t];
  var next = w - c.x * (g / p.n + c.y * reg[t] * w);
  // A chain with σ = 0 in a batch with noise: its ξ is not drawn (the buffer holds zeros or stale draws).
  if (p.hasNoise != 0u && c.w != 0.0) { next += c.w * xi[idx]; }
  Wout[idx] = next;
}`;
}
